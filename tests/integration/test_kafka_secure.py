"""The SASL_SSL SCRAM-SHA-512 path, as a Strimzi KafkaUser uses it, against a real broker."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from lobstream.devtools.localkafka import LocalKafka
from lobstream.kafka import client_config, consumer_config, ensure_topics, producer_config
from tests.integration.test_kafka import consume_until, produce

pytestmark = pytest.mark.integration

REFUSAL_TIMEOUT_SECONDS = 10.0


def _refusals(config: dict[str, Any]) -> list[KafkaError]:
    """The errors a client reports while it tries, and fails, to list topics."""
    errors: list[KafkaError] = []
    admin = AdminClient(config | {"error_cb": errors.append, "logger": logging.getLogger(__name__)})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=3.0)
    deadline = time.monotonic() + REFUSAL_TIMEOUT_SECONDS
    while not errors and time.monotonic() < deadline:
        admin.poll(0.2)  # error_cb runs only from poll()
    return errors


def test_round_trip_over_sasl_ssl_scram(secure_kafka: LocalKafka) -> None:
    settings = secure_kafka.kafka_settings(secure=True, group_id=f"secure-{uuid.uuid4().hex}")
    assert client_config(settings)["security.protocol"] == "SASL_SSL"
    topic = f"test.secure.{uuid.uuid4().hex[:12]}"
    ensure_topics(AdminClient(client_config(settings)), [topic], 1, 1)
    records = [(b"ETH-PERPETUAL", b'{"secure":true}')]
    assert produce(producer_config(settings), topic, records) == 1
    [message] = consume_until(consumer_config(settings), topic, 1)
    assert (message.key(), message.value()) == records[0]


def test_wrong_password_is_refused(secure_kafka: LocalKafka) -> None:
    settings = secure_kafka.kafka_settings(secure=True, sasl_password="not-the-password")
    errors = _refusals(client_config(settings))
    assert any(error.code() == KafkaError._AUTHENTICATION for error in errors), errors


def test_unknown_ca_is_refused(secure_kafka: LocalKafka) -> None:
    """Without the broker's CA the certificate cannot be verified: no silent plaintext."""
    settings = secure_kafka.kafka_settings(secure=True, ssl_ca_location=None)
    errors = _refusals(client_config(settings))
    assert any(error.code() == KafkaError._SSL for error in errors), errors
