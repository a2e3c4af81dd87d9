"""Fixtures of the chart tests: the helm binary, the CRDs and skaffold schema, rendered matrices."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chart.helm import REPO, Helm, Obj
from tests.chart.matrix import Case
from tests.chart.schemas import CrdValidators
from tests.plugins.ci import ci

INSTALL_HELM = REPO / "tests" / "tools" / "install-helm.sh"


def _helm_cache() -> Path:
    """Where install-helm.sh caches the helm it builds by default (one file per version)."""
    found = re.search(r'HELM_VERSION="\$\{HELM_VERSION:-(v[\d.]+)\}"', INSTALL_HELM.read_text())
    assert found, f"{INSTALL_HELM} names no default HELM_VERSION"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "lobstream" / "bin" / f"helm-{found[1]}"


HELM_CACHE = _helm_cache()
SHARED_SCHEMAS = REPO.parent / "shared" / "schemas"
SKAFFOLD_SCHEMA = REPO / "tests" / "chart" / "skaffold-schema" / "skaffold-v4beta14.json"
CRD_GENERATOR = REPO / "k8s" / "testbed" / "crds.sh"
CRD_LOCK = Path("/tmp/lobstream-crds.lock")
CRD_KINDS = {
    "Kafka",
    "KafkaNodePool",
    "KafkaTopic",
    "KafkaUser",
    "PodMonitor",
    "ServiceMonitor",
    "PrometheusRule",
}


@pytest.fixture(scope="session")
def helm() -> Helm:
    """helm, from $LOBSTREAM_HELM, the cache tests/tools/install-helm.sh fills, or PATH."""
    candidates = [os.environ.get("LOBSTREAM_HELM"), str(HELM_CACHE), shutil.which("helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Helm(Path(candidate))
    pytest.fail(
        f"helm not found (looked at $LOBSTREAM_HELM, {HELM_CACHE}, PATH): build it with "
        "`make tools-helm` (tests/tools/install-helm.sh, `go install helm.sh/helm/v3/cmd/helm`)",
        pytrace=False,
    )


def shared_schemas() -> Path:
    """../shared/schemas beside the clone; without it a test skips, or fails in CI."""
    if SHARED_SCHEMAS.is_dir():
        return SHARED_SCHEMAS
    reason = f"{SHARED_SCHEMAS} is absent (the project's shared folder, not part of a clone)"
    if ci():
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


def _crds(*args: str) -> str:
    # One generator at a time: two runs would write the same cache files.
    with open(CRD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", str(CRD_GENERATOR), *args],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        pytest.fail(f"{CRD_GENERATOR.name} {' '.join(args)} failed:\n{tail}", pytrace=False)
    return done.stdout


def generated_crd_dirs() -> list[Path]:
    """Strimzi's and Prometheus Operator's CRDs, made by the project's own generator
    (k8s/testbed/crds.sh: Strimzi's crd-generator from Maven Central, Prometheus Operator's Go
    module); cached, so only the first run takes its ~15 s to a few minutes."""
    _crds("generate")
    return [Path(line) for line in _crds("dirs").splitlines() if line]


@pytest.fixture(scope="session")
def crds() -> CrdValidators:
    dirs = generated_crd_dirs()
    validators = CrdValidators(*dirs)
    missing = CRD_KINDS - {kind for _, kind in validators.validators}
    assert not missing, f"CRDs missing from {dirs}: {sorted(missing)}"
    return validators


@pytest.fixture(scope="session")
def skaffold_schema_path() -> Path:
    return SKAFFOLD_SCHEMA


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[[Case], list[Obj]]:
    """Renders of the matrix's cases, each rendered once per session."""
    cache: dict[Case, list[Obj]] = {}

    def render(case: Case) -> list[Obj]:
        if case not in cache:
            cache[case] = helm.template(case.values())
        return cache[case]

    return render
