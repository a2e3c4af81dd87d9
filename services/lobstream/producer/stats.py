"""The producer's counters, kept as plain ints; :mod:`lobstream.producer.metrics` reads them.

Everything here is written by the producer's event-loop thread (and, during the final flush, by
the thread that flushes) and read by the metrics HTTP thread; an int read is atomic under the GIL,
so a scrape sees each counter at some recent value and never blocks the hot path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class InstrumentStats:
    """Counters of one instrument (or, for notifications without one, of one channel)."""

    received: dict[str, int] = field(default_factory=dict)
    """Notifications received, by channel kind (book, ticker, trades, ...)."""
    produced: int = 0
    """Records handed to the Kafka client (exchange frames and snapshots)."""
    delivered: int = 0
    delivery_failures: int = 0
    unconfirmed: int = 0
    """Deliveries Kafka reported without error but without an offset: treated as lost."""
    dropped: int = 0
    """Records never handed to Kafka: local buffer full under drop-and-resync, or shutdown."""
    snapshots_written: int = 0
    """Producer-written snapshot records handed to Kafka (periodic and repairs)."""
    repairs: int = 0
    """Repair snapshots: written because a record of the book chain was lost on the Kafka side."""
    gaps: int = 0
    """Book changes that did not chain in the producer's own book."""
    resyncs: int = 0
    """Resyncs the exchange client reported (continuity broke, fresh snapshot requested)."""
    book_not_object: int = 0
    """Book notifications whose data was not an object (the book's own stats count the rest)."""
    last_receive_ns: int = 0
    """Wall-clock time of the last notification, ns since the epoch (0: none yet)."""


@dataclass(slots=True)
class ProducerStats:
    """All counters of one producer process."""

    instruments: dict[str, InstrumentStats] = field(default_factory=dict)
    connects: int = 0
    disconnects: int = 0
    kafka_errors: dict[str, int] = field(default_factory=dict)
    """Client-level Kafka errors reported through error_cb, by error name."""
    blocked_ns: int = 0
    """Time spent with the WebSocket reader stopped because Kafka's buffer was full."""
    blocked_since_ns: int = 0
    """Monotonic time the current block began (0: not blocked)."""
    maintenance: bool = False
    partition_moves: int = 0
    """Instruments moved to another raw-topic partition after its partition count grew."""

    def instrument(self, name: str) -> InstrumentStats:
        stats = self.instruments.get(name)
        if stats is None:
            stats = self.instruments[name] = InstrumentStats()
        return stats

    def blocked_seconds(self) -> float:
        """Total time blocked, including a block still in progress."""
        total = self.blocked_ns
        if self.blocked_since_ns:
            total += time.monotonic_ns() - self.blocked_since_ns
        return total / 1e9
