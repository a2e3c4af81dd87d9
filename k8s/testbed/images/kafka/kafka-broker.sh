#!/bin/bash
# Format the (empty) storage and run one combined broker+controller KRaft node.
# KAFKA_ADVERTISED_HOST is the name clients use (the Service's DNS name).
set -euo pipefail
: "${KAFKA_ADVERTISED_HOST:?set KAFKA_ADVERTISED_HOST to the broker Service DNS name}"
: "${KAFKA_DATA_DIR:=/var/lib/kafka/data}"
: "${KAFKA_CONFIG_DIR:=/tmp/kafka-config}"
: "${KAFKA_HEAP_MB:=384}"

mkdir -p "$KAFKA_CONFIG_DIR" "$KAFKA_DATA_DIR"
java_cmd=(java "-Xmx${KAFKA_HEAP_MB}m" -XX:+UseSerialGC -Djava.awt.headless=true
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp '/opt/kafka/libs/*')

cat >"$KAFKA_CONFIG_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST}:9092
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${KAFKA_DATA_DIR}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
PROPS

if [[ ! -f $KAFKA_DATA_DIR/meta.properties ]]; then
    cluster_id=$("${java_cmd[@]}" kafka.tools.StorageTool random-uuid)
    "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$KAFKA_CONFIG_DIR/server.properties" --ignore-formatted
fi
exec "${java_cmd[@]}" kafka.Kafka "$KAFKA_CONFIG_DIR/server.properties"
