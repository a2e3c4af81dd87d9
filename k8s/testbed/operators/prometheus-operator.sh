#!/usr/bin/env bash
# Prometheus Operator on the test bed, and one Prometheus object whose selectors are read from
# k8s/kube-prometheus-stack-values.yaml (what kube-prometheus-stack gives the dev loop), so a wrong
# selector there shows here. Needs a running test bed and operators/images.sh prometheus.
# Usage: operators/prometheus-operator.sh install     operator Ready, Prometheus pod Ready
#        operators/prometheus-operator.sh uninstall   its namespace and cluster-scoped objects
# The namespace is $LOBSTREAM_PROMETHEUS_NAMESPACE (default monitoring).
set -euo pipefail
OPERATORS_DIR=$(cd "$(dirname "$0")" && pwd)
source "$OPERATORS_DIR/../lib.sh"

NAMESPACE=${LOBSTREAM_PROMETHEUS_NAMESPACE:-monitoring}
NAME=lobstream-testbed-$NAMESPACE     # prefix of the cluster-scoped objects
VALUES=$REPO_ROOT/k8s/kube-prometheus-stack-values.yaml

# The Prometheus object: kube-prometheus-stack's prometheusSpec fields that the Prometheus CRD
# has (selectors, scrape interval, retention), the image built here, nothing else.
prometheus_object() {
    "$REPO_ROOT/.venv/bin/python" - "$VALUES" "$NAMESPACE" "$1" "$2" <<'PY'
import json
import sys

import yaml

values_path, namespace, image, version = sys.argv[1:]
with open(values_path, encoding="utf-8") as f:
    spec_values = yaml.safe_load(f)["prometheus"]["prometheusSpec"]
fields = (
    "serviceMonitorSelector", "podMonitorSelector", "ruleSelector",
    "serviceMonitorNamespaceSelector", "podMonitorNamespaceSelector", "ruleNamespaceSelector",
    "scrapeInterval", "retention",
)
spec = {key: spec_values[key] for key in fields if key in spec_values}
spec.update(
    image=image,
    version=version,
    replicas=1,
    serviceAccountName="prometheus",
    securityContext={
        "runAsNonRoot": True, "runAsUser": 65534, "fsGroup": 65534,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    resources={"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
)
print(json.dumps({
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "Prometheus",
    "metadata": {"name": "lobstream", "namespace": namespace},
    "spec": spec,
}))
PY
}

install() {
    local start=$SECONDS operator prometheus module dir version
    read -r _ _ operator prometheus <<<"$("$OPERATORS_DIR/images.sh" list)"
    dk image inspect "$operator" "$prometheus" >/dev/null || die "images missing: run operators/images.sh prometheus"
    "$TESTBED_DIR/images.sh" load "$operator" "$prometheus"
    module=github.com/prometheus-operator/prometheus-operator@${operator##*:}
    dir=$(go mod download -json "$module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    # All ten CRDs: the operator watches every kind it knows, not only the three the chart uses.
    kc apply --server-side --force-conflicts -f "$dir/example/prometheus-operator-crd/" >/dev/null
    wait_until 60 "Prometheus Operator CRDs established" kc wait --for condition=Established --timeout=5s \
        -f "$dir/example/prometheus-operator-crd/"
    kc create namespace "$NAMESPACE" --dry-run=client -o yaml | kc apply -f - >/dev/null
    kc label namespace "$NAMESPACE" --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
    sed "s/^  name: prometheus-operator$/  name: $NAME-operator/" \
        "$dir/example/rbac/prometheus-operator/prometheus-operator-cluster-role.yaml" | kc apply -f - >/dev/null
    sed -e "s|@NAMESPACE@|$NAMESPACE|g" -e "s|@NAME@|$NAME|g" -e "s|@OPERATOR_IMAGE@|docker.io/$operator|g" \
        "$OPERATORS_DIR/manifests/prometheus-operator.yaml" | kc apply -f - >/dev/null
    kc -n "$NAMESPACE" rollout status deployment/prometheus-operator --timeout=180s >/dev/null
    log "Prometheus Operator ${operator##*:} Ready in $((SECONDS - start)) s"
    version=${prometheus##*:}
    prometheus_object "docker.io/$prometheus" "$version" | kc apply -f - >/dev/null
    # The operator creates the StatefulSet: wait for it to exist before waiting on its rollout.
    wait_until 120 "Prometheus StatefulSet" kc -n "$NAMESPACE" get statefulset prometheus-lobstream
    kc -n "$NAMESPACE" rollout status statefulset/prometheus-lobstream --timeout=180s >/dev/null
    log "Prometheus $version Ready in namespace $NAMESPACE in $((SECONDS - start)) s"
}

uninstall() {
    kc delete namespace "$NAMESPACE" --ignore-not-found --wait=true --timeout=120s >/dev/null
    kc delete clusterrolebinding,clusterrole "$NAME-operator" "$NAME-prometheus" --ignore-not-found >/dev/null
    log "Prometheus Operator removed (namespace $NAMESPACE)"
}

case ${1:-} in
    install) install ;;
    uninstall) uninstall ;;
    *) die "usage: $0 install | uninstall" ;;
esac
