"""The thin layer between KafkaSettings and confluent-kafka: configs, topics, delivery counts.

Security follows what a Strimzi ``KafkaUser`` (SCRAM-SHA-512) provides: the user's Secret
holds ``password``, the cluster CA Secret holds ``ca.crt``; see docs/kafka.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
    OffsetSpec,
)

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

    One request in flight per broker: a later batch can never reach a partition before a retried
    earlier one (see below). When the local queue holds ``buffer_max_messages`` records,
    ``produce()`` raises BufferError: the caller's back-pressure signal (nothing grows without
    bound).
    """
    return client_config(
        settings,
        **{
            "enable.idempotence": True,
            "acks": "all",
            # Idempotence alone allows five requests in flight. A broker below Kafka 4.5 with no
            # state yet for this producer on a partition accepts whatever sequence comes first
            # (KAFKA-15591): when the first request is refused retriably (a partition not yet
            # created, a leader moving) and a later one lands, the later batch opens the log and
            # librdkafka acknowledges the earlier one implicitly, with no offset, though it was
            # never written. With one request in flight nothing overtakes a retry.
            "max.in.flight.requests.per.connection": 1,
            "compression.type": settings.compression_type,
            "linger.ms": settings.linger_ms,
            "queue.buffering.max.messages": settings.buffer_max_messages,
            **extra,
        },
    )


def confirmed(message: Message) -> bool:
    """A successful delivery report that says where the record is: it has an offset.

    With ``acks=all`` the broker answers every written batch with its base offset. librdkafka
    reports a record without one when it acknowledged it implicitly (a later record of the same
    partition succeeded), which below Kafka 4.5 can hide a record that was never written.
    """
    offset = message.offset()
    return offset is not None and offset >= 0


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


def topic_config(retention_hours: float | None) -> dict[str, str]:
    """The configs of a topic lobstream creates: its retention, if one is set."""
    if retention_hours is None:
        return {}
    return {"retention.ms": str(round(retention_hours * 3_600_000))}


def ensure_pipeline_topic(
    admin: AdminClient, settings: KafkaSettings, role: Literal["raw", "features"]
) -> list[str]:
    """The raw or the features topic, created if missing with that topic's own partitions and
    retention; see ensure_topics."""
    if role == "raw":
        name, partitions = settings.raw_topic, settings.raw_topic_partitions
        hours = settings.raw_topic_retention_hours
    else:
        name, partitions = settings.features_topic, settings.features_topic_partitions
        hours = settings.features_topic_retention_hours
    return ensure_topics(
        admin, [name], partitions, settings.topic_replication_factor, config=topic_config(hours)
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
    leader for each partition and every leader answers for its partition (ListOffsets), or
    raises KafkaException / TimeoutError.
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
    deadline = time.monotonic() + timeout
    led = _wait_for_leaders(admin, wanted, partitions, timeout)
    _wait_until_served(admin, led, deadline)
    return created


def _wait_for_leaders(
    admin: AdminClient, names: list[str], partitions: int, timeout: float
) -> list[TopicPartition]:
    """Wait until metadata names a leader for every partition of ``names``; return them all."""
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
            return [
                TopicPartition(name, p) for name in names for p in metadata.topics[name].partitions
            ]
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without a leader after {timeout:.0f}s: {missing}")
        time.sleep(_POLL_SECONDS)


# What a leader answers for a partition it does not serve yet: metadata can name the leader
# before that broker has created the partition, and a write sent then is refused.
_NOT_SERVED_YET = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,  # NOT_LEADER_OR_FOLLOWER in the protocol
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.REPLICA_NOT_AVAILABLE,
        KafkaError._TIMED_OUT,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
    }
)


def _wait_until_served(
    admin: AdminClient, partitions: list[TopicPartition], deadline: float
) -> None:
    """Return once the leader of each of ``partitions`` answers ListOffsets for it."""
    pending = partitions
    while pending:
        left = max(0.1, deadline - time.monotonic())
        futures = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in pending},  # type: ignore[no-untyped-call]
            request_timeout=left,
        )
        waiting: list[TopicPartition] = []
        for tp, future in futures.items():
            try:
                future.result(timeout=left)
            except KafkaException as exc:
                if exc.args[0].code() not in _NOT_SERVED_YET:
                    raise
                waiting.append(tp)
        pending = waiting
        if not pending:
            return
        if time.monotonic() > deadline:
            named = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in pending)
            raise TimeoutError(f"partitions whose leader does not serve them yet: {named}")
        time.sleep(_POLL_SECONDS)
