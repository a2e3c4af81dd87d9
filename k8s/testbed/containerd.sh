#!/usr/bin/env bash
# The container runtime: containerd with its CRI plugin and the CNI bridge config, in the namespace.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

running() { [[ -f $STATE/$1.pid ]] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

mkdir -p "$STATE/cni/net.d" "$STATE/containerd" "$DATA/containerd" "$DATA/kubelet"

# Pods get addresses from the CNI bridge; their default route is the bridge (for ClusterIPs),
# and nothing beyond the namespace exists to route to.
write_if_changed "$STATE/cni/net.d/10-testbed.conflist" <<EOF_CNI
{
  "cniVersion": "1.0.0",
  "name": "testbed",
  "plugins": [
    {
      "type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF_CNI

# restrict_oom_score_adj: the bounding set lacks CAP_SYS_RESOURCE (sandboxes fail otherwise);
# enable_unprivileged_ports: CoreDNS as non-root on :53;
# netns_mounts_under_state_dir: pod namespaces stay out of the host's `ip netns`.
write_if_changed "$STATE/containerd/config.toml" <<EOF_CONTAINERD
version = 2
root = "$DATA/containerd"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
EOF_CONTAINERD

if ! running containerd; then
    start_daemon containerd /usr/bin/containerd --config "$STATE/containerd/config.toml"
fi
wait_until 60 "containerd" ctr --address "$CONTAINERD_SOCK" version
