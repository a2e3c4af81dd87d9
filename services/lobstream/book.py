"""An exact L2 order book per instrument, kept from Deribit book notifications. No I/O.

Each side is a dict ``price -> amount`` plus a sorted list of its prices. A ``change`` of an
existing level touches only the dict; only a ``new`` level or a ``delete`` moves the list
(a binary search and one ``memmove``), so best bid/ask and the top-k levels are read straight
off the list's end without sorting anything per update.

Continuity follows Deribit's rule: a change whose ``prev_change_id`` is not the book's
``change_id`` is a gap; the book is then stale (and gives no features) until the next snapshot.
A change whose ``change_id`` is not above the book's is a re-delivery (the consumer reads Kafka
at least once) and is ignored. Bad entries are skipped and counted, never raised.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_left, insort
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, Final

from lobstream.deribit.burst import BurstLog

log = logging.getLogger(__name__)

_INF: Final = math.inf


class Applied(IntEnum):
    """What :meth:`OrderBook.apply` did with one notification's data."""

    SNAPSHOT = 0  # the book was replaced (incremental snapshot or grouped book)
    CHANGE = 1  # changes applied in order
    DUPLICATE = 2  # change_id not above the book's: a re-delivery, nothing done
    GAP = 3  # prev_change_id broke the chain: the book is now stale
    STALE = 4  # ignored: the book waits for a snapshot
    BAD = 5  # applied, but some entries were bad (skipped and counted) or the book is crossed


@dataclass(slots=True)
class BookStats:
    """Plain counters of one book; the metrics module reads them at scrape time."""

    snapshots: int = 0
    changes: int = 0
    duplicates: int = 0
    gaps: int = 0
    stale_ignored: int = 0
    bad_entries: int = 0
    unknown_deletes: int = 0
    bad_amounts: int = 0
    malformed: int = 0
    crossed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


Level = tuple[float, float]


class OrderBook:
    """One instrument's L2 book.

    ``bids``/``asks`` (price -> amount) and ``bid_prices``/``ask_prices`` (ascending) are
    public for fast reads by the feature code; treat them as read-only.
    """

    __slots__ = (
        "_burst",
        "ask_prices",
        "asks",
        "bid_prices",
        "bids",
        "change_id",
        "crossed",
        "grouped",
        "instrument",
        "stale",
        "stats",
        "timestamp",
    )

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.bid_prices: list[float] = []
        self.ask_prices: list[float] = []
        self.change_id: int | None = None
        # A book that has never seen a snapshot cannot be trusted either.
        self.stale = True
        self.crossed = False
        # True while the book comes from full grouped snapshots rather than incremental changes.
        self.grouped = False
        self.timestamp: int | None = None
        self.stats = BookStats()
        # One burst logger per kind of problem, made on first use (problems are rare).
        self._burst: dict[str, BurstLog] = {}

    # --- reading ----------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        prices = self.bid_prices
        if not prices:
            return None
        price = prices[-1]
        return price, self.bids[price]

    def best_ask(self) -> Level | None:
        prices = self.ask_prices
        if not prices:
            return None
        price = prices[0]
        return price, self.asks[price]

    def top_bids(self, k: int) -> list[Level]:
        """The best ``k`` bids, best (highest) first."""
        bids = self.bids
        return [(p, bids[p]) for p in reversed(self.bid_prices[-k:])] if k > 0 else []

    def top_asks(self, k: int) -> list[Level]:
        """The best ``k`` asks, best (lowest) first."""
        asks = self.asks
        return [(p, asks[p]) for p in self.ask_prices[:k]] if k > 0 else []

    def levels(self) -> tuple[dict[float, float], dict[float, float]]:
        """Copies of both sides, price -> amount."""
        return dict(self.bids), dict(self.asks)

    def snapshot_data(self, timestamp_ms: int) -> dict[str, Any]:
        """The book as Deribit snapshot ``data`` (bids best first, asks best first)."""
        bids = self.bids
        asks = self.asks
        return {
            "type": "snapshot",
            "timestamp": timestamp_ms,
            "instrument_name": self.instrument,
            "change_id": self.change_id,
            "bids": [["new", p, bids[p]] for p in reversed(self.bid_prices)],
            "asks": [["new", p, asks[p]] for p in self.ask_prices],
        }

    # --- writing ----------------------------------------------------------------------------

    def apply(self, data: dict[str, Any]) -> Applied:
        """Apply one book notification's ``data``: snapshot, change, or a grouped book."""
        kind = data.get("type")
        if kind == "change":
            return self._change(data)
        if kind == "snapshot":
            return self._replace(data, grouped=False)
        if kind is None:
            return self._replace(data, grouped=True)
        return self._malformed(data, f"unknown type {kind!r}")

    def mark_stale(self) -> None:
        """Distrust the book until the next snapshot (the session reported a resync)."""
        self.stale = True

    def _change(self, data: dict[str, Any]) -> Applied:
        change_id = data.get("change_id")
        if type(change_id) is not int:
            return self._malformed(data, "change without an integer change_id")
        if self.stale:
            self.stats.stale_ignored += 1
            return Applied.STALE
        current = self.change_id
        if current is not None and change_id <= current:
            self.stats.duplicates += 1
            return Applied.DUPLICATE
        if data.get("prev_change_id") != current:
            self.stale = True
            self.stats.gaps += 1
            return Applied.GAP
        self.change_id = change_id
        self.timestamp = data.get("timestamp")
        self.stats.changes += 1
        bad = self._entries(data.get("bids"), self.bids, self.bid_prices)
        bad += self._entries(data.get("asks"), self.asks, self.ask_prices)
        if self._check_crossed() or bad:
            return Applied.BAD
        return Applied.CHANGE

    def _entries(self, entries: Any, levels: dict[float, float], prices: list[float]) -> int:
        """Apply ``[action, price, amount]`` entries to one side; returns how many were bad."""
        if not entries:
            return 0
        bad = 0
        for entry in entries:
            try:
                action, price, amount = entry
                if not 0 < price < _INF:
                    raise ValueError(price)
                if action == "change" or action == "new":
                    if 0 < amount < _INF:
                        if price not in levels:
                            insort(prices, price)
                        levels[price] = amount
                        continue
                    if amount != 0:
                        bad += 1
                        self._bad("bad_amounts", "bad amount %r at %s", amount, price)
                        continue
                    # An empty level is no level: treat amount 0 like a delete.
                elif action != "delete":
                    raise ValueError(action)
                if levels.pop(price, None) is None:
                    bad += 1
                    self._bad("unknown_deletes", "delete of unknown level %s", price)
                else:
                    del prices[bisect_left(prices, price)]
            except (TypeError, ValueError):
                bad += 1
                self._bad("malformed", "malformed book entry %r", entry)
        return bad

    def _replace(self, data: dict[str, Any], *, grouped: bool) -> Applied:
        change_id = data.get("change_id")
        if type(change_id) is not int:
            return self._malformed(data, "snapshot without an integer change_id")
        current = self.change_id
        if not self.stale and current is not None and change_id <= current:
            # An at-least-once re-delivery, or a producer snapshot of a state already applied.
            self.stats.duplicates += 1
            return Applied.DUPLICATE
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        bad = self._levels(data.get("bids"), bids, grouped) + self._levels(
            data.get("asks"), asks, grouped
        )
        self.bids = bids
        self.asks = asks
        self.bid_prices = sorted(bids)
        self.ask_prices = sorted(asks)
        self.change_id = change_id
        self.timestamp = data.get("timestamp")
        self.stale = False
        self.grouped = grouped
        self.stats.snapshots += 1
        self.crossed = False
        if self._check_crossed() or bad:
            return Applied.BAD
        return Applied.SNAPSHOT

    def _levels(self, entries: Any, levels: dict[float, float], grouped: bool) -> int:
        """Fill ``levels`` from snapshot entries (``[action, p, a]``, or ``[p, a]`` if grouped)."""
        if not entries:
            return 0
        bad = 0
        for entry in entries:
            try:
                if grouped:
                    price, amount = entry
                else:
                    action, price, amount = entry
                    if action != "new":
                        raise ValueError(action)
                if not 0 < price < _INF:
                    raise ValueError(price)
                if amount == 0:
                    continue  # an empty level is no level
                if not 0 < amount < _INF:
                    bad += 1
                    self._bad("bad_amounts", "bad amount %r at %s", amount, price)
                    continue
                levels[price] = amount
            except (TypeError, ValueError):
                bad += 1
                self._bad("malformed", "malformed book entry %r", entry)
        return bad

    def _check_crossed(self) -> bool:
        bids = self.bid_prices
        asks = self.ask_prices
        crossed = bool(bids) and bool(asks) and bids[-1] >= asks[0]
        if crossed and not self.crossed:
            # Counted once per episode: a crossed book stays usable, it just says so.
            self.stats.crossed += 1
            self._warn("crossed", "crossed book, bid %s >= ask %s", bids[-1], asks[0])
        self.crossed = crossed
        return crossed

    def _bad(self, counter: str, message: str, *args: object) -> None:
        self.stats.bad_entries += 1
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self._warn(counter, message, *args)

    def _malformed(self, data: Any, reason: str) -> Applied:
        self.stats.malformed += 1
        self._warn("malformed", "malformed book data: %s", reason)
        return Applied.BAD

    def _warn(self, kind: str, message: str, *args: object) -> None:
        burst = self._burst.get(kind)
        if burst is None:
            burst = self._burst[kind] = BurstLog(log)
        burst.log(time.monotonic(), logging.WARNING, "%s: " + message, self.instrument, *args)
