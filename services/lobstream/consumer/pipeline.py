"""The consumer's core: raw-topic records in, books and features out. No I/O.

:class:`Pipeline` owns one :class:`InstrumentState` (book + features) per instrument seen on an
assigned partition, and one :class:`PartitionState` per assigned partition (where reading resumes,
what has been applied, where the newest snapshot of each instrument is). The Kafka loop in
:mod:`lobstream.consumer.service` feeds it records and asks it what to commit; it never commits
an offset below the one it started from, and a record is only reported as applied once it was.

Books, features and the channel rule live in a :class:`~lobstream.book.router.Router`, the same
one ``lobstream replay`` and the benchmark run; the pipeline adds what only a consumer of Kafka
records needs (keys, partitions, replays, snapshot offsets). Per record the cost is one
``orjson.loads``, the envelope read, a memoised route and the book/feature update. Bad records
only bump a counter and remember the first example; the loop logs them once per burst (see
:class:`BadRecords`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from lobstream.book.features import Features
from lobstream.book.orderbook import Applied
from lobstream.book.router import (
    BOOK,
    IGNORED,
    PLATFORM,
    UNKNOWN,
    NotNotification,
    Router,
    subscription,
)
from lobstream.consumer.rebuild import CommitMetadata, PartitionStart
from lobstream.logs import Tally
from lobstream.records import MOVED_CHANNEL
from lobstream.settings import FeatureSettings

log = logging.getLogger(__name__)

_loads = orjson.loads
_DecodeError = orjson.JSONDecodeError
_CHANGE = Applied.CHANGE
_BOOK = BOOK
_IGNORED = IGNORED
_PLATFORM = PLATFORM
_UNKNOWN = UNKNOWN

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
        "features",
        "name",
        "partition",
        "snapshot_offset",
    )

    def __init__(self, name: str, partition: int, features: Features) -> None:
        self.name = name
        self.partition = partition
        self.features = features
        self.book = features.book
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
    moved_out: set[str] = field(default_factory=set)
    """Instruments that continue on another partition: their records left here are older."""

    @property
    def replaying(self) -> bool:
        return self.next_offset < self.resume

    def commit_offset(self) -> int | None:
        """The offset to commit now, or None when there is nothing new past ``resume``."""
        if self.next_offset < self.resume or self.next_offset <= self.committed:
            return None
        return self.next_offset


class Pipeline:
    """Applies raw-topic records to per-instrument books and features."""

    def __init__(self, features: FeatureSettings) -> None:
        self.router = Router(features)
        self._routes = self.router.routes
        self.instruments: dict[str, InstrumentState] = {}
        self.partitions: dict[int, PartitionState] = {}
        self.bad = BadRecords()
        self.records = 0
        self.replayed = 0
        self.skipped_before_snapshot = 0
        self.foreign = 0
        """Records of partitions not assigned (fetched just before a revocation)."""
        self.moves = 0
        """Instruments moved to another partition (the raw topic grew)."""
        self.superseded = 0
        """Records of an instrument left on the partition it moved away from (older than the
        snapshot that opened its new partition), skipped."""
        self.maintenance = False

    @property
    def ignored(self) -> int:
        """Records of channels the features do not use, or of a second book channel."""
        return self.router.ignored

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
            self.router.drop(name)
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
            channel, data = subscription(_loads(value))
        except _DecodeError:
            self.bad.add("not_json", partition, offset)
            return
        except NotNotification:
            self.bad.add("not_notification", partition, offset)
            return
        try:
            route = self._routes[channel]
        except KeyError:
            route = self.router.route(channel)
        kind = route.kind
        if kind is _UNKNOWN:
            if channel == MOVED_CHANNEL:
                self._on_moved(data, part)
                return
            self.bad.add("unknown_channel", partition, offset)
            return
        if kind is _PLATFORM:
            self._on_platform(data)
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
            if kind is _BOOK and type(data) is dict and data.get("type") == "snapshot":
                # The producer opens an instrument's new partition with a snapshot of its book.
                state = self._move(instrument, state, part)
                route = self.router.route(channel)
            elif instrument in part.moved_out:
                self.superseded += 1
                return
            else:
                # One instrument, one key, one partition at a time: else a foreign writer.
                self.bad.add("wrong_key", partition, offset)
                return
        if kind is _IGNORED:
            route.apply(data)  # counted by the router
            return
        if type(data) is not dict:
            self.bad.add("bad_data", partition, offset)
            return
        result = route.apply(data)
        if kind is _BOOK and result is not None:
            book = state.book
            if (
                result is not _CHANGE
                and not book.stale
                and data.get("type") != "change"
                and book.change_id == data.get("change_id")
            ):
                # A snapshot (or a re-sent one equal to the book) is a restart point.
                state.snapshot_offset = offset

    def _add_instrument(self, name: str, part: PartitionState) -> InstrumentState:
        state = InstrumentState(name, part.partition, self.router.features_of(name))
        self.instruments[name] = state
        part.instruments.add(name)
        return state

    def _move(self, name: str, state: InstrumentState, part: PartitionState) -> InstrumentState:
        """``name`` continues on ``part``: a fresh state there (the snapshot fills it)."""
        self._moved_away(state)
        part.moved_out.discard(name)
        return self._add_instrument(name, part)

    def _moved_away(self, state: InstrumentState) -> None:
        """Forget an instrument's state; its partition now skips the records it has left."""
        old = self.partitions.get(state.partition)
        if old is not None:
            old.instruments.discard(state.name)
            old.moved_out.add(state.name)
        del self.instruments[state.name]
        self.router.drop(state.name)
        self.moves += 1

    def _on_moved(self, data: Any, part: PartitionState) -> None:
        """The producer's marker: an instrument continues on another partition.

        If that partition is ours, its snapshot moves the book (until then this one is exact:
        the marker follows the instrument's last record here). If not, another member serves
        it, so the book is dropped rather than left to go old.
        """
        if type(data) is not dict:
            return
        name, target = data.get("instrument_name"), data.get("partition")
        state = self.instruments.get(name) if type(name) is str else None
        if state is None or state.partition != part.partition or target in self.partitions:
            return
        self._moved_away(state)

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
