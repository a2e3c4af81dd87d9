"""The consumer's core: raw-topic records in, books and features out. No I/O.

:class:`Pipeline` owns one :class:`InstrumentState` (book + features) per instrument seen on an
assigned partition, and one :class:`PartitionState` per assigned partition (where reading resumes,
what has been applied, where the newest snapshot of each instrument is). The Kafka loop in
:mod:`lobstream.consumer.service` feeds it records and asks it what to commit; it never commits
an offset below the one it started from, and a record is only reported as applied once it was.

Per record the cost is one ``orjson.loads``, a memoised channel parse, a dict dispatch on the
channel kind and the book/feature update. Bad records only bump a counter and remember the first
example; the loop logs them once per burst (see :class:`BadRecords`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from lobstream.book.features import Features
from lobstream.book.orderbook import Applied, OrderBook
from lobstream.consumer.rebuild import CommitMetadata, PartitionStart
from lobstream.deribit.protocol import parse_channel
from lobstream.logs import Tally
from lobstream.settings import FeatureSettings

log = logging.getLogger(__name__)

_loads = orjson.loads
_DecodeError = orjson.JSONDecodeError
_CHANGE = Applied.CHANGE

BAD_REASONS = (
    "not_json",
    "not_notification",
    "unknown_channel",
    "wrong_key",
    "bad_data",
)


class BadRecords:
    """Bad records counted by reason; the loop logs them once per burst with the first example."""

    __slots__ = ("burst", "total")

    def __init__(self) -> None:
        self.total: dict[str, int] = dict.fromkeys(BAD_REASONS, 0)
        self.burst = Tally()

    def add(self, reason: str, partition: int, offset: int) -> None:
        self.total[reason] += 1
        self.burst.add(reason, partition, offset)

    def report(self) -> None:
        """Log the burst so far (once) and start a new one."""
        count, first = self.burst.take()
        if count:
            log.warning(
                "skipped %d bad raw record(s) (first: %s at partition %s offset %s); totals %s",
                count,
                *first,
                {reason: n for reason, n in self.total.items() if n},
            )


class InstrumentState:
    """One instrument's book, features and counters."""

    __slots__ = (
        "book",
        "book_channel",
        "features",
        "name",
        "partition",
        "records",
        "snapshot_offset",
    )

    def __init__(self, name: str, partition: int, features: FeatureSettings) -> None:
        self.name = name
        self.partition = partition
        self.book = OrderBook(name)
        self.features = Features(self.book, features)
        self.book_channel: str | None = None
        """The one book channel that feeds the book (the first seen), as in FeatureEngine."""
        self.records = 0
        self.snapshot_offset: int | None = None
        """Offset of the newest record that leaves this book whole on its own (a snapshot)."""


@dataclass(slots=True)
class PartitionState:
    """Progress through one assigned partition."""

    partition: int
    resume: int
    """Records below this offset are replayed: applied, never published, never committed."""
    skip_before: dict[str, int] = field(default_factory=dict)
    next_offset: int = -1
    """One past the last applied record; -1 before the first."""
    committed: int = -1
    last_timestamp_ms: int | None = None
    instruments: set[str] = field(default_factory=set)

    @property
    def replaying(self) -> bool:
        return self.next_offset < self.resume

    def commit_offset(self) -> int | None:
        """The offset to commit now, or None when there is nothing new past ``resume``."""
        if self.next_offset < self.resume or self.next_offset <= self.committed:
            return None
        return self.next_offset


Handler = Callable[[InstrumentState, str, Any, PartitionState, int], None]

MAX_ROUTES = 10_000
"""Channel names remembered; a topic full of junk names must not grow memory without bound."""


@dataclass(frozen=True, slots=True)
class Route:
    """What a channel name means, worked out once per name."""

    handler: Handler | None
    kind: str
    instrument: str
    key: bytes
    """The record key an instrument's records must carry."""


class Pipeline:
    """Applies raw-topic records to per-instrument books and features."""

    def __init__(self, features: FeatureSettings) -> None:
        self.feature_settings = features
        self.instruments: dict[str, InstrumentState] = {}
        self.partitions: dict[int, PartitionState] = {}
        self.bad = BadRecords()
        self.records = 0
        self.replayed = 0
        self.skipped_before_snapshot = 0
        self.foreign = 0
        """Records of partitions not assigned (fetched just before a revocation)."""
        self.ignored = 0
        """Records of channels the features do not use, or of a second book channel."""
        self.maintenance = False
        self._routes: dict[str, Route] = {}
        self._handlers: dict[str, Handler] = {
            "book": self._on_book,
            "grouped_book": self._on_book,
            "ticker": self._on_ticker,
            "trades": self._on_other,
            "quote": self._on_other,
            "perpetual": self._on_other,
        }

    # --- assignment ---------------------------------------------------------------------------

    def assign(self, partition: int, plan: PartitionStart) -> None:
        """Start tracking ``partition`` from ``plan`` (drops any earlier state of it)."""
        self.revoke(partition)
        state = PartitionState(partition, plan.resume, dict(plan.skip_before))
        state.next_offset = plan.start
        state.committed = plan.resume
        self.partitions[partition] = state

    def revoke(self, partition: int) -> list[str]:
        """Stop tracking ``partition``; returns the instruments whose state was dropped."""
        state = self.partitions.pop(partition, None)
        if state is None:
            return []
        for name in state.instruments:
            self.instruments.pop(name, None)
        return sorted(state.instruments)

    @property
    def caught_up(self) -> bool:
        """True when no assigned partition is still replaying."""
        return not any(state.replaying for state in self.partitions.values())

    # --- records ------------------------------------------------------------------------------

    def apply(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        """Apply one record; bad records are counted, never raised."""
        try:
            part = self.partitions[partition]
        except KeyError:
            self.foreign += 1
            return
        part.next_offset = offset + 1
        self.records += 1
        if offset < part.resume:
            self.replayed += 1
        if value is None:
            self.bad.add("not_notification", partition, offset)
            return
        try:
            doc = _loads(value)
        except _DecodeError:
            self.bad.add("not_json", partition, offset)
            return
        try:
            params = doc["params"]
            name = params["channel"]
            data = params["data"]
            method = doc["method"]
        except (TypeError, KeyError, IndexError):
            self.bad.add("not_notification", partition, offset)
            return
        if method != "subscription" or type(name) is not str:
            self.bad.add("not_notification", partition, offset)
            return
        try:
            route = self._routes[name]
        except KeyError:
            route = self._route(name)
        handler = route.handler
        if handler is None:
            if route.kind == "platform_state":
                self._on_platform(data)
            else:
                self.bad.add("unknown_channel", partition, offset)
            return
        if key != route.key:
            self.bad.add("wrong_key", partition, offset)
            return
        instrument = route.instrument
        if part.skip_before:
            skip = part.skip_before.get(instrument)
            if skip is not None and offset < skip:
                self.skipped_before_snapshot += 1
                return
        try:
            state = self.instruments[instrument]
        except KeyError:
            state = self._add_instrument(instrument, part)
        if state.partition != partition:
            # One instrument, one key, one partition: a second partition means a foreign writer.
            self.bad.add("wrong_key", partition, offset)
            return
        state.records += 1
        handler(state, name, data, part, offset)

    def _route(self, name: str) -> Route:
        channel = parse_channel(name)
        instrument = channel.instrument
        handler = self._handlers.get(channel.kind) if instrument is not None else None
        route = Route(handler, channel.kind, instrument or "", (instrument or "").encode())
        if len(self._routes) < MAX_ROUTES:
            self._routes[name] = route
        return route

    def _add_instrument(self, name: str, part: PartitionState) -> InstrumentState:
        state = InstrumentState(name, part.partition, self.feature_settings)
        self.instruments[name] = state
        part.instruments.add(name)
        return state

    def _on_book(
        self, state: InstrumentState, channel: str, data: Any, part: PartitionState, offset: int
    ) -> None:
        if state.book_channel != channel:
            if state.book_channel is not None:
                # A second book channel for one instrument would fight over one book.
                self.ignored += 1
                return
            state.book_channel = channel
        if type(data) is not dict:
            self.bad.add("bad_data", part.partition, offset)
            return
        result = state.features.update(data)
        book = state.book
        if (
            result is not _CHANGE
            and not book.stale
            and data.get("type") != "change"
            and book.change_id == data.get("change_id")
        ):
            # A snapshot (or a re-sent one equal to the book) is a restart point.
            state.snapshot_offset = offset

    def _on_ticker(
        self, state: InstrumentState, channel: str, data: Any, part: PartitionState, offset: int
    ) -> None:
        if type(data) is not dict:
            self.bad.add("bad_data", part.partition, offset)
            return
        state.features.on_ticker(data)

    def _on_other(
        self, state: InstrumentState, channel: str, data: Any, part: PartitionState, offset: int
    ) -> None:
        # Known channels the features do not use (trades, quote, perpetual): counted, not bad.
        self.ignored += 1

    def _on_platform(self, data: Any) -> None:
        if type(data) is dict and "maintenance" in data:
            self.maintenance = bool(data["maintenance"])

    # --- commits ------------------------------------------------------------------------------

    def commit_metadata(self, part: PartitionState) -> CommitMetadata:
        """Where this partition's snapshots are, for the next consumer to start from."""
        snapshots = {
            name: state.snapshot_offset
            for name in part.instruments
            if (state := self.instruments.get(name)) is not None
            and state.snapshot_offset is not None
        }
        return CommitMetadata(part.last_timestamp_ms, snapshots)
