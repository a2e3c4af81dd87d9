#!/usr/bin/env bash
# What the test bed may change on the host, recorded before `up` and restored by `down`:
# directories the daemons create outside their configured roots, the kernel settings the kubelet
# sets, and the cgroups the kubelet and containerd create. Also the network check.
# Usage: host-state.sh save | restore | check-network
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SAVED=$STATE/host
# Written by the daemons whatever their configuration says.
STRAY_DIRS="/run/netns /run/containerd /run/docker /var/run/docker /var/lib/cni /var/lib/kubelet
            /var/lib/containerd /var/lib/docker /var/log/containers /var/log/pods /etc/docker
            /etc/cni /opt/cni /run/flannel /var/lib/calico"
# The kubelet's "protect kernel defaults" settings, and forwarding for good measure.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
         kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
         net.bridge.bridge-nf-call-iptables"

cgroup_dirs() { find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d 2>/dev/null | sort; }

save() {
    if [[ -f $SAVED/complete ]]; then return; fi
    mkdir -p "$SAVED"
    local d s
    for d in $STRAY_DIRS; do [[ -e $d ]] && echo "$d"; done >"$SAVED/dirs"
    for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done >"$SAVED/sysctls"
    cgroup_dirs >"$SAVED/cgroups"
    touch "$SAVED/complete"
}

# rmdir a cgroup tree depth first (cgroup directories can only be removed empty, leaves first).
remove_cgroup_tree() { find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true; }

restore() {
    [[ -f $SAVED/complete ]] || { log "no saved host state: nothing to restore"; return; }
    local d line
    for d in $STRAY_DIRS; do
        [[ -e $d ]] || continue
        grep -qx "$d" "$SAVED/dirs" && continue
        umount_under "$d"
        rm -rf "$d"
    done
    while IFS= read -r line; do
        [[ $(sysctl -n "${line%%=*}") == "${line#*=}" ]] || sysctl -q -w "$line"
    done <"$SAVED/sysctls"
    for d in $(comm -13 "$SAVED/cgroups" <(cgroup_dirs) | grep -E '/(kubepods|buildkit|docker)$'); do
        remove_cgroup_tree "$d"
    done
    local left
    left=$(comm -13 "$SAVED/cgroups" <(cgroup_dirs))
    # Only the cgroups of pods and builds are ours; anything else new belongs to someone else.
    if grep -E '/(kubepods|buildkit|docker)$' <<<"$left"; then die "cgroups left behind"; fi
}

# umount_under DIR: every mount at or below DIR, deepest first.
umount_under() {
    local m
    awk -v d="$1" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# The hard rule: no private-range address or route, and no bridge, in the host's namespace.
check_network() {
    local bad
    bad=$( { ip -4 -o addr show; ip -4 route show table all; } |
        grep -E '(^|[^0-9])(10\.[0-9]+|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]+\.[0-9]+' || true)
    bad+=$(ip -o link show type bridge)
    if [[ -n $bad ]]; then
        log "host network namespace has private-range addresses, routes or bridges:"
        echo "$bad" >&2
        return 1
    fi
    log "host network check: no private-range address, route or bridge"
}

case ${1:-} in
    save) save ;;
    restore) restore ;;
    check-network) check_network ;;
    umount-under) umount_under "$2" ;;
    *) die "usage: $0 save|restore|check-network" ;;
esac
