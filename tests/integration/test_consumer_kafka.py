"""The consumer against a real broker, fed raw-topic records whose true book the test knows.

Records are written exactly as the producer writes them (tests/plugins/consumer.py:RawWriter),
so these tests isolate the consumer: at-least-once commits, rebuild from the snapshot named in
the commit after a SIGKILL, bad records, replicas sharing partitions, the features topic.
"""

from __future__ import annotations

import signal
import time
import uuid
from decimal import Decimal

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from lobstream import kafka
from lobstream.devtools.localkafka import LocalKafka
from lobstream.settings import KafkaSettings
from tests.plugins.consumer import ConsumerFactory, RawWriter, frame
from tests.plugins.kafka import kafka_env
from tests.plugins.service import ServiceProcess

pytestmark = pytest.mark.integration

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
# No look-back: a restarted consumer can only be right through the commit's snapshot offsets.
NO_LOOKBACK = {"LOBSTREAM_CONSUMER__REBUILD_LOOKBACK_SECONDS": "0.001"}
LONG_LOOKBACK = {"LOBSTREAM_CONSUMER__REBUILD_LOOKBACK_SECONDS": "600"}


def assert_books_true(consumer: ServiceProcess, writer: RawWriter) -> None:
    for name in writer.markets:
        book = consumer.wait_book(name, lambda name=name: writer.truth(name))
        assert book == writer.truth(name), f"{name}: the consumer's book differs from the truth"
        doc = consumer.book(name)
        assert doc is not None
        assert doc["stale"] is False
        prices = [price for price, _ in doc["bids"]]
        assert prices == sorted(prices, reverse=True), "bids are not best first"
        prices = [price for price, _ in doc["asks"]]
        assert prices == sorted(prices), "asks are not best first"


def committed_offsets(settings: KafkaSettings) -> dict[int, int]:
    probe = Consumer(kafka.consumer_config(settings))
    try:
        count = settings.raw_topic_partitions
        parts = [TopicPartition(settings.raw_topic, p) for p in range(count)]
        return {tp.partition: tp.offset for tp in probe.committed(parts, timeout=10)}
    finally:
        probe.close()


def test_sigkilled_consumer_resumes_from_its_commit_and_rebuilds_the_true_book(
    kafka_settings: KafkaSettings, consumer_env: dict[str, str], consumer_factory: ConsumerFactory
) -> None:
    writer = RawWriter(kafka_settings, [BTC, ETH])
    writer.exchange_snapshots()
    writer.changes(3000)
    writer.flush()
    # A new group starts at the end of the log, rebuilt from the look-back: a long one here.
    first = consumer_factory({**consumer_env, **LONG_LOOKBACK})
    first.wait_until(first.ready, 90, "the first consumer ready")
    assert_books_true(first, writer)

    # A producer snapshot of BTC mid-stream, more changes, then the commit must name it.
    writer.producer_snapshot(BTC)
    writer.changes(2000)
    writer.flush()
    assert_books_true(first, writer)
    total = writer.written
    first.wait_until(
        lambda: sum(max(0, n) for n in committed_offsets(kafka_settings).values()) == total,
        60,
        "every applied record committed",
    )
    first.signal(signal.SIGKILL)
    first.wait(10)

    # While it is down: more changes and no snapshot at all.
    writer.changes(1500)
    writer.flush()
    second = consumer_factory({**consumer_env, **NO_LOOKBACK})
    second.wait_until(second.ready, 90, "the restarted consumer ready")
    assert_books_true(second, writer)
    replayed = second.metric("lobstream_consumer_records_replayed_total")
    consumed = sum(
        second.metric("lobstream_consumer_records_applied_total", instrument=n, channel="book") or 0
        for n in (BTC, ETH)
    )
    assert replayed, "the restart did not rebuild from the log"
    assert consumed < total, "the restart read the whole log instead of resuming"
    for name in (BTC, ETH):
        assert second.metric("lobstream_consumer_book_gaps_total", instrument=name) == 0
        assert second.metric("lobstream_consumer_book_stale", instrument=name) == 0


def test_bad_records_are_skipped_and_counted_without_a_crash(
    kafka_settings: KafkaSettings, consumer_env: dict[str, str], consumer_factory: ConsumerFactory
) -> None:
    consumer = consumer_factory(consumer_env)
    consumer.wait_until(consumer.ready, 90, "the consumer ready")
    writer = RawWriter(kafka_settings, [BTC])
    writer.exchange_snapshots()
    writer.changes(500)
    key = BTC.encode()
    bad = {
        "not_json": [(key, b"\x00\xff not json"), (key, b'{"truncated":')],
        "not_notification": [(key, b'{"jsonrpc":"2.0","id":1,"result":[]}'), (key, None)],
        "unknown_channel": [(key, frame("announcements", {"body": "hello"}))],
        "wrong_key": [(b"ETH-PERPETUAL", frame(f"book.{BTC}.100ms", {"type": "change"}))],
        "bad_data": [(key, frame(f"book.{BTC}.100ms", "not an object"))],
    }
    for records in bad.values():
        for record in records:
            writer.raw(*record)
    writer.changes(500)
    writer.flush()
    assert_books_true(consumer, writer)
    for reason, records in bad.items():
        assert consumer.metric("lobstream_consumer_records_rejected_total", reason=reason) == len(
            records
        )
    assert consumer.proc.poll() is None
    consumer.wait_until(
        lambda: "bad raw record(s)" in consumer.log_tail(200), 30, "the bad records logged"
    )


def end_offsets(settings: KafkaSettings, partitions: set[int]) -> dict[int, int]:
    probe = Consumer(kafka.consumer_config(settings))
    try:
        return {
            p: probe.get_watermark_offsets(TopicPartition(settings.raw_topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        probe.close()


def held_partitions(consumer: ServiceProcess) -> set[int]:
    """The partitions ``consumer`` holds instruments of, from its partition_instruments family."""
    return {
        int(dict(labels)["partition"])
        for (name, labels), value in consumer.metrics().items()
        if name == "lobstream_consumer_partition_instruments" and value == 1
    }


SESSION_TIMEOUT_SECONDS = 45.0
"""librdkafka's session.timeout.ms (the consumer does not change it): a member that vanished
without leaving keeps its partitions this long."""


def test_a_replica_stopped_by_sigterm_commits_what_it_applied_and_its_partner_takes_over_at_once(
    kafka_settings: KafkaSettings, consumer_env: dict[str, str], consumer_factory: ConsumerFactory
) -> None:
    names = [BTC, ETH, "SOL-PERPETUAL", "XRP-PERPETUAL", "ADA-PERPETUAL", "DOGE-PERPETUAL"]
    writer = RawWriter(kafka_settings, names)
    writer.exchange_snapshots()
    writer.changes(300)
    writer.flush()
    env = {**consumer_env, **LONG_LOOKBACK}
    one = consumer_factory(env)
    # No periodic commit in the leaving replica: only its shutdown can commit what it applied
    # (the partner's look-back would hide a missing final commit from the books).
    two = consumer_factory({**env, "LOBSTREAM_CONSUMER__COMMIT_INTERVAL_SECONDS": "600"})

    def split() -> bool:
        held = [{n for n in names if c.book(n) is not None} for c in (one, two)]
        return all(held) and held[0].isdisjoint(held[1]) and held[0] | held[1] == set(names)

    one.wait_until(lambda: one.ready() and two.ready() and split(), 120, "partitions shared")
    writer.changes(300)
    writer.flush()
    for name in names:
        owner = one if one.book(name) is not None else two
        book = owner.wait_book(name, lambda name=name: writer.truth(name))
        assert book == writer.truth(name)
    # Every book at its last change: each replica has applied its partitions to their end.
    theirs = held_partitions(two)
    assert theirs, "the leaving replica holds no partition"
    applied = end_offsets(kafka_settings, theirs)
    before = committed_offsets(kafka_settings)
    assert any(before[p] != applied[p] for p in theirs), "committed before the shutdown"

    two.signal(signal.SIGTERM)
    assert two.wait(30) == 0, two.log_tail()
    left = time.monotonic()
    after = committed_offsets(kafka_settings)
    assert {p: after[p] for p in theirs} == applied, two.log_tail()

    # It left the group on the way out, so the partner is given its partitions by the next
    # rebalance, not after a session timeout.
    one.wait_until(
        lambda: all(one.book(n) is not None for n in names), SESSION_TIMEOUT_SECONDS, "takeover"
    )
    took = time.monotonic() - left
    assert took < SESSION_TIMEOUT_SECONDS / 3, f"takeover took {took:.1f} s"
    writer.changes(300)
    writer.flush()
    for name in names:
        assert one.wait_book(name, lambda name=name: writer.truth(name)) == writer.truth(name)
        assert one.metric("lobstream_consumer_book_gaps_total", instrument=name) == 0


def test_features_are_published_per_instrument_as_json(
    kafka_settings: KafkaSettings, consumer_env: dict[str, str], consumer_factory: ConsumerFactory
) -> None:
    consumer = consumer_factory(consumer_env)
    consumer.wait_until(consumer.ready, 90, "the consumer ready")
    writer = RawWriter(kafka_settings, [BTC, ETH])
    writer.exchange_snapshots()
    writer.changes(200)
    writer.flush()
    assert_books_true(consumer, writer)

    reader = Consumer(
        kafka.consumer_config(kafka_settings, group_id=f"features-{uuid.uuid4().hex}")
    )
    reader.subscribe([kafka_settings.features_topic])
    latest: dict[str, dict[str, object]] = {}
    try:
        consumer.wait_until(
            lambda: _read_features(reader, latest, writer), 60, "features of the true books"
        )
    finally:
        reader.close()
    for name in (BTC, ETH):
        doc = latest[name]
        _, bids, asks = writer.truth(name)
        assert doc["instrument"] == name
        assert doc["stale"] is False
        # Exact decimals, as the exchange prints prices: no binary noise in the topic.
        bid, ask = Decimal(repr(max(bids))), Decimal(repr(min(asks)))
        assert doc["mid"] == float((bid + ask) / 2)
        assert doc["spread"] == float(ask - bid)
        assert set(doc) >= {"spread", "imbalance", "imbalance_5", "microprice", "ofi_1s"}


def _read_features(
    reader: Consumer, latest: dict[str, dict[str, object]], writer: RawWriter
) -> bool:
    for message in reader.consume(100, 0.5):
        assert message.error() is None, message.error()
        if message.key() is not None:
            latest[message.key().decode()] = orjson.loads(message.value())
    return all(
        name in latest and latest[name]["change_id"] == writer.truth(name)[0]
        for name in writer.markets
    )


def test_the_consumer_rides_out_a_broker_sigkill_and_restart(
    local_kafka: LocalKafka, kafka_settings: KafkaSettings, consumer_factory: ConsumerFactory
) -> None:
    settings = kafka_settings.model_copy(
        update={"bootstrap_servers": local_kafka.bootstrap_servers}
    )
    writer = RawWriter(settings, [BTC, ETH])
    consumer = consumer_factory({**kafka_env(settings), **LONG_LOOKBACK})
    consumer.wait_until(consumer.ready, 90, "the consumer ready")
    writer.exchange_snapshots()
    writer.changes(500)
    writer.flush()
    assert_books_true(consumer, writer)

    local_kafka.kill()
    errors = consumer.metric("lobstream_consumer_kafka_errors_total") or 0
    consumer.wait_metric("lobstream_consumer_kafka_errors_total", errors + 1, timeout=60)
    local_kafka.restart()
    writer.changes(500)
    writer.flush()
    assert_books_true(consumer, writer)
    assert consumer.proc.poll() is None
    for name in (BTC, ETH):
        assert consumer.metric("lobstream_consumer_book_gaps_total", instrument=name) == 0


def test_the_consumer_waits_for_kafka_and_its_topics_at_start(
    local_kafka: LocalKafka, kafka_settings: KafkaSettings, consumer_factory: ConsumerFactory
) -> None:
    # Under ACLs without Create the topics come from the platform, maybe after the pod starts:
    # the consumer keeps trying (alive, not ready) instead of exiting.
    settings = kafka_settings.model_copy(
        update={"bootstrap_servers": local_kafka.bootstrap_servers}
    )
    local_kafka.kill()
    consumer = consumer_factory(kafka_env(settings))
    consumer.wait_until(lambda: consumer.get("/healthz")[0] == 200, 60, "liveness")
    consumer.wait_until(
        lambda: "cannot create or check the topics yet" in consumer.log_tail(), 90, "the retry"
    )
    assert consumer.get("/readyz")[0] == 503
    local_kafka.restart()
    consumer.wait_until(consumer.ready, 120, "ready once Kafka answers")
    consumer.signal(signal.SIGTERM)
    assert consumer.wait(30) == 0
