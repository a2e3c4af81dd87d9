#!/usr/bin/env bash
# Strimzi's operators (cluster, topic, user, kafka-init, kafka-agent) built from the source of
# tag $STRIMZI_VERSION with Maven Central only: no Strimzi image can be pulled and the operator is
# not published to Maven Central. Cached by source hash; a warm run does nothing.
# The source: ../shared/vendor/strimzi-kafka-operator-$STRIMZI_VERSION-src.tar.gz beside the
# repository (a subset of the tag: the modules below, docker-images/, packaging/), else
# $LOBSTREAM_STRIMZI_SRC (a tarball or a directory), else a clone of the tag:
#   git clone --depth 1 --branch $STRIMZI_VERSION https://github.com/strimzi/strimzi-kafka-operator
# Usage: build-strimzi.sh        builds what is missing; prints the output directory
#        build-strimzi.sh dir    prints the output directory only (empty when not built)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

STRIMZI_TAG_COMMIT=6c7b43c4af0db547c10463ba09d1dfa6f5e156a0
STRIMZI_REPO=https://github.com/strimzi/strimzi-kafka-operator
VENDOR=$REPO_ROOT/../shared/vendor/strimzi-kafka-operator-$STRIMZI_VERSION-src.tar.gz
LOMBOK_VERSION=1.18.42          # 1.18.32 (the pom's) predates JDK 25
OPENSHIFT_PIN=7.7.0             # the openshift-* artifacts at the pom's 7.8.0 are not served
YQ_VERSION=v4.54.3
YQ_DIR=$CACHE/yq-$YQ_VERSION    # not $CACHE/bin: Debian's yq (the jq wrapper) stays first elsewhere
MODULES=kafka-agent,config-model-generator,cluster-operator,user-operator,topic-operator,kafka-init
# The build's own Maven repository: it holds stand-in jars that must not leak into ~/.m2, and it
# outlives the build tree, so a new source hash does not download 0.5 GB again.
M2=$CACHE/m2-strimzi
# Bump when patch_poms, stand_ins or the Maven flags change what is built: part of the cache key.
BUILD_REVISION=1
BUILD_KEY=$(echo "$BUILD_REVISION $LOMBOK_VERSION $OPENSHIFT_PIN $MODULES" | sha256sum | cut -c1-8)

# source_id: the source's part of the build's cache key.
source_id() {
    if [[ -n ${LOBSTREAM_STRIMZI_SRC:-} ]]; then
        if [[ -d $LOBSTREAM_STRIMZI_SRC ]]; then
            (cd "$LOBSTREAM_STRIMZI_SRC" && git rev-parse HEAD 2>/dev/null) ||
                die "LOBSTREAM_STRIMZI_SRC: a directory must be a git checkout (its commit is the cache key)"
        else
            sha256sum "$LOBSTREAM_STRIMZI_SRC" | cut -c1-12
        fi
    elif [[ -f $VENDOR ]]; then
        sha256sum "$VENDOR" | cut -c1-12
    else
        echo "$STRIMZI_TAG_COMMIT" | cut -c1-12
    fi
}

OUT=$CACHE/strimzi-operator-$STRIMZI_VERSION-$(source_id)-$BUILD_KEY

# unpack DIR: the source tree into DIR.
unpack() {
    local into=$1 src=${LOBSTREAM_STRIMZI_SRC:-}
    rm -rf "$into"
    mkdir -p "$into"
    if [[ -n $src && -d $src ]]; then
        cp -r "$src/." "$into/"
    elif [[ -n $src || -f $VENDOR ]]; then
        tar -xzf "${src:-$VENDOR}" -C "$into" --strip-components=1
    else
        git clone --quiet --depth 1 --branch "$STRIMZI_VERSION" "$STRIMZI_REPO" "$into"
        [[ $(git -C "$into" rev-parse HEAD) == "$STRIMZI_TAG_COMMIT" ]] ||
            die "tag $STRIMZI_VERSION is not commit $STRIMZI_TAG_COMMIT"
    fi
    [[ $(cat "$into/release.version") == "$STRIMZI_VERSION" ]] || die "source is not Strimzi $STRIMZI_VERSION"
}

# A JDK of release 21 or newer with javac (the poms say `release 21`; Java 17 cannot build it).
jdk_home() {
    local home
    for home in ${LOBSTREAM_STRIMZI_JDK:-} /usr/lib/jvm/temurin-2[1-9]-jdk-* /usr/lib/jvm/java-2[1-9]-openjdk-*; do
        [[ -x $home/bin/javac ]] && { echo "$home"; return; }
    done
    die "no JDK 21+ with javac under /usr/lib/jvm (Debian trixie: openjdk-21-jdk; or set LOBSTREAM_STRIMZI_JDK)"
}

# mikefarah's yq v4: config-model-generator's scripts read kafka-versions.yaml with it.
yq4() {
    if [[ ! -x $YQ_DIR/yq ]]; then
        local start=$SECONDS
        GOBIN=$YQ_DIR CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "github.com/mikefarah/yq/v4@$YQ_VERSION"
        log "built yq $YQ_VERSION in $((SECONDS - start)) s"
    fi
    echo "$YQ_DIR"
}

# patch_poms DIR: what building with Maven Central alone and a JDK newer than 21 takes.
patch_poms() {
    local pom=$1/pom.xml
    # Pin every openshift-* artifact to the newest version Maven Central serves.
    perl -0pi -e "s{(<artifactId>openshift-[a-z-]+</artifactId>\s*<version>)[^<]+(</version>)}{\${1}$OPENSHIFT_PIN\${2}}g" "$pom"
    [[ $(grep -c "<version>$OPENSHIFT_PIN</version>" "$pom") -ge 3 ]] || die "openshift pin did not apply"
    # JDK 23+ runs no annotation processor (lombok) unless asked.
    perl -0pi -e 's{(<arg>-Werror</arg>\s*</compilerArgs>)}{$1\n                                <proc>full</proc>}' "$pom"
    grep -q '<proc>full</proc>' "$pom" || die "<proc>full</proc> did not apply"
}

# Test-scope artifacts that Maven resolves even with -Dmaven.test.skip=true, and that are not
# served (or not built when tests are skipped): empty stand-ins in the build's own local repository.
stand_ins() {
    local repo=$1 jar=$2/stand-in.jar
    mkdir -p "$2/empty"
    (cd "$2/empty" && "$JAVA_HOME/bin/jar" cf "$jar" .)
    local coords
    for coords in io.strimzi:strimzi-test-container:0.116.0:jar: \
                  io.strimzi.strimzi-test-connectors:fault-injection-source-connector:0.1.0:jar: \
                  "io.strimzi:operator-common:$STRIMZI_VERSION:test-jar:tests"; do
        IFS=: read -r g a v p c <<<"$coords"
        mvn --batch-mode --quiet --no-transfer-progress install:install-file -Dmaven.repo.local="$repo" \
            -Dfile="$jar" -DgroupId="$g" -DartifactId="$a" -Dversion="$v" -Dpackaging="$p" \
            ${c:+-Dclassifier="$c"} -DgeneratePom=true
    done
}

build() {
    if [[ -f $OUT/complete ]]; then log "Strimzi $STRIMZI_VERSION operators cached ($OUT)"; return; fi
    local start=$SECONDS work=$OUT.work
    local yq_dir
    export JAVA_HOME
    JAVA_HOME=$(jdk_home)
    yq_dir=$(yq4)
    export PATH=$JAVA_HOME/bin:$yq_dir:$PATH
    unpack "$work/src"
    patch_poms "$work/src"
    stand_ins "$M2" "$work"
    log "Strimzi $STRIMZI_VERSION: source ready in $((SECONDS - start)) s; Maven with $JAVA_HOME"
    (
        cd "$work/src"
        # MVN_ARGS reaches the Maven runs of config-model-generator's script (one per Kafka version).
        export MVN_ARGS="--batch-mode --no-transfer-progress -Dmaven.repo.local=$M2 -Dlombok.version=$LOMBOK_VERSION"
        # shellcheck disable=SC2086 # MVN_ARGS is a list of arguments
        mvn $MVN_ARGS install -DskipTests -Dmaven.test.skip=true -Dcheckstyle.skip -Dmdep.analyze.skip=true \
            -Djacoco.skip=true -Dspotbugs.skip=true -Dmaven.javadoc.skip=true -Dmaven.source.skip=true -pl "$MODULES" -am >"$work/maven.log" 2>&1 ||
            die "Maven build failed: see $work/maven.log"
    )
    local dist
    for dist in cluster-operator topic-operator user-operator kafka-init; do
        [[ -f $work/src/docker-images/artifacts/binaries/$dist-$STRIMZI_VERSION-dist.zip ]] ||
            die "no $dist dist zip: see $work/maven.log"
    done
    rm -rf "$OUT"
    mkdir -p "$OUT"
    # What the images and the install need; the build tree goes.
    cp -r "$work/src/docker-images" "$work/src/packaging" "$work/src/kafka-versions.yaml" "$OUT/"
    cp "$work/src/kafka-agent/target/kafka-agent-$STRIMZI_VERSION.jar" "$OUT/"
    cp "$work/maven.log" "$OUT/"
    rm -rf "$work"
    touch "$OUT/complete"
    log "built Strimzi $STRIMZI_VERSION operators in $((SECONDS - start)) s ($OUT)"
}

case ${1:-build} in
    build) build; echo "$OUT" ;;
    dir) [[ -f $OUT/complete ]] && echo "$OUT" ;;
    *) die "usage: $0 [build|dir]" ;;
esac
