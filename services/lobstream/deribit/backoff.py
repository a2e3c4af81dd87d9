"""Exponential back-off with full jitter, bounded, with an optional floor for rate limits."""

from __future__ import annotations

import random


class Backoff:
    """Delays ``uniform(0, min(maximum, initial * 2**n))`` for the n-th consecutive failure.

    ``floor`` (used after a rate-limit or other retriable exchange error) is added under the cap
    so a client told to slow down never retries immediately, whatever the jitter draws.
    """

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self, floor: float = 0.0) -> float:
        """The delay before the next attempt; counts one more consecutive failure."""
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self.failures, 62))
        self.failures += 1
        return min(self.maximum, floor + self._rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        """An attempt succeeded: the next failure starts from ``initial`` again."""
        self.failures = 0
