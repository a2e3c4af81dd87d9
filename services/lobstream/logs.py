"""Log a recurring problem once per burst instead of once per message; the CLI's log set-up.

One rule, :class:`Burst`: the first occurrence is logged, then nothing until ``quiet_seconds``
pass without one; the line that opens the next burst says how many were held back, so nothing
is silently swallowed. It comes in the shapes the services need:

- :class:`BurstLog` for lines a module writes itself (the book, the session, the producer);
- :class:`BurstFilter` for lines lobstream does not write (librdkafka's, per facility);
- :class:`Tally` for problems counted on the hot path (one integer add) and reported by a
  periodic caller with the first example (the consumer's bad records and Kafka errors).

:func:`install` is called by the CLI once; importing this module changes no logger.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Final

LIBRDKAFKA_LOGGER: Final = "lobstream.producer.librdkafka"
"""The logger librdkafka's own lines go to (the producer passes it to its Kafka clients)."""

QUIET_SECONDS: Final = 10.0


class Burst:
    """Whether an occurrence opens a burst, and how many the previous burst held back."""

    __slots__ = ("_last", "_quiet", "held")

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self._quiet = quiet_seconds
        self._last: float | None = None
        self.held = 0

    def occur(self, now: float) -> int | None:
        """None inside a burst (counted); else the number held back before: log now."""
        last, self._last = self._last, now
        if last is not None and now - last < self._quiet:
            self.held += 1
            return None
        held, self.held = self.held, 0
        return held


class BurstLog:
    """A logger's lines about one recurring problem, one per burst."""

    __slots__ = ("_burst", "_logger")

    def __init__(self, logger: logging.Logger, quiet_seconds: float = QUIET_SECONDS) -> None:
        self._logger = logger
        self._burst = Burst(quiet_seconds)

    @property
    def suppressed(self) -> int:
        """Occurrences held back in the current burst."""
        return self._burst.held

    def log(
        self, now: float, level: int, message: str, *args: object, exc_info: bool = False
    ) -> bool:
        """Log unless inside a burst; returns whether a line was written. With ``exc_info`` the
        line carries the exception being handled (its traceback once per burst, not each time)."""
        held = self._burst.occur(now)
        if held is None:
            return False
        if held:
            message += " (%d similar suppressed before)"
            args = (*args, held)
        self._logger.log(level, message, *args, exc_info=exc_info)
        return True


class BurstFilter(logging.Filter):
    """One librdkafka line per facility per burst.

    A broker down for a minute would otherwise log a failed connect every few milliseconds.
    """

    def __init__(
        self, quiet_seconds: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._quiet = quiet_seconds
        self._clock = clock
        self._bursts: dict[str, Burst] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # confluent-kafka logs ("%s [%s] %s", facility, client name, message).
        args = record.args if isinstance(record.args, tuple) else ()
        facility = str(args[0]) if args else str(record.msg)
        burst = self._bursts.get(facility)
        if burst is None:
            burst = self._bursts[facility] = Burst(self._quiet)
        held = burst.occur(self._clock())
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} (%d similar held back before)"
            record.args = (*args, held)
        return True


class Tally:
    """Occurrences since the last :meth:`take`, and the first one's details."""

    __slots__ = ("count", "first")

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[object, ...] = ()

    def add(self, *first: object) -> bool:
        """Count one; keep ``first`` when it opens the burst (and return True)."""
        self.count += 1
        if self.count == 1:
            self.first = first
            return True
        return False

    def take(self) -> tuple[int, tuple[object, ...]]:
        """The burst so far; starts a new one."""
        taken = self.count, self.first
        self.count = 0
        self.first = ()
        return taken


def install(level: int | str = logging.INFO) -> None:
    """The process's logging: one stderr handler, one format, burst filters (idempotent)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    librdkafka = logging.getLogger(LIBRDKAFKA_LOGGER)
    if not any(isinstance(f, BurstFilter) for f in librdkafka.filters):
        librdkafka.addFilter(BurstFilter())
