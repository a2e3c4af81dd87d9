"""The simulator's counters: plain ints, read by tests and logged at shutdown."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class SimulatorStats:
    connections_opened: int = 0
    connections_closed: int = 0
    connections_refused: int = 0
    slow_disconnects: int = 0  # a client's outbound queue was full
    heartbeat_disconnects: int = 0  # a client did not answer a test_request
    requests: int = 0
    errors: int = 0
    internal_errors: int = 0  # a bug in the simulator; answered with -32603 and logged
    book_changes: int = 0
    market_lag_resets: int = 0  # the market loop fell a second behind its rate and skipped ahead
    drops: int = 0
    gaps: int = 0
    stalls: int = 0
    malformed: int = 0
    rejections: int = 0
    maintenance: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
