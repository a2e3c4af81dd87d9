"""The raw topic's record format, shared by the producer and the consumer.

- key: the instrument name (UTF-8), so one instrument's records keep their order on one partition;
  notifications without an instrument (``platform_state``) use the channel name.
- value: the exchange's frame exactly as received, so any later version can replay the log; or,
  for records the producer writes itself, a frame of the same shape (a ``subscription``
  notification whose ``data`` is a book snapshot).
- headers: when the frame was received (ns since the epoch), its channel, and its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

HEADER_RECEIVED_NS: Final = "lobstream.received_ns"
HEADER_CHANNEL: Final = "lobstream.channel"
HEADER_SOURCE: Final = "lobstream.source"

SOURCE_EXCHANGE: Final = b"exchange"
SOURCE_SNAPSHOT: Final = b"snapshot"

Headers = list[tuple[str, bytes]]


def exchange_headers(channel: str, received_ns: int) -> Headers:
    """Headers of a record carrying an exchange frame."""
    return [
        (HEADER_RECEIVED_NS, str(received_ns).encode()),
        (HEADER_CHANNEL, channel.encode()),
        (HEADER_SOURCE, SOURCE_EXCHANGE),
    ]


def snapshot_record(channel: str, data: dict[str, Any], received_ns: int) -> tuple[bytes, Headers]:
    """The value and headers of a producer-written book snapshot of ``channel``."""
    frame = {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }
    headers = [
        (HEADER_RECEIVED_NS, str(received_ns).encode()),
        (HEADER_CHANNEL, channel.encode()),
        (HEADER_SOURCE, SOURCE_SNAPSHOT),
    ]
    return orjson.dumps(frame), headers


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What a consumer reads from a record's headers; missing headers read as None."""

    received_ns: int | None
    channel: str | None
    source: bytes | None


def read_headers(headers: list[tuple[str, bytes]] | None) -> RecordMeta:
    """Parse a record's headers; tolerant of foreign or missing ones."""
    received_ns: int | None = None
    channel: str | None = None
    source: bytes | None = None
    for name, value in headers or ():
        if value is None:
            continue
        if name == HEADER_RECEIVED_NS:
            try:
                received_ns = int(value)
            except ValueError:
                received_ns = None
        elif name == HEADER_CHANNEL:
            channel = value.decode(errors="replace")
        elif name == HEADER_SOURCE:
            source = value
    return RecordMeta(received_ns, channel, source)
