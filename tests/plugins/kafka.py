"""Kafka fixtures: a real broker for every test that needs one, never a mock, never a skip.

- ``kafka_bootstrap`` (session): $LOBSTREAM_TEST_KAFKA_BOOTSTRAP_SERVERS, else
  $LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS, else the session's LocalKafka.
- ``kafka_settings``: KafkaSettings for that broker with per-test topic and group names.
- ``secure_kafka`` (session): a LocalKafka with a SASL_SSL SCRAM-SHA-512 listener.
- ``local_kafka``: a broker of the test's own, to kill and restart;
  ``local_kafka_factory(**kwargs)`` starts as many as a test needs.

A broker that cannot start fails the test with the broker's log tail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from pydantic import SecretStr

from lobstream.devtools.localkafka import BrokerError, LocalKafka, ToolError
from lobstream.settings import KafkaSettings, SettingsError, load

TEST_BOOTSTRAP_ENV = "LOBSTREAM_TEST_KAFKA_BOOTSTRAP_SERVERS"
SETTINGS_BOOTSTRAP_ENV = "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"

LocalKafkaFactory = Callable[..., LocalKafka]


def kafka_env(settings: KafkaSettings) -> dict[str, str]:
    """Every KafkaSettings field as LOBSTREAM_KAFKA__<FIELD>."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"LOBSTREAM_KAFKA__{name.upper()}"] = str(value)
    return env


def topic_shape(admin: AdminClient, name: str) -> tuple[int, int | None]:
    """A topic's partition count and its own ``retention.ms`` (None: the broker's default)."""
    topic = admin.list_topics(name, timeout=30).topics[name]
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    entry = entries["retention.ms"]
    default = entry.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    return len(topic.partitions), None if default else int(entry.value)


def localkafka_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m lobstream.devtools.localkafka ARGS`` with text pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "lobstream.devtools.localkafka", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _start(**kwargs: Any) -> LocalKafka:
    kafka = LocalKafka(**kwargs)
    try:
        return kafka.start()
    except (BrokerError, ToolError) as exc:
        pytest.fail(f"the local Kafka broker could not start: {exc}", pytrace=False)


def _external_bootstrap() -> str | None:
    return os.environ.get(TEST_BOOTSTRAP_ENV) or os.environ.get(SETTINGS_BOOTSTRAP_ENV) or None


@pytest.fixture(scope="session")
def session_local_kafka() -> Iterator[LocalKafka]:
    """One LocalKafka for the session, with both a PLAINTEXT and a SASL_SSL listener."""
    kafka = _start(secure=True)
    yield kafka
    kafka.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers of a real broker: the configured one, else the session LocalKafka."""
    external = _external_bootstrap()
    if external:
        return external
    kafka: LocalKafka = request.getfixturevalue("session_local_kafka")
    return kafka.bootstrap_servers


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """KafkaSettings for ``kafka_bootstrap`` with topic and group names unique to the test.

    With an external broker the rest of LOBSTREAM_KAFKA__* (security) applies too.
    """
    suffix = uuid.uuid4().hex[:12]
    names = {
        "bootstrap_servers": kafka_bootstrap,
        "raw_topic": f"test.raw.{suffix}",
        "features_topic": f"test.features.{suffix}",
        "group_id": f"test-group-{suffix}",
        "raw_topic_partitions": 3,
    }
    if _external_bootstrap() is None:
        return KafkaSettings(**names)
    try:
        base = load().kafka
    except SettingsError as exc:
        pytest.fail(f"bad Kafka settings for the external broker: {exc}", pytrace=False)
    return base.model_copy(update=names)


@pytest.fixture(scope="session")
def secure_kafka(session_local_kafka: LocalKafka) -> LocalKafka:
    """A LocalKafka whose SASL_SSL listener (SCRAM-SHA-512, own CA) is up; shared, don't kill."""
    return session_local_kafka


@pytest.fixture
def local_kafka_factory() -> Iterator[LocalKafkaFactory]:
    """Start brokers owned by the test (``factory(secure=True)`` etc.); all stopped after it."""
    started: list[LocalKafka] = []

    def factory(**kwargs: Any) -> LocalKafka:
        kafka = _start(**kwargs)
        started.append(kafka)
        return kafka

    yield factory
    for kafka in started:
        kafka.stop()


@pytest.fixture
def local_kafka(local_kafka_factory: LocalKafkaFactory) -> LocalKafka:
    """A PLAINTEXT broker of the test's own, free to kill() and restart()."""
    return local_kafka_factory()


@dataclass(slots=True)
class DeliveryCounter:
    """Counts delivery reports; pass ``on_delivery`` as the producer's delivery callback.

    ``last_error`` keeps the newest failure so the owner can log one line per burst.
    """

    delivered: int = 0
    failed: int = 0
    last_error: KafkaError | None = field(default=None, repr=False)

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.last_error = error
