"""The pipeline on real pods: the chart installed with the simulator and the test bed's Kafka.

One release per module, in a namespace enforcing Pod Security "restricted"; the tests run in
file order (install, data, scaling, operations, uninstall) and share the release.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.chart.packing import expected_producers
from tests.cluster.release import (
    FULLNAME,
    IMBALANCE,
    MID,
    RELEASE,
    REPLAYING,
    Metrics,
    Release,
    assert_books_equal_truth,
    image_values,
    producers_of,
    selects,
    value,
    wait_for_features,
)
from tests.cluster.testbed import TEST_TIMEOUT_SECONDS, Cluster, CommandError, poll
from tests.plugins import freeze

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(TEST_TIMEOUT_SECONDS)]

# 30 instruments packed into a small connection budget: three producer Deployments, so the
# 31st changes exactly one of them (the packing beyond the budget, cheaply).
INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL", *(f"BTC-{day}DEC26" for day in range(1, 29))]
ADDED = "SOL_USDC-PERPETUAL"
BUDGET = 3
RAW_PARTITIONS = 4


@pytest.fixture(scope="module")
def release(
    testbed: Cluster, app_image: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    run = uuid.uuid4().hex[:6]
    values = {
        "image": image_values(app_image),
        "instruments": list(INSTRUMENTS),
        "deribit": {"connectionBudget": BUDGET},
        "kafka": {
            "create": False,
            "bootstrapServers": testbed.env["KAFKA_BOOTSTRAP"],
            "securityProtocol": "PLAINTEXT",
            # The broker outlives a release: topics and group unique to this run.
            "topics": {
                "raw": {"name": f"raw-{run}", "partitions": RAW_PARTITIONS},
                "features": {"name": f"features-{run}", "partitions": 1},
            },
        },
        "consumer": {"groupId": f"consumer-{run}"},
        # The simulator serves the instrument added later too, so that adding it changes
        # nothing but the producers.
        "simulator": {
            "enabled": True,
            "instruments": [*INSTRUMENTS, ADDED],
            "rate": 5,
            "port": 8765,
        },
        "monitoring": {"producers": {"enabled": True}, "consumer": {"enabled": True}},
    }
    rel = Release(testbed, namespace, tmp_path_factory.mktemp("release") / "values.yaml", values)
    rel.apply()
    yield rel
    testbed.helm("uninstall", RELEASE, "--namespace", namespace, "--wait", check=False, timeout=300)


def expected_producers_of(instruments: list[str]) -> dict[str, list[str]]:
    """Producer Deployment -> its instruments, as the chart's packing rule says."""
    return {
        name.replace("lobstream-producer-", f"{FULLNAME}-producer-", 1): members
        for name, members in expected_producers(instruments, BUDGET).items()
    }


def expected_deployments(release: Release, instruments: list[str]) -> int:
    return len(expected_producers_of(instruments)) + 2  # producers, the consumer, the simulator


def test_every_deployment_is_available(release: Release) -> None:
    deployments = release.deployments()
    assert len(deployments) == expected_deployments(release, INSTRUMENTS), sorted(deployments)
    for name, deployment in deployments.items():
        conditions = {c["type"]: c["status"] for c in deployment["status"].get("conditions", [])}
        assert conditions.get("Available") == "True", (name, deployment["status"])
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"], name
    assert producers_of(deployments) == expected_producers_of(INSTRUMENTS)
    assert len(release.pods("producer")) == BUDGET
    # Ready means the readiness probes pass; no restart means the liveness probes do too.
    for component in ("producer", "consumer", "simulator"):
        for pod in release.pods(component):
            for status in pod["status"]["containerStatuses"]:
                assert status["ready"], (pod["metadata"]["name"], status)
                assert status["restartCount"] == 0, (pod["metadata"]["name"], status)


def test_consumer_metrics_have_mid_and_imbalance_for_every_instrument(release: Release) -> None:
    metrics = wait_for_features(release, INSTRUMENTS)
    for instrument in INSTRUMENTS:
        mid = value(metrics, MID, f'instrument="{instrument}"')
        imbalance = value(metrics, IMBALANCE, f'instrument="{instrument}"')
        assert mid is not None
        assert mid > 0
        assert imbalance is not None
        assert -1.0 <= imbalance <= 1.0


def test_consumer_book_equals_the_simulators_true_book(release: Release) -> None:
    wait_for_features(release, INSTRUMENTS)
    assert_books_equal_truth(release, INSTRUMENTS)


def test_adding_an_instrument_changes_one_producer_deployment(release: Release) -> None:
    """30 -> 31 instruments beyond the budget: the new one joins one bucket; nothing else moves."""
    before = release.deployments()
    release.apply(instruments=[*INSTRUMENTS, ADDED])
    after = release.deployments()
    assert set(after) == set(before), (sorted(before), sorted(after))
    assert producers_of(after) == expected_producers_of([*INSTRUMENTS, ADDED])
    changed = [
        name
        for name, deployment in before.items()
        if after[name]["metadata"]["generation"] != deployment["metadata"]["generation"]
    ]
    assert len(changed) == 1, changed
    assert ADDED in producers_of(after)[changed[0]]
    for name, deployment in before.items():
        assert after[name]["metadata"]["uid"] == deployment["metadata"]["uid"], name
    wait_for_features(release, [ADDED])


def test_removing_an_instrument_takes_it_out_of_its_deployment(release: Release) -> None:
    release.apply(instruments=list(INSTRUMENTS))
    deployments = release.deployments()
    assert len(deployments) == expected_deployments(release, INSTRUMENTS)
    assert producers_of(deployments) == expected_producers_of(INSTRUMENTS)
    # helm --wait saw the changed bucket rolled out: one pod per producer Deployment again.
    poll("one pod per producer", lambda: len(release.pods("producer")) == BUDGET, timeout=90)


def assigned_partitions(metrics: Metrics) -> set[int]:
    """The partitions a replica holds: it exports a replaying flag for each."""
    return {
        int(labels.split('"')[1])
        for (name, labels) in metrics
        if name == REPLAYING and labels.startswith("partition=")
    }


def test_two_consumer_replicas_share_the_partitions(release: Release) -> None:
    release.apply(consumer={**release.values["consumer"], "replicas": 2})
    try:

        def shared() -> list[set[int]] | None:
            ips = release.ready_pod_ips("consumer")
            if len(ips) != 2:
                raise ValueError(f"ready consumer replicas: {ips}")
            held = [assigned_partitions(release.metrics(ip)) for ip in ips]
            if not all(held) or held[0] | held[1] != set(range(RAW_PARTITIONS)):
                raise ValueError(f"partitions held: {held}")  # reported if it never settles
            return held

        first, second = poll("two replicas holding all partitions", shared, timeout=180, interval=3)
        assert not first & second, f"a partition held twice: {first} {second}"
        # Each instrument's book is on exactly one replica, and it is the true book.
        assert_books_equal_truth(release, INSTRUMENTS)
    finally:
        release.apply(consumer={**release.values["consumer"], "replicas": 1})


def test_deleting_the_consumer_pod_mid_stream_ends_with_the_true_book(release: Release) -> None:
    wait_for_features(release, INSTRUMENTS)
    (pod,) = release.pods("consumer")
    name = pod["metadata"]["name"]
    release.testbed.kubectl("delete", "pod", "-n", release.namespace, name, "--wait=false")

    def replaced() -> bool:
        pods = release.pods("consumer")
        return (
            bool(pods)
            and all(p["metadata"]["name"] != name for p in pods)
            and len(release.ready_pod_ips("consumer")) == 1
        )

    poll("a new consumer pod to be ready", replaced, timeout=180, interval=2)
    assert_books_equal_truth(release, INSTRUMENTS)


ALIVE_SECONDS = 10
"""The consumer's liveness deadline in the stuck-loop test (the default is 60 s)."""


def test_a_consumer_whose_kafka_loop_is_stuck_is_restarted_by_the_kubelet(
    release: Release,
) -> None:
    """Only the Kafka loop's thread is frozen (ptrace from the host, where the container's
    processes are visible): the HTTP thread still answers, and /healthz going red is what makes
    the kubelet restart the container (tests/plugins/freeze.py)."""
    env = [{"name": "LOBSTREAM_CONSUMER__ALIVE_SECONDS", "value": str(ALIVE_SECONDS)}]
    release.apply(consumer={**release.values["consumer"], "extraEnv": env})

    def one_ready() -> bool:
        return len(release.ready_pod_ips("consumer")) == 1

    poll("one ready consumer", one_ready, 180, 2)
    (pod,) = release.pods("consumer")
    uid = pod["metadata"]["uid"]
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    # The kubelet names a pod's cgroup after its uid, with "_" for "-" under systemd.
    pids = poll(
        "the consumer's process on the host",
        lambda: (
            freeze.main_threads("lobstream consumer", uid)
            or freeze.main_threads("lobstream consumer", uid.replace("-", "_"))
        ),
        timeout=30,
    )
    assert len(pids) == 1, pids

    def restarted() -> bool:
        freeze.reap(pids[0])  # the kill completes only once its tracer, this test, waits for it
        (now,) = release.pods("consumer")
        return bool(now["status"]["containerStatuses"][0]["restartCount"] > restarts)

    # Red after ALIVE_SECONDS, 3 failed probes 10 s apart, then the termination grace (30 s,
    # the frozen loop cannot act on SIGTERM) before the kill.
    with freeze.frozen(pids[0]):
        poll("the kubelet to restart the stuck consumer", restarted, timeout=180, interval=2)
    (now,) = release.pods("consumer")
    events = release.testbed.kubectl(
        "get",
        "events",
        "-n",
        release.namespace,
        "--field-selector",
        f"involvedObject.name={now['metadata']['name']}",
        "-o",
        "json",
    ).stdout
    assert "Liveness probe failed" in events, events
    poll(
        "the restarted consumer ready", lambda: len(release.ready_pod_ips("consumer")) == 1, 180, 2
    )
    assert_books_equal_truth(release, INSTRUMENTS)
    release.apply(consumer={k: v for k, v in release.values["consumer"].items() if k != "extraEnv"})


def test_monitors_select_the_live_services_and_pods(release: Release) -> None:
    ns = release.namespace
    service_monitors = release.testbed.get("servicemonitors", "-n", ns)["items"]
    pod_monitors = release.testbed.get("podmonitors", "-n", ns)["items"]
    assert service_monitors or pod_monitors, "monitoring is on but no monitor exists"
    services = release.testbed.get("services", "-n", ns)["items"]
    pods = release.testbed.get("pods", "-n", ns)["items"]
    for monitor in service_monitors:
        matched = [
            s
            for s in services
            if selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
        ]
        assert matched, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        for endpoint in monitor["spec"]["endpoints"]:
            for service in matched:
                ports = {p.get("name") for p in service["spec"]["ports"]}
                assert endpoint["port"] in ports, (monitor["metadata"]["name"], endpoint, ports)
    for monitor in pod_monitors:
        matched = [
            p for p in pods if selects(monitor["spec"]["selector"], p["metadata"].get("labels", {}))
        ]
        assert matched, f"PodMonitor {monitor['metadata']['name']} selects no pod"
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            for pod in matched:
                ports = {
                    p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])
                }
                assert endpoint["port"] in ports, (monitor["metadata"]["name"], endpoint, ports)
    components = {
        p["metadata"]["labels"].get("app.kubernetes.io/component")
        for m in pod_monitors
        for p in pods
        if selects(m["spec"]["selector"], p["metadata"].get("labels", {}))
    } | {
        s["metadata"]["labels"].get("app.kubernetes.io/component")
        for m in service_monitors
        for s in services
        if selects(m["spec"]["selector"], s["metadata"].get("labels", {}))
    }
    assert {"producer", "consumer"} <= components, components


# What Kubernetes itself puts in every namespace.
NAMESPACE_DEFAULTS = {"ServiceAccount/default", "ConfigMap/kube-root-ca.crt"}


def test_uninstall_removes_everything_the_chart_created(release: Release) -> None:
    ns = release.namespace
    release.testbed.helm(
        "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "3m", timeout=240
    )
    kinds = release.testbed.kubectl(
        "api-resources", "--verbs=list", "--namespaced", "-o", "name"
    ).stdout.split()
    listable = ",".join(k for k in kinds if k not in {"events", "events.events.k8s.io"})

    def remaining() -> list[str]:
        items = release.testbed.get(listable, "-n", ns)["items"]
        names = {f"{item['kind']}/{item['metadata']['name']}" for item in items}
        return sorted(names - NAMESPACE_DEFAULTS)

    try:
        poll("every object of the release to go", lambda: not remaining(), timeout=120, interval=2)
    except AssertionError:
        raise AssertionError(f"left in {ns} after helm uninstall: {remaining()}") from None
    with pytest.raises(CommandError):
        release.testbed.helm("status", RELEASE, "--namespace", ns)
