"""lobstream.kafka: config mapping (unit) and a real round trip through a real broker."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from lobstream.kafka import client_config, consumer_config, producer_config
from lobstream.kafka import confirmed as kafka_confirmed
from lobstream.settings import KafkaSettings, SettingsError

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


def test_the_producer_keeps_one_request_in_flight_whatever_else_is_tuned() -> None:
    # Five in flight (idempotence's limit) let a later batch overtake a retried first one on a
    # new partition, which a broker below Kafka 4.5 accepts (KAFKA-15591).
    config = producer_config(KafkaSettings(bootstrap_servers="k:9092"), **{"linger.ms": 50})
    assert config["max.in.flight.requests.per.connection"] == 1
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"


@pytest.mark.parametrize(
    ("offset", "confirmed"), [(0, True), (41, True), (None, False), (-1001, False)]
)
def test_a_delivery_report_is_confirmed_only_with_an_offset(
    offset: int | None, confirmed: bool
) -> None:
    where = {} if offset is None else {"offset": offset}  # None: a report that names none
    report = Message(topic="raw", key=b"BTC-PERPETUAL", value=b"{}", **where)
    assert kafka_confirmed(report) is confirmed


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
