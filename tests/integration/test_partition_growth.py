"""The raw topic grows while the pipeline runs, on the real broker: the producers move the
instruments whose partition changes (a moved record on the old partition, a snapshot opening the
new one) and the consumer follows, with no record refused as ``wrong_key`` and no stale book.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from lobstream.records import partition_for
from lobstream.settings import KafkaSettings
from tests.plugins.consumer import ConsumerFactory
from tests.plugins.kafka import kafka_env
from tests.plugins.producer import ProducerFactory
from tests.plugins.service import ServiceProcess
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

INSTRUMENTS = [
    "BTC-PERPETUAL",
    "ETH-PERPETUAL",
    "SOL_USDC-PERPETUAL",
    "XRP_USDC-PERPETUAL",
    "BTC-27DEC26",
    "ETH-27DEC26",
]
BEFORE, AFTER = 2, 5
MOVE_DELAY = 12.0  # seconds: above the consumer's 10 s metadata refresh
STILL = 2.0  # seconds a book may go without a new change at 50 changes/s before it is frozen
MOVING = [
    n for n in INSTRUMENTS if zlib.crc32(n.encode()) % BEFORE != zlib.crc32(n.encode()) % AFTER
]


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with start_in_thread(instruments=INSTRUMENTS, seed=9, rate=50.0) as sim:
        yield sim


def live(consumer: ServiceProcess, name: str) -> bool:
    doc = consumer.book(name)
    return doc is not None and not doc["stale"] and doc["change_id"] is not None


def moves_seen(consumer: ServiceProcess) -> str:
    return (
        f"moved {consumer.metric('lobstream_consumer_instruments_moved_total')}, wrong_key "
        f"{consumer.metric('lobstream_consumer_records_rejected_total', reason='wrong_key')}"
    )


def test_adding_partitions_while_running_moves_instruments_without_refusals(
    simulator: RunningSimulator,
    kafka_settings: KafkaSettings,
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    assert len(MOVING) >= 2, "the instrument list must have some that move"
    kafka = kafka_settings.model_copy(update={"raw_topic_partitions": BEFORE})
    producer = producer_factory(
        {
            **kafka_env(kafka),
            "LOBSTREAM_DERIBIT__URL": simulator.url,
            "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(INSTRUMENTS),
            "LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS": "60",
            "LOBSTREAM_PRODUCER__PARTITION_MOVE_DELAY_SECONDS": str(MOVE_DELAY),
        }
    )
    producer.wait_until(producer.ready, 90, "the producer ready")
    consumer = consumer_factory(kafka_env(kafka))
    for name in INSTRUMENTS:
        consumer.wait_until(lambda name=name: live(consumer, name), 90, f"{name} live")
    producer.wait_metric("lobstream_producer_raw_topic_partitions", BEFORE)

    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(kafka.raw_topic, AFTER)]).values():
        future.result(30)

    # Through the move every book stays served, whole and moving: polled until the moves are
    # done and a little after, each book's change_id must advance at least every STILL seconds.
    start = time.monotonic()
    deadline = start + MOVE_DELAY + 60
    advanced = dict.fromkeys(MOVING, start)
    seen: dict[str, int] = {}
    done_at: float | None = None
    while done_at is None or time.monotonic() < done_at + 2 * STILL:
        now = time.monotonic()
        assert now < deadline, f"the moves did not happen: {moves_seen(consumer)}"
        for name in MOVING:
            doc = consumer.book(name)
            assert doc is not None, f"{name} not served during the move"
            assert not doc["stale"], f"{name} stale during the move"
            if doc["change_id"] != seen.get(name):
                seen[name], advanced[name] = doc["change_id"], now
            assert now - advanced[name] < STILL, f"{name} stood still: {moves_seen(consumer)}"
        moved = consumer.metric("lobstream_consumer_instruments_moved_total") or 0
        if done_at is None and moved >= len(MOVING):
            done_at = time.monotonic()
        time.sleep(0.1)
    assert done_at is not None
    assert done_at - start > MOVE_DELAY  # the polls covered the whole wait, not a moment
    assert producer.metric("lobstream_producer_partition_moves_total") == len(MOVING)
    assert producer.metric("lobstream_producer_raw_topic_partitions") == AFTER
    for name in INSTRUMENTS:
        target = str(zlib.crc32(name.encode()) % AFTER)
        consumer.wait_until(
            lambda name=name, target=target: (
                consumer.metric(
                    "lobstream_consumer_partition_instruments", partition=target, instrument=name
                )
                == 1
            ),
            30,
            f"{name} on partition {target}",
        )

    simulator.pause()
    try:
        for name in INSTRUMENTS:
            book = consumer.wait_book(name, lambda name=name: simulator.true_book(name))
            assert book == simulator.true_book(name), f"{name}: differs from the truth"
    finally:
        simulator.resume()
    assert consumer.metric("lobstream_consumer_records_rejected_total", reason="wrong_key") == 0
    for name in INSTRUMENTS:
        assert consumer.metric("lobstream_consumer_book_gaps_total", instrument=name) == 0


def test_partition_for_places_keys_where_librdkafka_does(kafka_settings: KafkaSettings) -> None:
    """Topics written before the producer chose partitions keep their layout."""
    admin = AdminClient({"bootstrap.servers": kafka_settings.bootstrap_servers})
    topic = kafka_settings.raw_topic
    for future in admin.create_topics([NewTopic(topic, 7, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": kafka_settings.bootstrap_servers})
    placed: dict[str, int] = {}

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        assert error is None, error
        placed[message.key().decode()] = message.partition()

    keys = [*INSTRUMENTS, *(f"BTC-{day}MAR27-{k}-C" for day in (26, 27) for k in (1, 2, 3))]
    for key in keys:
        producer.produce(topic, b"{}", key.encode(), on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert placed == {key: partition_for(key.encode(), 7) for key in keys}
