"""lobstream.kafka: config mapping (unit) and a real round trip through a real broker."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from lobstream.kafka import (
    DeliveryCounter,
    client_config,
    consumer_config,
    ensure_topics,
    producer_config,
)
from lobstream.settings import KafkaSettings, SettingsError

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


# -- unit: the settings -> librdkafka mapping ----------------------------------------------


def test_plaintext_config_names_broker_and_client_only() -> None:
    settings = KafkaSettings(bootstrap_servers="b1:9092,b2:9092", client_id="me")
    assert client_config(settings) == {
        "bootstrap.servers": "b1:9092,b2:9092",
        "client.id": "me",
        "security.protocol": "PLAINTEXT",
    }


def test_sasl_ssl_config_carries_scram_credentials_and_ca() -> None:
    settings = KafkaSettings(
        bootstrap_servers="kafka-bootstrap:9093",
        security_protocol="SASL_SSL",
        sasl_username="lobstream",
        sasl_password="s3cret",
        ssl_ca_location="/etc/kafka-ca/ca.crt",
    )
    config = client_config(settings)
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "lobstream"
    assert config["sasl.password"] == "s3cret"
    assert config["ssl.ca.location"] == "/etc/kafka-ca/ca.crt"


def test_sasl_plaintext_has_no_tls_settings() -> None:
    settings = KafkaSettings(
        bootstrap_servers="k:9092",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="u",
        sasl_password="p",
        ssl_ca_location="/ignored/ca.crt",
    )
    config = client_config(settings)
    assert config["sasl.mechanism"] == "SCRAM-SHA-256"
    assert "ssl.ca.location" not in config


def test_extra_settings_override() -> None:
    settings = KafkaSettings(bootstrap_servers="k:9092")
    assert client_config(settings, **{"client.id": "other"})["client.id"] == "other"
    config = producer_config(settings, **{"linger.ms": 0})
    assert config["linger.ms"] == 0
    assert config["enable.idempotence"] is True


def test_producer_and_consumer_configs() -> None:
    settings = KafkaSettings(
        bootstrap_servers="k:9092",
        group_id="g",
        linger_ms=7,
        compression_type="zstd",
        buffer_max_messages=5000,
    )
    producer = producer_config(settings)
    assert producer["acks"] == "all"
    assert producer["compression.type"] == "zstd"
    assert producer["linger.ms"] == 7
    assert producer["queue.buffering.max.messages"] == 5000
    consumer = consumer_config(settings)
    assert consumer["group.id"] == "g"
    assert consumer["enable.auto.commit"] is False
    assert consumer["auto.offset.reset"] == "earliest"
    assert consumer_config(settings, group_id="h")["group.id"] == "h"


def test_sasl_without_password_is_a_settings_error() -> None:
    settings = KafkaSettings.model_construct(
        bootstrap_servers="k:9093", security_protocol="SASL_SSL", sasl_username="u"
    )
    with pytest.raises(SettingsError) as caught:
        client_config(settings)
    assert caught.value.setting == "LOBSTREAM_KAFKA__SASL_PASSWORD"


def test_empty_bootstrap_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        client_config(KafkaSettings())
    assert caught.value.setting == "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"


# -- integration: a real broker ------------------------------------------------------------


@pytest.mark.integration
def test_keyed_record_round_trip_with_manual_commit(kafka_settings: KafkaSettings) -> None:
    admin = AdminClient(client_config(kafka_settings))
    topic = kafka_settings.raw_topic
    ensure_topics(admin, [topic], kafka_settings.topic_partitions, 1)
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
        if message is not None and message.error() is None:
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
