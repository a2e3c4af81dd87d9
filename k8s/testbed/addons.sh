#!/usr/bin/env bash
# What runs on the empty cluster before any test: the Pod Security namespaces, cluster DNS,
# the real CRDs and the Kafka broker the chart uses as its external Kafka.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

render() {
    sed -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" -e "s|@DNS_IP@|$DNS_IP|g" \
        -e "s|@COREDNS_IMAGE@|lobstream-testbed/coredns:${COREDNS_VERSION#v}|g" \
        -e "s|@KAFKA_IMAGE@|lobstream-testbed/kafka:$KAFKA_VERSION|g" "$TESTBED_DIR/manifests/$1"
}

for manifest in namespaces.yaml coredns.yaml kafka.yaml; do
    render "$manifest" | kc apply --server-side --force-conflicts -f - >/dev/null
done
"$TESTBED_DIR/crds.sh" apply
kc -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
kc -n kafka rollout status deployment/kafka --timeout=180s >/dev/null
log "addons ready: CoreDNS, CRDs, Kafka at kafka.kafka.svc.$CLUSTER_DOMAIN:9092"
