"""The consumer's Prometheus metrics and its ``/book`` route, read from its state at scrape time.

Both read a :class:`~lobstream.consumer.state.ConsumerState` under its lock, never the service:
nothing here runs per message, and nothing here needs Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from lobstream.book.catalogue import metric_families
from lobstream.consumer.pipeline import BAD_REASONS
from lobstream.consumer.state import ConsumerState
from lobstream.http import CallbackCollector, counter, gauge

INSTRUMENT = ("instrument",)


class ConsumerCollector:
    """Turns the consumer's state into metric families at scrape time."""

    def __init__(self, state: ConsumerState, prefix: str = "lobstream") -> None:
        self._state = state
        self._p = prefix.rstrip("_") + "_"

    def collect(self) -> Iterable[Metric]:
        with self._state.lock:
            return list(self._families())

    def _families(self) -> Iterator[Metric]:
        p = self._p
        state = self._state
        pipeline = state.pipeline
        states = sorted(pipeline.instruments.values(), key=lambda s: s.name)
        snapshots = {s.name: s.features.snapshot() for s in states}
        for family in metric_families(snapshots):
            yield gauge(p + family.name, family.help, family.labels, family.samples)
        yield gauge(
            p + "book_change_id",
            "change_id of the last book update applied.",
            INSTRUMENT,
            {(s.name,): s.book.change_id for s in states},
        )
        yield gauge(
            p + "book_stale",
            "1 while the book waits for a snapshot (after a gap or before the first).",
            INSTRUMENT,
            {(s.name,): float(s.book.stale) for s in states},
        )
        yield gauge(
            p + "book_levels",
            "Price levels in the book, both sides.",
            INSTRUMENT,
            {(s.name,): len(s.book.bids) + len(s.book.asks) for s in states},
        )
        book_counters = (
            ("book_gaps", "gaps", "Book changes whose prev_change_id broke the chain."),
            ("book_snapshots", "snapshots", "Snapshots applied (exchange or producer)."),
            ("book_duplicates", "duplicates", "Re-delivered book updates ignored."),
            ("book_stale_ignored", "stale_ignored", "Changes ignored while the book was stale."),
            ("book_bad_entries", "bad_entries", "Bad book entries skipped."),
        )
        for name, attr, doc in book_counters:
            yield counter(
                p + name, doc, INSTRUMENT, {(s.name,): getattr(s.book.stats, attr) for s in states}
            )
        yield counter(
            p + "records_consumed",
            "Raw records applied, by instrument.",
            INSTRUMENT,
            {(s.name,): s.records for s in states},
        )
        yield counter(
            p + "records_bad",
            "Raw records skipped as bad, by reason.",
            ("reason",),
            {(reason,): pipeline.bad.total[reason] for reason in BAD_REASONS},
        )
        yield counter(
            p + "records_replayed",
            "Records re-read to rebuild books after an assignment (not published, not committed).",
            (),
            {(): pipeline.replayed},
        )
        yield gauge(
            p + "exchange_maintenance",
            "1 while the exchange's platform_state announced maintenance.",
            (),
            {(): float(pipeline.maintenance)},
        )
        yield gauge(
            p + "consumer_lag",
            "Records in the partition not yet consumed (librdkafka statistics, every 5 s).",
            ("partition",),
            {(str(part),): lag for part, lag in state.stats.lag.items()},
        )
        yield gauge(
            p + "partition_replaying",
            "1 while an assigned partition is being replayed to rebuild its books.",
            ("partition",),
            {(str(n),): float(part.replaying) for n, part in pipeline.partitions.items()},
        )
        stats = state.stats
        for name, value, doc in (
            ("offset_commits", stats.commits, "Offset commits that succeeded."),
            ("offset_commit_errors", stats.commit_errors, "Offset commits that failed."),
            ("features_published", stats.published, "Feature records delivered."),
            ("features_publish_errors", stats.publish_errors, "Feature records not delivered."),
            ("kafka_errors", stats.kafka_errors, "Errors reported by the Kafka client."),
            ("rebalances", stats.assignments + stats.revocations, "Assignments and revocations."),
        ):
            yield counter(p + name, doc, (), {(): value})
        yield state.latency.family(p + "e2e_latency_seconds")


def consumer_registry(state: ConsumerState, prefix: str = "lobstream") -> CollectorRegistry:
    """A registry holding the consumer's families, read from ``state`` at every scrape."""
    registry = CollectorRegistry()
    registry.register(CallbackCollector(ConsumerCollector(state, prefix).collect))
    return registry


def book_route(state: ConsumerState, params: dict[str, str]) -> tuple[int, bytes, str]:
    """``/book?instrument=NAME[&depth=K]``: the book as JSON, both sides best first."""
    name = params.get("instrument")
    if not name:
        return 400, b'{"error":"instrument missing"}\n', "application/json"
    try:
        depth = int(params.get("depth", "0"))
    except ValueError:
        return 400, b'{"error":"depth must be an integer"}\n', "application/json"
    with state.lock:
        instrument = state.pipeline.instruments.get(name)
        if instrument is None:
            return 404, b'{"error":"instrument not on this replica"}\n', "application/json"
        book = instrument.book
        k = depth if depth > 0 else len(book.bids) + len(book.asks)
        doc = {
            "instrument": name,
            "change_id": book.change_id,
            "stale": book.stale,
            "timestamp": book.timestamp,
            "bids": book.top_bids(k),
            "asks": book.top_asks(k),
        }
    return 200, orjson.dumps(doc), "application/json"
