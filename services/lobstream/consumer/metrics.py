"""The consumer's Prometheus metrics and its ``/book`` route, read from its state at scrape time.

Both read a :class:`~lobstream.consumer.state.ConsumerState` under its lock, never the service:
nothing here runs per message, and nothing here needs Kafka.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from lobstream import telemetry as t
from lobstream.book.catalogue import Snapshot, metric_families
from lobstream.book.orderbook import BookStats
from lobstream.book.router import TICKER
from lobstream.consumer.latency import LatencyHistogram
from lobstream.consumer.pipeline import BAD_REASONS
from lobstream.consumer.state import ConsumerState, ConsumerStats
from lobstream.http import CallbackCollector

MESSAGE_REASONS = (
    # (channel kind or None for the book's, reason, BookStats or Features attribute)
    (None, "malformed", "malformed_messages"),
    (None, "duplicate", "duplicates"),
    (None, "stale", "stale_ignored"),
    (TICKER, "malformed", "ticker_malformed"),
    (TICKER, "non_numeric", "ticker_non_numeric"),
)
ENTRY_REASONS = (
    ("malformed", "malformed_entries"),
    ("unknown_delete", "unknown_deletes"),
    ("bad_amount", "bad_amounts"),
    ("crossed", "crossed"),
)


HOLD_SECONDS = 0.0005
"""How long a scrape reads instruments before it lets the Kafka loop have the lock."""


@dataclass(slots=True)
class _Reading:
    """What a scrape exports of one instrument, copied under the state lock."""

    name: str
    kind: str | None
    snapshot: Snapshot
    change_id: int | None
    stale: bool
    levels: tuple[int, int]
    timestamp: int | None
    stats: BookStats
    tickers: tuple[int, int, int]
    """Ticker notifications: received, malformed, non-numeric."""


@dataclass(slots=True)
class _Totals:
    """What a scrape exports of the loop and the partitions, copied under the state lock."""

    names: list[str]
    bad: dict[str, int]
    ignored: int
    replayed: int
    moves: int
    superseded: int
    maintenance: bool
    lag: dict[int, int]
    partitions: list[tuple[int, bool, list[str]]]
    stats: ConsumerStats
    latency: LatencyHistogram

    @classmethod
    def read(cls, state: ConsumerState) -> _Totals:
        """The copy; the caller holds the lock."""
        pipeline = state.pipeline
        stats = copy.copy(state.stats)
        stats.lag = dict(stats.lag)
        latency = copy.copy(state.latency)
        latency.buckets = list(latency.buckets)
        return cls(
            sorted(pipeline.instruments),
            dict(pipeline.bad.total),
            pipeline.ignored,
            pipeline.replayed,
            pipeline.moves,
            pipeline.superseded,
            pipeline.maintenance,
            stats.lag,
            [(n, p.replaying, list(p.instruments)) for n, p in pipeline.partitions.items()],
            stats,
            latency,
        )

    def families(self) -> Iterator[Metric]:
        bad = self.bad
        yield t.C_RECORDS_REJECTED.metric({(reason,): bad[reason] for reason in BAD_REASONS})
        yield t.C_RECORDS_IGNORED.metric({(): self.ignored})
        yield t.C_RECORDS_REPLAYED.metric({(): self.replayed})
        yield t.C_INSTRUMENTS_MOVED.metric({(): self.moves})
        yield t.C_RECORDS_SUPERSEDED.metric({(): self.superseded})
        yield t.C_MAINTENANCE.metric({(): float(self.maintenance)})
        yield t.C_PARTITION_LAG.metric({(str(p),): lag for p, lag in self.lag.items()})
        parts = sorted(self.partitions)
        yield t.C_PARTITION_REPLAYING.metric({(str(n),): float(r) for n, r, _ in parts})
        yield t.C_PARTITION_INSTRUMENTS.metric(
            {(str(n), name): 1.0 for n, _, names in parts for name in sorted(names)}
        )
        stats = self.stats
        yield t.C_COMMITS.metric({(): stats.commits})
        yield t.C_COMMIT_ERRORS.metric({(): stats.commit_errors})
        yield t.C_PUBLISHED.metric({(): stats.published})
        yield t.C_PUBLISH_ERRORS.metric({(): stats.publish_errors})
        yield t.C_KAFKA_ERRORS.metric({(): stats.kafka_errors})
        yield t.C_REBALANCES.metric({(): stats.assignments + stats.revocations})
        yield self.latency.family(t.C_E2E_LATENCY)


class ConsumerCollector:
    """Turns the consumer's state into metric families at scrape time.

    The Kafka loop applies records under the same lock, so a scrape holds it only to copy plain
    values: once for the totals, then for about :data:`HOLD_SECONDS` at a time while it reads
    the instruments, so the loop waits about that long, not for the whole scrape. The families
    are built outside it.
    Values of one instrument are consistent with each other; two instruments may be read a
    batch apart, as two scrapes would be.
    """

    def __init__(self, state: ConsumerState) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        ready = self._state.ready()  # takes the lock itself
        with self._state.lock:
            totals = _Totals.read(self._state)
        readings = self._read(totals.names)
        snapshots = {r.name: r.snapshot for r in readings}
        families = [
            t.FEATURE_BY_METRIC[f.name].metric(f.samples) for f in metric_families(snapshots)
        ]
        families += self._books(readings)
        families += totals.families()
        families.append(t.C_READY.metric({(): float(ready)}))
        return families

    def _read(self, names: list[str]) -> list[_Reading]:
        state = self._state
        pipeline = state.pipeline
        lock = state.lock
        readings = []
        lock.acquire()
        try:
            since = time.perf_counter()
            for name in names:
                if time.perf_counter() - since > HOLD_SECONDS:
                    lock.release()
                    # Released is not handed over: without yielding the GIL this thread takes
                    # the lock again before the waiting loop thread has woken.
                    time.sleep(0)
                    lock.acquire()
                    since = time.perf_counter()
                s = pipeline.instruments.get(name)
                if s is None:  # revoked since the names were read
                    continue
                book = s.book
                features = s.features
                readings.append(
                    _Reading(
                        name,
                        pipeline.router.book_kind(name),
                        features.snapshot(),
                        book.change_id,
                        book.stale,
                        (len(book.bids), len(book.asks)),
                        book.timestamp,
                        copy.copy(book.stats),
                        (
                            features.ticker_messages,
                            features.ticker_malformed,
                            features.ticker_non_numeric,
                        ),
                    )
                )
        finally:
            lock.release()
        return readings

    def _books(self, readings: list[_Reading]) -> Iterator[Metric]:
        now = time.time()
        one = {(r.name,): r for r in readings}
        yield t.C_BOOK_CHANGE_ID.metric({k: r.change_id for k, r in one.items()})
        yield t.C_BOOK_STALE.metric({k: float(r.stale) for k, r in one.items()})
        levels: dict[tuple[str, ...], float | None] = {}
        for r in readings:
            levels[(r.name, "bid")], levels[(r.name, "ask")] = r.levels
        yield t.C_BOOK_LEVELS.metric(levels)
        updated: dict[tuple[str, ...], float] = {
            k: r.timestamp / 1000 for k, r in one.items() if r.timestamp
        }
        yield t.C_BOOK_LAST_UPDATE.metric(updated)
        yield t.C_BOOK_AGE.metric({k: max(now - when, 0.0) for k, when in updated.items()})
        yield t.C_BOOK_GAPS.metric({k: r.stats.gaps for k, r in one.items()})
        yield t.C_BOOK_SNAPSHOTS.metric({k: r.stats.snapshots for k, r in one.items()})
        applied: dict[tuple[str, ...], float | None] = {}
        rejected: dict[tuple[str, ...], float | None] = {}
        entries: dict[tuple[str, ...], float | None] = {}
        for r in readings:
            book = r.stats
            if r.kind is not None:
                applied[(r.name, r.kind)] = book.snapshots + book.changes
            received, malformed, non_numeric = r.tickers
            applied[(r.name, TICKER)] = received - malformed - non_numeric
            ticker_refused = {"ticker_malformed": malformed, "ticker_non_numeric": non_numeric}
            for channel, reason, attr in MESSAGE_REASONS:
                if channel is None:
                    if r.kind is not None:
                        rejected[(r.name, r.kind, reason)] = getattr(book, attr)
                else:
                    rejected[(r.name, channel, reason)] = ticker_refused[attr]
            for reason, attr in ENTRY_REASONS:
                entries[(r.name, reason)] = getattr(book, attr)
        yield t.C_RECORDS_APPLIED.metric(applied)
        yield t.C_MESSAGES_REJECTED.metric(rejected)
        yield t.C_ENTRIES_REJECTED.metric(entries)


def consumer_registry(state: ConsumerState) -> CollectorRegistry:
    """A registry holding the consumer's families, read from ``state`` at every scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CallbackCollector(ConsumerCollector(state).collect))
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
