"""Reading the raw topic's record headers back, as a consumer of the log would (tests only)."""

from __future__ import annotations

from dataclasses import dataclass

from lobstream.records import HEADER_CHANNEL, HEADER_RECEIVED_NS, HEADER_SOURCE


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
