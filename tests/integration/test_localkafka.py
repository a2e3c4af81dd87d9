"""The local KRaft broker as a real process: restarts, clean stop, CLI, dying with its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from lobstream.devtools.localkafka import LocalKafka, properties
from lobstream.kafka import client_config, ensure_topics, producer_config
from lobstream.settings import KafkaSettings
from tests.integration.test_kafka import consume_until
from tests.plugins.kafka import DeliveryCounter, localkafka_cli

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
    cli = localkafka_cli("start", "--secure")
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
    cli = localkafka_cli("start")
    try:
        shown = _read_started(cli)
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
        _wait_gone(int(shown["broker pid"]))
    finally:
        cli.kill()
        cli.wait()
