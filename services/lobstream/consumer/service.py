"""``lobstream consumer``: raw topic -> books -> features -> Prometheus metrics, features topic.

One thread runs the Kafka loop: ``consume()`` a batch, apply it to the :class:`Pipeline` under a
lock, and every ``commit_interval_seconds`` commit what was applied (at-least-once: an offset is
committed only after its record was applied; a re-applied book change is a harmless duplicate
because the book checks change_ids). Every commit carries the offsets of the newest snapshots, so
the next owner of a partition (a restart, another replica) rebuilds its books from there (see
:mod:`lobstream.consumer.rebuild`). Partitions are shared between replicas by the group's
``cooperative-sticky`` assignment, so a rebalance only moves the partitions that change hands.

The metrics server's thread reads the pipeline under the same lock at scrape time.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from types import FrameType
from typing import Any, TypeVar

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from lobstream import kafka
from lobstream.book.catalogue import record as features_record
from lobstream.consumer.metrics import book_route, consumer_registry
from lobstream.consumer.pipeline import Pipeline
from lobstream.consumer.rebuild import (
    decode_metadata,
    encode_metadata,
    lookup_timestamp_ms,
    needs_time_lookup,
    plan_start,
)
from lobstream.consumer.state import ConsumerState
from lobstream.http import MetricsServer
from lobstream.logs import Tally
from lobstream.settings import KafkaSettings, Settings, load, override

log = logging.getLogger(__name__)

KAFKA_TIMEOUT = 10.0
"""Seconds for the blocking calls made on assignment (committed offsets, watermarks, times)."""
ASSIGN_DEADLINE = 60.0
"""Seconds a retriable error may last while planning an assignment."""
TRANSIENT = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError.REQUEST_TIMED_OUT,
    }
)

T = TypeVar("T")


def ensure_pipeline_topics(settings: KafkaSettings, admin: AdminClient | None = None) -> None:
    """Create the raw and features topics if they do not exist (idempotent), each with its own
    partitions and retention; through ``admin`` when given, else a new client."""
    admin = admin if admin is not None else AdminClient(kafka.client_config(settings))
    kafka.ensure_pipeline_topic(admin, settings, "raw")
    kafka.ensure_pipeline_topic(admin, settings, "features")


class ConsumerService:
    """The consumer: build with settings, then :meth:`run` until ``stop`` is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.kafka.raw_topic
        self.state = ConsumerState(Pipeline(settings.features))
        lookback = settings.consumer.rebuild_lookback_seconds
        if lookback is None:
            lookback = 2 * settings.producer.snapshot_interval_seconds
        self.lookback_ms = int(lookback * 1000)
        self._consumer: Consumer | None = None
        self._publisher: Producer | None = None
        self._errors = Tally()
        """Kafka errors since the last report: the first is logged at once, the rest summed."""
        self._tick_ns = time.monotonic_ns()
        """When the Kafka loop last made progress (read by /healthz from the HTTP thread)."""

    # --- Kafka objects ------------------------------------------------------------------------

    def _consumer_config(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "enable.auto.offset.store": False,
            # Where to start is decided on assignment (see lobstream.consumer.rebuild); this
            # only applies when retention removed the planned start meanwhile: then skip nothing.
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "statistics.interval.ms": 5000,
            "stats_cb": self._on_stats,
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
            # librdkafka only fetches ahead while a partition holds fewer than this many
            # records (default 100k): a busy consumer drained that, then waited ~0.5 s for the
            # next 10 MiB fetch, about 40% of the time. Memory stays bounded by
            # queued.max.messages.kbytes (64 MiB for the whole consumer queue).
            "queued.min.messages": 1_000_000,
        }
        return kafka.consumer_config(self.settings.kafka, **extra)

    def _publisher_config(self) -> dict[str, Any]:
        return kafka.producer_config(
            self.settings.kafka, **{"linger.ms": 50, "error_cb": self._on_error}
        )

    # --- callbacks (run inside consume()/poll() on the loop thread) --------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.state.stats.assignments += 1
        ours = [tp for tp in partitions if tp.topic == self.topic]
        committed = (
            self._ask("committed offsets", lambda: consumer.committed(ours, timeout=KAFKA_TIMEOUT))
            if ours
            else []
        )
        now_ms = int(time.time() * 1000)
        plans = []
        for tp in committed:
            low, high = self._ask(
                "watermarks", partial(consumer.get_watermark_offsets, tp, KAFKA_TIMEOUT)
            )
            meta = decode_metadata(tp.metadata)
            for_time: int | None = None
            if needs_time_lookup(tp.offset, meta):
                when = lookup_timestamp_ms(meta, now_ms, self.lookback_ms)
                asked = [TopicPartition(self.topic, tp.partition, when)]
                found = self._ask(
                    "offsets for times", partial(consumer.offsets_for_times, asked, KAFKA_TIMEOUT)
                )
                for_time = found[0].offset
            plan = plan_start(
                committed=tp.offset, meta=meta, low=low, high=high, offset_for_time=for_time
            )
            plans.append((tp.partition, plan))
            log.info(
                "assigned partition %d: replay %d..%d, then resume (%s)",
                tp.partition,
                plan.start,
                plan.resume,
                plan.reason,
            )
        with self.state.lock:
            for partition, plan in plans:
                self.state.pipeline.assign(partition, plan)
            self.state.assigned = True
        consumer.incremental_assign(
            [TopicPartition(self.topic, partition, plan.start) for partition, plan in plans]
        )

    def _ask(self, what: str, call: Callable[[], T]) -> T:
        """A blocking Kafka call made while planning an assignment, retried while retriable.

        A just-created topic or a leader election answers "not leader" or times out for a
        moment; only an error that persists for ``ASSIGN_DEADLINE`` seconds ends the consumer.
        """
        deadline = time.monotonic() + ASSIGN_DEADLINE
        delay = 0.1
        while True:
            self._tick()  # each call is bounded (KAFKA_TIMEOUT): starting one is progress
            try:
                return call()
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                retriable = isinstance(error, KafkaError) and (
                    error.retriable() or error.code() in TRANSIENT
                )
                self.state.stats.kafka_errors += 1
                if not retriable or time.monotonic() + delay > deadline:
                    raise
                log.warning("%s: %s; retrying", what, error)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.state.stats.revocations += 1
        revoked = {tp.partition for tp in partitions if tp.topic == self.topic}
        self._commit(consumer, only=revoked, asynchronous=False)
        self._drop(revoked, "revoked")
        consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own these already: committing would overwrite its progress.
        self.state.stats.revocations += 1
        self._drop({tp.partition for tp in partitions if tp.topic == self.topic}, "lost")
        consumer.incremental_unassign(partitions)

    def _drop(self, partitions: set[int], why: str) -> None:
        with self.state.lock:
            for partition in sorted(partitions):
                dropped = self.state.pipeline.revoke(partition)
                self.state.stats.lag.pop(partition, None)
                log.info("partition %d %s: dropped %s", partition, why, dropped or "nothing")

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None or any(tp.error is not None for tp in partitions):
            self.state.stats.commit_errors += 1
            self._errors.add()
        else:
            self.state.stats.commits += 1

    def _on_error(self, error: KafkaError) -> None:
        self.state.stats.kafka_errors += 1
        if self._errors.add():
            log.warning("kafka: %s", error)

    def _on_stats(self, text: str) -> None:
        try:
            partitions = orjson.loads(text)["topics"][self.topic]["partitions"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        lag = {}
        for key, entry in partitions.items():
            value = entry.get("consumer_lag", -1) if isinstance(entry, dict) else -1
            if key.isdigit() and isinstance(value, int) and value >= 0:
                lag[int(key)] = value
        with self.state.lock:
            self.state.stats.lag = {
                p: n for p, n in lag.items() if p in self.state.pipeline.partitions
            }

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        # A record acknowledged without an offset may never have been written (kafka.confirmed);
        # the instrument's next features record supersedes it, so it is only counted.
        if error is None and kafka.confirmed(message):
            self.state.stats.published += 1
        else:
            self.state.stats.publish_errors += 1
            self._errors.add()

    # --- the loop -----------------------------------------------------------------------------

    def _commit(
        self, consumer: Consumer, *, only: set[int] | None = None, asynchronous: bool = True
    ) -> None:
        offsets = []
        with self.state.lock:
            for part in self.state.pipeline.partitions.values():
                if only is not None and part.partition not in only:
                    continue
                offset = part.commit_offset()
                if offset is None:
                    continue
                meta = encode_metadata(self.state.pipeline.commit_metadata(part))
                offsets.append(TopicPartition(self.topic, part.partition, offset, metadata=meta))
                part.committed = offset
        if not offsets:
            return
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
                self.state.stats.commits += 1
        except KafkaException as exc:
            self.state.stats.commit_errors += 1
            log.warning("commit failed: %s", exc)

    def _publish(self, publisher: Producer) -> None:
        topic = self.settings.kafka.features_topic
        with self.state.lock:
            now_ms = time.time_ns() // 1_000_000
            docs = [
                (name, features_record(name, state.features.snapshot(), now_ms))
                for name, state in self.state.pipeline.instruments.items()
                if not self.state.pipeline.partitions[state.partition].replaying
            ]
        for name, doc in docs:
            try:
                publisher.produce(
                    topic, orjson.dumps(doc), name.encode(), on_delivery=self._on_delivery
                )
            except (BufferError, KafkaException) as exc:
                self.state.stats.publish_errors += 1
                if self._errors.add():
                    log.warning("features not published: %s", exc)

    def _apply_batch(self, messages: list[Any]) -> None:
        # Messages are typed Any: the stubs' Optional returns would cost a check per record,
        # and a message without an error always has a partition, an offset and headers.
        apply = self.state.pipeline.apply
        with self.state.lock:
            for message in messages:
                error = message.error()
                if error is not None:
                    self._on_message_error(error)
                    continue
                apply(message.key(), message.value(), message.partition(), message.offset())
            self._note_timestamps(messages)
        # One sample a batch, the batch's oldest record: cheap and never flattering. A replayed
        # record was received long ago; its age says nothing about the pipeline.
        oldest = messages[0]
        part = self.state.pipeline.partitions.get(oldest.partition())
        if part is not None and oldest.offset() >= part.resume:
            self.state.latency.observe_header(oldest.headers(), time.time_ns())

    def _note_timestamps(self, messages: list[Any]) -> None:
        seen: set[int] = set()
        wanted = len(self.state.pipeline.partitions)
        for message in reversed(messages):
            if message.error() is not None:
                continue
            partition = message.partition()
            if partition in seen:
                continue
            seen.add(partition)
            part = self.state.pipeline.partitions.get(partition)
            if part is not None:
                part.last_timestamp_ms = message.timestamp()[1]
            if len(seen) >= wanted:
                break

    def _on_message_error(self, error: KafkaError) -> None:
        self.state.stats.kafka_errors += 1
        if self._errors.add():
            log.warning("kafka: %s", error)
        if error.fatal():
            raise KafkaException(error)

    def run(self, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Consume until ``stop`` is set; commit what was applied and leave the group."""
        settings = self.settings.consumer
        if not self._wait_for_topics(stop):
            return
        consumer = Consumer(self._consumer_config())
        publisher = Producer(self._publisher_config())
        self._consumer, self._publisher = consumer, publisher
        consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        publish_every = self.settings.features.publish_interval_seconds
        now = time.monotonic()
        next_commit = now + settings.commit_interval_seconds
        next_publish = now + publish_every
        next_report = now + 10.0
        ready_told = False
        try:
            while not stop.is_set():
                self._tick()
                # consume(n, timeout) waits for n records or the timeout, whichever comes first:
                # at a few thousand records/s that is the whole timeout of added latency. So wait
                # for one record, then take whatever else is already fetched, up to a batch.
                first = consumer.poll(settings.poll_timeout_seconds)
                if first is not None:
                    messages = consumer.consume(settings.batch_size - 1, 0)
                    messages.insert(0, first)
                    self._apply_batch(messages)
                publisher.poll(0)
                now = time.monotonic()
                if now >= next_commit:
                    self._commit(consumer)
                    next_commit = now + settings.commit_interval_seconds
                if now >= next_publish:
                    self._publish(publisher)
                    next_publish = now + publish_every
                if now >= next_report:
                    self._report()
                    next_report = now + 10.0
                if not ready_told and on_ready is not None and self.ready():
                    on_ready()
                    ready_told = True
        finally:
            self._commit(consumer, asynchronous=False)
            consumer.close()
            remaining = publisher.flush(5.0)
            if remaining:
                log.warning("%d feature record(s) not delivered at shutdown", remaining)
            self._report()

    def _wait_for_topics(self, stop: threading.Event) -> bool:
        """Create the topics if missing, retrying until Kafka answers; False if stopped first.

        Retried, not fatal: under ACLs without ``Create`` the topics come from the platform
        (Strimzi's KafkaTopics) and may appear a moment after this pod starts.
        """
        # One client for every attempt: a new one each time would bootstrap again from nothing.
        # Made inside the try: a client the settings cannot build (a CA file not there yet) is
        # retried like an unreachable broker.
        admin: AdminClient | None = None
        delay = 0.5
        while not stop.is_set():
            self._tick()
            try:
                if admin is None:
                    admin = AdminClient(kafka.client_config(self.settings.kafka))
                ensure_pipeline_topics(self.settings.kafka, admin)
                return True
            except (KafkaException, TimeoutError) as exc:
                if self._errors.add():
                    log.warning("cannot create or check the topics yet: %s", exc)
            stop.wait(delay)
            delay = min(delay * 2, 10.0)
        return False

    def _report(self) -> None:
        with self.state.lock:
            self.state.pipeline.bad.report()
        if self._errors.take()[0]:
            log.warning(
                "kafka errors so far: %d (commit %d, publish %d)",
                self.state.stats.kafka_errors,
                self.state.stats.commit_errors,
                self.state.stats.publish_errors,
            )

    # --- probes and routes --------------------------------------------------------------------

    def _tick(self) -> None:
        self._tick_ns = time.monotonic_ns()

    def healthy(self) -> bool:
        """The Kafka loop made progress within ``alive_seconds`` (no lock: a loop stuck holding
        the pipeline's lock must still read as stuck)."""
        alive_ns = self.settings.consumer.alive_seconds * 1e9
        return time.monotonic_ns() - self._tick_ns < alive_ns

    def ready(self) -> bool:
        """Alive, assigned by the group and done replaying every assigned partition."""
        return self.healthy() and self.state.ready()

    def registry(self) -> CollectorRegistry:
        return consumer_registry(self.state)


# --- command line -------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-host", help="overrides LOBSTREAM_METRICS__HOST")
    parser.add_argument("--metrics-port", type=int, help="overrides LOBSTREAM_METRICS__PORT")


def run(args: argparse.Namespace) -> int:
    settings = load()
    settings.metrics = override(
        "metrics", settings.metrics, host=args.metrics_host, port=args.metrics_port
    )
    logging.getLogger().setLevel(settings.log_level)
    # A bad Kafka setting must stop start-up before anything listens or connects.
    kafka.client_config(settings.kafka)
    service = ConsumerService(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = MetricsServer(
        service.registry(),
        host=settings.metrics.host,
        port=settings.metrics.port,
        healthy=service.healthy,
        ready=service.ready,
        routes={"/book": lambda params: book_route(service.state, params)},
    )
    with server:
        try:
            service.run(stop, on_ready=lambda: log.info("caught up: ready"))
        except KafkaException as exc:
            log.error("consumer stopped by a Kafka error: %s", exc)
            return 1
    log.info("consumer stopped")
    return 0
