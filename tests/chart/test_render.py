"""What `helm template` produces over the matrix: the objects, their names, labels, settings,
Secrets, security contexts, probes, network policies and monitors."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from lobstream import settings as lobstream_settings
from tests.chart.helm import NAMESPACE, RELEASE, Helm, Obj, by_kind, component, named
from tests.chart.matrix import CASES, INSTRUMENTS, Case
from tests.chart.packing import expected_producers
from tests.chart.schemas import CrdValidators

FULLNAME = RELEASE  # release "lobstream" of chart "lobstream"
KAFKA_NAME = FULLNAME
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
STANDARD_LABELS = {
    "app.kubernetes.io/name": "lobstream",
    "app.kubernetes.io/instance": RELEASE,
    "app.kubernetes.io/managed-by": "Helm",
    "app.kubernetes.io/part-of": "lobstream",
}

Render = Callable[[Case], list[Obj]]
cases = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
STRIMZI_CASES = [c for c in CASES if c.kafka_created]
strimzi_cases = pytest.mark.parametrize("case", STRIMZI_CASES, ids=[c.id for c in STRIMZI_CASES])


def instruments_of(deployment: Obj) -> list[str]:
    """The instruments a producer Deployment subscribes, from its container's environment."""
    env = {v["name"]: v.get("value") for v in container(deployment)["env"]}
    return sorted(env["LOBSTREAM_DERIBIT__INSTRUMENTS"].split(","))


def pod_spec(deployment: Obj) -> Obj:
    return deployment["spec"]["template"]["spec"]


def container(deployment: Obj) -> Obj:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    return containers[0]


def environment(objects: list[Obj], deployment: Obj) -> dict[str, str]:
    """The container's environment as the process sees it; Secret values are placeholders."""
    env: dict[str, str] = {}
    c = container(deployment)
    for source in c.get("envFrom", []):
        env.update(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return env


def secret_refs(deployment: Obj) -> dict[str, tuple[str, str]]:
    """env name -> (Secret, key) for every variable read from a Secret."""
    return {
        var["name"]: (
            var["valueFrom"]["secretKeyRef"]["name"],
            var["valueFrom"]["secretKeyRef"]["key"],
        )
        for var in container(deployment).get("env", [])
        if "valueFrom" in var
    }


def known_settings() -> set[str]:
    """Every environment variable lobstream's settings model reads."""
    names = set()
    for field, info in lobstream_settings.Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names |= {f"LOBSTREAM_{field.upper()}__{sub.upper()}" for sub in model.model_fields}
        else:
            names.add(f"LOBSTREAM_{field.upper()}")
    return names


def check_settings_load(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The environment is one the service accepts: known names, values its model validates."""
    unknown = {name for name in env if name.startswith("LOBSTREAM_")} - known_settings()
    assert not unknown, f"settings the services do not read: {sorted(unknown)}"
    for name in list(os.environ):
        if name.startswith("LOBSTREAM_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return lobstream_settings.load()


# --- objects per case -------------------------------------------------------------------------


@cases
def test_producer_deployments_as_the_packing_says(render: Render, case: Case) -> None:
    objects = render(case)
    producers = component(objects, "Deployment", "producer")
    expected = expected_producers(INSTRUMENTS[case.instruments])
    assert {d["metadata"]["name"]: instruments_of(d) for d in producers} == expected
    for deployment in producers:
        k8s_name = deployment["metadata"]["name"]
        assert len(k8s_name) <= 63, k8s_name
        assert DNS_LABEL.match(k8s_name), k8s_name
        labels = deployment["metadata"]["labels"]
        if "instrument" in labels:
            assert instruments_of(deployment) == [labels["instrument"]]
        else:
            assert labels["producer-group"].startswith("bucket-")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        assert container(deployment)["args"] == ["producer"]


@cases
def test_labels_and_selectors(render: Render, case: Case) -> None:
    objects = render(case)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        for key, value in STANDARD_LABELS.items():
            assert labels.get(key) == value, f"{obj['kind']} {obj['metadata']['name']}: {key}"
        assert labels["helm.sh/chart"].startswith("lobstream-")
        assert all(LABEL_VALUE.match(str(v)) for v in labels.values()), labels
        assert obj["metadata"]["namespace"] == NAMESPACE
    for deployment in by_kind(objects, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        assert pod_labels["app.kubernetes.io/component"] in {"producer", "consumer", "simulator"}
    # No two Deployments select the same pods.
    selectors = [
        frozenset(d["spec"]["selector"]["matchLabels"].items())
        for d in by_kind(objects, "Deployment")
    ]
    for i, a in enumerate(selectors):
        for b in selectors[i + 1 :]:
            assert not (a <= b)
            assert not (b <= a)


@cases
def test_settings_are_ones_the_services_accept(
    render: Render, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(case)
    for deployment in component(objects, "Deployment", "producer"):
        env = environment(objects, deployment)
        loaded = check_settings_load(env, monkeypatch)
        assert loaded.deribit.instruments == instruments_of(deployment)
        assert "LOBSTREAM_METRICS__PREFIX" not in env
        assert loaded.metrics.port == int(env["LOBSTREAM_METRICS__PORT"])
    consumer = named(objects, "Deployment", f"{FULLNAME}-consumer")
    loaded = check_settings_load(environment(objects, consumer), monkeypatch)
    assert loaded.kafka.group_id == "lobstream-consumer"
    assert container(consumer)["args"] == ["consumer"]


@cases
def test_exchange_url(render: Render, case: Case) -> None:
    objects = render(case)
    url = named(objects, "ConfigMap", f"{FULLNAME}-producer")["data"]["LOBSTREAM_DERIBIT__URL"]
    if not case.simulator:
        assert url == "production"
        assert not component(objects, "Deployment", "simulator")
        return
    service = named(objects, "Service", f"{FULLNAME}-simulator")
    port = service["spec"]["ports"][0]["port"]
    assert url == f"ws://{FULLNAME}-simulator.{NAMESPACE}.svc:{port}/ws/api/v2"
    simulator = named(objects, "Deployment", f"{FULLNAME}-simulator")
    args = container(simulator)["args"]
    assert args[0] == "simulate"
    assert f"--port={port}" in args
    assert "--host=0.0.0.0" in args
    served = next(a for a in args if a.startswith("--instruments=")).split("=", 1)[1].split(",")
    assert sorted(served) == sorted(case.names)
    assert (
        service["spec"]["selector"].items()
        <= simulator["spec"]["template"]["metadata"]["labels"].items()
    )


@cases
def test_kafka_connection_and_secrets(render: Render, case: Case) -> None:
    objects = render(case)
    clients = [
        *component(objects, "Deployment", "producer"),
        named(objects, "Deployment", f"{FULLNAME}-consumer"),
    ]
    for deployment in clients:
        role = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        env = environment(objects, deployment)
        refs = secret_refs(deployment)
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
        if case.kafka_created:
            kafka = named(objects, "Kafka", KAFKA_NAME)
            listener = kafka["spec"]["kafka"]["listeners"][0]
            assert listener["tls"] is True
            assert listener["authentication"] == {"type": "scram-sha-512"}
            assert env["LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == (
                f"{KAFKA_NAME}-kafka-bootstrap.{NAMESPACE}.svc:{listener['port']}"
            )
            assert env["LOBSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
            user = named(objects, "KafkaUser", env["LOBSTREAM_KAFKA__SASL_USERNAME"])
            assert user["metadata"]["labels"]["app.kubernetes.io/component"] == role
            # The User Operator's Secret carries the user's name; the password is key "password".
            assert refs["LOBSTREAM_KAFKA__SASL_PASSWORD"] == (user["metadata"]["name"], "password")
            ca_secret, ca_key = f"{KAFKA_NAME}-cluster-ca-cert", "ca.crt"
        else:
            assert env["LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"].startswith(
                "kafka-0.kafka.data.svc:9093"
            )
            assert env["LOBSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
            assert env["LOBSTREAM_KAFKA__SASL_USERNAME"] == f"{role[:4]}-user"
            assert refs["LOBSTREAM_KAFKA__SASL_PASSWORD"] == (f"{role[:4]}-pass", "pw")
            assert not [o for o in objects if o["apiVersion"].startswith("kafka.strimzi.io/")]
            ca_secret, ca_key = "kafka-ca", "ca.pem"
        secret = volumes["kafka-ca"]["secret"]
        assert secret["secretName"] == ca_secret
        assert secret["items"] == [{"key": ca_key, "path": "ca.crt"}]
        assert mounts["kafka-ca"]["readOnly"] is True
        assert (
            env["LOBSTREAM_KAFKA__SSL_CA_LOCATION"] == mounts["kafka-ca"]["mountPath"] + "/ca.crt"
        )


@strimzi_cases
def test_strimzi_objects(render: Render, case: Case) -> None:
    objects = render(case)
    kafka = named(objects, "Kafka", KAFKA_NAME)
    pool = named(objects, "KafkaNodePool", f"{KAFKA_NAME}-nodes")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_NAME
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["storage"]["type"] == "ephemeral"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert ("kafkaExporter" in kafka["spec"]) == case.monitoring
    assert ("metricsConfig" in kafka["spec"]["kafka"]) == case.monitoring
    topics = {t["spec"]["topicName"]: t for t in by_kind(objects, "KafkaTopic")}
    assert set(topics) == {"deribit.raw", "lobstream.features"}
    raw = topics["deribit.raw"]
    assert raw["spec"]["partitions"] == (64 if case.instruments > 12 else 12)
    assert raw["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_NAME
    assert int(raw["spec"]["config"]["retention.ms"]) % 3_600_000 == 0
    producer_env = named(objects, "ConfigMap", f"{FULLNAME}-producer")["data"]
    assert producer_env["LOBSTREAM_KAFKA__RAW_TOPIC"] == "deribit.raw"
    consumer_env = named(objects, "ConfigMap", f"{FULLNAME}-consumer")["data"]
    features = topics["lobstream.features"]
    # Whichever service creates a topic (with an existing Kafka) makes it as the KafkaTopic says.
    for env in (producer_env, consumer_env):
        assert int(env["LOBSTREAM_KAFKA__RAW_TOPIC_PARTITIONS"]) == raw["spec"]["partitions"]
        hours = float(env["LOBSTREAM_KAFKA__RAW_TOPIC_RETENTION_HOURS"])
        assert hours * 3_600_000 == int(raw["spec"]["config"]["retention.ms"])
    assert "LOBSTREAM_KAFKA__FEATURES_TOPIC_PARTITIONS" not in producer_env
    assert (
        int(consumer_env["LOBSTREAM_KAFKA__FEATURES_TOPIC_PARTITIONS"])
        == features["spec"]["partitions"]
    )
    hours = float(consumer_env["LOBSTREAM_KAFKA__FEATURES_TOPIC_RETENTION_HOURS"])
    assert hours * 3_600_000 == int(features["spec"]["config"]["retention.ms"])
    acls = {
        u["metadata"]["labels"]["app.kubernetes.io/component"]: {
            (a["resource"]["type"], a["resource"]["name"], op)
            for a in u["spec"]["authorization"]["acls"]
            for op in a["operations"]
        }
        for u in by_kind(objects, "KafkaUser")
    }
    # Least privilege: no Create (the KafkaTopics make the topics), nothing beyond its own.
    assert acls["producer"] == {
        ("topic", "deribit.raw", "Write"),
        ("topic", "deribit.raw", "Describe"),
    }
    assert acls["consumer"] == {
        ("topic", "deribit.raw", "Read"),
        ("topic", "deribit.raw", "Describe"),
        ("group", "lobstream-consumer", "Read"),
        ("group", "lobstream-consumer", "Describe"),
        ("topic", "lobstream.features", "Write"),
        ("topic", "lobstream.features", "Describe"),
    }
    for user in by_kind(objects, "KafkaUser"):
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_NAME


@cases
def test_pod_security_restricted(render: Render, case: Case) -> None:
    for deployment in by_kind(render(case), "Deployment"):
        spec = pod_spec(deployment)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert isinstance(pod["runAsUser"], int)
        assert pod["runAsUser"] > 0
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert not spec.get("hostNetwork")
        assert not spec.get("hostPID")
        assert not spec.get("hostIPC")
        assert all("hostPath" not in v for v in spec["volumes"])
        c = container(deployment)
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert not sc["capabilities"].get("add")
        assert sc["readOnlyRootFilesystem"] is True
        assert not sc.get("privileged")
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), (
                deployment["metadata"]["name"],
                kind,
            )


@cases
def test_probes_and_ports(render: Render, case: Case) -> None:
    objects = render(case)
    for deployment in by_kind(objects, "Deployment"):
        c = container(deployment)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        role = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if role == "simulator":
            listen = next(a for a in c["args"] if a.startswith("--port="))
            served = int(listen.split("=")[1])
        else:
            served = int(environment(objects, deployment)["LOBSTREAM_METRICS__PORT"])
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("livenessProbe", "readinessProbe"):
            assert ports[c[probe]["httpGet"]["port"]] == served


@cases
def test_termination_grace_exceeds_shutdown_grace(render: Render, case: Case) -> None:
    objects = render(case)
    for deployment in component(objects, "Deployment", "producer"):
        grace = float(
            environment(objects, deployment)["LOBSTREAM_PRODUCER__SHUTDOWN_GRACE_SECONDS"]
        )
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] > grace


@cases
def test_consumer_service_and_disruption_budget(render: Render, case: Case) -> None:
    objects = render(case)
    consumer = named(objects, "Deployment", f"{FULLNAME}-consumer")
    pod_labels = consumer["spec"]["template"]["metadata"]["labels"]
    service = named(objects, "Service", f"{FULLNAME}-consumer")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in container(consumer)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    pdb = named(objects, "PodDisruptionBudget", f"{FULLNAME}-consumer")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def _selects(policy: Obj, pod_labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def _ports(rule: Obj) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


@cases
def test_network_policies(render: Render, case: Case) -> None:
    objects = render(case)
    policies = by_kind(objects, "NetworkPolicy")
    for deployment in by_kind(objects, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selecting = [p for p in policies if _selects(p, labels)]
        assert len(selecting) == 1, deployment["metadata"]["name"]
        policy = selecting[0]["spec"]
        assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
        role = labels["app.kubernetes.io/component"]
        if role == "simulator":
            assert policy["egress"] == []
            producer_labels = component(objects, "Deployment", "producer")[0]["spec"]["template"][
                "metadata"
            ]["labels"]
            peer = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
            assert peer.items() <= producer_labels.items()
            continue
        # Metrics: only from the monitoring namespace, only the metrics port.
        assert policy["ingress"] == [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": "metrics"}],
            }
        ]
        egress = policy["egress"]
        assert any(_ports(rule) == {53} for rule in egress), "DNS"
        kafka_rules = [r for r in egress if _ports(r) & {9092, 9093}]
        assert len(kafka_rules) == 1
        if case.kafka_created:
            listener_port = named(objects, "Kafka", KAFKA_NAME)["spec"]["kafka"]["listeners"][0][
                "port"
            ]
            assert _ports(kafka_rules[0]) == {listener_port}
            assert kafka_rules[0]["to"] == [
                {
                    "podSelector": {
                        "matchLabels": {
                            "strimzi.io/cluster": KAFKA_NAME,
                            "strimzi.io/kind": "Kafka",
                        }
                    }
                }
            ]
        if role == "consumer":
            assert len(egress) == 2
            continue
        exchange = [r for r in egress if r not in kafka_rules and _ports(r) != {53}]
        assert len(exchange) == 1
        if case.simulator:
            sim = named(objects, "Deployment", f"{FULLNAME}-simulator")
            assert _ports(exchange[0]) == {container(sim)["ports"][0]["containerPort"]}
            assert _selects(
                {"spec": exchange[0]["to"][0]}, sim["spec"]["template"]["metadata"]["labels"]
            )
        else:
            assert _ports(exchange[0]) == {443}
            assert exchange[0]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]


@cases
def test_monitoring_objects(render: Render, case: Case) -> None:
    objects = render(case)
    monitors = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    if not case.monitoring:
        assert monitors == []
        assert not [
            o
            for o in by_kind(objects, "ConfigMap")
            if "grafana_dashboard" in o["metadata"]["labels"]
        ]
        return
    jobs: dict[str, Obj] = {}
    for monitor in [*by_kind(objects, "PodMonitor"), *by_kind(objects, "ServiceMonitor")]:
        endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
        (endpoint,) = endpoints
        (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        jobs[job] = monitor
    expected = {"lobstream-producer", "lobstream-consumer"} | (
        {"lobstream-kafka"} if case.kafka_created else set()
    )
    assert set(jobs) == expected
    producer_pod = component(objects, "Deployment", "producer")[0]["spec"]["template"]
    assert jobs["lobstream-producer"]["kind"] == "PodMonitor"
    assert (
        jobs["lobstream-producer"]["spec"]["selector"]["matchLabels"].items()
        <= producer_pod["metadata"]["labels"].items()
    )
    assert jobs["lobstream-producer"]["spec"]["podMetricsEndpoints"][0]["port"] in {
        p["name"] for p in producer_pod["spec"]["containers"][0]["ports"]
    }
    consumer_monitor = jobs["lobstream-consumer"]
    assert consumer_monitor["kind"] == "ServiceMonitor"
    service = named(objects, "Service", f"{FULLNAME}-consumer")
    assert (
        consumer_monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"]["labels"].items()
    )
    assert consumer_monitor["spec"]["endpoints"][0]["port"] in {
        p["name"] for p in service["spec"]["ports"]
    }
    if case.kafka_created:
        kafka_monitor = jobs["lobstream-kafka"]["spec"]
        assert kafka_monitor["selector"]["matchLabels"] == {"strimzi.io/cluster": KAFKA_NAME}
        assert kafka_monitor["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PodMonitor"])
def test_consumer_monitor_kind(helm: Helm, kind: str) -> None:
    objects = helm.template({"monitoring": {"consumer": {"enabled": True, "kind": kind}}})
    (monitor,) = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert monitor["kind"] == kind
    assert monitor["metadata"]["labels"]["app.kubernetes.io/component"] == "consumer"


@pytest.mark.parametrize(
    ("tls", "authentication", "protocol"),
    [
        (True, "scram-sha-512", "SASL_SSL"),
        (True, "none", "SSL"),
        (False, "scram-sha-512", "SASL_PLAINTEXT"),
        (False, "none", "PLAINTEXT"),
    ],
)
def test_listener_variants(
    helm: Helm,
    crds: CrdValidators,
    monkeypatch: pytest.MonkeyPatch,
    tls: bool,
    authentication: str,
    protocol: str,
) -> None:
    objects = helm.template({"kafka": {"listener": {"tls": tls, "authentication": authentication}}})
    assert [e for o in objects if crds.knows(o) for e in crds.errors(o)] == []
    listener = named(objects, "Kafka", KAFKA_NAME)["spec"]["kafka"]["listeners"][0]
    assert listener["tls"] is tls
    assert ("authentication" in listener) == (authentication != "none")
    assert len(by_kind(objects, "KafkaUser")) == (2 if authentication != "none" else 0)
    for deployment in by_kind(objects, "Deployment"):
        env = environment(objects, deployment)
        assert env["LOBSTREAM_KAFKA__SECURITY_PROTOCOL"] == protocol
        check_settings_load(env, monkeypatch)
        volumes = {v["name"] for v in pod_spec(deployment)["volumes"]}
        assert ("kafka-ca" in volumes) == tls
        assert ("LOBSTREAM_KAFKA__SASL_PASSWORD" in secret_refs(deployment)) == (
            authentication != "none"
        )


@pytest.mark.parametrize("finalizers", [False, True])
def test_topic_operator_finalizers_follow_their_value(helm: Helm, finalizers: bool) -> None:
    """Off by default: `helm uninstall` takes the Kafka, its Topic Operator and the KafkaTopics
    together, and a finalizer nobody is left to remove holds the namespace (test_operators.py
    shows it on a live Strimzi)."""
    values = {"kafka": {"topicOperator": {"finalizers": True}}} if finalizers else None
    (kafka,) = by_kind(helm.template(values), "Kafka")
    template = kafka["spec"]["entityOperator"].get("template", {})
    env = template.get("topicOperatorContainer", {}).get("env", [])
    if finalizers:
        assert env == []
    else:
        assert {"name": "STRIMZI_USE_FINALIZERS", "value": "false"} in env
