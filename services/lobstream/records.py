"""The raw topic's record format, shared by the producer and the consumer.

- key: the instrument name (UTF-8), so one instrument's records keep their order on one partition;
  notifications without an instrument (``platform_state``) use the channel name.
- value: the exchange's frame exactly as received, so any later version can replay the log; or,
  for records the producer writes itself, a frame of the same shape (a ``subscription``
  notification whose ``data`` is a book snapshot).
- headers: when the frame was received (ns since the epoch), its channel, and its source.
"""

from __future__ import annotations

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
