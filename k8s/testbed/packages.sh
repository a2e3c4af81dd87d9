#!/usr/bin/env bash
# Debian packages the test bed needs, installed only if missing. Package scripts must not start
# any daemon (docker.io's would start dockerd with its default bridge on the host), so a
# policy-rc.d forbidding that is in place during the install.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES="docker.io containerd runc etcd-server debootstrap iptables iproute2 gcc libc6-dev
          conntrack openssl curl ca-certificates maven"

missing=()
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then log "Debian packages present"; exit 0; fi

policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# lobstream test bed: no daemon starts during package installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
# shellcheck disable=SC2064 # expand now: the trap must remove only a file this run created
((own_policy)) && trap "rm -f '$policy'" EXIT
grep -q 'exit 101' "$policy" || die "$policy exists and does not forbid starting daemons; refusing to install docker.io"

start=$SECONDS
log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "packages installed in $((SECONDS - start)) s"
