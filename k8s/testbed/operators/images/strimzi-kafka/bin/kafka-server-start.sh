#!/usr/bin/env bash
# kafka-server-start.sh CONFIG: the broker/controller, with Kafka's default heap when none is set.
set -euo pipefail
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
