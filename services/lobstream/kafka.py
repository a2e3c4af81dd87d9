"""The thin layer between KafkaSettings and confluent-kafka: configs, topics, delivery counts.

Security follows what a Strimzi ``KafkaUser`` (SCRAM-SHA-512) provides: the user's Secret
holds ``password``, the cluster CA Secret holds ``ca.crt``; see docs/kafka.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from lobstream.settings import KafkaSettings, SettingsError

log = logging.getLogger(__name__)

BOOTSTRAP_ENV = "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"
TOPIC_TIMEOUT_SECONDS = 30.0
_POLL_SECONDS = 0.05


def client_config(settings: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """The confluent-kafka settings every client (producer, consumer, admin) shares.

    ``extra`` holds further librdkafka properties (dotted names, via ``**{...}``) and wins.
    Raises SettingsError when no broker is named.
    """
    if not settings.bootstrap_servers.strip():
        raise SettingsError(BOOTSTRAP_ENV, "is empty: name the Kafka bootstrap servers")
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": settings.client_id,
        "security.protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        # KafkaSettings validation already demands both; a settings object built without
        # validation (model_copy, model_construct) gets the same answer here.
        if settings.sasl_username is None:
            raise SettingsError("LOBSTREAM_KAFKA__SASL_USERNAME", "is required for SASL")
        if settings.sasl_password is None:
            raise SettingsError("LOBSTREAM_KAFKA__SASL_PASSWORD", "is required for SASL")
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = settings.sasl_password.get_secret_value()
    if settings.security_protocol.endswith("SSL") and settings.ssl_ca_location:
        config["ssl.ca.location"] = settings.ssl_ca_location
    config.update(extra)
    return config


def producer_config(settings: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """An idempotent, acks=all producer with compression, small linger and a bounded queue.

    When the local queue holds ``buffer_max_messages`` records, ``produce()`` raises
    BufferError: the caller's back-pressure signal (nothing grows without bound).
    """
    return client_config(
        settings,
        **{
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": settings.compression_type,
            "linger.ms": settings.linger_ms,
            "queue.buffering.max.messages": settings.buffer_max_messages,
            **extra,
        },
    )


def consumer_config(
    settings: KafkaSettings, *, group_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A group consumer that commits only when told to and starts at the log's beginning."""
    return client_config(
        settings,
        **{
            "group.id": group_id or settings.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # librdkafka's 1 MiB default per partition holds a consumer of one busy instrument
            # partition to ~125k records/s here, whatever the Python side does; 10 MiB lifts
            # that ten-fold. Memory stays bounded by queued.max.messages.kbytes (64 MiB).
            "max.partition.fetch.bytes": 10 * 1024 * 1024,
            # A grown raw topic is noticed (and its new partitions assigned) within 10 s rather
            # than librdkafka's 5 min, well before the producers move instruments there
            # (PRODUCER__PARTITION_MOVE_DELAY_SECONDS, 30 s).
            "topic.metadata.refresh.interval.ms": 10_000,
            **extra,
        },
    )


def ensure_topics(
    admin: AdminClient,
    names: Iterable[str],
    partitions: int,
    replication: int,
    *,
    timeout: float = TOPIC_TIMEOUT_SECONDS,
    config: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Idempotent: an existing topic is left as it is (a different partition count is logged,
    never altered). The topics are listed first and only the missing ones are asked for: Kafka
    answers CreateTopics with TOPIC_AUTHORIZATION_FAILED even for an existing topic, so a user
    without the Create ACL works as long as the topics exist. Returns once every topic has a
    leader for each partition, or raises KafkaException / TimeoutError.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    listed = admin.list_topics(timeout=timeout).topics
    missing = [name for name in wanted if name not in listed or listed[name].error is not None]
    new = [NewTopic(name, partitions, replication, config=config or {}) for name in missing]
    created: list[str] = []
    futures = admin.create_topics(new, request_timeout=timeout) if new else {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        else:
            created.append(name)
    _wait_for_leaders(admin, wanted, partitions, timeout)
    return created


def _wait_for_leaders(
    admin: AdminClient, names: list[str], partitions: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    warned: set[str] = set()
    while True:
        metadata = admin.list_topics(timeout=max(0.1, deadline - time.monotonic()))
        missing = []
        for name in names:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                missing.append(name)
                continue
            if any(part.leader < 0 for part in topic.partitions.values()):
                missing.append(name)
            if len(topic.partitions) != partitions and name not in warned:
                warned.add(name)
                log.warning(
                    "topic %s exists with %d partitions, not %d; left unchanged",
                    name,
                    len(topic.partitions),
                    partitions,
                )
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without a leader after {timeout:.0f}s: {missing}")
        time.sleep(_POLL_SECONDS)
