"""The whole pipeline, end to end: simulator -> producer -> real broker -> consumer.

The simulator knows its true book. To compare exactly, a test pauses the markets, waits until
the consumer's change_id reaches the truth's, then compares every level.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from lobstream.settings import KafkaSettings
from tests.plugins.consumer import ConsumerFactory
from tests.plugins.kafka import kafka_env
from tests.plugins.producer import ProducerFactory
from tests.plugins.service import ServiceProcess
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with start_in_thread(instruments=INSTRUMENTS, seed=7, rate=200.0) as sim:
        yield sim


@pytest.fixture
def producer(
    simulator: RunningSimulator, kafka_settings: KafkaSettings, producer_factory: ProducerFactory
) -> ServiceProcess:
    process = producer_factory(
        {
            **kafka_env(kafka_settings),
            "LOBSTREAM_DERIBIT__URL": simulator.url,
            "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(INSTRUMENTS),
            "LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS": "5",
        }
    )
    process.wait_until(lambda: process.get("/readyz")[0] == 200, 90, "the producer ready")
    return process


def consumer_of(factory: ConsumerFactory, settings: KafkaSettings) -> ServiceProcess:
    consumer = factory(
        {**kafka_env(settings), "LOBSTREAM_CONSUMER__REBUILD_LOOKBACK_SECONDS": "60"}
    )
    consumer.wait_until(consumer.ready, 90, "the consumer ready")
    for name in INSTRUMENTS:
        consumer.wait_until(lambda name=name: _live(consumer, name), 90, f"{name} in the consumer")
    return consumer


def _live(consumer: ServiceProcess, name: str) -> bool:
    doc = consumer.book(name)
    return doc is not None and not doc["stale"] and doc["change_id"] is not None


def assert_equals_truth(consumer: ServiceProcess, simulator: RunningSimulator) -> None:
    """Pause the markets, wait for the consumer to catch up, compare every level, resume."""
    simulator.pause()
    try:
        for name in INSTRUMENTS:
            book = consumer.wait_book(name, lambda name=name: simulator.true_book(name))
            assert book == simulator.true_book(name), f"{name}: consumer book differs from truth"
            assert consumer.metric("lobstream_consumer_book_stale", instrument=name) == 0
    finally:
        simulator.resume()


def test_the_consumers_book_equals_the_simulators_true_book(
    simulator: RunningSimulator,
    producer: ServiceProcess,
    kafka_settings: KafkaSettings,
    consumer_factory: ConsumerFactory,
) -> None:
    consumer = consumer_of(consumer_factory, kafka_settings)
    assert_equals_truth(consumer, simulator)
    # And again after the stream moved on: not a one-off coincidence of the start.
    btc = INSTRUMENTS[0]
    seen = (
        consumer.metric("lobstream_consumer_records_applied_total", instrument=btc, channel="book")
        or 0
    )
    consumer.wait_metric(
        "lobstream_consumer_records_applied_total", seen + 100, instrument=btc, channel="book"
    )
    assert_equals_truth(consumer, simulator)
    for name in INSTRUMENTS:
        assert consumer.metric("lobstream_consumer_mid_price", instrument=name) is not None
        assert consumer.metric("lobstream_consumer_microprice", instrument=name) is not None
        assert (
            consumer.metric(
                "lobstream_consumer_order_flow_imbalance", instrument=name, window="10s"
            )
            is not None
        )
        assert consumer.metric("lobstream_consumer_mark_price", instrument=name) is not None
    latency = consumer.metric("lobstream_consumer_e2e_latency_seconds_count")
    assert latency, "no end-to-end latency observed"


def test_a_dropped_websocket_and_a_gap_end_in_the_true_book(
    simulator: RunningSimulator,
    producer: ServiceProcess,
    kafka_settings: KafkaSettings,
    consumer_factory: ConsumerFactory,
) -> None:
    consumer = consumer_of(consumer_factory, kafka_settings)
    btc = INSTRUMENTS[0]
    snapshots = consumer.metric("lobstream_consumer_book_snapshots_total", instrument=btc) or 0
    simulator.fault("drop")
    # The producer reconnects and resubscribes: the exchange's new snapshot reaches the consumer.
    consumer.wait_metric("lobstream_consumer_book_snapshots_total", snapshots + 1, instrument=btc)
    assert_equals_truth(consumer, simulator)

    snapshots = consumer.metric("lobstream_consumer_book_snapshots_total", instrument=btc) or 0
    simulator.fault("gap", instrument_name=btc)
    consumer.wait_metric("lobstream_consumer_book_snapshots_total", snapshots + 1, instrument=btc)
    assert_equals_truth(consumer, simulator)


def test_a_sigkilled_consumer_restarts_from_its_commit_with_the_true_book(
    simulator: RunningSimulator,
    producer: ServiceProcess,
    kafka_settings: KafkaSettings,
    consumer_factory: ConsumerFactory,
) -> None:
    first = consumer_of(consumer_factory, kafka_settings)
    first.wait_metric("lobstream_consumer_offset_commits_total", 5)
    btc = INSTRUMENTS[0]
    delivered = producer.metric("lobstream_producer_records_published_total", instrument=btc) or 0
    first.signal(signal.SIGKILL)
    first.wait(10)
    # The producer keeps writing while no consumer runs.
    producer.wait_metric(
        "lobstream_producer_records_published_total", delivered + 500, instrument=btc
    )

    second = consumer_of(consumer_factory, kafka_settings)
    assert second.metric("lobstream_consumer_records_replayed_total"), "no rebuild from the log"
    assert_equals_truth(second, simulator)
    for name in INSTRUMENTS:
        assert second.metric("lobstream_consumer_book_gaps_total", instrument=name) == 0
