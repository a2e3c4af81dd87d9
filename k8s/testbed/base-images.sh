#!/usr/bin/env bash
# Debian base images made with debootstrap (no image registry is reachable), cached as tarballs.
# Usage: base-images.sh tarballs [NAME...]   (debootstrap only; needs no dockerd)
#        base-images.sh import [NAME...]     (tarballs -> images in the test bed's dockerd)
# Without NAMEs: the bases `up` needs ($DEFAULT_BASES).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE_DIR=$CACHE/base
# name -> packages on top of minbase
declare -A BASES=(
    [python]="python3,python3-venv,ca-certificates"
    [java17]="openjdk-17-jre-headless"
    # Strimzi's operator and Kafka images (operators/images.sh adds a Java 21 runtime:
    # bookworm has none); the tools their scripts call, openssl for the operator's certificates.
    [operators]="bash,gawk,curl,net-tools,tini,hostname,openssl,procps,ca-certificates"
)
DEFAULT_BASES="python java17 operators"
base_image() { echo "lobstream-testbed/base-$1:$DEBIAN_SUITE"; }

mirror() {
    local uri
    uri=$(sed -n 's/^URIs: *\(.*\)/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    echo "${uri:-http://deb.debian.org/debian}"
}

make_tarball() {
    local name=$1 tarball=$BASE_DIR/$1-$DEBIAN_SUITE.tar
    if [[ -s $tarball ]]; then log "base $name cached"; return; fi
    local root start=$SECONDS
    mkdir -p "$BASE_DIR"
    root=$(mktemp -d "$BASE_DIR/.root-$name.XXXXXX")
    debootstrap --variant=minbase --include="${BASES[$name]}" "$DEBIAN_SUITE" "$root" "$(mirror)" \
        >"$BASE_DIR/$name.debootstrap.log" 2>&1 || { rm -rf "$root"; die "debootstrap $name failed: see $BASE_DIR/$name.debootstrap.log"; }
    # Package lists and caches only make the image bigger.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    rm -rf "$root"
    mv "$tarball.tmp" "$tarball"
    log "base $name made in $((SECONDS - start)) s"
}

import_tarball() {
    local name=$1 image
    image=$(base_image "$1")
    if dk image inspect "$image" >/dev/null 2>&1; then return; fi
    dk import "$BASE_DIR/$name-$DEBIAN_SUITE.tar" "$image" >/dev/null
    log "imported $image"
}

case ${1:-} in
    tarballs | import)
        action=$1
        shift
        (($# > 0)) || read -r -a names <<<"$DEFAULT_BASES"
        for name in "${@:-${names[@]}}"; do
            [[ -n ${BASES[$name]:-} ]] || die "unknown base $name (known: ${!BASES[*]})"
            if [[ $action == tarballs ]]; then make_tarball "$name"; else import_tarball "$name"; fi
        done
        ;;
    *) die "usage: $0 tarballs|import [NAME...]" ;;
esac
