#!/usr/bin/env bash
# The test bed's images, built by its dockerd (no registry is reachable) and loaded into the
# cluster's containerd.
# Usage: images.sh build             pause, CoreDNS and Kafka images
#        images.sh load IMAGE...     docker save | ctr import into containerd's k8s.io namespace
set -euo pipefail
source "$(dirname "$0")/lib.sh"

IMAGES_SRC=$TESTBED_DIR/images
COREDNS_IMAGE=lobstream-testbed/coredns:${COREDNS_VERSION#v}
KAFKA_IMAGE=lobstream-testbed/kafka:$KAFKA_VERSION
KAFKA_LIBS=$CACHE/testbed-kafka-$KAFKA_VERSION
TESTBED_IMAGES="$PAUSE_IMAGE $COREDNS_IMAGE $KAFKA_IMAGE"

# context NAME: a fresh build context holding the image's files from the repository.
context() {
    local dir=$CACHE/images/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$IMAGES_SRC/$1/." "$dir/"
    echo "$dir"
}

build() { dk build --network=host --quiet "$@" >/dev/null; }

pause_image() {
    local dir src
    dir=$(context pause)
    src=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c
    [[ -f $src ]] || go mod download "k8s.io/kubernetes@$KUBE_VERSION"
    gcc -Os -static -Wall -Werror -DVERSION="$KUBE_VERSION" -o "$dir/pause" "$src"
    strip "$dir/pause"
    build -t "$PAUSE_IMAGE" "$dir"
}

coredns_image() {
    local dir
    dir=$(context coredns)
    cp "$COREDNS_BIN/coredns" "$dir/coredns"
    build -t "$COREDNS_IMAGE" "$dir"
}

# Kafka's jars: the same list as the local broker's (its pom.xml), resolved by Maven.
kafka_jars() {
    [[ -f $KAFKA_LIBS/complete ]] && return
    local pom
    pom=$(find "$REPO_ROOT/services/lobstream" -path '*localkafka/pom.xml' | head -1)
    [[ -n $pom ]] || die "no localkafka/pom.xml under services/lobstream"
    mkdir -p "$KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS/libs"
    mvn --batch-mode --quiet --no-transfer-progress -f "$pom" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS/libs"
    [[ -f $KAFKA_LIBS/libs/kafka_2.13-$KAFKA_VERSION.jar ]] || die "Maven fetched no Kafka $KAFKA_VERSION"
    touch "$KAFKA_LIBS/complete"
}

kafka_image() {
    local dir
    kafka_jars
    dir=$(context kafka)
    cp -r "$KAFKA_LIBS/libs" "$dir/libs"
    build --build-arg "BASE_IMAGE=lobstream-testbed/base-java17:$DEBIAN_SUITE" -t "$KAFKA_IMAGE" "$dir"
}

load() {
    local start=$SECONDS
    dk save "$@" | ctr_k8s images import - >/dev/null
    log "loaded into containerd in $((SECONDS - start)) s: $*"
}

case ${1:-} in
    build)
        start=$SECONDS
        pause_image
        coredns_image
        kafka_image
        log "images built in $((SECONDS - start)) s: $TESTBED_IMAGES"
        ;;
    load) shift; load "$@" ;;
    list) echo "$TESTBED_IMAGES" ;;
    *) die "usage: $0 build | load IMAGE... | list" ;;
esac
