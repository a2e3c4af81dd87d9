"""Acknowledged means in the log: the first writes to freshly created partitions (KAFKA-15591).

A broker below Kafka 4.5 with no state yet for a producer on a partition accepts whatever
sequence comes first. With several requests in flight, a later batch can land while the first
one is being retried, and librdkafka then acknowledges the first one implicitly, without an
offset, though it was never written. ``producer_config`` and ``ensure_topics`` must close that
window: every success report carries an offset, and every acknowledged record is read back.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer
from confluent_kafka import TopicPartition as Partition
from confluent_kafka.admin import AdminClient

from lobstream.kafka import client_config, ensure_topics, producer_config
from lobstream.settings import KafkaSettings

pytestmark = pytest.mark.integration

ROUNDS = 30
PARTITIONS = 24
"""Many partitions: the broker creates them one by one, so the last ones open the widest window."""
RECORDS = 20 * PARTITIONS
DEADLINE_SECONDS = 60.0


class Reports:
    """Delivery reports by value: the error, and the offset librdkafka gave."""

    def __init__(self) -> None:
        self.ok: dict[bytes, int | None] = {}
        self.failed: list[KafkaError] = []

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed.append(error)
            return
        offset = message.offset()
        self.ok[message.value()] = None if offset is None or offset < 0 else offset


def burst(producer: Producer, topic: str) -> None:
    """Spread records over every partition in many small requests, as a live feed does.

    A tight loop would put each partition's first records into one large batch; a record at a
    time, with delivery reports served between, keeps several requests per partition in flight.
    """
    for n in range(RECORDS):
        producer.produce(topic, value=b"record-%d" % n, partition=n % PARTITIONS)
        producer.poll(0)
        time.sleep(0.0005)


def read_back(bootstrap: str, topic: str) -> dict[bytes, tuple[int, int]]:
    """Every record of ``topic`` up to its high watermarks: value -> (partition, offset)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-back-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(Partition(topic, p), timeout=DEADLINE_SECONDS)[1]
            for p in range(PARTITIONS)
        }
        consumer.assign([Partition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        found: dict[bytes, tuple[int, int]] = {}
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(found) < sum(ends.values()):
            assert time.monotonic() < deadline, f"read {len(found)} of {sum(ends.values())}"
            for message in consumer.consume(10_000, timeout=0.5):
                error = message.error()
                assert error is None, f"reading {topic}: {error}"
                found[message.value()] = (message.partition(), message.offset())
        return found
    finally:
        consumer.close()


@pytest.mark.parametrize(
    "in_flight",
    [
        pytest.param({}, id="as-configured"),
        # Each defence must hold alone: with idempotence's own limit of five requests in flight,
        # ensure_topics' wait for partitions that are served is what keeps the window shut.
        pytest.param({"max.in.flight.requests.per.connection": 5}, id="start-up-wait-alone"),
    ],
)
def test_every_acknowledged_first_write_to_a_new_partition_is_in_the_log(
    kafka_settings: KafkaSettings, in_flight: dict[str, int]
) -> None:
    admin = AdminClient(client_config(kafka_settings))
    losses: list[str] = []
    for round_ in range(ROUNDS):
        topic = f"test.acked.{uuid.uuid4().hex[:12]}"
        reports = Reports()
        # Created before the topic, as a producer service is: it learns the topic on first use.
        producer = Producer(
            producer_config(
                kafka_settings,
                **{
                    "allow.auto.create.topics": False,
                    "on_delivery": reports.on_delivery,
                    **in_flight,
                },
            )
        )
        ensure_topics(admin, [topic], PARTITIONS, 1)
        burst(producer, topic)
        assert producer.flush(DEADLINE_SECONDS) == 0, "records still queued after the deadline"
        assert not reports.failed, reports.failed[:3]
        assert len(reports.ok) == RECORDS
        log = read_back(kafka_settings.bootstrap_servers, topic)
        no_offset = sorted(value for value, offset in reports.ok.items() if offset is None)
        missing = sorted(value for value in reports.ok if value not in log)
        if no_offset or missing:
            losses.append(
                f"round {round_}: {len(no_offset)} acknowledged without an offset "
                f"{no_offset[:3]}, {len(missing)} acknowledged but not in the log {missing[:3]}"
            )
    assert not losses, "\n".join(losses)
