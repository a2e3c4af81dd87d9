#!/usr/bin/env bash
# The test bed's own dockerd, in the host's namespace but with no bridge, no iptables, no
# forwarding and no masquerading: it creates no interface and no rule. Builds use --network=host.
# Its data root is a cache (base images and build layers survive a teardown).
# Usage: docker.sh start | stop
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DOCKER_DATA=$CACHE/docker
PIDFILE=$STATE/dockerd.pid

start() {
    if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then return; fi
    mkdir -p "$LOGS" "$DOCKER_DATA" "$STATE/docker-exec"
    setsid /usr/sbin/dockerd --host "unix://$DOCKER_SOCK" --pidfile "$PIDFILE" \
        --data-root "$DOCKER_DATA" --exec-root "$STATE/docker-exec" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false --storage-driver=overlay2 \
        >"$LOGS/dockerd.log" 2>&1 </dev/null &
    wait_until 60 "dockerd" dk version
    log "dockerd up (data root $DOCKER_DATA)"
}

stop() {
    [[ -f $PIDFILE ]] || return 0
    local pid
    pid=$(cat "$PIDFILE")
    if kill "$pid" 2>/dev/null; then
        wait_until 60 "dockerd to exit" bash -c "! kill -0 $pid"
    fi
    rm -f "$PIDFILE"
    log "dockerd stopped"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
