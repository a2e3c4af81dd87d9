#!/usr/bin/env bash
# The kubelet (cgroupfs, cgroup v1 allowed) and kube-proxy (iptables), in the namespace.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PKI=$STATE/pki

running() { [[ -f $STATE/$1.pid ]] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

# resolvConf "": pods see only the cluster's DNS, which has no `forward`: nothing resolves outside.
write_if_changed "$STATE/kubelet-config.yaml" <<EOF_KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $API_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: ""
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
maxPods: 60
EOF_KUBELET

write_if_changed "$STATE/kube-proxy-config.yaml" <<EOF_PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
oomScoreAdj: 0
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOF_PROXY

if ! running kubelet; then
    start_daemon kubelet "$KUBE_BIN/kubelet" --config="$STATE/kubelet-config.yaml" \
        --kubeconfig="$STATE/kubelet.kubeconfig" --root-dir="$DATA/kubelet" \
        --cert-dir="$STATE/kubelet-pki" --node-ip="$API_IP" --hostname-override="$NODE_NAME"
fi
if ! running kube-proxy; then
    start_daemon kube-proxy "$KUBE_BIN/kube-proxy" --config="$STATE/kube-proxy-config.yaml"
fi
wait_until 120 "node $NODE_NAME Ready" kc wait --for=condition=Ready --timeout=5s "node/$NODE_NAME"
wait_until 60 "kube-proxy health" in_ns curl -sf http://127.0.0.1:10256/healthz
log "node $NODE_NAME ready"
