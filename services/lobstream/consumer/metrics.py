"""The consumer's Prometheus metrics and its ``/book`` route, read from its state at scrape time.

Both read a :class:`~lobstream.consumer.state.ConsumerState` under its lock, never the service:
nothing here runs per message, and nothing here needs Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from lobstream import telemetry as t
from lobstream.book.catalogue import metric_families
from lobstream.book.router import TICKER
from lobstream.consumer.pipeline import BAD_REASONS, InstrumentState
from lobstream.consumer.state import ConsumerState
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


class ConsumerCollector:
    """Turns the consumer's state into metric families at scrape time."""

    def __init__(self, state: ConsumerState) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        ready = self._state.ready()  # takes the lock itself
        with self._state.lock:
            families = list(self._families())
        families.append(t.C_READY.metric({(): float(ready)}))
        return families

    def _families(self) -> Iterator[Metric]:
        state = self._state
        pipeline = state.pipeline
        states = sorted(pipeline.instruments.values(), key=lambda s: s.name)
        snapshots = {s.name: s.features.snapshot() for s in states}
        for family in metric_families(snapshots):
            yield t.FEATURE_BY_METRIC[family.name].metric(family.samples)
        yield from self._books(states, pipeline.router.book_kinds())
        bad = pipeline.bad.total
        yield t.C_RECORDS_REJECTED.metric({(reason,): bad[reason] for reason in BAD_REASONS})
        yield t.C_RECORDS_IGNORED.metric({(): pipeline.ignored})
        yield t.C_RECORDS_REPLAYED.metric({(): pipeline.replayed})
        yield t.C_INSTRUMENTS_MOVED.metric({(): pipeline.moves})
        yield t.C_RECORDS_SUPERSEDED.metric({(): pipeline.superseded})
        yield t.C_MAINTENANCE.metric({(): float(pipeline.maintenance)})
        yield t.C_PARTITION_LAG.metric({(str(p),): lag for p, lag in state.stats.lag.items()})
        parts = sorted(pipeline.partitions.items())
        yield t.C_PARTITION_REPLAYING.metric({(str(n),): float(p.replaying) for n, p in parts})
        yield t.C_PARTITION_INSTRUMENTS.metric(
            {(str(n), name): 1.0 for n, p in parts for name in sorted(p.instruments)}
        )
        stats = state.stats
        yield t.C_COMMITS.metric({(): stats.commits})
        yield t.C_COMMIT_ERRORS.metric({(): stats.commit_errors})
        yield t.C_PUBLISHED.metric({(): stats.published})
        yield t.C_PUBLISH_ERRORS.metric({(): stats.publish_errors})
        yield t.C_KAFKA_ERRORS.metric({(): stats.kafka_errors})
        yield t.C_REBALANCES.metric({(): stats.assignments + stats.revocations})
        yield state.latency.family(t.C_E2E_LATENCY)

    def _books(self, states: list[InstrumentState], kinds: dict[str, str]) -> Iterator[Metric]:
        now = time.time()
        one = {(s.name,): s for s in states}
        yield t.C_BOOK_CHANGE_ID.metric({k: s.book.change_id for k, s in one.items()})
        yield t.C_BOOK_STALE.metric({k: float(s.book.stale) for k, s in one.items()})
        levels: dict[tuple[str, ...], float | None] = {}
        for s in states:
            levels[(s.name, "bid")] = len(s.book.bids)
            levels[(s.name, "ask")] = len(s.book.asks)
        yield t.C_BOOK_LEVELS.metric(levels)
        updated: dict[tuple[str, ...], float] = {
            k: s.book.timestamp / 1000 for k, s in one.items() if s.book.timestamp
        }
        yield t.C_BOOK_LAST_UPDATE.metric(updated)
        yield t.C_BOOK_AGE.metric({k: max(now - when, 0.0) for k, when in updated.items()})
        yield t.C_BOOK_GAPS.metric({k: s.book.stats.gaps for k, s in one.items()})
        yield t.C_BOOK_SNAPSHOTS.metric({k: s.book.stats.snapshots for k, s in one.items()})
        applied: dict[tuple[str, ...], float | None] = {}
        rejected: dict[tuple[str, ...], float | None] = {}
        entries: dict[tuple[str, ...], float | None] = {}
        for s in states:
            book = s.book.stats
            kind = kinds.get(s.name)
            if kind is not None:
                applied[(s.name, kind)] = book.snapshots + book.changes
            features = s.features
            good_tickers = features.ticker_messages - features.ticker_malformed
            applied[(s.name, TICKER)] = good_tickers - features.ticker_non_numeric
            for channel, reason, attr in MESSAGE_REASONS:
                if channel is None:
                    if kind is not None:
                        rejected[(s.name, kind, reason)] = getattr(book, attr)
                else:
                    rejected[(s.name, channel, reason)] = getattr(features, attr)
            for reason, attr in ENTRY_REASONS:
                entries[(s.name, reason)] = getattr(book, attr)
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
