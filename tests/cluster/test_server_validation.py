"""The chart's objects checked by the real API server against the real CRDs (server-side dry run).

`helm install --dry-run=server` and `helm template --validate` do not check custom resources;
`kubectl apply --server-side --dry-run=server` does, with the Strimzi and Prometheus Operator
CRDs the test bed generated from their sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.testbed import REPO, TEST_TIMEOUT_SECONDS, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(TEST_TIMEOUT_SECONDS)]

CHART = REPO / "charts" / "lobstream"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def render(testbed: Cluster, namespace: str, *args: str) -> str:
    return testbed.helm("template", "lobstream", str(CHART), "--namespace", namespace, *args).stdout


def server_dry_run(testbed: Cluster, namespace: str, manifest: str) -> Any:
    return testbed.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--namespace",
        namespace,
        "-f",
        "-",
        stdin=manifest,
        check=False,
    )


def test_every_ci_values_file_is_there() -> None:
    assert CI_VALUES, f"no values files in {CHART / 'ci'}"


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda path: path.name)
def test_rendered_chart_is_accepted_by_the_api_server(
    testbed: Cluster, namespace: str, values: Path
) -> None:
    manifest = render(testbed, namespace, "--values", str(values))
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    done = server_dry_run(testbed, namespace, manifest)
    assert done.returncode == 0, done.stderr
    applied = [line for line in done.stdout.splitlines() if "serverside-applied" in line]
    assert len(applied) == len(objects), done.stdout
    # The namespace warns on Pod Security "restricted": the pod templates must meet it.
    assert "PodSecurity" not in done.stderr, done.stderr


def _strimzi_objects(testbed: Cluster, namespace: str) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(render(testbed, namespace)) if doc]
    kinds = {doc["kind"] for doc in docs}
    assert {"Kafka", "KafkaNodePool"} <= kinds, f"the default values make no Strimzi Kafka: {kinds}"
    return docs


def test_api_server_refuses_a_misspelt_kafka_listener(testbed: Cluster, namespace: str) -> None:
    docs = _strimzi_objects(testbed, namespace)
    kafka = next(doc for doc in docs if doc["kind"] == "Kafka")
    kafka["spec"]["kafka"]["listners"] = kafka["spec"]["kafka"].pop("listeners")
    done = server_dry_run(testbed, namespace, yaml.safe_dump_all(docs))
    assert done.returncode != 0
    assert "listners" in done.stderr, done.stderr
    assert "not declared in schema" in done.stderr, done.stderr


def test_api_server_refuses_a_string_replica_count(testbed: Cluster, namespace: str) -> None:
    docs = _strimzi_objects(testbed, namespace)
    pool = next(doc for doc in docs if doc["kind"] == "KafkaNodePool")
    pool["spec"]["replicas"] = "one"
    done = server_dry_run(testbed, namespace, yaml.safe_dump_all(docs))
    assert done.returncode != 0
    assert "replicas" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "setting",
    ["kafka.replicas=one", "kafka.listener.tsl=true"],
    ids=["string-replicas", "listener-typo"],
)
def test_chart_refuses_the_same_mistakes_in_values(
    testbed: Cluster, namespace: str, setting: str
) -> None:
    done = testbed.helm(
        "template", "lobstream", str(CHART), "--namespace", namespace, "--set", setting, check=False
    )
    assert done.returncode != 0, f"helm rendered {setting}"
    assert setting.split("=")[0].split(".")[-1] in done.stderr, done.stderr
