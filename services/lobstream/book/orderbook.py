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

from lobstream.logs import BurstLog

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

    snapshots: int = 0  # snapshots and grouped books applied
    changes: int = 0  # changes applied
    duplicates: int = 0  # re-deliveries ignored
    gaps: int = 0  # continuity breaks (the book went stale)
    stale_ignored: int = 0  # changes ignored while waiting for a snapshot
    malformed_messages: int = 0  # data the book could not use at all
    bad_entries: int = 0  # entries skipped, the sum of the next three
    malformed_entries: int = 0
    unknown_deletes: int = 0
    bad_amounts: int = 0  # negative, NaN or infinite amounts
    crossed: int = 0  # times the book became crossed

    @property
    def messages(self) -> int:
        """Every notification given to the book."""
        return (
            self.snapshots
            + self.changes
            + self.duplicates
            + self.gaps
            + self.stale_ignored
            + self.malformed_messages
        )

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
        # The change path is the hot path: it is written out here rather than split up.
        try:
            if data["type"] != "change":
                return self._not_change(data)
            change_id = data["change_id"]
            prev_change_id = data["prev_change_id"]
            timestamp = data["timestamp"]
            bid_entries = data["bids"]
            ask_entries = data["asks"]
        except (KeyError, TypeError):  # TypeError: data is not an object
            return self._not_change(data)
        if type(change_id) is not int or type(timestamp) is not int:
            return self._malformed("change without an integer change_id and timestamp")
        if self.stale:
            self.stats.stale_ignored += 1
            return _STALE
        # A healthy book always has an integer change_id (set by its snapshot).
        current = self.change_id
        if change_id <= current:  # type: ignore[operator]
            self.stats.duplicates += 1
            return _DUPLICATE
        if prev_change_id != current:
            self.stale = True
            self.stats.gaps += 1
            return _GAP
        self.change_id = change_id
        self.timestamp = timestamp
        self.stats.changes += 1
        bad = _apply_entries(bid_entries, self.bids, self.bid_prices) if bid_entries else None
        if ask_entries:
            skipped = _apply_entries(ask_entries, self.asks, self.ask_prices)
            if skipped:
                bad = skipped if bad is None else bad + skipped
        try:
            crossed = self.bid_prices[-1] >= self.ask_prices[0]
        except IndexError:  # an empty side cannot cross
            crossed = False
        if bad:
            self._report(bad)
        if crossed:
            self._crossed()
            return _BAD
        if self.crossed:
            self.crossed = False
        return _BAD if bad else _CHANGE

    def mark_stale(self) -> None:
        """Distrust the book until the next snapshot (the session reported a resync)."""
        self.stale = True

    def _not_change(self, data: dict[str, Any]) -> Applied:
        if type(data) is not dict:
            return self._malformed("data is not an object")
        kind = data.get("type")
        if kind == "snapshot":
            return self._replace(data, grouped=False)
        if kind is None:
            return self._replace(data, grouped=True)
        if kind == "change":
            return self._malformed(
                "change without change_id, prev_change_id, timestamp, bids or asks"
            )
        return self._malformed(f"unknown type {kind!r}")

    def _report(self, skipped: list[tuple[str, Any]]) -> None:
        for counter, entry in skipped:
            self._bad(counter, "skipped book entry %r (%s)", entry, counter.replace("_", " "))

    def _replace(self, data: dict[str, Any], *, grouped: bool) -> Applied:
        change_id = data.get("change_id")
        timestamp = data.get("timestamp")
        if type(change_id) is not int or type(timestamp) is not int:
            return self._malformed("snapshot without an integer change_id and timestamp")
        current = self.change_id
        if not self.stale and current is not None and change_id <= current:
            # An at-least-once re-delivery, or a producer snapshot of a state already applied.
            self.stats.duplicates += 1
            return _DUPLICATE
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
        self.timestamp = timestamp
        self.stale = False
        self.grouped = grouped
        self.stats.snapshots += 1
        self.crossed = False
        if self.bid_prices and self.ask_prices and self.bid_prices[-1] >= self.ask_prices[0]:
            self._crossed()
            return _BAD
        return _BAD if bad else _SNAPSHOT

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
                self._bad("malformed_entries", "malformed book entry %r", entry)
        return bad

    def _crossed(self) -> None:
        if not self.crossed:
            # Counted once per episode: a crossed book stays usable, it just says so.
            self.crossed = True
            self.stats.crossed += 1
            bid, ask = self.bid_prices[-1], self.ask_prices[0]
            self._warn("crossed", "crossed book, bid %s >= ask %s", bid, ask)

    def _bad(self, counter: str, message: str, *args: object) -> None:
        self.stats.bad_entries += 1
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self._warn(counter, message, *args)

    def apply_malformed(self, reason: str) -> Applied:
        """Count notification data that cannot be book data at all (not an object)."""
        return self._malformed(reason)

    def _malformed(self, reason: str) -> Applied:
        self.stats.malformed_messages += 1
        self._warn("malformed", "malformed book data: %s", reason)
        return Applied.BAD

    def _warn(self, kind: str, message: str, *args: object) -> None:
        burst = self._burst.get(kind)
        if burst is None:
            burst = self._burst[kind] = BurstLog(log)
        burst.log(time.monotonic(), logging.WARNING, "%s: " + message, self.instrument, *args)


_SNAPSHOT: Final = Applied.SNAPSHOT
_CHANGE: Final = Applied.CHANGE
_DUPLICATE: Final = Applied.DUPLICATE
_GAP: Final = Applied.GAP
_STALE: Final = Applied.STALE
_BAD: Final = Applied.BAD


def _apply_entries(
    entries: list[Any], levels: dict[float, float], prices: list[float]
) -> list[tuple[str, Any]] | None:
    """Apply ``[action, price, amount]`` entries to one side; returns the skipped ones, if any.

    Per entry: a ``change``/``new`` of a known level is one dict store; a new level also
    inserts into the sorted price list; a ``delete`` (or amount 0) removes from both. A skipped
    entry comes back with the name of its counter (the rare path builds the list).
    """
    bad: list[tuple[str, Any]] | None = None
    for entry in entries:
        try:
            action, price, amount = entry
            if action == "change" or action == "new":
                if amount > 0 and amount < _INF:  # cheaper than a chained comparison
                    if price in levels:
                        levels[price] = amount
                        continue
                    if 0 < price < _INF:
                        levels[price] = amount
                        insort(prices, price)
                        continue
                    problem = "malformed_entries"
                elif amount != 0:
                    problem = "bad_amounts"
                # An empty level is no level: amount 0 reads as a delete.
                elif levels.pop(price, None) is not None:
                    del prices[bisect_left(prices, price)]
                    continue
                else:
                    problem = "unknown_deletes"
            elif action == "delete":
                if levels.pop(price, None) is not None:
                    del prices[bisect_left(prices, price)]
                    continue
                problem = "unknown_deletes"
            else:
                problem = "malformed_entries"
        except (TypeError, ValueError):
            problem = "malformed_entries"
        if bad is None:
            bad = []
        bad.append((problem, entry))
    return bad
