"""LocalKafka and its CLI: jars cache, lifecycle, and that no broker outlives its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from lobstream.kafka import DeliveryCounter, client_config, ensure_topics, producer_config
from lobstream.localkafka import LocalKafka, cds, fetch, jars, properties
from lobstream.localkafka.broker import cluster_id
from lobstream.settings import KafkaSettings
from tests.test_kafka import consume_until

DEADLINE_SECONDS = 60.0


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie not yet reaped by its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not _gone(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"broker process {pid} outlived its owner")
        time.sleep(0.1)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lobstream.localkafka", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_started(cli: subprocess.Popen[str]) -> dict[str, str]:
    """The ``name: value`` lines the start command prints, up to its 'started' line."""
    assert cli.stdout is not None
    lines: dict[str, str] = {}
    for line in cli.stdout:
        if line.startswith("started in"):
            return lines
        for part in line.strip().split("; "):
            name, _, value = part.partition(": ")
            lines[name] = value
    pytest.fail(f"start exited before serving: {cli.stderr.read() if cli.stderr else ''}")


# -- unit ----------------------------------------------------------------------------------


def test_single_node_properties() -> None:
    props = properties.server_properties(properties.Ports(1, 2), Path("/d"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:2"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "sasl.enabled.mechanisms" not in props


def test_secure_listener_properties() -> None:
    props = properties.server_properties(properties.Ports(1, 2, 3), Path("/d"), Path("/k.pem"))
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1,SASL_SSL://127.0.0.1:3"
    assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"]
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == "/k.pem"
    with pytest.raises(ValueError, match="keystore"):
        properties.server_properties(properties.Ports(1, 2, 3), Path("/d"))


def test_scram_arguments_reject_unparseable_credentials() -> None:
    assert properties.scram_arguments({"u": "p-_x"}) == [
        "--add-scram",
        "SCRAM-SHA-512=[name=u,password=p-_x]",
    ]
    with pytest.raises(ValueError, match="SCRAM user"):
        properties.scram_arguments({"u": "a,b"})


def test_cluster_ids_never_look_like_options() -> None:
    ids = {cluster_id() for _ in range(2000)}  # about 30 would start with "-" unfiltered
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_class_archive_is_published_only_after_a_graceful_exit(tmp_path: Path) -> None:
    java = tmp_path / "java"
    java.write_text("")
    archive = cds.archive_path(tmp_path, str(java), "a.jar:b.jar")
    assert archive != cds.archive_path(tmp_path, str(java), "a.jar:c.jar")
    options, partial = cds.dump_options(archive)
    assert options[-1] == f"-XX:ArchiveClassesAtExit={partial}"
    partial.write_bytes(b"dump")
    cds.settle(partial, archive, graceful=False)
    assert not partial.exists()
    assert not archive.exists()
    _, partial = cds.dump_options(archive)
    partial.write_bytes(b"dump")
    cds.settle(partial, archive, graceful=True)
    assert archive.read_bytes() == b"dump"
    assert not partial.exists()


def test_cached_fetch_needs_neither_java_nor_maven(monkeypatch: pytest.MonkeyPatch) -> None:
    first = fetch()
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert fetch() == first
    assert any(jar.name == f"kafka_2.13-{jars.KAFKA_VERSION}.jar" for jar in first)


def test_fetch_without_java_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env |= {"PATH": "/nonexistent", jars.CACHE_ENV: str(tmp_path / "cache")}
    cli = _cli("fetch", env=env)
    _, err = cli.communicate(timeout=DEADLINE_SECONDS)
    assert cli.returncode == 3
    [line] = err.strip().splitlines()
    assert line.startswith("lobstream.localkafka: java not found on PATH: install a Java 17+")


# -- integration ---------------------------------------------------------------------------


@pytest.mark.integration
def test_kill_and_restart_keep_acknowledged_records(local_kafka: LocalKafka) -> None:
    settings = local_kafka.kafka_settings()
    topic = "test.restart"
    ensure_topics(AdminClient(client_config(settings)), [topic], 1, 1)
    counter = DeliveryCounter()
    producer = Producer(producer_config(settings) | {"on_delivery": counter.on_delivery})
    producer.produce(topic, key=b"k", value=b"before-kill")
    assert producer.flush(DEADLINE_SECONDS) == 0
    assert counter.delivered == 1

    pid = local_kafka.pid
    assert pid is not None
    local_kafka.kill()
    assert not local_kafka.running
    assert _gone(pid)
    # Queued while the broker is down; the idempotent producer delivers it after the restart.
    producer.produce(topic, key=b"k", value=b"while-down")
    producer.poll(0)
    local_kafka.restart()
    assert local_kafka.running
    assert producer.flush(DEADLINE_SECONDS) == 0
    assert (counter.delivered, counter.failed) == (2, 0)

    config = client_config(settings, **{"group.id": "restart", "auto.offset.reset": "earliest"})
    records = consume_until(config, topic, 2)
    assert [m.value() for m in records] == [b"before-kill", b"while-down"]
    consumer = Consumer(config)
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=DEADLINE_SECONDS)
    consumer.close()
    assert (low, high) == (0, 2)  # exactly once: no duplicate from the producer's retry


@pytest.mark.integration
def test_stop_removes_process_and_files() -> None:
    kafka = LocalKafka().start()
    try:
        pid, workdir = kafka.pid, kafka.workdir
        assert pid is not None
        assert workdir.is_dir()
        assert kafka.startup_seconds is not None
    finally:
        kafka.stop()
    assert _gone(pid)
    assert not workdir.exists()
    assert not kafka.running


@pytest.mark.integration
def test_cli_start_serves_and_stops_on_sigterm() -> None:
    cli = _cli("start", "--secure")
    try:
        shown = _read_started(cli)
        settings = KafkaSettings(bootstrap_servers=shown["bootstrap servers"])
        metadata = AdminClient(client_config(settings)).list_topics(timeout=DEADLINE_SECONDS)
        assert properties.NODE_ID in metadata.brokers
        assert Path(shown["CA file"]).is_file()
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(DEADLINE_SECONDS) == 0
        _wait_gone(int(shown["broker pid"]))
    finally:
        cli.kill()
        cli.wait()


@pytest.mark.integration
def test_broker_dies_with_a_killed_owner() -> None:
    """SIGKILL skips atexit; the watchdog still takes the broker down."""
    cli = _cli("start")
    try:
        shown = _read_started(cli)
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
        _wait_gone(int(shown["broker pid"]))
    finally:
        cli.kill()
        cli.wait()
