"""Log a recurring problem once per burst instead of once per message."""

from __future__ import annotations

import logging


class BurstLog:
    """Logs the first occurrence, then stays quiet until ``quiet_seconds`` pass without one.

    When a burst ends (the next occurrence after a quiet period) the number suppressed in the
    previous burst is reported with it, so nothing is silently swallowed.
    """

    def __init__(self, logger: logging.Logger, quiet_seconds: float = 10.0) -> None:
        self._logger = logger
        self._quiet = quiet_seconds
        self._last: float | None = None
        self.suppressed = 0

    def log(self, now: float, level: int, message: str, *args: object) -> bool:
        """Log unless inside a burst; returns whether a line was written."""
        last, self._last = self._last, now
        if last is not None and now - last < self._quiet:
            self.suppressed += 1
            return False
        if self.suppressed:
            message += " (%d similar suppressed before)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self._logger.log(level, message, *args)
        return True
