"""What each Kafka identity may do on the chart's Strimzi Kafka, tried for real from a pod.

Run inside the lobstream image (it has confluent-kafka) in the release's namespace, with the
cluster CA mounted and each KafkaUser's password in the environment:

    python kafka_access.py BOOTSTRAP CA_FILE RAW_TOPIC GROUP_ID

Prints one JSON object: each attempt's outcome, ``"ok"`` or the Kafka error's name. Nothing is
written to the raw topic by an identity that may write it (the consumer would count the record
as bad); the consumer's group is never joined by an identity that may join it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

DEADLINE_SECONDS = 30.0


def config(bootstrap: str, ca_file: str, user: str | None) -> dict[str, Any]:
    base: dict[str, Any] = {"bootstrap.servers": bootstrap, "ssl.ca.location": ca_file}
    if user is None:
        return {**base, "security.protocol": "SSL"}
    return {
        **base,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": os.environ[f"{user.upper()}_USER"],
        "sasl.password": os.environ[f"{user.upper()}_PASSWORD"],
    }


def read_one(conf: dict[str, Any], topic: str, group: str, subscribe: bool) -> str:
    """Fetch one record: as a member of ``group``, or from every partition's start, assigned.

    "ok" for a record, else the distinct errors seen until the deadline, sorted, or "timeout".
    """
    consumer = Consumer(
        {**conf, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )
    errors: set[str] = set()
    try:
        if subscribe:
            consumer.subscribe([topic])
        else:
            partitions = consumer.list_topics(topic, timeout=DEADLINE_SECONDS).topics[topic]
            consumer.assign(
                [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions.partitions]
            )
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and "TOPIC_AUTHORIZATION_FAILED" not in errors:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return "ok"
            if error.code() != KafkaError._PARTITION_EOF:
                errors.add(str(error.name()))
        return ",".join(sorted(errors)) or "timeout"
    finally:
        consumer.close()


def write_one(conf: dict[str, Any], topic: str) -> str:
    outcome: list[str] = []
    producer = Producer({**conf, "message.timeout.ms": int(DEADLINE_SECONDS * 1000)})

    def report(error: KafkaError | None, _: Any) -> None:
        outcome.append("ok" if error is None else str(error.name()))

    producer.produce(topic, b"least-privilege probe", on_delivery=report)
    producer.flush(DEADLINE_SECONDS + 5)
    return outcome[0] if outcome else "timeout"


def describe(conf: dict[str, Any], topic: str) -> str:
    producer = Producer(conf)
    try:
        metadata = producer.list_topics(topic, timeout=DEADLINE_SECONDS)
    except KafkaException as error:
        return str(error.args[0].name())
    found = metadata.topics[topic]
    return "ok" if found.error is None else str(found.error.name())


def main() -> None:
    bootstrap, ca_file, raw, group = sys.argv[1:5]
    producer, consumer = (config(bootstrap, ca_file, u) for u in ("producer", "consumer"))
    anonymous = config(bootstrap, ca_file, None)
    result = {
        "producer describes raw": describe(producer, raw),
        "producer reads raw": read_one(producer, raw, f"{group}-probe", subscribe=False),
        "producer joins the consumer group": read_one(producer, raw, group, subscribe=True),
        "consumer reads raw": read_one(consumer, raw, group, subscribe=False),
        "consumer writes raw": write_one(consumer, raw),
        "anonymous describes raw": describe(anonymous, raw),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
