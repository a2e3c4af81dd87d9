#!/usr/bin/env bash
# Prometheus Operator, its prometheus-config-reloader and Prometheus itself, built from their Go
# modules (no image can be pulled; Debian's Prometheus 2.42 is below the operator's minimum and
# has no Kubernetes discovery). Cached by version under $CACHE.
# The operator's version is the one whose CRDs crds.sh took, so schemas and controller agree;
# Prometheus' version is the operator's own default (the last entry of the compatibility matrix
# in pkg/operator/defaults.go).
# Usage: build-prometheus.sh           builds what is missing, prints the versions
#        build-prometheus.sh versions  prints "OPERATOR_VERSION PROMETHEUS_VERSION" only
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

# module_dir MODULE@VERSION: the module's directory in the Go module cache (downloads it).
module_dir() {
    go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

operator_version() {
    local crds=$CACHE/crds/prometheus-operator/complete version
    if [[ -s $crds ]]; then cat "$crds"; return; fi
    for version in $PROM_OPERATOR_VERSIONS; do
        if module_dir "github.com/prometheus-operator/prometheus-operator@$version" >/dev/null 2>&1; then
            echo "$version"
            return
        fi
    done
    die "no prometheus-operator module among: $PROM_OPERATOR_VERSIONS"
}

# The operator's default Prometheus (v3.M.P), whose Go module is tagged v0.3MM.P.
prometheus_version() {
    local dir
    dir=$(module_dir "github.com/prometheus-operator/prometheus-operator@$1")
    # DefaultPrometheusVersion is the last entry of PrometheusCompatibilityMatrix.
    sed -n '/PrometheusCompatibilityMatrix = /,/^\s*}/s/^\s*"\(v[0-9.]*\)",.*/\1/p' \
        "$dir/pkg/operator/defaults.go" | tail -1
}

prometheus_module_version() {
    local v=${1#v} major minor patch
    IFS=. read -r major minor patch <<<"$v"
    [[ $major == 3 ]] || die "Prometheus $1: only v3 maps to a Go module tag here"
    echo "v0.$((300 + minor)).$patch"
}

# writable_copy SRC DST: the module cache is read-only; builds edit go.mod in a copy.
writable_copy() {
    rm -rf "$2"
    mkdir -p "$(dirname "$2")"
    cp -r "$1" "$2"
    chmod -R u+w "$2"
}

build_operator() {
    local version=$1 out=$CACHE/prometheus-operator-$1
    if [[ -x $out/operator && -x $out/prometheus-config-reloader ]]; then
        log "Prometheus Operator $version cached"
        return
    fi
    local src=$CACHE/src/prometheus-operator-$version start=$SECONDS ldflags
    writable_copy "$(module_dir "github.com/prometheus-operator/prometheus-operator@$version")" "$src"
    mkdir -p "$out"
    ldflags="-s -w -X github.com/prometheus/common/version.Version=${version#v}"
    (
        cd "$src"
        # `go install ...@version` refuses a module with replace directives, and these two
        # point at directories the module zip does not carry; the proxy serves both modules.
        go mod edit -dropreplace=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring \
            -dropreplace=github.com/prometheus-operator/prometheus-operator/pkg/client
        GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/operator.tmp" ./cmd/operator
        GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" \
            -o "$out/prometheus-config-reloader.tmp" ./cmd/prometheus-config-reloader
    )
    mv "$out/operator.tmp" "$out/operator"
    mv "$out/prometheus-config-reloader.tmp" "$out/prometheus-config-reloader"
    rm -rf "$src"
    log "built Prometheus Operator $version in $((SECONDS - start)) s"
}

build_prometheus() {
    local version=$1 module out=$CACHE/prometheus-$1
    if [[ -x $out/prometheus && -x $out/promtool ]]; then
        log "Prometheus $version cached"
        return
    fi
    module=$(prometheus_module_version "$version")
    local src=$CACHE/src/prometheus-$version start=$SECONDS ldflags
    writable_copy "$(module_dir "github.com/prometheus/prometheus@$module")" "$src"
    mkdir -p "$out"
    ldflags="-s -w -X github.com/prometheus/common/version.Version=${version#v}"
    (
        cd "$src"
        # The module's go.work names directories its zip lacks.
        rm -f go.work go.work.sum
        # Kubernetes discovery only: the cloud plugins add minutes of build for nothing here.
        GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags remove_all_sd,enable_kubernetes_sd \
            -ldflags "$ldflags" -o "$out/prometheus.tmp" ./cmd/prometheus
        GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags remove_all_sd,enable_kubernetes_sd \
            -ldflags "$ldflags" -o "$out/promtool.tmp" ./cmd/promtool
    )
    mv "$out/prometheus.tmp" "$out/prometheus"
    mv "$out/promtool.tmp" "$out/promtool"
    rm -rf "$src"
    log "built Prometheus $version (module $module) in $((SECONDS - start)) s"
}

operator=$(operator_version)
prometheus=$(prometheus_version "$operator")
[[ -n $prometheus ]] || die "no DefaultPrometheusVersion in prometheus-operator $operator"
case ${1:-build} in
    versions) echo "$operator $prometheus" ;;
    build)
        build_operator "$operator"
        build_prometheus "$prometheus"
        echo "$operator $prometheus"
        ;;
    *) die "usage: $0 [build|versions]" ;;
esac
