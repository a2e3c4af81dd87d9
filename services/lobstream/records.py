"""The raw topic's record format, shared by the producer and the consumer.

- key: the instrument name (UTF-8), so one instrument's records keep their order on one partition;
  notifications without an instrument (``platform_state``) use the channel name.
- value: the exchange's frame exactly as received, so any later version can replay the log; or,
  for records the producer writes itself, a frame of the same shape (a ``subscription``
  notification whose ``data`` is a book snapshot).
- headers: when the frame was received (ns since the epoch), its channel, and its source.
- partition: :func:`partition_for` the key and the topic's partition count, chosen by the
  producer itself, so an instrument changes partition only when the producer moves it (a
  snapshot on the new partition first, a :data:`MOVED_CHANNEL` record on the old one).
"""

from __future__ import annotations

import zlib
from typing import Any, Final

import orjson

HEADER_RECEIVED_NS: Final = "lobstream.received_ns"
HEADER_CHANNEL: Final = "lobstream.channel"
HEADER_SOURCE: Final = "lobstream.source"

SOURCE_EXCHANGE: Final = b"exchange"
SOURCE_SNAPSHOT: Final = b"snapshot"
SOURCE_MOVED: Final = b"moved"

MOVED_CHANNEL: Final = "lobstream.moved"
"""The channel of the producer's record saying an instrument continues on another partition."""

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
    return _written(channel, data, received_ns, SOURCE_SNAPSHOT)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``: CRC-32 modulo the count.

    The same placement as librdkafka's default partitioner (``consistent_random``) for keyed
    records, so topics written before the producer chose partitions itself keep their layout.
    """
    return zlib.crc32(key) % partitions


def moved_record(instrument: str, partition: int, received_ns: int) -> tuple[bytes, Headers]:
    """The value and headers of the record saying ``instrument`` continues on ``partition``."""
    data = {"instrument_name": instrument, "partition": partition}
    return _written(MOVED_CHANNEL, data, received_ns, SOURCE_MOVED)


def _written(
    channel: str, data: dict[str, Any], received_ns: int, source: bytes
) -> tuple[bytes, Headers]:
    """A record the producer writes itself, shaped like an exchange notification."""
    frame = {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }
    headers = [
        (HEADER_RECEIVED_NS, str(received_ns).encode()),
        (HEADER_CHANNEL, channel.encode()),
        (HEADER_SOURCE, source),
    ]
    return orjson.dumps(frame), headers
