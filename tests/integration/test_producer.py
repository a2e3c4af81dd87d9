"""``lobstream producer`` end to end: the real simulator, a real broker, the producer as a process.

The simulator knows its true book; the topic is read back from the beginning and judged by
tests/plugins/logcheck.py: every change chains, or the chain broke and a snapshot follows.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from confluent_kafka.admin import AdminClient

from lobstream.deribit.protocol import parse_channel
from lobstream.devtools.localkafka import LocalKafka
from lobstream.records import SOURCE_EXCHANGE, SOURCE_SNAPSHOT
from lobstream.settings import KafkaSettings
from lobstream.simulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
)
from tests.plugins.kafka import kafka_env, topic_shape
from tests.plugins.logcheck import (
    ChainReport,
    TopicReader,
    book_records,
    check_chains,
    duplicate_frames,
)
from tests.plugins.producer import ProducerFactory
from tests.plugins.records import read_headers
from tests.plugins.service import ServiceProcess
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

BTC = "BTC-PERPETUAL"
ETH = "ETH-PERPETUAL"
INSTRUMENTS = [BTC, ETH]
RATE = 100.0  # market changes per second per instrument

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_in_thread(instruments=INSTRUMENTS, rate=RATE, seed=11) as running:
        yield running


def producer_env(sim: RunningSimulator, kafka: KafkaSettings, **extra: str) -> dict[str, str]:
    return {
        **kafka_env(kafka),
        "LOBSTREAM_DERIBIT__URL": sim.url,
        "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(INSTRUMENTS),
        "LOBSTREAM_DERIBIT__CHANNELS": "book,ticker",
        "LOBSTREAM_DERIBIT__BACKOFF_INITIAL_SECONDS": "0.1",
        "LOBSTREAM_DERIBIT__BACKOFF_MAX_SECONDS": "1",
        "LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS": "1",
        **extra,
    }


def own_broker_settings(broker: LocalKafka, topic: str) -> KafkaSettings:
    return broker.kafka_settings(raw_topic=topic, raw_topic_partitions=3)


def delivered(producer: ServiceProcess) -> float:
    return sum(
        producer.metric("lobstream_producer_records_published_total", instrument=i) or 0.0
        for i in INSTRUMENTS
    )


def kill_mid_stream(producer: ServiceProcess, broker: LocalKafka, waiting: int) -> None:
    """SIGKILL the broker once records flow; return when ``waiting`` records wait for it."""
    producer.wait_until(lambda: delivered(producer) >= 100, 60, "deliveries before the kill")
    broker.kill()
    producer.wait_until(
        lambda: (producer.metric("lobstream_producer_kafka_buffer_records") or 0) >= waiting,
        60,
        "records waiting in the local buffer while the broker is down",
    )


def each(ok: Callable[[ChainReport], bool]) -> Callable[[dict[str, ChainReport]], bool]:
    """A condition on the log: ``ok`` holds for every instrument's chain."""
    return lambda reports: all(i in reports and ok(reports[i]) for i in INSTRUMENTS)


def settle(
    sim: RunningSimulator, reader: TopicReader, timeout: float = 60.0
) -> dict[str, ChainReport]:
    """Stop the market, wait until the log reaches its true change_id, compare the books."""
    sim.pause()
    truth = {i: sim.true_book(i) for i in INSTRUMENTS}
    reader.wait_for_chains(
        each(lambda r: r.last_change_id == truth[r.instrument][0]),
        timeout,
        "the log to reach the simulator's true change_id",
    )
    reports = check_chains(reader.records)
    for instrument in INSTRUMENTS:
        report = reports[instrument]
        assert report.book is not None
        change_id, bids, asks = truth[instrument]
        assert report.book.change_id == change_id
        assert report.book.levels() == (bids, asks), f"{instrument}: replayed book != truth"
    return reports


def test_records_land_keyed_in_order_with_headers_and_periodic_snapshots(
    sim: RunningSimulator, kafka_settings: KafkaSettings, producer_factory: ProducerFactory
) -> None:
    kafka_settings = kafka_settings.model_copy(update={"raw_topic_retention_hours": 5.0})
    producer = producer_factory(producer_env(sim, kafka_settings))
    with TopicReader(kafka_settings.bootstrap_servers, kafka_settings.raw_topic) as reader:
        reader.wait_for_chains(
            each(lambda r: r.producer_snapshots >= 2 and r.changes >= 50),
            90,
            "two periodic snapshots per instrument",
        )
        reports = settle(sim, reader)

    for instrument in INSTRUMENTS:
        report = reports[instrument]
        report.assert_complete()
        assert report.exchange_snapshots == 1  # the subscription's; nothing broke
    records = reader.records
    partitions: dict[bytes, set[int]] = {}
    last_ns: dict[bytes, int] = {}
    kinds: dict[bytes, set[str]] = {}
    for record in records:
        meta = read_headers(record.headers)
        frame = record.frame
        channel = parse_channel(frame["params"]["channel"])
        assert record.key is not None
        assert meta.channel == channel.name
        assert record.key == (channel.instrument or channel.name).encode()
        partitions.setdefault(record.key, set()).add(record.partition)
        kinds.setdefault(record.key, set()).add(channel.kind)
        assert meta.received_ns is not None
        if meta.source == SOURCE_EXCHANGE:
            # Receive times never go backwards within an instrument: the log keeps its order.
            assert meta.received_ns >= last_ns.get(record.key, 0)
            last_ns[record.key] = meta.received_ns
        else:
            assert meta.source == SOURCE_SNAPSHOT
            assert channel.kind == "book"
    for instrument in INSTRUMENTS:
        key = instrument.encode()
        assert len(partitions[key]) == 1, "one instrument, one partition"
        assert kinds[key] == {"book", "ticker"}
    assert duplicate_frames(records) == 0
    admin = AdminClient({"bootstrap.servers": kafka_settings.bootstrap_servers})
    # Created by the producer, with the raw topic's own partitions and retention.
    assert topic_shape(admin, kafka_settings.raw_topic) == (
        kafka_settings.raw_topic_partitions,
        5 * 3_600_000,
    )
    produced = producer.metric("lobstream_producer_records_produced_total", instrument=BTC)
    assert produced is not None
    assert produced >= reports[BTC].changes


def test_websocket_drop_and_gap_leave_breaks_only_where_a_snapshot_follows(
    sim: RunningSimulator, kafka_settings: KafkaSettings, producer_factory: ProducerFactory
) -> None:
    producer = producer_factory(producer_env(sim, kafka_settings))
    with TopicReader(kafka_settings.bootstrap_servers, kafka_settings.raw_topic) as reader:
        reader.wait_for_chains(each(lambda r: r.changes >= 20), 60, "changes before the faults")
        sim.fault("gap", instrument_name=BTC)
        reader.wait_for_chains(
            lambda reports: BTC in reports and reports[BTC].exchange_snapshots >= 2,
            60,
            "BTC's resync snapshot",
        )
        before = check_chains(reader.records)
        sim.fault("drop")
        after = reader.wait_for_chains(
            each(lambda r: r.exchange_snapshots > before[r.instrument].exchange_snapshots),
            60,
            "a snapshot of every instrument after reconnecting",
        )
        reader.wait_for_chains(
            each(lambda r: r.changes >= after[r.instrument].changes + 20), 60, "changes after"
        )
        reports = settle(sim, reader)

    for instrument in INSTRUMENTS:
        reports[instrument].assert_sound()
    assert reports[BTC].breaks  # at least the gap; the reconnect's, if updates were missed
    assert producer.metric("lobstream_producer_book_gaps_total", instrument=BTC) == 1
    assert producer.metric("lobstream_producer_resyncs_total", instrument=BTC) == 1
    assert producer.metric("lobstream_producer_reconnects_total") == 1


def test_broker_killed_and_restarted_loses_and_duplicates_nothing(
    sim: RunningSimulator, local_kafka: LocalKafka, producer_factory: ProducerFactory
) -> None:
    settings = own_broker_settings(local_kafka, "raw.broker-restart")
    producer = producer_factory(producer_env(sim, settings))
    producer.wait_until(lambda: producer.get("/readyz")[0] == 200, 60, "readiness")
    kill_mid_stream(producer, local_kafka, waiting=100)
    assert producer.get("/readyz")[0] == 503
    local_kafka.restart()
    producer.wait_until(
        lambda: (
            producer.metric("lobstream_producer_kafka_buffer_records") == 0
            and producer.get("/readyz")[0] == 200
        ),
        120,
        "the buffer to drain into the restarted broker",
    )
    with TopicReader(settings.bootstrap_servers, settings.raw_topic) as reader:
        reports = settle(sim, reader)
        records = reader.records
    for instrument in INSTRUMENTS:
        reports[instrument].assert_complete()
    assert duplicate_frames(records) == 0
    for name in ("delivery_failures", "records_dropped", "repairs"):
        for instrument in INSTRUMENTS:
            assert producer.metric(f"lobstream_producer_{name}_total", instrument=instrument) == 0


RAW_BOOK = {
    # Every market change is a notification: a 1,000-record buffer fills in seconds.
    "LOBSTREAM_DERIBIT__CLIENT_ID": DEFAULT_CLIENT_ID,
    "LOBSTREAM_DERIBIT__CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    "LOBSTREAM_DERIBIT__BOOK_INTERVAL": "raw",
    "LOBSTREAM_KAFKA__BUFFER_MAX_MESSAGES": "1000",
}


@pytest.mark.parametrize(
    ("extra", "lost_metric"),
    [
        pytest.param(
            {**RAW_BOOK, "LOBSTREAM_PRODUCER__BACKPRESSURE": "drop-and-resync"},
            "lobstream_producer_records_dropped_total",
            id="buffer-full-drop",
        ),
        pytest.param(
            {"LOBSTREAM_PRODUCER__DELIVERY_TIMEOUT_SECONDS": "2"},
            "lobstream_producer_delivery_failures_total",
            id="delivery-timeout",
        ),
    ],
)
def test_records_lost_on_the_kafka_side_are_repaired_by_a_snapshot(
    sim: RunningSimulator,
    local_kafka: LocalKafka,
    producer_factory: ProducerFactory,
    extra: dict[str, str],
    lost_metric: str,
) -> None:
    settings = own_broker_settings(local_kafka, "raw.repair")
    producer = producer_factory(producer_env(sim, settings, **extra))
    producer.wait_until(lambda: delivered(producer) >= 100, 60, "deliveries before the kill")
    local_kafka.kill()
    producer.wait_metric(lost_metric, 1, instrument=BTC)
    local_kafka.restart()
    producer.wait_metric("lobstream_producer_repairs_total", 1, 120, instrument=BTC)
    with TopicReader(settings.bootstrap_servers, settings.raw_topic) as reader:
        reports = settle(sim, reader, timeout=120)
        by_instrument = book_records(reader.records)
    for instrument in INSTRUMENTS:
        reports[instrument].assert_sound()
    assert reports[BTC].breaks, "records were lost: the log must show it"
    for brk in reports[BTC].breaks:
        assert brk.repaired_by is not None
        assert by_instrument[BTC][brk.repaired_by].from_producer, "repaired by our snapshot"


def test_block_policy_holds_the_websocket_back_while_the_buffer_is_full(
    sim: RunningSimulator, local_kafka: LocalKafka, producer_factory: ProducerFactory
) -> None:
    settings = own_broker_settings(local_kafka, "raw.block")
    env = producer_env(sim, settings, LOBSTREAM_DERIBIT__MAX_QUEUE="100", **RAW_BOOK)
    producer = producer_factory(env)
    producer.wait_until(lambda: delivered(producer) >= 100, 60, "deliveries before the kill")
    local_kafka.kill()
    producer.wait_metric("lobstream_producer_blocked", 1)
    # The client's bounded queue filled up behind us: its WebSocket reader waited too.
    producer.wait_metric("lobstream_producer_client_queue_full_waits_total", 1)
    local_kafka.restart()
    producer.wait_until(
        lambda: (
            producer.metric("lobstream_producer_blocked") == 0
            and producer.metric("lobstream_producer_kafka_buffer_records") == 0
        ),
        120,
        "the buffer to drain and reading to resume",
    )
    with TopicReader(settings.bootstrap_servers, settings.raw_topic) as reader:
        reports = settle(sim, reader, timeout=120)
    for instrument in INSTRUMENTS:
        assert (
            producer.metric("lobstream_producer_records_dropped_total", instrument=instrument) == 0
        )
        assert producer.metric("lobstream_producer_repairs_total", instrument=instrument) == 0
        if producer.metric("lobstream_producer_reconnects_total") == 0:
            reports[instrument].assert_complete()  # held back, not lost
        else:
            # The exchange gave up on the silent connection: a reconnect, and its snapshot.
            reports[instrument].assert_sound()
    assert (producer.metric("lobstream_producer_blocked_seconds_total") or 0) > 0


LOG_SLACK_SECONDS = 0.25
"""Between the flush giving up at its deadline and the line saying so (and the log's ms)."""


def logged_at(log: str, text: str) -> float:
    """When the first line containing ``text`` was logged (its asctime), in epoch seconds."""
    for line in log.splitlines():
        if text in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise AssertionError(f"no line with {text!r} in the log:\n{log}")


def test_sigterm_stops_reading_flushes_and_exits_0_within_the_grace_period(
    sim: RunningSimulator, kafka_settings: KafkaSettings, producer_factory: ProducerFactory
) -> None:
    grace = 15.0
    env = producer_env(
        sim,
        kafka_settings,
        # A long linger keeps the last records in the local buffer until the flush sends them.
        LOBSTREAM_KAFKA__LINGER_MS="3000",
        LOBSTREAM_PRODUCER__SHUTDOWN_GRACE_SECONDS=str(grace),
    )
    producer = producer_factory(env)
    producer.wait_until(lambda: delivered(producer) >= 100, 60, "deliveries")
    sim.pause()
    truth = {i: sim.true_book(i)[0] for i in INSTRUMENTS}
    producer.wait_until(
        lambda: all(
            producer.metric("lobstream_producer_book_change_id", instrument=i) == truth[i]
            for i in INSTRUMENTS
        ),
        30,
        "the producer to have received the last change",
    )
    began = time.monotonic()
    producer.signal(signal.SIGTERM)
    assert producer.wait(grace + 5) == 0, producer.log_tail()
    assert time.monotonic() - began < grace
    assert "everything flushed" in producer.log_tail()
    with TopicReader(kafka_settings.bootstrap_servers, kafka_settings.raw_topic) as reader:
        reports = reader.wait_for_chains(
            each(lambda r: r.last_change_id == truth[r.instrument]),
            30,
            "every received change in the topic",
        )
    for report in reports.values():
        report.assert_complete()


def test_sigterm_with_kafka_down_exits_1_within_the_grace_period_saying_what_was_lost(
    sim: RunningSimulator, local_kafka: LocalKafka, producer_factory: ProducerFactory
) -> None:
    grace = 4.0
    settings = own_broker_settings(local_kafka, "raw.lost")
    env = producer_env(sim, settings, LOBSTREAM_PRODUCER__SHUTDOWN_GRACE_SECONDS=str(grace))
    producer = producer_factory(env)
    kill_mid_stream(producer, local_kafka, waiting=20)
    producer.signal(signal.SIGTERM)
    assert producer.wait(grace + 30) == 1
    # The promise (docs/producer.md) is that the flush ends within the grace period; how long
    # the interpreter then takes to exit is the machine's. So the bound is read from the
    # producer's own log: from the line that starts the shutdown to the one that ends the flush.
    log = producer.log_tail(400)
    began = logged_at(log, "stopping: no more reading")
    gave_up = logged_at(log, "records not delivered")
    assert gave_up - began <= grace + LOG_SLACK_SECONDS, log


def test_readyz_waits_for_subscription_and_kafka(
    sim: RunningSimulator, local_kafka: LocalKafka, producer_factory: ProducerFactory
) -> None:
    sim.fault("reject", method="public/subscribe", count=4)
    settings = own_broker_settings(local_kafka, "raw.ready")
    env = producer_env(sim, settings, LOBSTREAM_DERIBIT__BACKOFF_RATE_LIMITED_SECONDS="1")
    producer = producer_factory(env)
    producer.wait_until(lambda: producer.get("/healthz")[0] == 200, 60, "liveness")
    # Kafka answers, the exchange refuses the subscription: alive, not ready.
    producer.wait_until(
        lambda: producer.metric("lobstream_producer_kafka_reachable") == 1, 60, "Kafka reachable"
    )
    assert producer.metric("lobstream_producer_subscribed") == 0
    assert producer.get("/readyz")[0] == 503
    producer.wait_until(lambda: producer.get("/readyz")[0] == 200, 60, "ready once subscribed")
    refused = {
        dict(labels)["code"]: value
        for (name, labels), value in producer.metrics().items()
        if name == "lobstream_producer_deribit_errors_total"
    }
    assert sum(refused.values()) >= 1, refused
    # Subscribed, Kafka gone: not ready; back: ready.
    local_kafka.kill()
    producer.wait_until(lambda: producer.get("/readyz")[0] == 503, 60, "not ready without Kafka")
    assert producer.metric("lobstream_producer_subscribed") == 1
    assert producer.get("/healthz")[0] == 200
    local_kafka.restart()
    producer.wait_until(lambda: producer.get("/readyz")[0] == 200, 120, "ready with Kafka back")


def test_a_bad_setting_exits_2_with_one_line_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lobstream", "producer"],
        env={"LOBSTREAM_DERIBIT__HEARTBEAT_SECONDS": "5", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "LOBSTREAM_DERIBIT__HEARTBEAT_SECONDS" in lines[0]
