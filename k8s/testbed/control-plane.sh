#!/usr/bin/env bash
# etcd, kube-apiserver, kube-controller-manager and kube-scheduler, as daemons in the namespace.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PKI=$STATE/pki

running() { [[ -f $STATE/$1.pid ]] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

mkdir -p "$DATA/etcd"
if ! running etcd; then
    start_daemon etcd /usr/bin/etcd --name testbed --data-dir "$DATA/etcd" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster testbed=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
fi
wait_until 60 "etcd health" in_ns curl -sf http://127.0.0.1:2381/health

if ! running kube-apiserver; then
    # --allow-privileged=true: otherwise the API server refuses privileged pods itself and
    # Pod Security admission (the thing the tests exercise) is never reached.
    # WatchList=false: a watch-list stream needs etcd's RequestWatchProgress (3.4.31+/3.5.13+),
    # which Debian's etcd lacks; Go clients fall back to a list, Strimzi's Java client retries
    # its watches forever and only sees changes at its periodic reconcile (docs/testbed.md).
    start_daemon kube-apiserver "$KUBE_BIN/kube-apiserver" \
        --etcd-servers=http://127.0.0.1:2379 \
        --advertise-address="$API_IP" --bind-address=0.0.0.0 --secure-port=6443 \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --client-ca-file="$PKI/ca.crt" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
        --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        --authorization-mode=Node,RBAC --allow-privileged=true \
        --kubelet-preferred-address-types=InternalIP \
        --enable-admission-plugins=NodeRestriction --profiling=false \
        --feature-gates=WatchList=false
fi
wait_until 120 "kube-apiserver readiness" kc get --raw /readyz

if ! running kube-controller-manager; then
    start_daemon kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
        --kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
        --use-service-account-credentials=true --profiling=false
fi
if ! running kube-scheduler; then
    start_daemon kube-scheduler "$KUBE_BIN/kube-scheduler" \
        --kubeconfig="$STATE/scheduler.kubeconfig" \
        --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
        --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false --profiling=false
fi
wait_until 60 "kube-controller-manager health" in_ns curl -skf https://127.0.0.1:10257/healthz
wait_until 60 "kube-scheduler health" in_ns curl -skf https://127.0.0.1:10259/healthz
log "control plane up"
