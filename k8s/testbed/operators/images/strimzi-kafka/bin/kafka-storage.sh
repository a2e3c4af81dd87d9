#!/usr/bin/env bash
# kafka-storage.sh ARGS: KRaft's storage tool (format, random-uuid, ...).
set -euo pipefail
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
