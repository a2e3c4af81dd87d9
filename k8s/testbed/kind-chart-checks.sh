#!/usr/bin/env bash
# The test bed's server-side chart checks on kind, for users with Docker and kind:
#   every charts/lobstream/ci/*-values.yaml rendered and dry-run applied by a real API server
#   holding the real Strimzi and Prometheus Operator CRDs, and the bad values refused.
# It makes a kind cluster "lobstream-checks" and deletes it afterwards (KEEP=1 keeps it).
# Needs: docker, kind, kubectl, helm, python3 with pip, Maven and Go (the CRDs are generated
# from their sources exactly as on the CI test bed), and `make setup` done.
# (It cannot run on the CI machine: kind's node image cannot be pulled there; CI runs the same
# tests on k8s/testbed instead.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

NAME=${KIND_CLUSTER_NAME:-lobstream-checks}
for tool in docker kind kubectl helm python3 mvn go; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
[[ -x $REPO_ROOT/.venv/bin/python ]] || die "run 'make setup' first"

kind create cluster --name "$NAME" --wait 180s
[[ ${KEEP:-0} == 1 ]] || trap 'kind delete cluster --name "$NAME"' EXIT
kubeconfig=$(mktemp)
kind get kubeconfig --name "$NAME" >"$kubeconfig"

"$TESTBED_DIR/crds.sh" generate
files=()
for f in "$CACHE"/crds/strimzi-"$STRIMZI_VERSION"/*.yaml "$CACHE"/crds/prometheus-operator/*.yaml; do
    files+=(-f "$f")
done
kubectl --kubeconfig "$kubeconfig" apply --server-side "${files[@]}" >/dev/null
kubectl --kubeconfig "$kubeconfig" wait --for condition=Established --timeout=60s crd --all >/dev/null

cd "$REPO_ROOT"
LOBSTREAM_CLUSTER_KUBECONFIG=$kubeconfig .venv/bin/python -m pytest -m cluster \
    tests/cluster/test_server_validation.py "$@"
