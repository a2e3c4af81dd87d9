#!/usr/bin/env bash
# Build the CNI plugins, a minimal CoreDNS and helm (each cached by version).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build_cni() {
    local plugins="main/bridge main/loopback ipam/host-local meta/portmap"
    local p missing=0
    for p in $plugins; do [[ -x $CNI_BIN/$(basename "$p") ]] || missing=1; done
    if ((missing == 0)); then log "CNI plugins $CNI_VERSION cached"; return; fi
    local args=() start=$SECONDS
    for p in $plugins; do args+=("github.com/containernetworking/plugins/plugins/$p@$CNI_VERSION"); done
    mkdir -p "$CNI_BIN"
    GOBIN=$CNI_BIN CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "${args[@]}"
    log "built CNI plugins in $((SECONDS - start)) s"
}

# CoreDNS with only the plugins a cluster-internal resolver needs: no `forward`, so no name
# ever resolves outside the cluster. The directive order follows CoreDNS's plugin.cfg.
build_coredns() {
    if [[ -x $COREDNS_BIN/coredns ]]; then log "CoreDNS $COREDNS_VERSION cached"; return; fi
    local work=$CACHE/src/coredns-$COREDNS_VERSION start=$SECONDS
    mkdir -p "$work" "$COREDNS_BIN"
    cat >"$work/main.go" <<'GO'
// A minimal CoreDNS: cluster names only.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func init() {
	dnsserver.Directives = []string{
		"reload", "ready", "health", "errors", "log", "loadbalance", "cache",
		"kubernetes", "loop", "whoami",
	}
}

func main() { coremain.Run() }
GO
    (
        cd "$work"
        [[ -f go.mod ]] || go mod init lobstream.local/coredns-build
        GOFLAGS=-mod=mod go get "github.com/coredns/coredns@$COREDNS_VERSION"
        GOFLAGS=-mod=mod go mod tidy
        CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$COREDNS_BIN/coredns.tmp" .
    )
    mv "$COREDNS_BIN/coredns.tmp" "$COREDNS_BIN/coredns"
    log "built CoreDNS in $((SECONDS - start)) s"
}

build_helm() {
    local start=$SECONDS
    HELM_VERSION=$HELM_VERSION "$REPO_ROOT/tests/tools/install-helm.sh" >/dev/null
    log "helm $HELM_VERSION ready in $((SECONDS - start)) s"
}

build_cni
build_coredns
build_helm
