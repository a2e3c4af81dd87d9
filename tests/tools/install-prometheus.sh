#!/bin/sh
# Install Prometheus and promtool (Debian's `prometheus` package) and kcat, for the observability
# tests. Idempotent and quiet: when all three are on PATH nothing is done. Runs as root on a
# Debian 12 machine without systemd: the package's postinst would start the daemon through
# invoke-rc.d, so a policy-rc.d that denies every action is in place while apt-get runs (an
# existing one is left alone) and no Prometheus is left running afterwards.
set -eu

have_all() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
        && command -v kcat >/dev/null 2>&1
}

if ! have_all; then
    [ "$(id -u)" -eq 0 ] || { echo "install-prometheus: needs root (apt-get)" >&2; exit 3; }
    POLICY=/usr/sbin/policy-rc.d
    if [ ! -e "$POLICY" ]; then
        # Ours only: removed on any exit, so the machine's services behave as before.
        trap 'rm -f "$POLICY"' EXIT INT TERM
        printf '#!/bin/sh\nexit 101\n' >"$POLICY"
        chmod 0755 "$POLICY"
    fi
    export DEBIAN_FRONTEND=noninteractive
    LOG="$(mktemp)"
    # apt's chatter (debconf notes included) is shown only when something fails.
    quietly() {
        "$@" >>"$LOG" 2>&1 && return 0
        cat "$LOG" >&2
        rm -f "$LOG"
        echo "install-prometheus: '$*' failed" >&2
        exit 5
    }
    # The package lists are fetched once per machine; a later run with lists present skips it.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ] \
        || ! apt-cache show prometheus >/dev/null 2>&1; then
        quietly apt-get update -qq
    fi
    quietly apt-get install -y -qq --no-install-recommends prometheus kcat
    rm -f "$LOG"
fi

# The init script keeps its pid here; a daemon started despite the policy is a failed install.
PIDFILE=/run/prometheus/prometheus.pid
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "install-prometheus: the package started a Prometheus daemon (pid $(cat "$PIDFILE"))" >&2
    exit 4
fi

prometheus --version >/dev/null 2>&1 || { echo "install-prometheus: prometheus --version failed" >&2; exit 4; }
promtool --version >/dev/null 2>&1 || { echo "install-prometheus: promtool --version failed" >&2; exit 4; }
command -v kcat >/dev/null 2>&1 || { echo "install-prometheus: kcat is missing" >&2; exit 4; }
prometheus --version 2>&1 | head -n 1
