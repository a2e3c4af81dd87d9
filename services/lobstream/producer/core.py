"""The producer's decisions, without I/O: which records to write, when to snapshot, what to repair.

The asyncio layer (:mod:`lobstream.producer.service`) feeds it exchange events and the outcome
of every hand-over to Kafka (enqueued, dropped, delivered, failed) and writes the records it
returns.

The log invariant it maintains, per instrument: every book change in the raw topic chains to the
record before it (``prev_change_id`` equals the previous ``change_id``), or a snapshot follows
the break. A break has two sources:

- the exchange side (reconnect, gap): the exchange client resubscribes, and the exchange's own
  snapshot notification lands in the log like any other frame;
- the Kafka side (a record dropped because the local buffer was full, or a delivery that finally
  failed): the producer's own book is still complete, so a *repair snapshot* of it is written
  before the instrument's next book record (or at the next tick). If the producer's book is
  itself stale, the exchange snapshot that the client's resync brings does the repair.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from lobstream.book.orderbook import Applied, BookStats, OrderBook
from lobstream.logs import BurstLog
from lobstream.producer.stats import InstrumentStats, ProducerStats
from lobstream.records import (
    Headers,
    exchange_headers,
    moved_record,
    partition_for,
    snapshot_record,
)

log = logging.getLogger(__name__)

BOOK = "book"
"""The channel kind of incremental book notifications: the only ones that form a chain."""


class ReceivedEvent(Protocol):
    """What the producer reads from the exchange client's ``Received`` event."""

    @property
    def channel(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def instrument(self) -> str | None: ...
    @property
    def data(self) -> Any: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def received_ns(self) -> int: ...


@dataclass(slots=True)
class Record:
    """One record for the raw topic, with what the producer must know about its fate."""

    lane: Lane
    value: bytes
    headers: Headers
    chain: bool
    """Part of the instrument's incremental book chain: losing it breaks the chain."""
    snapshot: bool
    """Restarts the chain (an exchange snapshot or a producer-written one)."""
    written: bool = False
    """Written by the producer (a snapshot of its own book), not an exchange frame."""
    repair: bool = False
    """Written to repair the chain after a record was lost on the Kafka side."""
    partition: int | None = None
    """Where it goes, when not to the lane's partition (a move's records)."""
    move_to: int | None = None
    """Once Kafka's client took it, the lane's records go to this partition."""


@dataclass(slots=True, eq=False)
class Lane:
    """Per-key state: one instrument (or one instrument-less channel such as platform_state)."""

    name: str
    key: bytes
    stats: InstrumentStats
    book: OrderBook | None
    book_channel: str | None = None
    """The incremental book channel seen for this instrument; snapshots are written as it."""
    needs_repair: bool = False
    last_snapshot_ns: int = 0
    """Monotonic time the last snapshot (exchange or producer) was handed to Kafka."""
    fresh: bool = False
    """A notification arrived since the last (re)connect."""
    burst: BurstLog = field(default_factory=lambda: BurstLog(log))
    partition: int = -1
    """The raw-topic partition of this lane's records; -1 lets Kafka's client choose."""
    moving_to: int | None = None
    """A move waiting for the book to be whole (a snapshot must open the new partition)."""

    @property
    def in_sync(self) -> bool:
        book = self.book
        return book is not None and book.change_id is not None and not book.stale


@dataclass(slots=True)
class ProducerCore:
    """Books, snapshot schedule and repair state of every instrument of one producer."""

    instruments: list[str]
    snapshot_interval_ns: int
    stats: ProducerStats = field(default_factory=ProducerStats)
    lanes: dict[str, Lane] = field(default_factory=dict)
    partitions: int = 0
    """The raw topic's partition count as last seen; 0 before the first look."""
    _by_key: dict[bytes, Lane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.instruments:
            self._lane(name)

    # --- exchange events ----------------------------------------------------------------------

    def received(self, event: ReceivedEvent, now_ns: int) -> list[Record]:
        """The records for one notification: a pending repair snapshot first, then the frame.

        ``now_ns`` is monotonic time.
        """
        instrument = event.instrument
        lane = self._lane(instrument) if instrument else self._lane(event.channel, book=False)
        stats = lane.stats
        kind = event.kind
        stats.received[kind] = stats.received.get(kind, 0) + 1
        stats.last_receive_ns = event.received_ns
        lane.fresh = True
        headers = exchange_headers(event.channel, event.received_ns)
        if kind != BOOK or lane.book is None:
            return [Record(lane, event.raw, headers, chain=False, snapshot=False)]
        book = lane.book
        records: list[Record] = []
        if lane.needs_repair and lane.in_sync:
            # Before the book moves on: the snapshot must show the state this change builds on.
            channel = lane.book_channel or event.channel
            records.append(self._snapshot(lane, book, channel, event.received_ns, repair=True))
        data = event.data
        lane.book_channel = event.channel
        if not isinstance(data, dict):
            stats.book_not_object += 1
            return [*records, Record(lane, event.raw, headers, chain=True, snapshot=False)]
        applied = book.apply(data)
        if applied is Applied.GAP:
            stats.gaps += 1
        # By what the frame is, not by what our book made of it: a consumer restarts from it.
        snapshot = data.get("type") == "snapshot"
        records.append(Record(lane, event.raw, headers, chain=True, snapshot=snapshot))
        return records

    def connected(self) -> None:
        self.stats.connects += 1
        for lane in self.lanes.values():
            lane.fresh = False

    def disconnected(self) -> None:
        """Books are distrusted until the new session's snapshots, as the client does."""
        self.stats.disconnects += 1
        for lane in self.lanes.values():
            lane.fresh = False
            if lane.book is not None:
                lane.book.mark_stale()

    def resync(self, instrument: str) -> None:
        """The client saw the chain break: no snapshot of this book until the exchange's."""
        lane = self._lane(instrument)
        lane.stats.resyncs += 1
        if lane.book is not None:
            lane.book.mark_stale()

    @property
    def subscribed(self) -> bool:
        """Every configured instrument has had a notification since the last (re)connect."""
        return all(self.lanes[name].fresh for name in self.instruments)

    # --- the fate of records ------------------------------------------------------------------

    def enqueued(self, record: Record, now_ns: int) -> None:
        """Kafka's client accepted the record into its local buffer."""
        lane = record.lane
        lane.stats.produced += 1
        if record.snapshot:
            lane.last_snapshot_ns = now_ns
            lane.needs_repair = False
        if record.move_to is not None:
            lane.partition = record.move_to
            lane.moving_to = None
            self.stats.partition_moves += 1
        if record.written:
            lane.stats.snapshots_written += 1
            if record.repair:
                lane.stats.repairs += 1

    def dropped(self, record: Record) -> None:
        """The record will never reach Kafka."""
        lane = record.lane
        lane.stats.dropped += 1
        if record.chain:
            self._break(lane, "record dropped")

    def delivered(self, key: bytes | None) -> None:
        lane = self._lane_for_key(key)
        lane.stats.delivered += 1

    def unconfirmed(self, key: bytes | None) -> None:
        """Kafka reported a record of ``key`` delivered but gave no offset for it.

        librdkafka acknowledges a record implicitly when a later one of the same partition
        succeeds; a broker that accepted the later batch out of sequence never wrote the earlier
        one (KAFKA-15591). Nothing proves it is in the log, so it is repaired as a loss.
        """
        lane = self._lane_for_key(key)
        lane.stats.unconfirmed += 1
        if lane.book is not None:
            self._break(lane, "delivery acknowledged without an offset")

    def delivery_failed(self, key: bytes | None) -> None:
        """Kafka gave up on a record of ``key``.

        Delivery reports carry no headers, so which channel the record was on is unknown: any
        loss of an instrument with a book is repaired (at worst one snapshot too many).
        """
        lane = self._lane_for_key(key)
        lane.stats.delivery_failures += 1
        if lane.book is not None:
            self._break(lane, "delivery failed")

    # --- snapshots ------------------------------------------------------------------------------

    def snapshots_due(self, now_ns: int, wall_ns: int) -> list[Record]:
        """Repair snapshots still pending, and periodic ones whose interval has passed.

        ``now_ns`` is monotonic time, ``wall_ns`` the time since the epoch for the headers.
        """
        due: list[Record] = []
        for lane in self.lanes.values():
            book = lane.book
            channel = lane.book_channel
            if book is not None and channel is None and lane.moving_to is not None:
                # An instrument without a book chain: its move waits only for Kafka's buffer.
                due.append(self._moved_marker(lane, lane.moving_to, wall_ns, switch=True))
                continue
            if book is None or channel is None or not lane.in_sync:
                continue
            if lane.moving_to is not None:
                due += self._move(lane, book, channel, lane.moving_to, wall_ns)
            elif lane.needs_repair:
                due.append(self._snapshot(lane, book, channel, wall_ns, repair=True))
            elif now_ns - lane.last_snapshot_ns >= self.snapshot_interval_ns:
                due.append(self._snapshot(lane, book, channel, wall_ns, repair=False))
        return due

    def book_stats(self) -> dict[str, BookStats]:
        """The counters of the producer's own book, per instrument (refusals by reason)."""
        return {name: lane.book.stats for name, lane in self.lanes.items() if lane.book is not None}

    def change_ids(self) -> dict[str, int | None]:
        return {
            name: lane.book.change_id for name, lane in self.lanes.items() if lane.book is not None
        }

    # --- partitions -----------------------------------------------------------------------------

    def repartition(self, partitions: int, wall_ns: int) -> list[Record]:
        """The raw topic has ``partitions`` now: the records that move lanes whose partition
        changes (a moved record on the old partition, then a snapshot on the new one).

        A lane whose book is not whole moves once it is (:meth:`snapshots_due`); a lane without
        a book chain moves at once. Records enqueued later follow the lanes' partitions.
        """
        first = self.partitions == 0
        self.partitions = partitions
        records: list[Record] = []
        for lane in self.lanes.values():
            target = partition_for(lane.key, partitions)
            if first or lane.partition < 0:
                lane.partition = target
                continue
            if target == lane.partition or lane.book is None:
                # A lane without a book is not an instrument (platform_state): no state to move.
                lane.partition = target
                lane.moving_to = None
                continue
            lane.moving_to = target
            book, channel = lane.book, lane.book_channel
            if channel is None:
                records.append(self._moved_marker(lane, target, wall_ns, switch=True))
            elif lane.in_sync:
                records += self._move(lane, book, channel, target, wall_ns)
        return records

    def _move(
        self, lane: Lane, book: OrderBook, channel: str, target: int, wall_ns: int
    ) -> list[Record]:
        """The marker closes the old partition, then a snapshot opens the new one.

        Enqueue them in order and in one go: the snapshot is the book now. If Kafka's buffer
        refuses either, the lane stays put and the next tick tries again (a repeated marker is
        harmless to a consumer).
        """
        marker = self._moved_marker(lane, target, wall_ns, switch=False)
        snapshot = self._snapshot(lane, book, channel, wall_ns, repair=False)
        snapshot.partition = snapshot.move_to = target
        return [marker, snapshot]

    def _moved_marker(self, lane: Lane, target: int, wall_ns: int, *, switch: bool) -> Record:
        """The record on the lane's current partition saying it continues on ``target``;
        ``switch``: the lane moves once it is taken (a lane without a chain to open)."""
        value, headers = moved_record(lane.name, target, wall_ns)
        record = Record(lane, value, headers, chain=False, snapshot=False)
        record.partition = lane.partition
        if switch:
            record.move_to = target
        return record

    # --- internals ------------------------------------------------------------------------------

    def _snapshot(
        self, lane: Lane, book: OrderBook, channel: str, wall_ns: int, *, repair: bool
    ) -> Record:
        # The exchange time of the last change applied: the time the snapshot's state was true.
        data = book.snapshot_data(book.timestamp or 0)
        value, headers = snapshot_record(channel, data, wall_ns)
        return Record(lane, value, headers, chain=True, snapshot=True, written=True, repair=repair)

    def _break(self, lane: Lane, why: str) -> None:
        lane.needs_repair = True
        # A Kafka outage fails thousands of records in a row: one line per burst.
        lane.burst.log(
            time.monotonic(),
            logging.WARNING,
            "%s: %s on the Kafka side; a repair snapshot will follow",
            lane.name,
            why,
        )

    def _lane(self, name: str, *, book: bool = True) -> Lane:
        lane = self.lanes.get(name)
        if lane is None:
            key = name.encode()
            lane = Lane(name, key, self.stats.instrument(name), OrderBook(name) if book else None)
            if self.partitions:
                lane.partition = partition_for(key, self.partitions)
            self.lanes[name] = lane
            self._by_key[key] = lane
        return lane

    def _lane_for_key(self, key: bytes | None) -> Lane:
        lane = self._by_key.get(key or b"")
        if lane is None:
            # Only records this process wrote come back; keep counting rather than fail.
            lane = self._lane((key or b"").decode(errors="replace"), book=False)
        return lane
