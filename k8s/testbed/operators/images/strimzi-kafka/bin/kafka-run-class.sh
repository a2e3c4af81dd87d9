#!/usr/bin/env bash
# Runs a Kafka main class on the image's jars with the variables Strimzi's scripts set
# (Kafka's own launcher is in its binary distribution, not on Maven Central).
set -euo pipefail
libs=$(cd "$(dirname "$0")/../libs" && pwd)
# shellcheck disable=SC2086 # each variable holds a list of JVM options
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
    ${KAFKA_GC_LOG_OPTS:-} ${KAFKA_JMX_OPTS:-} ${KAFKA_LOG4J_OPTS:-} ${KAFKA_OPTS:-} \
    -Djava.awt.headless=true -cp "$libs/*" "$@"
