"""The pipeline through a SASL_SSL / SCRAM-SHA-512 listener, as a Strimzi KafkaUser would use it.

The producer and the consumer are real processes configured only through the environment
(LOBSTREAM_KAFKA__SECURITY_PROTOCOL, SASL_*, SSL_CA_LOCATION), against a real broker whose TLS
certificates and SCRAM users were made for this run.
"""

from __future__ import annotations

import uuid

import pytest

from lobstream.devtools.localkafka import LocalKafka
from tests.plugins.consumer import ConsumerFactory
from tests.plugins.kafka import kafka_env
from tests.plugins.producer import ProducerFactory
from tests.plugins.threaded_simulator import start_in_thread

pytestmark = pytest.mark.integration

INSTRUMENT = "BTC-PERPETUAL"


def test_a_book_streams_through_the_secure_listener_and_stays_exact(
    secure_kafka: LocalKafka,
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    suffix = uuid.uuid4().hex[:12]
    settings = secure_kafka.kafka_settings(
        secure=True,
        raw_topic=f"test.secure.raw.{suffix}",
        features_topic=f"test.secure.features.{suffix}",
        group_id=f"test-secure-{suffix}",
        raw_topic_partitions=1,
    )
    assert settings.security_protocol == "SASL_SSL"
    env = kafka_env(settings)
    with start_in_thread(instruments=[INSTRUMENT], seed=11, rate=100.0) as sim:
        producer = producer_factory(
            {**env, "LOBSTREAM_DERIBIT__URL": sim.url, "LOBSTREAM_DERIBIT__INSTRUMENTS": INSTRUMENT}
        )
        producer.wait_until(lambda: producer.get("/readyz")[0] == 200, 90, "the producer ready")
        consumer = consumer_factory(env)
        consumer.wait_until(consumer.ready, 90, "the consumer ready")
        consumer.wait_metric(
            "lobstream_consumer_records_applied_total", 50, instrument=INSTRUMENT, channel="book"
        )
        sim.pause()
        book = consumer.wait_book(INSTRUMENT, lambda: sim.true_book(INSTRUMENT))
        assert book == sim.true_book(INSTRUMENT)
        assert (producer.metric("lobstream_producer_delivery_failures_total", instrument=INSTRUMENT)
                or 0) == 0  # fmt: skip


def test_a_wrong_password_keeps_the_producer_unready(
    secure_kafka: LocalKafka, producer_factory: ProducerFactory
) -> None:
    settings = secure_kafka.kafka_settings(
        secure=True, raw_topic=f"test.secure.raw.{uuid.uuid4().hex[:12]}"
    )
    env = kafka_env(settings) | {"LOBSTREAM_KAFKA__SASL_PASSWORD": "not-the-password"}
    with start_in_thread(instruments=[INSTRUMENT], seed=11, rate=50.0) as sim:
        producer = producer_factory(
            {**env, "LOBSTREAM_DERIBIT__URL": sim.url, "LOBSTREAM_DERIBIT__INSTRUMENTS": INSTRUMENT}
        )
        # librdkafka reports a refused SCRAM login to error_cb as _AUTHENTICATION: counted
        # under that name and logged once per burst, both of which the operator needs.
        producer.wait_metric("lobstream_producer_kafka_errors_total", 1, error="_AUTHENTICATION")
        producer.wait_until(
            lambda: any(
                "WARNING" in line and "Kafka: " in line and "Authentication failed" in line
                for line in producer.log_tail(400).splitlines()
            ),
            30,
            "the authentication failure logged",
        )
        assert producer.get("/readyz")[0] == 503
