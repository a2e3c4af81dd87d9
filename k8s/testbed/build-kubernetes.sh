#!/usr/bin/env bash
# Build the Kubernetes binaries from the k8s.io/kubernetes module (cached by version).
# `go install k8s.io/kubernetes/...` fails: its go.mod replaces the staging modules with ./staging.
# So: a module of our own requiring k8s.io/kubernetes, with every staging replace pointed at the
# published k8s.io/<x> module of the matching version.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy"

missing=""
for cmd in $COMMANDS; do [[ -x $KUBE_BIN/$cmd ]] || missing="$missing $cmd"; done
if [[ -z $missing ]]; then
    log "kubernetes $KUBE_VERSION binaries cached in $KUBE_BIN"
    exit 0
fi

work=$CACHE/src/kubernetes-$KUBE_VERSION
mkdir -p "$work" "$KUBE_BIN"
cd "$work"
if [[ ! -f go.sum ]]; then
    upstream_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [[ -f $upstream_gomod ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
    {
        echo "module lobstream.local/kubernetes-build"
        echo
        echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
        echo
        echo "require k8s.io/kubernetes $KUBE_VERSION"
        echo
        echo "replace ("
        sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\t\1 => \1 '"$KUBE_STAGING_VERSION"'#p' "$upstream_gomod"
        echo ")"
    } >go.mod
    {
        echo "//go:build tools"
        echo
        echo "package tools"
        echo
        echo "import ("
        for cmd in $COMMANDS; do echo "	_ \"k8s.io/kubernetes/cmd/$cmd\""; done
        echo ")"
    } >tools.go
    log "kubernetes: $(grep -c '=> k8s.io' go.mod) staging modules pinned to $KUBE_STAGING_VERSION; go mod tidy"
    GOFLAGS=-mod=mod go mod tidy
fi

ldflags="-s -w"
for kv in "gitVersion=$KUBE_VERSION" "gitMajor=1" "gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" \
          "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
    ldflags="$ldflags -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
for cmd in $missing; do
    start=$SECONDS
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$KUBE_BIN/$cmd.tmp" "$KUBE_BIN/$cmd"
    log "built $cmd in $((SECONDS - start)) s"
done
