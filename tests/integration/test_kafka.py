"""Kafka client helpers against a real broker: keyed round trip, idempotent topic creation."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from lobstream.consumer.service import ensure_pipeline_topics
from lobstream.kafka import (
    client_config,
    consumer_config,
    ensure_topics,
    producer_config,
)
from lobstream.settings import KafkaSettings
from tests.plugins.kafka import DeliveryCounter, topic_shape

DEADLINE_SECONDS = 60.0


def consume_until(config: dict[str, Any], topic: str, count: int) -> list[Message]:
    """Read ``count`` records of ``topic`` from a fresh consumer, or fail at the deadline."""
    consumer = Consumer(config)
    consumer.subscribe([topic])
    records: list[Message] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while len(records) < count:
            assert time.monotonic() < deadline, f"only {len(records)}/{count} records arrived"
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            records.append(message)
    finally:
        consumer.close()
    return records


def produce(config: dict[str, Any], topic: str, records: list[tuple[bytes, bytes]]) -> int:
    """Produce keyed records and flush; return how many delivery reports said delivered."""
    counter = DeliveryCounter()
    producer = Producer(config | {"on_delivery": counter.on_delivery})
    for key, value in records:
        producer.produce(topic, value=value, key=key, headers=[("h", b"1")])
    assert producer.flush(DEADLINE_SECONDS) == 0, "records still queued after the deadline"
    assert counter.failed == 0, counter.last_error
    return counter.delivered


@pytest.mark.integration
def test_keyed_record_round_trip_with_manual_commit(kafka_settings: KafkaSettings) -> None:
    admin = AdminClient(client_config(kafka_settings))
    topic = kafka_settings.raw_topic
    ensure_topics(admin, [topic], kafka_settings.raw_topic_partitions, 1)
    records = [(b"BTC-PERPETUAL", b'{"n":1}'), (b"BTC-PERPETUAL", b'{"n":2}')]
    assert produce(producer_config(kafka_settings), topic, records) == 2

    config = consumer_config(kafka_settings)
    first = consume_until(config, topic, 2)
    assert [(m.key(), m.value()) for m in first] == records  # one key: one partition, in order
    assert first[0].headers() == [("h", b"1")]

    # Nothing was committed, so the same group reads the records again; then commit them.
    consumer = Consumer(config)
    consumer.subscribe([topic])
    again: list[Message] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(again) < 2:
        assert time.monotonic() < deadline, "uncommitted records were not re-delivered"
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            again.append(message)
    assert [m.offset() for m in again] == [m.offset() for m in first]
    consumer.commit(message=again[-1], asynchronous=False)
    partition = TopicPartition(topic, again[-1].partition())
    committed = consumer.committed([partition], timeout=DEADLINE_SECONDS)
    consumer.close()
    assert committed[0].offset == again[-1].offset() + 1


@pytest.mark.integration
def test_ensure_topics_is_idempotent(kafka_settings: KafkaSettings) -> None:
    admin = AdminClient(client_config(kafka_settings))
    names = [f"test.ensure.{uuid.uuid4().hex[:8]}.{n}" for n in range(2)]
    assert sorted(ensure_topics(admin, names, 3, 1)) == sorted(names)
    assert ensure_topics(admin, names, 3, 1) == []
    assert ensure_topics(admin, [*names, names[0]], 3, 1) == []
    topics = admin.list_topics(timeout=DEADLINE_SECONDS).topics
    assert all(len(topics[name].partitions) == 3 for name in names)


class RecordingAdmin(AdminClient):
    """A real AdminClient that remembers which topics it sent CreateTopics for."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.create_requests: list[list[str]] = []

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        self.create_requests.append([topic.topic for topic in new_topics])
        return super().create_topics(new_topics, **kwargs)


@pytest.mark.integration
def test_ensure_topics_asks_to_create_only_missing_topics(kafka_settings: KafkaSettings) -> None:
    # Kafka answers CreateTopics with TOPIC_AUTHORIZATION_FAILED, even for an existing topic,
    # to a user without the Create ACL: such a user must never send it for existing topics.
    existing = f"test.acl.{uuid.uuid4().hex[:8]}.existing"
    missing = f"test.acl.{uuid.uuid4().hex[:8]}.missing"
    ensure_topics(AdminClient(client_config(kafka_settings)), [existing], 1, 1)
    admin = RecordingAdmin(client_config(kafka_settings))
    assert ensure_topics(admin, [existing], 1, 1) == []
    assert admin.create_requests == []
    assert ensure_topics(admin, [existing, missing], 1, 1) == [missing]
    assert admin.create_requests == [[missing]]


@pytest.mark.integration
def test_each_topic_gets_its_own_partitions_and_retention_without_a_warning(
    kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # The consumer creates both topics; the features topic used to get the raw topic's
    # partitions, no retention of its own, and a warning at every start once Strimzi made it.
    settings = KafkaSettings.model_validate(
        kafka_settings.model_dump()
        | {
            "raw_topic_partitions": 4,
            "raw_topic_retention_hours": 6,
            "features_topic_partitions": 1,
            "features_topic_retention_hours": 2.5,
        }
    )
    admin = AdminClient(client_config(settings))
    with caplog.at_level(logging.WARNING, logger="lobstream.kafka"):
        ensure_pipeline_topics(settings, admin)
        ensure_pipeline_topics(settings, admin)  # a restart: both exist as asked
    assert topic_shape(admin, settings.raw_topic) == (4, 6 * 3_600_000)
    assert topic_shape(admin, settings.features_topic) == (1, 9_000_000)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.integration
def test_a_topic_made_otherwise_is_left_alone_and_the_difference_logged(
    kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    admin = AdminClient(client_config(kafka_settings))
    ensure_topics(admin, [kafka_settings.features_topic], 2, 1)
    with caplog.at_level(logging.WARNING, logger="lobstream.kafka"):
        ensure_pipeline_topics(kafka_settings, admin)
    assert topic_shape(admin, kafka_settings.features_topic) == (2, None)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    expected = kafka_settings.features_topic_partitions
    assert warnings == [
        f"topic {kafka_settings.features_topic} exists with 2 partitions, not {expected}; "
        "left unchanged"
    ]
