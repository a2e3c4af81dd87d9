"""A seeded synthetic limit order book per instrument. Sans-I/O: no clock, no sockets.

Prices are kept as integer ticks and amounts as integer lots, so the book is exact and cheap to
update; they become Deribit-shaped floats (``price = ticks * tick_size``, ``amount = lots *
contract_size``) only in the dictionaries handed out.

One :meth:`Market.step` is one book change: an arrival, a cancellation or a trade near the touch,
sometimes with a far level added or removed to hold the depth near its target. A latent fair price
drifts as a mean-reverting random walk; arrivals cluster around it and aggressors lean towards it,
so the mid follows. Orders are never placed through the opposite touch, so the book never crosses.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, insort
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

PRICE_PERIOD_MS = 600_000  # the premium of mark over index swings over ten minutes
FUNDING_DEAD_BAND = 0.00025
FUNDING_CAP = 0.005
MIN_SIDE_LEVELS = 5  # cancellations and trades never thin a side below this


@dataclass(frozen=True)
class InstrumentSpec:
    """What the simulator needs to know about an instrument."""

    name: str
    tick_size: float
    contract_size: float
    initial_price: float
    base_currency: str = "BTC"
    mean_lots: float = 50.0  # mean size of one order, in lots
    volatility_ticks: float = 0.25  # standard deviation of the fair price per step, in ticks
    group_unit: float = 1.0  # grouped-book group values are multiples of this price unit
    groups: tuple[str, ...] | None = None  # the groups the exchange offers; None: any multiple
    kind: str = "future"

    @property
    def min_trade_amount(self) -> float:
        return self.contract_size


SPECS: dict[str, InstrumentSpec] = {
    "BTC-PERPETUAL": InstrumentSpec(
        "BTC-PERPETUAL",
        0.5,
        10.0,
        60_000.0,
        "BTC",
        mean_lots=120.0,
        volatility_ticks=0.3,
        groups=("none", "1", "2", "5", "10"),
    ),
    "ETH-PERPETUAL": InstrumentSpec(
        "ETH-PERPETUAL",
        0.05,
        1.0,
        3_000.0,
        "ETH",
        mean_lots=800.0,
        volatility_ticks=0.3,
        group_unit=0.01,  # Deribit quotes ETH groups in hundredths: group 5 means 0.05
        groups=("none", "5", "10", "25", "100", "250"),
    ),
}

DEFAULT_SPEC = InstrumentSpec("DEFAULT", 1.0, 1.0, 1_000.0, "USD")


def register_spec(spec: InstrumentSpec) -> None:
    """Make ``spec`` the one :func:`spec_for` returns for ``spec.name``."""
    SPECS[spec.name] = spec


def spec_for(name: str, default: InstrumentSpec | None = None) -> InstrumentSpec:
    """The spec of a known instrument, else ``default`` (or :data:`DEFAULT_SPEC`) renamed."""
    known = SPECS.get(name)
    if known is not None:
        return known
    template = default or DEFAULT_SPEC
    base = name.split("-", 1)[0] or template.base_currency
    return replace(template, name=name, base_currency=base)


def _decimals(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


@dataclass(slots=True)
class MarketEvent:
    """One step: the Deribit ``data`` of a book change and the trades it contained."""

    change: dict[str, Any]
    trades: list[dict[str, Any]] = field(default_factory=list)


class Market:
    """A seeded synthetic L2 book of one instrument; the same seed gives the same stream."""

    def __init__(self, spec: InstrumentSpec, seed: int, levels: int = 300) -> None:
        if levels < 2 * MIN_SIDE_LEVELS:
            raise ValueError(f"levels must be >= {2 * MIN_SIDE_LEVELS}")
        self.spec = spec
        self.name = spec.name
        self.levels = levels
        self._rng = random.Random(f"{seed}:{spec.name}")
        self._tick = spec.tick_size
        self._lot = spec.contract_size
        self._pdec = _decimals(spec.tick_size)
        self._adec = _decimals(spec.contract_size)
        self._slack = max(2, levels // 10)
        self._span = levels * 3 // 2  # ticks from the touch that hold most levels
        self._origin = spec.initial_price / spec.tick_size
        self._fair = float(round(self._origin))
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_ticks: list[int] = []  # ascending: best bid last
        self._ask_ticks: list[int] = []  # ascending: best ask first
        self.change_id = self._rng.randrange(10_000_000, 90_000_000)
        self._trade_seq = 0
        self._trade_id = self._rng.randrange(100_000_000, 900_000_000)
        self._last_price: float | None = None
        self._last_tick = 0
        self._last_up = True
        self._volume_lots = 0
        self._high: float | None = None
        self._low: float | None = None
        self._seed_book()

    # --- conversions -------------------------------------------------------------------

    def price(self, ticks: int) -> float:
        return round(ticks * self._tick, self._pdec)

    def amount(self, lots: int) -> float:
        return round(lots * self._lot, self._adec)

    # --- construction ------------------------------------------------------------------

    def _seed_book(self) -> None:
        rng = self._rng
        mid = int(self._fair)
        bid, ask = mid, mid + 1
        for _ in range(self.levels):
            self._bids[bid] = self._lots(rng)
            self._bid_ticks.append(bid)
            self._asks[ask] = self._lots(rng)
            self._ask_ticks.append(ask)
            bid -= 1 + int(rng.expovariate(1.5))
            ask += 1 + int(rng.expovariate(1.5))
        self._bid_ticks.sort()
        self._fair = mid + 0.5

    def _lots(self, rng: random.Random) -> int:
        return 1 + int(rng.expovariate(1.0 / self.spec.mean_lots))

    # --- the stream ----------------------------------------------------------------------

    def step(self, timestamp_ms: int) -> MarketEvent:
        """Advance one book change (with any trades it contains)."""
        rng = self._rng
        self._fair += rng.gauss(0.0, self.spec.volatility_ticks) - 1e-4 * (
            self._fair - self._origin
        )
        bids: list[list[Any]] = []
        asks: list[list[Any]] = []
        trades: list[dict[str, Any]] = []
        u = rng.random()
        if u < 0.12:
            self._trade(rng, bids, asks, trades, timestamp_ms)
        elif u < 0.52:
            self._cancel(rng, rng.random() < 0.5, bids, asks)
        if not bids and not asks:
            self._arrive(rng, rng.random() < 0.5, bids, asks)
        self._hold_depth(rng, bids, asks)
        prev = self.change_id
        # Deribit's change_id grows but skips (it counts changes of other books too).
        self.change_id = prev + (1 if rng.random() < 0.8 else 2 + int(rng.expovariate(0.5)))
        change = {
            "type": "change",
            "timestamp": timestamp_ms,
            "instrument_name": self.name,
            "change_id": self.change_id,
            "prev_change_id": prev,
            "bids": bids,
            "asks": asks,
        }
        return MarketEvent(change, trades)

    def _arrive(
        self, rng: random.Random, bid_side: bool, bids: list[list[Any]], asks: list[list[Any]]
    ) -> None:
        # Most orders join at or near the touch; some rest deeper and fill the book out.
        depth = int(rng.expovariate(0.45 if rng.random() < 0.7 else 0.05))
        lots = self._lots(rng)
        if bid_side:
            tick = math.floor(self._fair - 0.5) - depth
            if tick >= self._ask_ticks[0]:
                tick = self._ask_ticks[0] - 1
            self._add(self._bids, self._bid_ticks, tick, lots, bids)
        else:
            tick = math.ceil(self._fair + 0.5) + depth
            if tick <= self._bid_ticks[-1]:
                tick = self._bid_ticks[-1] + 1
            self._add(self._asks, self._ask_ticks, tick, lots, asks)

    def _add(
        self, book: dict[int, int], ticks: list[int], tick: int, lots: int, out: list[list[Any]]
    ) -> None:
        old = book.get(tick)
        if old is None:
            book[tick] = lots
            insort(ticks, tick)
            out.append(["new", self.price(tick), self.amount(lots)])
        else:
            book[tick] = old + lots
            out.append(["change", self.price(tick), self.amount(old + lots)])

    def _cancel(
        self, rng: random.Random, bid_side: bool, bids: list[list[Any]], asks: list[list[Any]]
    ) -> None:
        ticks = self._bid_ticks if bid_side else self._ask_ticks
        if len(ticks) <= MIN_SIDE_LEVELS:
            return
        rank = min(int(rng.expovariate(0.1)), len(ticks) - 1)
        tick = ticks[-1 - rank] if bid_side else ticks[rank]
        book = self._bids if bid_side else self._asks
        out = bids if bid_side else asks
        lots = book[tick]
        if lots > 1 and rng.random() < 0.55:
            left = max(1, lots - 1 - int(rng.random() * lots))
            book[tick] = left
            out.append(["change", self.price(tick), self.amount(left)])
        else:
            self._remove(book, ticks, tick, out)

    def _remove(
        self, book: dict[int, int], ticks: list[int], tick: int, out: list[list[Any]]
    ) -> None:
        del book[tick]
        del ticks[bisect_left(ticks, tick)]
        out.append(["delete", self.price(tick), 0.0])

    def _trade(
        self,
        rng: random.Random,
        bids: list[list[Any]],
        asks: list[list[Any]],
        trades: list[dict[str, Any]],
        timestamp_ms: int,
    ) -> None:
        mid = (self._bid_ticks[-1] + self._ask_ticks[0]) / 2
        lean = max(-0.45, min(0.45, (self._fair - mid) * 0.4))
        buy = rng.random() < 0.5 + lean
        book = self._asks if buy else self._bids
        ticks = self._ask_ticks if buy else self._bid_ticks
        out = asks if buy else bids
        wanted = self._lots(rng)
        first = ticks[0] if buy else ticks[-1]
        for _ in range(3):
            tick = ticks[0] if buy else ticks[-1]
            if abs(tick - first) > 3:
                break  # an aggressor sweeps the touch, not a hole behind it
            lots = book[tick]
            if wanted < lots or len(ticks) <= MIN_SIDE_LEVELS:
                filled = min(wanted, lots - 1)
                if filled <= 0:
                    break
                book[tick] = lots - filled
                out.append(["change", self.price(tick), self.amount(lots - filled)])
                trades.append(self._fill(tick, filled, buy, timestamp_ms))
                break
            self._remove(book, ticks, tick, out)
            trades.append(self._fill(tick, lots, buy, timestamp_ms))
            wanted -= lots
            if wanted <= 0:
                break

    def _fill(self, tick: int, lots: int, buy: bool, timestamp_ms: int) -> dict[str, Any]:
        price = self.price(tick)
        if tick != self._last_tick:
            self._last_up = tick > self._last_tick
        # 0 plus tick, 1 zero-plus tick, 2 minus tick, 3 zero-minus tick
        direction_code = (0 if self._last_up else 2) + (tick == self._last_tick)
        self._last_tick = tick
        self._last_price = price
        self._volume_lots += lots
        self._high = price if self._high is None else max(self._high, price)
        self._low = price if self._low is None else min(self._low, price)
        self._trade_seq += 1
        self._trade_id += 1
        mark, index, _ = self._reference(timestamp_ms)
        return {
            "trade_seq": self._trade_seq,
            "trade_id": str(self._trade_id),
            "timestamp": timestamp_ms,
            "tick_direction": direction_code,
            "price": price,
            "mark_price": mark,
            "index_price": index,
            "instrument_name": self.name,
            "direction": "buy" if buy else "sell",
            "amount": self.amount(lots),
        }

    def _hold_depth(self, rng: random.Random, bids: list[list[Any]], asks: list[list[Any]]) -> None:
        """Keep one side near ``levels`` levels within ``2 * span`` ticks of its touch."""
        side = rng.random() < 0.5
        ticks = self._bid_ticks if side else self._ask_ticks
        book = self._bids if side else self._asks
        out = bids if side else asks
        count = len(ticks)
        touch, far = (ticks[-1], ticks[0]) if side else (ticks[0], ticks[-1])
        if count > self.levels + self._slack or abs(touch - far) > 2 * self._span:
            if not any(entry[1] == self.price(far) for entry in out):
                self._remove(book, ticks, far, out)
        elif count < self.levels - self._slack:
            # Refill inside the book rather than beyond its far end, so no hole grows.
            offset = 1 + int(rng.random() * self._span)
            tick = touch - offset if side else touch + offset
            if tick not in book:
                self._add(book, ticks, tick, self._lots(rng), out)

    # --- views ---------------------------------------------------------------------------

    def best_bid(self) -> float:
        return self.price(self._bid_ticks[-1])

    def best_ask(self) -> float:
        return self.price(self._ask_ticks[0])

    def _reference(self, timestamp_ms: int) -> tuple[float, float, float]:
        """Mark price, index price and premium at ``timestamp_ms``."""
        mid = (self._bid_ticks[-1] + self._ask_ticks[0]) * self._tick / 2
        premium = 0.0006 * math.sin(2 * math.pi * timestamp_ms / PRICE_PERIOD_MS)
        return round(mid, self._pdec + 2), round(mid / (1 + premium), 2), premium

    def snapshot(self, timestamp_ms: int) -> dict[str, Any]:
        """Deribit snapshot ``data``: every level, best first, as ``["new", price, amount]``."""
        price, amount = self.price, self.amount
        return {
            "type": "snapshot",
            "timestamp": timestamp_ms,
            "instrument_name": self.name,
            "change_id": self.change_id,
            "bids": [["new", price(t), amount(self._bids[t])] for t in reversed(self._bid_ticks)],
            "asks": [["new", price(t), amount(self._asks[t])] for t in self._ask_ticks],
        }

    def top(self, depth: int) -> tuple[list[list[float]], list[list[float]]]:
        """The best ``depth`` levels of each side as ``[price, amount]``, best first."""
        price, amount = self.price, self.amount
        bid_ticks = self._bid_ticks[: -depth - 1 : -1] if depth else []
        return (
            [[price(t), amount(self._bids[t])] for t in bid_ticks],
            [[price(t), amount(self._asks[t])] for t in self._ask_ticks[:depth]],
        )

    def group_ticks(self, group: str) -> int:
        """Ticks per bucket for a grouped-book ``group``; 1 for ``none``. ValueError if invalid."""
        if self.spec.groups is not None and group not in self.spec.groups:
            raise ValueError(f"group {group!r} is not offered for {self.name}")
        if group == "none":
            return 1
        if not group.isdigit() or int(group) <= 0:
            raise ValueError(f"bad group {group!r}")
        ticks = int(group) * self.spec.group_unit / self._tick
        if abs(ticks - round(ticks)) > 1e-9 or round(ticks) < 1:
            raise ValueError(f"group {group} is not a multiple of the tick size")
        return round(ticks)

    def grouped(self, group: str, depth: int, timestamp_ms: int) -> dict[str, Any]:
        """Grouped book ``data``: top ``depth`` buckets, bids rounded down, asks rounded up."""
        size = self.group_ticks(group)
        if size == 1:
            bids, asks = self.top(depth)
        else:
            bids = self._buckets(reversed(self._bid_ticks), self._bids, size, depth, False)
            asks = self._buckets(iter(self._ask_ticks), self._asks, size, depth, True)
        return {
            "timestamp": timestamp_ms,
            "instrument_name": self.name,
            "change_id": self.change_id,
            "bids": bids,
            "asks": asks,
        }

    def _buckets(
        self, ticks: Any, book: dict[int, int], size: int, depth: int, up: bool
    ) -> list[list[float]]:
        out: list[list[float]] = []
        current: int | None = None
        lots = 0
        for tick in ticks:
            bucket = -(-tick // size) * size if up else tick // size * size
            if bucket != current:
                if current is not None:
                    out.append([self.price(current), self.amount(lots)])
                    if len(out) == depth:
                        return out
                current, lots = bucket, 0
            lots += book[tick]
        if current is not None and len(out) < depth:
            out.append([self.price(current), self.amount(lots)])
        return out

    def ticker(self, timestamp_ms: int) -> dict[str, Any]:
        """Deribit ticker ``data``: touch, mark, index, funding and the day's statistics."""
        mark, index, premium = self._reference(timestamp_ms)
        _, _, premium_earlier = self._reference(timestamp_ms - 4 * 3_600_000)
        bid, ask = self._bid_ticks[-1], self._ask_ticks[0]
        last = self._last_price if self._last_price is not None else mark
        volume = self.amount(self._volume_lots)
        return {
            "timestamp": timestamp_ms,
            "instrument_name": self.name,
            "state": "open",
            "best_bid_price": self.price(bid),
            "best_bid_amount": self.amount(self._bids[bid]),
            "best_ask_price": self.price(ask),
            "best_ask_amount": self.amount(self._asks[ask]),
            "mark_price": mark,
            "index_price": index,
            "last_price": last,
            "settlement_price": round(index, 2),
            "min_price": self.price(round(mark * 0.98 / self._tick)),
            "max_price": self.price(round(mark * 1.02 / self._tick)),
            "open_interest": self.amount(10_000 + self._volume_lots // 10),
            "interest_value": round(premium, 8),
            "current_funding": funding(premium),
            "funding_8h": funding((premium + premium_earlier) / 2),
            "estimated_delivery_price": index,
            "stats": {
                "high": self._high if self._high is not None else last,
                "low": self._low if self._low is not None else last,
                "price_change": round((last - index) / index * 100, 4),
                "volume": round(volume / mark, 8),
                "volume_usd": volume,
            },
        }

    def true_book(self) -> tuple[int, dict[float, float], dict[float, float]]:
        """Ground truth: (change_id, bids, asks) as price -> amount."""
        price, amount = self.price, self.amount
        return (
            self.change_id,
            {price(t): amount(lots) for t, lots in self._bids.items()},
            {price(t): amount(lots) for t, lots in self._asks.items()},
        )


def funding(premium: float) -> float:
    """The funding rate for a premium of mark over index: dead band, then capped."""
    if premium > FUNDING_DEAD_BAND:
        rate = premium - FUNDING_DEAD_BAND
    elif premium < -FUNDING_DEAD_BAND:
        rate = premium + FUNDING_DEAD_BAND
    else:
        rate = 0.0
    return round(max(-FUNDING_CAP, min(FUNDING_CAP, rate)), 8)
