#!/usr/bin/env bash
# The cluster's own network namespace: every private-range address lives here and nowhere else.
# No veth to the host, no default route, no NAT: nothing inside can reach the outside.
# Usage: network.sh up | down
set -euo pipefail
source "$(dirname "$0")/lib.sh"

up() {
    if [[ -e /run/netns/$NETNS ]]; then log "namespace $NETNS exists"; return; fi
    ip netns add "$NETNS"
    in_ns ip link set lo up
    # A bridge without ports carries the API server / node address (no dummy interfaces here).
    in_ns ip link add "$API_BRIDGE" type bridge
    in_ns ip addr add "$API_IP/32" dev "$API_BRIDGE"
    in_ns ip link set "$API_BRIDGE" up
    # Traffic the namespace itself sends to a ClusterIP needs a route before kube-proxy's DNAT.
    in_ns ip route add "$SERVICE_CIDR" dev "$API_BRIDGE" src "$API_IP"
    # Per-namespace settings: pods route through the CNI bridge; bridged traffic sees iptables.
    in_ns sysctl -q -w net.ipv4.ip_forward=1
    in_ns sysctl -q -w net.bridge.bridge-nf-call-iptables=1
    log "namespace $NETNS: $API_IP on $API_BRIDGE, services $SERVICE_CIDR, pods $POD_CIDR"
}

down() {
    if [[ -e /run/netns/$NETNS ]]; then
        # Deleting the namespace takes its interfaces, routes and iptables rules with it.
        ip netns delete "$NETNS"
        log "namespace $NETNS deleted"
    fi
    # `ip netns add` made /run/netns a bind mount of itself; undo that once it is empty.
    if [[ -d /run/netns ]] && [[ -z $(ls -A /run/netns) ]]; then
        while mountpoint -q /run/netns; do umount /run/netns; done
        rmdir /run/netns
    fi
}

case ${1:-} in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up|down" ;;
esac
