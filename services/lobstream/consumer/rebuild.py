"""Where a consumer starts reading a partition so its books are whole again. No I/O.

A book can only be rebuilt from a snapshot (the exchange's ``type: snapshot`` notification or a
snapshot record the producer wrote), so after a start or a partition assignment the consumer reads
from the newest snapshot before its committed offset up to that offset without publishing or
committing anything ("replay"), then carries on normally.

To find that snapshot without scanning the log, every offset commit carries a small metadata
string (Kafka stores it with the offset): the offset of the newest snapshot of each instrument on
the partition, and the timestamp of the last applied record. When it is missing (a new group, a
commit by another tool) or too large to store, the consumer falls back to a time look-back:
``offsets_for_times(timestamp - lookback)`` with a look-back of about twice the producer's
snapshot interval. Instruments that still find no snapshot stay stale until the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import orjson

METADATA_VERSION: Final = 1
METADATA_MAX_BYTES: Final = 4000
"""Below the broker's default ``offset.metadata.max.bytes`` (4096)."""


@dataclass(frozen=True, slots=True)
class CommitMetadata:
    """What a commit records next to the offset."""

    timestamp_ms: int | None = None
    snapshots: dict[str, int] = field(default_factory=dict)
    """Instrument -> offset of its newest snapshot record before the committed offset."""


def encode_metadata(meta: CommitMetadata) -> str:
    """The metadata string; drops the snapshot offsets if they would not fit."""
    doc: dict[str, object] = {"v": METADATA_VERSION, "ts": meta.timestamp_ms}
    if meta.snapshots:
        doc["snap"] = meta.snapshots
    text = orjson.dumps(doc).decode()
    if len(text) > METADATA_MAX_BYTES:
        text = orjson.dumps({"v": METADATA_VERSION, "ts": meta.timestamp_ms}).decode()
    return text


def decode_metadata(text: str | None) -> CommitMetadata | None:
    """Parse a metadata string; None for anything this version did not write."""
    if not text:
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("v") != METADATA_VERSION:
        return None
    ts = doc.get("ts")
    snap = doc.get("snap") or {}
    if not isinstance(snap, dict):
        return None
    snapshots = {
        str(name): offset
        for name, offset in snap.items()
        if isinstance(offset, int) and offset >= 0
    }
    return CommitMetadata(ts if isinstance(ts, int) else None, snapshots)


@dataclass(frozen=True, slots=True)
class PartitionStart:
    """The outcome of planning one partition.

    Read from ``start``; records below ``resume`` are replayed (applied, never published, never
    committed); an instrument's records below ``skip_before[instrument]`` precede its snapshot
    and are passed over.
    """

    start: int
    resume: int
    skip_before: dict[str, int]
    reason: str


def needs_time_lookup(committed: int, meta: CommitMetadata | None) -> bool:
    """Whether :func:`plan_start` needs an ``offsets_for_times`` answer."""
    return committed < 0 or meta is None or not meta.snapshots


def lookup_timestamp_ms(meta: CommitMetadata | None, now_ms: int, lookback_ms: int) -> int:
    """The timestamp to ask ``offsets_for_times`` for."""
    base = meta.timestamp_ms if meta is not None and meta.timestamp_ms is not None else now_ms
    return max(0, base - lookback_ms)


def plan_start(
    *,
    committed: int,
    meta: CommitMetadata | None,
    low: int,
    high: int,
    offset_for_time: int | None,
) -> PartitionStart:
    """Plan where to read one partition from.

    ``committed`` is the group's committed offset (negative: none), ``low``/``high`` the
    partition's watermarks, ``offset_for_time`` the answer of ``offsets_for_times`` for
    :func:`lookup_timestamp_ms` (negative or None: no record that recent).
    A group without a committed offset starts at the end of the log, rebuilt from the look-back:
    a new consumer wants the current book, not the whole retention.
    """
    resume = committed if committed >= 0 else high
    resume = min(max(resume, low), high)
    if meta is not None and meta.snapshots:
        kept = {name: off for name, off in meta.snapshots.items() if low <= off < resume}
        if kept:
            return PartitionStart(min(kept.values()), resume, kept, "snapshot offsets")
    if offset_for_time is None or offset_for_time < 0:
        return PartitionStart(resume, resume, {}, "nothing in the look-back: next snapshot")
    start = min(max(offset_for_time, low), resume)
    return PartitionStart(start, resume, {}, "time look-back")
