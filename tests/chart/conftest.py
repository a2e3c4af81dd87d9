"""Fixtures of the chart tests: the helm binary, the shared schemas, rendered matrices."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chart.helm import REPO, Helm, Obj
from tests.chart.matrix import Case
from tests.chart.schemas import CrdValidators

INSTALL_HELM = REPO / "tests" / "tools" / "install-helm.sh"


def _helm_cache() -> Path:
    """Where install-helm.sh caches the helm it builds by default (one file per version)."""
    found = re.search(r'HELM_VERSION="\$\{HELM_VERSION:-(v[\d.]+)\}"', INSTALL_HELM.read_text())
    assert found, f"{INSTALL_HELM} names no default HELM_VERSION"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "lobstream" / "bin" / f"helm-{found[1]}"


HELM_CACHE = _helm_cache()
SHARED_SCHEMAS = REPO.parent / "shared" / "schemas"


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
    reason = (
        f"{SHARED_SCHEMAS} is absent: the real CRD and skaffold schemas live beside the "
        "repository (shared/schemas), not in it"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def crds() -> CrdValidators:
    validators = CrdValidators(shared_schemas() / "crds")
    kinds = {kind for _, kind in validators.validators}
    missing = {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "PodMonitor",
        "ServiceMonitor",
        "PrometheusRule",
    } - kinds
    assert not missing, f"CRDs missing from {shared_schemas() / 'crds'}: {sorted(missing)}"
    return validators


@pytest.fixture(scope="session")
def skaffold_schema_path() -> Path:
    return shared_schemas() / "skaffold-v4beta14.json"


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[[Case], list[Obj]]:
    """Renders of the matrix's cases, each rendered once per session."""
    cache: dict[Case, list[Obj]] = {}

    def render(case: Case) -> list[Obj]:
        if case not in cache:
            cache[case] = helm.template(case.values())
        return cache[case]

    return render
