"""What a Deribit session hands to its user: market data and connection-state changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One ``subscription`` notification.

    ``raw`` is the frame exactly as it came off the WebSocket (the producer writes these bytes to
    Kafka); ``received_ns`` is ``time.time_ns()`` when it was read. ``kind`` is the channel kind
    from :func:`lobstream.deribit.protocol.parse_channel` (``book``, ``grouped_book``, ``ticker``,
    ``trades``, ``platform_state``, ...).
    """

    channel: str
    kind: str
    instrument: str | None
    data: Any
    raw: bytes
    received_ns: int


@dataclass(frozen=True, slots=True)
class Resync:
    """An instrument's incremental book broke its ``change_id`` chain; a snapshot was requested.

    The local book of ``instrument`` is unusable until the next ``snapshot`` on ``channel``.
    """

    instrument: str
    reason: str
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Connected:
    """A WebSocket connection is open; the session is (re)subscribing."""

    url: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection is gone; every book is stale until its channel sends a new snapshot."""

    reason: str


@dataclass(frozen=True, slots=True)
class Maintenance:
    """``platform_state`` announced the start (``active``) or the end of maintenance."""

    active: bool


Event = Received | Resync | Connected | Disconnected | Maintenance
