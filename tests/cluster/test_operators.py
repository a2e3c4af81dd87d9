"""The chart as `skaffold dev -p offline` deploys it, acted on by real operators.

Strimzi 1.2.0 (built from its source) reconciles the chart's default Kafka: a KRaft node pool, a
TLS + SCRAM-SHA-512 listener with simple authorization, two KafkaTopics and two KafkaUsers.
Prometheus Operator (built from its module) runs one Prometheus with the selectors of
k8s/kube-prometheus-stack-values.yaml and acts on the chart's PodMonitors, ServiceMonitor and
PrometheusRule. The release takes skaffold's values files, in a namespace enforcing Pod Security
"restricted"; the test's own values only point at the image built here, add the instrument the
upgrade test adds to the simulator, scrape every 5 s instead of 15 s, and leave Kafka's own
metrics off (the Kafka Exporter is on no registry here: charts/lobstream/README.md).

The tests run in file order and share the release; the last one tears everything down in
skaffold's order (chart, operators, namespaces).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import create_restricted_namespace
from tests.cluster.operators import (
    MONITORING_NAMESPACE,
    STRIMZI_NAMESPACE,
    Prometheus,
    uninstall,
)
from tests.cluster.release import (
    FULLNAME,
    IMBALANCE,
    MID,
    RELEASE,
    Release,
    frozen_market,
    image_values,
    producers_of,
    value,
    wait_for_features,
    wait_for_true_books,
)
from tests.cluster.testbed import REPO, TEST_TIMEOUT_SECONDS, Cluster, CommandError, poll
from tests.observability.sources import (
    rule_groups,
    silent_panels,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(TEST_TIMEOUT_SECONDS)]

SKAFFOLD_VALUES = (
    REPO / "k8s" / "lobstream-dev-values.yaml",
    REPO / "k8s" / "lobstream-offline-values.yaml",
)
INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]  # what lobstream-dev-values.yaml subscribes
ADDED = "SOL_USDC-PERPETUAL"
KAFKA = FULLNAME  # kafka.name empty: the release's full name
ACCESS_SCRIPT = Path(__file__).with_name("kafka_access.py")
# Strimzi starts the node, then the entity operator; topics and users follow.
READY_TIMEOUT = 420
TEARDOWN_SECONDS = 120


@pytest.fixture(scope="module")
def release(
    testbed: Cluster, app_image: str, operators: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    namespace = create_restricted_namespace(testbed, "lobstream-op")
    values = {
        "image": image_values(app_image),
        "simulator": {"instruments": [*INSTRUMENTS, ADDED]},
        "monitoring": {"interval": "5s", "kafka": {"enabled": False}},
    }
    rel = Release(
        testbed,
        namespace,
        tmp_path_factory.mktemp("release") / "values.yaml",
        values,
        base_values=SKAFFOLD_VALUES,
        # The producers and the consumer wait (not ready) until Strimzi has made the Kafka,
        # the users' Secrets and the topics.
        install_timeout=600,
    )
    rel.apply()
    yield rel
    # The teardown test removes all this; after a failure before it, clean up for the next run.
    testbed.helm("uninstall", RELEASE, "--namespace", namespace, check=False, timeout=300)
    testbed.kubectl(
        "delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False
    )


def ready(item: dict[str, Any]) -> bool:
    conditions = item.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def strimzi_objects(release: Release, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = release.testbed.get(kind, "-n", release.namespace)["items"]
    return items


def test_strimzi_makes_the_kafka_its_topics_and_users_ready(release: Release) -> None:
    expected = {"kafka": 1, "kafkanodepool": 1, "kafkatopic": 2, "kafkauser": 2}

    def all_ready() -> bool:
        for kind, count in expected.items():
            items = strimzi_objects(release, kind)
            names = [i["metadata"]["name"] for i in items]
            if len(items) != count:
                raise ValueError(f"{kind}: {names}")
            # A node pool reports its nodes, not a Ready condition.
            if kind == "kafkanodepool":
                if not all(i.get("status", {}).get("nodeIds") for i in items):
                    raise ValueError(f"{kind} without nodes: {names}")
            elif not all(ready(i) for i in items):
                raise ValueError(f"{kind} not Ready: {[i.get('status') for i in items]}")
        return True

    poll("Strimzi's objects Ready", all_ready, timeout=READY_TIMEOUT, interval=5)
    for user in strimzi_objects(release, "kafkauser"):
        secret = release.testbed.get("secret", "-n", release.namespace, user["status"]["secret"])
        assert "password" in secret["data"], user["metadata"]["name"]
        assert "sasl.jaas.config" in secret["data"], user["metadata"]["name"]
    ca = release.testbed.get("secret", "-n", release.namespace, f"{KAFKA}-cluster-ca-cert")
    assert "ca.crt" in ca["data"]


def env_of(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod["spec"]["containers"][0].get("env", [])}


def test_the_services_run_on_the_users_secrets_and_the_cluster_ca(release: Release) -> None:
    users = {
        u["metadata"]["labels"]["app.kubernetes.io/component"]: u
        for u in strimzi_objects(release, "kafkauser")
    }
    (kafka,) = strimzi_objects(release, "kafka")
    (listener,) = kafka["status"]["listeners"]
    configs = {
        c["metadata"]["name"]: c["data"]
        for c in release.testbed.get("configmaps", "-n", release.namespace)["items"]
    }
    for component in ("producer", "consumer"):
        pods = release.pods(component)
        assert pods, component
        for pod in pods:
            assert all(s["ready"] for s in pod["status"]["containerStatuses"]), pod["status"]
            password = env_of(pod)["LOBSTREAM_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert password["name"] == users[component]["status"]["secret"]
            volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
            secrets = [v["secret"]["secretName"] for v in volumes.values() if "secret" in v]
            assert f"{KAFKA}-cluster-ca-cert" in secrets, volumes
            settings = {
                key: val
                for ref in pod["spec"]["containers"][0].get("envFrom", [])
                for key, val in configs.get(ref.get("configMapRef", {}).get("name", ""), {}).items()
            }
            assert settings["LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == listener["bootstrapServers"]
            assert settings["LOBSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
            assert (
                settings["LOBSTREAM_KAFKA__SASL_USERNAME"] == users[component]["status"]["username"]
            )
    wait_for_features(release, INSTRUMENTS)
    with frozen_market(release) as url:
        wait_for_true_books(release, url, INSTRUMENTS)


def run_access_probe(release: Release) -> dict[str, str]:
    """kafka_access.py in a pod of the release's namespace, with both users' credentials."""
    settings = release.testbed.get("configmap", "-n", release.namespace, f"{FULLNAME}-consumer")[
        "data"
    ]
    users = {
        u["metadata"]["labels"]["app.kubernetes.io/component"]: u["status"]
        for u in strimzi_objects(release, "kafkauser")
    }
    env = [
        item
        for component, status in users.items()
        for item in (
            {"name": f"{component.upper()}_USER", "value": status["username"]},
            {
                "name": f"{component.upper()}_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": status["secret"], "key": "password"}},
            },
        )
    ]
    name = "kafka-access-probe"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": release.namespace},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": "{repository}:{tag}".format(**release.values["image"]),
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", ACCESS_SCRIPT.read_text()],
                    "args": [
                        settings["LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"],
                        "/ca/ca.crt",
                        settings["LOBSTREAM_KAFKA__RAW_TOPIC"],
                        settings["LOBSTREAM_KAFKA__GROUP_ID"],
                    ],
                    "env": env,
                    "volumeMounts": [{"name": "ca", "mountPath": "/ca", "readOnly": True}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                    },
                }
            ],
            "volumes": [{"name": "ca", "secret": {"secretName": f"{KAFKA}-cluster-ca-cert"}}],
        },
    }
    release.testbed.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:

        def finished() -> str | None:
            phase: str = release.testbed.get("pod", "-n", release.namespace, name)["status"][
                "phase"
            ]
            return phase if phase in ("Succeeded", "Failed") else None

        phase = poll("the access probe to finish", finished, timeout=240, interval=2)
        logs = release.testbed.kubectl("logs", "-n", release.namespace, name).stdout
        assert phase == "Succeeded", logs
        result: dict[str, str] = json.loads(logs.strip().splitlines()[-1])
        return result
    finally:
        release.testbed.kubectl(
            "delete", "pod", "-n", release.namespace, name, "--wait=false", check=False
        )


def test_each_kafka_user_can_do_only_what_its_service_needs(release: Release) -> None:
    result = run_access_probe(release)
    anonymous = result.pop("anonymous describes raw")
    # The producer's read is refused on the topic (Fetch) and, first, on the probe's group
    # (the coordinator lookup every consumer makes): it has no group at all.
    assert "TOPIC_AUTHORIZATION_FAILED" in result.pop("producer reads raw").split(","), result
    assert result == {
        "producer describes raw": "ok",
        "producer joins the consumer group": "GROUP_AUTHORIZATION_FAILED",
        "consumer reads raw": "ok",
        "consumer writes raw": "TOPIC_AUTHORIZATION_FAILED",
    }
    assert anonymous != "ok", "a client without credentials got the raw topic's metadata"


def test_prometheus_scrapes_the_consumer_and_every_producer(release: Release) -> None:
    prometheus = Prometheus(release.testbed)
    producers = {p["metadata"]["name"] for p in release.pods("producer")}
    consumers = {p["metadata"]["name"] for p in release.pods("consumer")}

    def all_up() -> bool:
        targets = [
            t for t in prometheus.targets() if t["labels"].get("namespace") == release.namespace
        ]
        by_job: dict[str, set[str]] = {}
        for target in targets:
            if target["health"] != "up":
                raise ValueError(f"{target['labels']} {target['health']} {target['lastError']}")
            by_job.setdefault(target["labels"]["job"], set()).add(target["labels"]["pod"])
        if by_job != {"lobstream-producer": producers, "lobstream-consumer": consumers}:
            raise ValueError(f"targets up: {by_job}")
        return True

    poll("every producer and the consumer up in Prometheus", all_up, timeout=180, interval=3)


def test_prometheus_holds_the_consumers_mid_and_imbalance_at_a_frozen_market(
    release: Release,
) -> None:
    prometheus = Prometheus(release.testbed)
    with frozen_market(release) as url:
        wait_for_true_books(release, url, INSTRUMENTS)
        (ip,) = release.ready_pod_ips("consumer")
        metrics = release.metrics(ip)
        for instrument in INSTRUMENTS:
            expected = {
                family: value(metrics, family, f'instrument="{instrument}"')
                for family in (MID, IMBALANCE)
            }
            assert None not in expected.values(), (instrument, expected)

            def held(instrument: str = instrument, expected: Any = expected) -> bool:
                found = {}
                for family in expected:
                    series = prometheus.query(
                        f'{family}{{namespace="{release.namespace}",instrument="{instrument}"}}'
                    )
                    found[family] = float(series[0]["value"][1]) if len(series) == 1 else None
                if found != expected:
                    raise ValueError(f"Prometheus {found}, consumer {expected}")
                return True

            poll(f"Prometheus' {instrument} values", held, timeout=60, interval=2)


def test_the_prometheus_rule_is_loaded(release: Release) -> None:
    prometheus = Prometheus(release.testbed)
    wanted = {g["name"]: len(g["rules"]) for g in rule_groups()}

    def loaded() -> bool:
        groups = {
            g["name"]: len(g["rules"])
            for g in prometheus.rules()
            if f"/{release.namespace}-" in g["file"]
        }
        if groups != wanted:
            raise ValueError(f"loaded {groups}, the rule file has {wanted}")
        return True

    poll("the chart's rule groups in Prometheus", loaded, timeout=120, interval=3)


def test_every_dashboard_expression_returns_data(release: Release) -> None:
    prometheus = Prometheus(release.testbed)

    def all_answer() -> bool:
        silent = silent_panels(prometheus.query)
        if silent:
            raise ValueError(f"no data: {silent}")
        return True

    # Rates need two scrapes in their window; the lag comes with librdkafka's statistics.
    poll("data from every panel", all_answer, timeout=120, interval=5)


def test_a_paused_instrument_fires_book_stale_for_it_alone(release: Release) -> None:
    prometheus = Prometheus(release.testbed)
    paused, moving = INSTRUMENTS[1], INSTRUMENTS[0]

    def ours() -> list[dict[str, Any]]:
        return [a for a in prometheus.alerts() if a["labels"].get("namespace") == release.namespace]

    with frozen_market(release, paused):

        def firing() -> dict[str, Any]:
            found = [
                a
                for a in ours()
                if a["labels"]["alertname"] == "LobstreamBookStale" and a["state"] == "firing"
            ]
            if [a["labels"]["instrument"] for a in found] != [paused]:
                raise ValueError(f"BookStale firing for {found}")
            return found[0]

        # Stale after 15 s, for 15 s, on the operator's 30 s rule evaluation.
        alert = poll(f"LobstreamBookStale for {paused}", firing, timeout=150, interval=5)
        assert alert["labels"]["severity"] == "critical"
        others = [
            (a["labels"]["alertname"], a["labels"].get("instrument"), a["state"])
            for a in ours()
            if a["labels"].get("instrument") not in (None, paused)
        ]
        assert others == [], f"the moving instrument {moving} must not alert"


def test_helm_upgrade_adding_an_instrument_adds_one_producer(release: Release) -> None:
    before = release.deployments()
    release.apply(instruments=[*INSTRUMENTS, ADDED])
    after = release.deployments()
    added = set(after) - set(before)
    assert len(added) == 1, sorted(added)
    assert set(before) <= set(after)
    assert producers_of(after)[added.pop()] == [ADDED]
    for name, deployment in before.items():
        assert after[name]["metadata"]["generation"] == deployment["metadata"]["generation"], name
    prometheus = Prometheus(release.testbed)

    def mid() -> bool:
        expr = f'{MID}{{namespace="{release.namespace}",instrument="{ADDED}"}}'
        series = prometheus.query(expr)
        return len(series) == 1 and float(series[0]["value"][1]) > 0

    poll(f"the mid of {ADDED} in Prometheus", mid, timeout=180, interval=3)


def test_teardown_in_skaffolds_order_leaves_no_namespace(release: Release) -> None:
    """skaffold's cleanup: the chart, then the operators' releases, then the namespaces."""
    bed = release.testbed
    bed.helm("uninstall", RELEASE, "--namespace", release.namespace, timeout=300)
    uninstall("strimzi.sh")
    uninstall("prometheus-operator.sh")
    namespaces = [release.namespace, STRIMZI_NAMESPACE, MONITORING_NAMESPACE]
    bed.kubectl("delete", "namespace", "--ignore-not-found", "--wait=false", *namespaces)

    def gone() -> bool:
        left = bed.get("namespaces")["items"]
        stuck = [n["metadata"]["name"] for n in left if n["metadata"]["name"] in namespaces]
        if stuck:
            raise ValueError(f"still there: {stuck}; {leftovers(bed, release.namespace)}")
        return True

    poll("every namespace gone", gone, timeout=TEARDOWN_SECONDS, interval=2)


def leftovers(bed: Cluster, namespace: str) -> list[str]:
    """What holds a namespace in Terminating: its objects that still carry finalizers."""
    try:
        kinds = bed.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout
        listable = ",".join(k for k in kinds.split() if not k.startswith("events"))
        items = bed.get(listable, "-n", namespace)["items"]
    except CommandError as error:
        return [f"(cannot list: {error})"]
    return [
        f"{i['kind']}/{i['metadata']['name']} {i['metadata']['finalizers']}"
        for i in items
        if i["metadata"].get("finalizers")
    ]
