"""Fixtures of the live-cluster tests: the test bed, the image in it, a restricted namespace.

The test bed (k8s/testbed/up) is brought up once per session, or reused when it is already up
(then it is left running). These tests run under `make cluster-test`, `pytest -m cluster`, with
LOBSTREAM_CLUSTER_TESTS=1, or in CI (CI=true), where a test bed that cannot come up is a failure,
never a skip.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.operators import Install
from tests.cluster.testbed import (
    HOST_CA_BUNDLE,
    REPO,
    TESTBED,
    UP_TIMEOUT_SECONDS,
    Cluster,
    CommandError,
    settings,
)
from tests.plugins.ci import ci

IMAGE = "lobstream:testbed"
OPERATORS_MODULE = "tests/cluster/test_operators.py"
DOWN_TIMEOUT_SECONDS = 5 * 60


def _wanted(config: pytest.Config) -> bool:
    markexpr = str(config.getoption("markexpr", "") or "")
    return (
        ci()
        or os.environ.get("LOBSTREAM_CLUSTER_TESTS") == "1"
        or ("cluster" in markexpr and "not cluster" not in markexpr)
    )


def _cannot(reason: str) -> None:
    """Fail in CI (a skipped test there is a failed test); skip elsewhere, saying why."""
    if ci():
        pytest.fail(reason)
    pytest.skip(reason)


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """A line on the terminal even while output is captured (fixture set-up)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _timings(bed: Cluster) -> str:
    """Seconds per phase of the last `up`, as it recorded them."""
    path = Path(bed.env["STATE"]) / "timings"
    lines = path.read_text().split("\n") if path.exists() else []
    return ", ".join(
        f"{name} {secs} s" for name, _, secs in (ln.partition(" ") for ln in lines) if secs
    )


def _up(bed: Cluster) -> bool:
    if not Path(bed.kubeconfig).exists():
        return False
    return bed.kubectl("get", "--raw", "/readyz", check=False, timeout=20).returncode == 0


@pytest.fixture(scope="session")
def testbed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """The running test bed; brought up here (and torn down afterwards) unless already up."""
    if not _wanted(request.config):
        pytest.skip("live-cluster tests: run `make cluster-test` (or -m cluster, or CI=true)")
    external = os.environ.get("LOBSTREAM_CLUSTER_KUBECONFIG")
    if external:  # k8s/testbed/kind-chart-checks.sh: a kind cluster it made and will delete
        yield Cluster.external(external)
        return
    if os.geteuid() != 0:
        _cannot("the test bed needs root (network namespace, mounts, daemons)")
    bed = Cluster.from_settings(settings())
    reused = _up(bed)
    if not reused:
        log = tmp_path_factory.mktemp("testbed") / "up.log"
        with log.open("w") as out:
            done = subprocess.run(
                [str(TESTBED / "up")],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=UP_TIMEOUT_SECONDS,
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-40:])
            subprocess.run([str(TESTBED / "down")], timeout=DOWN_TIMEOUT_SECONDS, check=False)
            pytest.fail(
                f"the test bed did not come up (exit {done.returncode}); log {log}:\n{tail}"
            )
        _report(request, f"test bed up ({_timings(bed)}); log {log}")
    yield bed
    if not reused and os.environ.get("LOBSTREAM_TESTBED_KEEP") != "1":
        subprocess.run([str(TESTBED / "down")], timeout=DOWN_TIMEOUT_SECONDS, check=True)


@pytest.fixture(scope="session")
def operators_install(
    request: pytest.FixtureRequest, testbed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Install | None:
    """Strimzi's and Prometheus Operator's installs, started (not awaited) when a collected test
    needs them: the image build below runs meanwhile."""
    if not any(OPERATORS_MODULE in item.nodeid for item in request.session.items):
        return None
    return Install.start(tmp_path_factory.mktemp("operators"))


@pytest.fixture(scope="session")
def operators(operators_install: Install | None) -> None:
    """Both operators Ready (Strimzi watching every namespace; Prometheus Operator's Prometheus)."""
    assert operators_install is not None, f"operators are installed for {OPERATORS_MODULE} only"
    failures = operators_install.wait()
    if failures:
        pytest.fail("\n".join(failures))


@pytest.fixture(scope="session")
def app_image(testbed: Cluster, operators_install: Install | None) -> str:
    """services/Dockerfile built on the test bed's debootstrap base, loaded into containerd.

    The host's CA bundle (registries here sit behind a TLS-intercepting proxy) reaches pip as a
    BuildKit secret: it is never written to a layer.
    """
    args = [
        "build",
        "--network=host",
        "-f",
        str(REPO / "services" / "Dockerfile"),
        "--build-arg",
        f"BASE_IMAGE={testbed.env['PYTHON_BASE_IMAGE']}",
        "-t",
        IMAGE,
    ]
    if HOST_CA_BUNDLE.is_file():
        args += ["--secret", f"id=ca,src={HOST_CA_BUNDLE}"]
    testbed.docker(*args, str(REPO), timeout=900)
    subprocess.run([str(TESTBED / "images.sh"), "load", IMAGE], check=True, timeout=300)
    return IMAGE


def create_restricted_namespace(testbed: Cluster, prefix: str) -> str:
    """A new namespace ``<prefix>-<random>`` enforcing Pod Security "restricted"."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    testbed.kubectl("create", "namespace", name)
    testbed.kubectl(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return name


@pytest.fixture(scope="module")
def namespace(testbed: Cluster) -> Iterator[str]:
    """A fresh namespace enforcing Pod Security "restricted", deleted afterwards."""
    name = create_restricted_namespace(testbed, "lobstream-e2e")
    yield name
    try:
        testbed.kubectl("delete", "namespace", name, "--wait=true", "--timeout=180s", timeout=240)
    except CommandError as error:  # reported, not hidden: a namespace that will not go is a bug
        pytest.fail(f"namespace {name} was not deleted: {error}")
