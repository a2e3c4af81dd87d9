#!/usr/bin/env bash
# Strimzi's cluster operator on the test bed, installed with Strimzi's own Helm chart from the
# source build-strimzi.sh used, k8s/strimzi-values.yaml (the values skaffold gives it), and only
# the image overrides the test bed needs. Needs a running test bed and operators/images.sh strimzi.
# Usage: operators/strimzi.sh install [NAMESPACE...]   watch these namespaces (none: any namespace)
#        operators/strimzi.sh uninstall                the release and its namespace (CRDs stay:
#                                                     the test bed's own tests use four of them)
# The operator's namespace is $LOBSTREAM_STRIMZI_NAMESPACE (default strimzi).
set -euo pipefail
OPERATORS_DIR=$(cd "$(dirname "$0")" && pwd)
source "$OPERATORS_DIR/../lib.sh"

NAMESPACE=${LOBSTREAM_STRIMZI_NAMESPACE:-strimzi}
RELEASE=strimzi

helm_ns() { in_ns "$HELM" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

install() {
    local strimzi chart operator kafka start=$SECONDS watch=()
    strimzi=$("$OPERATORS_DIR/build-strimzi.sh" dir) || die "Strimzi not built: run operators/images.sh strimzi"
    chart=$strimzi/packaging/helm-charts/helm3/strimzi-kafka-operator
    read -r operator kafka _ <<<"$("$OPERATORS_DIR/images.sh" list)"
    dk image inspect "$operator" "$kafka" >/dev/null || die "images missing: run operators/images.sh strimzi"
    "$TESTBED_DIR/images.sh" load "$operator" "$kafka"
    # All of Strimzi's CRDs (the operator watches StrimziPodSets and the rest, not only the four
    # the chart uses), server-side over the ones crds.sh applied; Helm would skip existing ones.
    kc apply --server-side --force-conflicts -f "$chart/crds/" >/dev/null
    wait_until 60 "Strimzi CRDs established" kc wait --for condition=Established --timeout=5s \
        -f "$chart/crds/"
    if (($# == 0)); then
        # One ClusterRoleBinding per listed namespace, all of one name: list none.
        watch=(--set watchAnyNamespace=true --set-json 'watchNamespaces=[]')
    else
        watch=(--set watchAnyNamespace=false --set "watchNamespaces={$(IFS=,; echo "$*")}")
    fi
    # containerd names images loaded from `docker save` docker.io/<repository>:<tag>. One Kafka
    # image serves every Kafka version the operator accepts: its tag is set, not composed.
    helm_ns upgrade --install "$RELEASE" "$chart" --namespace "$NAMESPACE" --create-namespace \
        --skip-crds -f "$REPO_ROOT/k8s/strimzi-values.yaml" "${watch[@]}" \
        --set defaultImageRegistry=docker.io \
        --set "defaultImageRepository=${operator%/*}" \
        --set "defaultImageTag=${operator##*:}" \
        --set "kafka.image.tag=${kafka##*:}" \
        --set image.imagePullPolicy=IfNotPresent \
        --wait --timeout 5m >/dev/null
    log "Strimzi $STRIMZI_VERSION operator Ready in namespace $NAMESPACE in $((SECONDS - start)) s (watching: ${*:-any namespace})"
}

uninstall() {
    helm_ns uninstall "$RELEASE" --namespace "$NAMESPACE" --wait >/dev/null 2>&1 || true
    kc delete namespace "$NAMESPACE" --ignore-not-found --wait=true --timeout=120s >/dev/null
    log "Strimzi operator removed (namespace $NAMESPACE)"
}

case ${1:-} in
    install) shift; install "$@" ;;
    uninstall) uninstall ;;
    *) die "usage: $0 install [NAMESPACE...] | uninstall" ;;
esac
