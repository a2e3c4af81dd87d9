#!/bin/sh
# Build helm from source with the Go toolchain (no binary download site is reachable here) and
# cache it in ~/.cache/lobstream/bin. Idempotent: a cached helm built by the same recipe is kept
# (a second run takes well under a second). Prints the binary's path on stdout.
#
# `go install` alone leaves helm assuming Kubernetes v1.20.0 without a cluster, and `helm
# template`/`helm lint` then refuse any chart whose kubeVersion asks for more. helm's own Makefile
# sets the version with linker flags, from the k8s.io/client-go its go.mod requires (v0.X -> 1.X);
# this script does the same, then checks what the binary reports.
set -eu
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# The cache key: bump the recipe when the way helm is built changes, so a cached helm is rebuilt.
RECIPE="helm $HELM_VERSION, Kubernetes version from its client-go (recipe 2)"
BIN_DIR="${LOBSTREAM_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/lobstream/bin}"
# One file per helm version (bin/helm before recipe 2, left alone for whoever still runs it).
HELM="$BIN_DIR/helm-$HELM_VERSION"
STAMP="$HELM.build"

if [ -x "$HELM" ] && [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "$RECIPE" ]; then
    echo "$HELM"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "install-helm: go is not on PATH (needed to build helm $HELM_VERSION)" >&2; exit 3; }

GOMOD=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
CLIENT_GO=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9][0-9]*\)\..*/\1/p' "$GOMOD" | head -n 1)
[ -n "$CLIENT_GO" ] || { echo "install-helm: no k8s.io/client-go v0.X in $GOMOD" >&2; exit 4; }
# As helm's Makefile: major = client-go's major + 1, minor = client-go's minor.
KUBE_MAJOR=1
KUBE_MINOR=$CLIENT_GO
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    LDFLAGS="$LDFLAGS -X $pkg.k8sVersionMajor=$KUBE_MAJOR -X $pkg.k8sVersionMinor=$KUBE_MINOR"
done

# Built beside the cache and renamed over it: a helm that another run is using is never removed
# or half-written (the rename is atomic; a running helm keeps its old file).
mkdir -p "$BIN_DIR"
WORK=$(mktemp -d "$BIN_DIR/.helm-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Go's module and build caches make a rebuild with other flags a link step only.
GOBIN="$WORK" CGO_ENABLED=0 go install -trimpath -ldflags "$LDFLAGS" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
"$WORK/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" || {
    echo "install-helm: built helm but it does not report $HELM_VERSION" >&2; exit 4; }
mkdir -p "$WORK/probe/templates"
printf 'apiVersion: v2\nname: probe\nversion: 0.1.0\n' >"$WORK/probe/Chart.yaml"
printf 'kube: {{ .Capabilities.KubeVersion.Version }}\n' >"$WORK/probe/templates/kube.yaml"
"$WORK/helm" template "$WORK/probe" | grep -qx "kube: v$KUBE_MAJOR.$KUBE_MINOR.0" || {
    echo "install-helm: built helm but it does not assume Kubernetes v$KUBE_MAJOR.$KUBE_MINOR.0" >&2; exit 4; }
mv -f "$WORK/helm" "$HELM"
printf '%s\n%s\n' "$RECIPE" "$LDFLAGS" >"$STAMP"
echo "$HELM"
