"""``lobstream producer``: Deribit notifications into the Kafka raw topic.

One asyncio loop runs three tasks around :class:`~lobstream.producer.core.ProducerCore` (no I/O):

- the pump reads the exchange client's events and hands each record to librdkafka;
- the ticker serves delivery reports (``poll(0)``) every few milliseconds and writes the snapshots
  the core says are due (periodic ones and repairs);
- the probe asks Kafka for the raw topic's metadata every few seconds, so readiness knows Kafka
  answers even when nothing is being delivered.

librdkafka's local queue (``buffer_max_messages``) is the bounded buffer. When it is full the
``backpressure`` setting decides: ``block`` stops reading the client's bounded queue until there
is room (so the WebSocket reader stops too), ``drop-and-resync`` drops the record, counts it and
repairs the instrument's chain in the log with a snapshot as soon as Kafka takes records again.
See docs/producer.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata  # type: ignore[attr-defined]
from prometheus_client import CollectorRegistry

from lobstream import kafka
from lobstream.deribit.client import DeribitClient
from lobstream.deribit.events import Connected, Disconnected, Maintenance, Received, Resync
from lobstream.http import CallbackCollector, MetricsServer
from lobstream.logs import LIBRDKAFKA_LOGGER, BurstLog
from lobstream.producer.core import ProducerCore, Record
from lobstream.producer.metrics import Gauges, collect
from lobstream.settings import Settings, load

log = logging.getLogger(__name__)
T = TypeVar("T")
kafka_log = logging.getLogger(LIBRDKAFKA_LOGGER)

TICK_SECONDS = 0.02
"""How often delivery reports are served and due snapshots written."""
PROBE_SECONDS = 5.0
"""How often Kafka's metadata is requested for readiness."""
REACHABLE_SECONDS = 3 * PROBE_SECONDS
"""Kafka counts as reachable this long after its last answer (a delivery or metadata)."""
ALIVE_SECONDS = 10.0
"""/healthz fails when the event loop has not ticked for this long."""
POLL_EVERY = 1_000
"""The pump also serves delivery reports after this many records, for high rates."""


class ProducerService:
    """The producer process: exchange client, core, Kafka producer, HTTP endpoints."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        p = settings.producer
        self.topic = settings.kafka.raw_topic
        self.block = p.backpressure == "block"
        self.core = ProducerCore(
            list(settings.deribit.instruments), int(p.snapshot_interval_seconds * 1e9)
        )
        self.stats = self.core.stats
        self.kafka = Producer(
            {
                **kafka.producer_config(settings.kafka),
                "logger": kafka_log,
                "message.timeout.ms": int(p.delivery_timeout_seconds * 1000),
                # The topic is created by ensure_topics with the configured partitions; a
                # broker's auto-creation would pick its own defaults.
                "allow.auto.create.topics": False,
                "on_delivery": self._on_delivery,
                "error_cb": self._on_kafka_error,
            }
        )
        self.client: DeribitClient | None = None
        self.exit_code = 0
        self._stop = asyncio.Event()
        self._topic_ready = asyncio.Event()
        self._blocked = False
        self._since_poll = 0
        self._tick_ns = time.monotonic_ns()
        self._kafka_ok_ns = 0
        self._kafka_down_ns = 0
        self._grown_at: float | None = None
        self._bursts: dict[str, BurstLog] = {}
        self._handlers: dict[type, Callable[[Any], None]] = {
            Connected: self._on_connected,
            Disconnected: self._on_disconnected,
            Resync: self._on_resync,
            Maintenance: self._on_maintenance,
        }
        registry = CollectorRegistry(auto_describe=False)
        gauges = Gauges(
            kafka_buffer=self.kafka.__len__,
            kafka_buffer_capacity=settings.kafka.buffer_max_messages,
            client_queue=self._client_queue,
            kafka_reachable=self.kafka_reachable,
            subscribed=lambda: self.core.subscribed,
            ready=self.ready,
            change_ids=self.core.change_ids,
            book_stats=self.core.book_stats,
            session=lambda: self.client.stats if self.client else None,
            partitions=lambda: self.core.partitions,
        )
        registry.register(CallbackCollector(lambda: collect(self.stats, gauges)))
        self.http = MetricsServer(
            registry,
            host=settings.metrics.host,
            port=settings.metrics.port,
            healthy=self.healthy,
            ready=self.ready,
        )

    # --- probes (called from the HTTP thread) -------------------------------------------------

    def healthy(self) -> bool:
        """The event loop is turning."""
        return time.monotonic_ns() - self._tick_ns < ALIVE_SECONDS * 1e9

    def kafka_reachable(self) -> bool:
        ok = self._kafka_ok_ns
        return (
            ok > 0
            and ok > self._kafka_down_ns
            and time.monotonic_ns() - ok < REACHABLE_SECONDS * 1e9
        )

    def ready(self) -> bool:
        """Subscribed to every instrument and Kafka answers."""
        return self.healthy() and self.core.subscribed and self.kafka_reachable()

    def _client_queue(self) -> tuple[int, int] | None:
        client = self.client
        return None if client is None else (client.queue_depth, client.queue_capacity)

    # --- running ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Begin a graceful shutdown (safe to call more than once)."""
        if not self._stop.is_set():
            log.info("stopping: no more reading, flushing to Kafka")
        self._stop.set()

    async def run(self) -> int:
        """Stream until :meth:`stop`; returns the exit code."""
        grace = self.settings.producer.shutdown_grace_seconds
        self.http.start()
        ticker = asyncio.create_task(self._ticker(), name="ticker")
        probe = asyncio.create_task(self._probe(), name="kafka-probe")
        pump = asyncio.create_task(self._stream(), name="pump")
        stopped = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            await asyncio.wait({pump, stopped}, return_when=asyncio.FIRST_COMPLETED)
            deadline = time.monotonic() + grace
            if pump.done():
                self._pump_ended(pump)
            else:
                pump.cancel()
                # Closing the WebSocket is part of the grace period; it must not eat all of it.
                await asyncio.wait({pump}, timeout=max(grace / 4, 0.1))
            for task in (ticker, probe, stopped):
                task.cancel()
            await asyncio.gather(ticker, probe, stopped, return_exceptions=True)
            return await self._flush(deadline)
        finally:
            self.http.stop()

    def _pump_ended(self, pump: asyncio.Task[None]) -> None:
        exc = pump.exception()
        if exc is not None:
            log.error("exchange stream failed: %r", exc, exc_info=exc)
            self.exit_code = 1
        elif not self._stop.is_set():
            log.error("exchange stream ended unexpectedly")
            self.exit_code = 1

    async def _flush(self, deadline: float) -> int:
        remaining = max(deadline - time.monotonic(), 0.0)
        # flush() serves delivery reports on its own thread; nothing else touches the core now.
        left = await off_loop(self.kafka.flush, remaining)
        totals = {
            name: sum(getattr(s, name) for s in self.stats.instruments.values())
            for name in ("produced", "delivered", "unconfirmed", "delivery_failures", "dropped")
        }
        if left:
            log.error(
                "stopped with %d records not delivered after %.1fs of grace (%s)",
                left,
                self.settings.producer.shutdown_grace_seconds,
                totals,
            )
            return 1
        log.info("stopped, everything flushed (%s)", totals)
        return self.exit_code

    async def _stream(self) -> None:
        await self._ensure_topic()
        client = DeribitClient(self.settings.deribit)
        self.client = client
        async with client:
            received = Received
            handlers = self._handlers
            core = self.core
            async for event in client:
                if type(event) is received:
                    for record in core.received(event, time.monotonic_ns()):
                        if not self._enqueue(record):
                            await self._full(record)
                else:
                    handlers[type(event)](event)

    async def _ensure_topic(self) -> None:
        """Create the raw topic if missing, retrying until Kafka answers or we are stopped."""
        k = self.settings.kafka
        admin = AdminClient(kafka.client_config(k, logger=kafka_log))
        delay = 0.5
        while True:
            try:
                await off_loop(kafka.ensure_pipeline_topic, admin, k, "raw")
                self._kafka_ok_ns = time.monotonic_ns()
                self._topic_ready.set()
                return
            except (KafkaException, TimeoutError) as exc:
                self._warn("topic", "cannot create or check topic %s yet: %s", self.topic, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    # --- the hot path -------------------------------------------------------------------------

    def _enqueue(self, record: Record) -> bool:
        """Hand one record to librdkafka; False when its buffer is full."""
        try:
            partition = record.lane.partition if record.partition is None else record.partition
            self.kafka.produce(
                self.topic,
                record.value,
                record.lane.key,
                partition=partition,
                headers=cast(Any, record.headers),
            )
        except BufferError:
            return False
        except KafkaException as exc:
            # Not a full buffer (e.g. a record over message.max.bytes): it will never fit.
            self.core.dropped(record)
            self._warn("produce", "record for %s rejected by Kafka: %s", record.lane.name, exc)
            return True
        self.core.enqueued(record, time.monotonic_ns())
        self._since_poll += 1
        if self._since_poll >= POLL_EVERY:
            self._since_poll = 0
            self.kafka.poll(0)
        return True

    async def _full(self, record: Record) -> None:
        """librdkafka's buffer is full: wait for room (block) or drop the record."""
        if not self.block:
            self.core.dropped(record)
            self._warn("full", "Kafka's local buffer is full: dropping, the chain will be repaired")
            return
        self._warn("full", "Kafka's local buffer is full: exchange reading paused until it drains")
        self._blocked = True
        self.stats.blocked_since_ns = since = time.monotonic_ns()
        try:
            while True:
                # Waiting on librdkafka from here would stop the loop; the ticker polls it.
                await asyncio.sleep(TICK_SECONDS)
                if self._enqueue(record):
                    return
        except asyncio.CancelledError:
            self.core.dropped(record)
            raise
        finally:
            self._blocked = False
            self.stats.blocked_since_ns = 0
            waited = time.monotonic_ns() - since
            self.stats.blocked_ns += waited
            if waited > 1e9:
                log.info(
                    "Kafka takes records again; exchange reading resumes after %.1fs", waited / 1e9
                )

    # --- background tasks ---------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            self.kafka.poll(0)
            now = time.monotonic_ns()
            self._tick_ns = now
            if not self._blocked:
                # While blocked, the pump holds a record its book already applied: a snapshot
                # now would come before that record in the log.
                for record in self.core.snapshots_due(now, time.time_ns()):
                    if not self._enqueue(record):
                        break  # still due: tried again next tick
            await asyncio.sleep(TICK_SECONDS)

    async def _probe(self) -> None:
        # Only once the topic exists: its metadata is what is asked for.
        await self._topic_ready.wait()
        while True:
            try:
                metadata = await off_loop(self.kafka.list_topics, self.topic, PROBE_SECONDS)
                self._kafka_ok_ns = time.monotonic_ns()
                self._watch_partitions(metadata)
            except KafkaException as exc:
                self._warn("probe", "Kafka metadata request failed: %s", exc)
            await asyncio.sleep(PROBE_SECONDS)

    def _watch_partitions(self, metadata: ClusterMetadata) -> None:
        """Move the instruments whose partition changes when the raw topic grows."""
        topic = metadata.topics.get(self.topic)
        count = 0 if topic is None or topic.error is not None else len(topic.partitions)
        before = self.core.partitions
        if count <= before:
            return  # partitions are never removed
        now = time.monotonic()
        if before:
            if self._grown_at is None:
                self._grown_at = now
                log.info(
                    "raw topic %s grew from %d to %d partitions: instruments move in %.0fs, "
                    "once consumers have the new partitions",
                    self.topic,
                    before,
                    count,
                    self.settings.producer.partition_move_delay_seconds,
                )
            if now - self._grown_at < self.settings.producer.partition_move_delay_seconds:
                return
        if self._blocked:
            # The pump holds a record its book already applied: a snapshot now would come
            # before it in the log. The next probe moves.
            return
        self._grown_at = None
        records = self.core.repartition(count, time.time_ns())
        if before:
            log.info(
                "moving %d instruments to their partitions among %d",
                sum(1 for lane in self.core.lanes.values() if lane.moving_to is not None),
                count,
            )
        for record in records:
            if not self._enqueue(record):
                break  # the lanes still moving are tried again at the next tick

    # --- callbacks ----------------------------------------------------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._kafka_ok_ns = time.monotonic_ns()
            if not kafka.confirmed(msg):
                self.core.unconfirmed(msg.key())
                self._warn(
                    "unconfirmed",
                    "Kafka acknowledged a record of %s without an offset: counted as lost",
                    (msg.key() or b"").decode(errors="replace"),
                )
                return
            self.core.delivered(msg.key())
            return
        self.core.delivery_failed(msg.key())
        self._warn("delivery", "delivery to Kafka failed: %s", err)

    def _on_kafka_error(self, err: KafkaError) -> None:
        name = err.name()
        self.stats.kafka_errors[name] = self.stats.kafka_errors.get(name, 0) + 1
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._kafka_down_ns = time.monotonic_ns()
        if err.fatal():
            log.critical("fatal Kafka error, stopping: %s", err)
            self.exit_code = 1
            self.stop()
            return
        self._warn(f"kafka:{name}", "Kafka: %s", err)

    def _on_connected(self, event: Connected) -> None:
        self.core.connected()
        log.info("connected to %s", event.url)

    def _on_disconnected(self, event: Disconnected) -> None:
        self.core.disconnected()
        log.warning("disconnected from the exchange: %s", event.reason)

    def _on_resync(self, event: Resync) -> None:
        self.core.resync(event.instrument)
        self._warn(f"resync:{event.instrument}", "%s: resync (%s)", event.instrument, event.reason)

    def _on_maintenance(self, event: Maintenance) -> None:
        self.stats.maintenance = event.active
        log.warning("exchange maintenance %s", "began" if event.active else "ended")

    def _warn(self, kind: str, message: str, *args: object) -> None:
        burst = self._bursts.get(kind)
        if burst is None:
            burst = self._bursts[kind] = BurstLog(log)
        burst.log(time.monotonic(), logging.WARNING, message, *args)


def off_loop(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking librdkafka call on a daemon thread.

    Not the loop's default executor: ``asyncio.run`` joins those threads at exit, so a metadata
    or topic request stuck on an unreachable broker would stretch a shutdown far past its grace.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(cast(T, result))

    def work() -> None:
        try:
            result, error = fn(*args), None
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            # The loop is closed: nobody waits for this answer any more.
            return

    threading.Thread(target=work, name=getattr(fn, "__name__", "kafka"), daemon=True).start()
    return future


# --- the command --------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    """Settings come from the environment (LOBSTREAM_*); see docs/producer.md."""
    parser.epilog = "Settings: LOBSTREAM_DERIBIT__*, LOBSTREAM_KAFKA__*, LOBSTREAM_PRODUCER__*."


def run(args: argparse.Namespace) -> int:
    settings = load()
    logging.getLogger().setLevel(settings.log_level)
    return asyncio.run(_main(settings))


async def _main(settings: Settings) -> int:
    service = ProducerService(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop)
    try:
        return await service.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
