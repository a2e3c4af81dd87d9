#!/bin/sh
# Build helm from source with the Go toolchain (no binary download site is reachable here) and
# cache it in ~/.cache/lobstream/bin. Idempotent: a cached helm built with the same flags is kept
# (a second run takes well under a second). Prints the binary's path on stdout.
set -eu
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# The Kubernetes version `helm template` and `helm lint` assume without a cluster; helm's own
# Makefile sets it from its client-go module (v0.37 -> 1.37), `go install` alone would leave 1.20.
KUBE_MAJOR=1
KUBE_MINOR=37
BIN_DIR="${LOBSTREAM_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/lobstream/bin}"
HELM="$BIN_DIR/helm"
STAMP="$HELM.build"
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    LDFLAGS="$LDFLAGS -X $pkg.k8sVersionMajor=$KUBE_MAJOR -X $pkg.k8sVersionMinor=$KUBE_MINOR"
done

if [ -x "$HELM" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LDFLAGS" ]; then
    echo "$HELM"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "install-helm: go is not on PATH (needed to build helm $HELM_VERSION)" >&2; exit 3; }
mkdir -p "$BIN_DIR"
# GOBIN puts the binary straight into the cache; Go's module and build caches make a rebuild fast.
GOBIN="$BIN_DIR" CGO_ENABLED=0 go install -trimpath -ldflags "$LDFLAGS" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
"$HELM" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" || {
    echo "install-helm: built $HELM but it does not report $HELM_VERSION" >&2; exit 4; }
printf '%s' "$LDFLAGS" > "$STAMP"
echo "$HELM"
