"""Read a raw topic back and check every instrument's change_id chain in it.

The raw topic's promise (docs/producer.md): per instrument, in log order, every incremental book
change chains to the record before it (``prev_change_id`` equals the previous ``change_id``), or
the chain broke and a snapshot follows before the next usable change. Producer-written snapshots
of an intact chain must equal the book replayed from the log up to them.

:func:`check_chains` works on any list of :class:`LogRecord` (from :class:`TopicReader`, or built
in memory by a unit test); the consumer's tests can reuse both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from lobstream.book.orderbook import OrderBook
from lobstream.deribit.protocol import parse_channel
from lobstream.records import SOURCE_SNAPSHOT
from tests.plugins.records import read_headers


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record of the topic, as a checker needs it."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int = 0
    offset: int = 0

    @property
    def frame(self) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.value)
        return doc

    @property
    def channel(self) -> str | None:
        return read_headers(self.headers).channel

    @property
    def from_producer(self) -> bool:
        return read_headers(self.headers).source == SOURCE_SNAPSHOT


@dataclass(slots=True)
class Break:
    """Where a chain broke: the record at ``index`` did not chain to ``expected_prev``.

    A snapshot that jumps over missing updates is a break repaired at once (``repaired_by`` is
    its own index, ``prev_change_id`` None): the book is right again, but updates were lost.
    """

    index: int
    expected_prev: int | None
    prev_change_id: int | None
    repaired_by: int | None = None
    """Index of the snapshot that restarted the chain, None if none followed."""


@dataclass(slots=True)
class ChainReport:
    """What one instrument's book records in the log amount to."""

    instrument: str
    changes: int = 0
    """Changes that chained (applied to the replayed book)."""
    exchange_snapshots: int = 0
    producer_snapshots: int = 0
    leading_changes: int = 0
    """Changes before the instrument's first snapshot (unusable: the log must start with one)."""
    duplicates: int = 0
    """Changes whose change_id was not above the chain's: the same update twice."""
    breaks: list[Break] = field(default_factory=list)
    snapshot_mismatches: list[int] = field(default_factory=list)
    """Indexes of producer snapshots of an intact chain that differ from the replayed book, and
    of snapshots that go back behind the chain."""
    change_ids: list[int] = field(default_factory=list)
    """change_id of every record that extended or restarted the chain, in log order."""
    book: OrderBook | None = None
    """The book replayed from the log (None before the first snapshot)."""

    @property
    def unrepaired(self) -> list[Break]:
        return [b for b in self.breaks if b.repaired_by is None]

    @property
    def last_change_id(self) -> int | None:
        return self.change_ids[-1] if self.change_ids else None

    def assert_sound(self) -> None:
        """The log promise: breaks only where a snapshot follows, no duplicates, true snapshots."""
        assert self.leading_changes == 0, f"{self.instrument}: changes before the first snapshot"
        assert self.duplicates == 0, f"{self.instrument}: {self.duplicates} duplicated changes"
        assert not self.unrepaired, f"{self.instrument}: breaks without a snapshot after them"
        assert not self.snapshot_mismatches, (
            f"{self.instrument}: producer snapshots differ from the replayed book at "
            f"{self.snapshot_mismatches}"
        )

    def assert_complete(self) -> None:
        """Sound, and not a single break: no update lost anywhere in the log."""
        self.assert_sound()
        assert not self.breaks, f"{self.instrument}: chain broken at {self.breaks}"


def book_records(records: Iterable[LogRecord]) -> dict[str, list[LogRecord]]:
    """Incremental book records per instrument, in log order."""
    out: dict[str, list[LogRecord]] = {}
    for record in records:
        channel = record.channel
        if channel is None or parse_channel(channel).kind != "book" or record.key is None:
            continue
        out.setdefault(record.key.decode(), []).append(record)
    return out


def check_chains(records: Iterable[LogRecord]) -> dict[str, ChainReport]:
    """A :class:`ChainReport` per instrument with incremental book records."""
    return {name: check_chain(name, recs) for name, recs in book_records(records).items()}


def check_chain(instrument: str, records: list[LogRecord]) -> ChainReport:
    report = ChainReport(instrument)
    last: int | None = None
    broken: Break | None = None
    book: OrderBook | None = None
    for index, record in enumerate(records):
        data = record.frame["params"]["data"]
        change_id = data["change_id"]
        if data.get("type") == "snapshot":
            if record.from_producer:
                report.producer_snapshots += 1
            else:
                report.exchange_snapshots += 1
            if broken is None and last is not None and change_id != last:
                # The snapshot jumps over updates that are not in the log: lost, but repaired.
                broken = Break(index, last, None)
                report.breaks.append(broken)
                if change_id < last:
                    report.snapshot_mismatches.append(index)
            elif (
                broken is None
                and book is not None
                and record.from_producer
                and not _same(book, data)
            ):
                report.snapshot_mismatches.append(index)
            if broken is not None:
                broken.repaired_by = index
                broken = None
            book = OrderBook(instrument)
            book.apply(data)
            last = change_id
            report.change_ids.append(change_id)
            continue
        if last is None:
            report.leading_changes += 1
            continue
        if broken is not None:
            continue
        if change_id <= last:
            report.duplicates += 1
            continue
        prev = data.get("prev_change_id")
        if prev != last:
            broken = Break(index, last, prev)
            report.breaks.append(broken)
            continue
        assert book is not None
        book.apply(data)
        last = change_id
        report.changes += 1
        report.change_ids.append(change_id)
    report.book = book
    return report


def _same(book: OrderBook, snapshot: dict[str, Any]) -> bool:
    written = OrderBook(book.instrument)
    written.apply(snapshot)
    return written.levels() == book.levels()


def duplicate_frames(records: Iterable[LogRecord]) -> int:
    """Exchange frames that appear more than once, byte for byte (any channel)."""
    seen: set[bytes] = set()
    dupes = 0
    for record in records:
        if record.from_producer:
            continue
        if record.value in seen:
            dupes += 1
        seen.add(record.value)
    return dupes


class TopicReader:
    """Reads a whole topic from the beginning, incrementally, with a fresh throwaway consumer."""

    def __init__(self, bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self.records: list[LogRecord] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"logcheck-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                **(config or {}),
            }
        )
        self._assigned = False

    def _assign(self, deadline: float) -> None:
        while not self._assigned:
            try:
                meta = self._consumer.list_topics(self.topic, timeout=5)
            except KafkaException:
                meta = None
            topic = meta.topics.get(self.topic) if meta is not None else None
            if topic is not None and topic.error is None and topic.partitions:
                self._consumer.assign(
                    [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in topic.partitions]
                )
                self._assigned = True
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {self.topic} did not appear")
            time.sleep(0.2)

    def poll(self, seconds: float = 1.0) -> int:
        """Read what arrives within ``seconds``; returns how many records were added."""
        deadline = time.monotonic() + seconds
        self._assign(deadline + 30)
        added = 0
        while time.monotonic() < deadline:
            batch = self._consumer.consume(10_000, timeout=0.2)
            for msg in batch:
                # End-of-partition events are off: any error is a broken read, never a skip.
                error = msg.error()
                assert error is None, f"reading {self.topic}: {error}"
                self.records.append(
                    LogRecord(
                        msg.key(), msg.value(), msg.headers() or [], msg.partition(), msg.offset()
                    )
                )
                added += 1
        return added

    def wait_for(
        self, condition: Callable[[list[LogRecord]], bool], timeout: float, what: str = ""
    ) -> list[LogRecord]:
        """Read until ``condition(records)`` holds; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll(0.5)
            if condition(self.records):
                return self.records
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or condition}: "
                    f"{len(self.records)} records read"
                )

    def wait_for_chains(
        self, condition: Callable[[dict[str, ChainReport]], bool], timeout: float, what: str
    ) -> dict[str, ChainReport]:
        """Read until ``condition`` holds for the chain reports of what was read; returns them."""
        self.wait_for(lambda records: condition(check_chains(records)), timeout, what)
        return check_chains(self.records)

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def last_change_ids(records: Iterable[LogRecord]) -> dict[str, int | None]:
    """The last change_id each instrument's chain reached in ``records``."""
    return {name: report.last_change_id for name, report in check_chains(records).items()}
