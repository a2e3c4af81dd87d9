"""Market-microstructure features over an :class:`~lobstream.book.OrderBook`. No I/O.

Per book event only the order flow imbalance is updated (a few comparisons and one deque
append); every other feature is derived from the book when read. Values a one-sided or empty
book cannot define, or a stale book must not claim, read as ``None``.

- mid = (Pb + Pa) / 2, spread = Pa - Pb (best bid Pb, best ask Pa).
- imbalance = (Vb - Va) / (Vb + Va) at the best level; ``imbalance_k`` sums the top k levels.
- microprice = (Pb * Va + Pa * Vb) / (Vb + Va).
- OFI (Cont, Kukanov and Stoikov 2014): per book event n,
  e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n
  + 1{Pa_n >= Pa_n-1} qa_n-1, summed over rolling windows of exchange time.
- From the ticker: mark_price, index_price, current_funding, funding_8h.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from lobstream.book import Applied, OrderBook
from lobstream.deribit.protocol import parse_channel
from lobstream.settings import FeatureSettings

# A rolling window keeps at most this many time buckets, so its memory is bounded whatever
# the message rate: 1 ms buckets up to a 10 s window, coarser buckets beyond.
MAX_BUCKETS: Final = 10_000

TICKER_FIELDS: Final = ("mark_price", "index_price", "current_funding", "funding_8h")

Value = float | int | bool | None


def window_label(seconds: float) -> str:
    """``1.0 -> "1s"``, ``0.5 -> "500ms"``: the suffix of an OFI feature's name."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


class RollingSum:
    """A sum of values over the last ``seconds`` of exchange time, in bounded buckets."""

    __slots__ = ("_entries", "bucket_ms", "window_ms")

    def __init__(self, seconds: float) -> None:
        self.window_ms = max(1, round(seconds * 1000))
        self.bucket_ms = max(1, self.window_ms // MAX_BUCKETS)
        # [bucket start, sum] pairs, oldest first.
        self._entries: deque[list[float]] = deque()

    def add(self, timestamp_ms: int, value: float) -> None:
        entries = self._entries
        bucket = timestamp_ms - timestamp_ms % self.bucket_ms
        if entries:
            last = entries[-1]
            if last[0] >= bucket:
                # Same bucket (or an out-of-order timestamp: keep it in the newest bucket).
                last[1] += value
                return
            cutoff = bucket - self.window_ms
            while entries[0][0] <= cutoff:
                entries.popleft()
                if not entries:
                    break
        entries.append([bucket, value])

    def total(self, now_ms: int) -> float:
        """The sum of the values added in ``(now - window, now]``."""
        cutoff = now_ms - self.window_ms
        return sum(value for start, value in self._entries if start > cutoff)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Features:
    """One instrument's features: call :meth:`on_book` after each ``book.apply``."""

    __slots__ = (
        "_pa",
        "_pb",
        "_qa",
        "_qb",
        "_ref",
        "book",
        "depths",
        "instrument",
        "now_ms",
        "ofi_windows",
        "ticker",
        "windows",
    )

    def __init__(self, book: OrderBook, settings: FeatureSettings | None = None) -> None:
        settings = settings or FeatureSettings()
        self.book = book
        self.instrument = book.instrument
        self.depths: tuple[int, ...] = tuple(settings.imbalance_depths)
        self.ofi_windows: tuple[float, ...] = tuple(settings.ofi_windows_seconds)
        self.windows: tuple[RollingSum, ...] = tuple(RollingSum(s) for s in self.ofi_windows)
        self.ticker: dict[str, Any] = {}
        # Latest exchange timestamp seen (book or ticker): "now" for the OFI windows.
        self.now_ms = 0
        # The previous event's best levels, the reference for the next OFI term.
        self._ref = False
        self._pb = self._qb = self._pa = self._qa = 0.0

    # --- per message ------------------------------------------------------------------------

    def on_book(self, applied: Applied) -> None:
        """Account for one applied book notification (the hot path: keep it small)."""
        if applied is Applied.DUPLICATE:
            return
        book = self.book
        if book.stale:
            self._ref = False
            return
        bid_prices = book.bid_prices
        ask_prices = book.ask_prices
        if not bid_prices or not ask_prices:
            self._ref = False
            return
        pb = bid_prices[-1]
        pa = ask_prices[0]
        qb = book.bids[pb]
        qa = book.asks[pa]
        timestamp = book.timestamp
        if timestamp is not None and timestamp > self.now_ms:
            self.now_ms = timestamp
        # An incremental snapshot is a restart point, not order flow; a grouped book is.
        if self._ref and (applied is not Applied.SNAPSHOT or book.grouped):
            opb = self._pb
            opa = self._pa
            flow = 0.0
            if pb >= opb:
                flow += qb
            if pb <= opb:
                flow -= self._qb
            if pa <= opa:
                flow -= qa
            if pa >= opa:
                flow += self._qa
            if flow:
                now = self.now_ms
                for window in self.windows:
                    window.add(now, flow)
        self._ref = True
        self._pb = pb
        self._qb = qb
        self._pa = pa
        self._qa = qa

    def on_ticker(self, data: dict[str, Any]) -> None:
        """Keep the ticker notification (its fields are read lazily)."""
        self.ticker = data
        timestamp = data.get("timestamp")
        if type(timestamp) is int and timestamp > self.now_ms:
            self.now_ms = timestamp

    # --- reads ------------------------------------------------------------------------------

    def _best(self) -> tuple[float, float, float, float] | None:
        book = self.book
        if book.stale or not book.bid_prices or not book.ask_prices:
            return None
        pb = book.bid_prices[-1]
        pa = book.ask_prices[0]
        return pb, book.bids[pb], pa, book.asks[pa]

    def mid(self) -> float | None:
        best = self._best()
        return None if best is None else (best[0] + best[2]) / 2

    def spread(self) -> float | None:
        best = self._best()
        return None if best is None else best[2] - best[0]

    def imbalance(self) -> float | None:
        """(Vb - Va) / (Vb + Va) at the best level."""
        best = self._best()
        return None if best is None else (best[1] - best[3]) / (best[1] + best[3])

    def imbalance_k(self, k: int) -> float | None:
        """(Vb - Va) / (Vb + Va) with V summed over the top ``k`` levels of each side."""
        if self._best() is None:
            return None
        vb = sum(amount for _, amount in self.book.top_bids(k))
        va = sum(amount for _, amount in self.book.top_asks(k))
        return (vb - va) / (vb + va)

    def microprice(self) -> float | None:
        """(Pb * Va + Pa * Vb) / (Vb + Va)."""
        best = self._best()
        if best is None:
            return None
        pb, vb, pa, va = best
        return (pb * va + pa * vb) / (vb + va)

    def ofi(self, seconds: float, now_ms: int | None = None) -> float | None:
        """OFI summed over the window of ``seconds`` (one of the configured windows).

        ``now_ms`` defaults to the latest exchange timestamp seen, so replays are deterministic.
        """
        if self.book.stale:
            return None
        window = self.windows[self.ofi_windows.index(seconds)]
        return window.total(self.now_ms if now_ms is None else now_ms)

    def values(self, now_ms: int | None = None) -> dict[str, Value]:
        """Every feature by name, for a summary, a scrape or a features record."""
        best = self._best()
        book = self.book
        out: dict[str, Value] = {}
        if best is None:
            bid = None if book.stale else book.best_bid()
            ask = None if book.stale else book.best_ask()
            out["best_bid"] = bid[0] if bid else None
            out["best_ask"] = ask[0] if ask else None
            out["best_bid_amount"] = bid[1] if bid else None
            out["best_ask_amount"] = ask[1] if ask else None
            for name in ("mid", "spread", "imbalance"):
                out[name] = None
            for depth in self.depths:
                out[f"imbalance_{depth}"] = None
            out["microprice"] = None
        else:
            pb, vb, pa, va = best
            out["best_bid"] = pb
            out["best_ask"] = pa
            out["best_bid_amount"] = vb
            out["best_ask_amount"] = va
            out["mid"] = (pb + pa) / 2
            out["spread"] = pa - pb
            out["imbalance"] = (vb - va) / (vb + va)
            for depth in self.depths:
                out[f"imbalance_{depth}"] = self.imbalance_k(depth)
            out["microprice"] = (pb * va + pa * vb) / (vb + va)
        for seconds in self.ofi_windows:
            out[f"ofi_{window_label(seconds)}"] = self.ofi(seconds, now_ms)
        ticker = self.ticker
        for name in TICKER_FIELDS:
            out[name] = ticker.get(name)
        out["change_id"] = book.change_id
        out["stale"] = book.stale
        out["timestamp"] = self.now_ms or None
        return out


@dataclass(slots=True)
class EngineStats:
    """Plain counters of a :class:`FeatureEngine`."""

    book_messages: int = 0
    ticker_messages: int = 0
    ignored: int = 0


class FeatureEngine:
    """Books and features for every instrument, fed notification by notification.

    One book per instrument: the first book channel seen for an instrument (incremental or
    grouped) feeds it; notifications of the other book channel are counted as ignored.
    """

    def __init__(self, settings: FeatureSettings | None = None) -> None:
        self.settings = settings or FeatureSettings()
        self.features: dict[str, Features] = {}
        self.stats = EngineStats()
        self._book_channel: dict[str, str] = {}
        # channel name -> handler of its data; built once per channel, so routing is one lookup.
        self._routes: dict[str, Callable[[Any], Applied | None]] = {}

    def book(self, instrument: str) -> OrderBook | None:
        state = self.features.get(instrument)
        return None if state is None else state.book

    def on_notification(self, channel: str, data: Any) -> Applied | None:
        """Route one subscription notification; returns the book result, or None if not a book."""
        route = self._routes.get(channel)
        if route is None:
            route = self._route(channel)
        return route(data)

    def gaps(self) -> int:
        return sum(state.book.stats.gaps for state in self.features.values())

    def values(self, now_ms: int | None = None) -> dict[str, dict[str, Value]]:
        return {name: state.values(now_ms) for name, state in sorted(self.features.items())}

    def _state(self, instrument: str) -> Features:
        state = self.features.get(instrument)
        if state is None:
            state = self.features[instrument] = Features(OrderBook(instrument), self.settings)
        return state

    def _route(self, name: str) -> Callable[[Any], Applied | None]:
        channel = parse_channel(name)
        instrument = channel.instrument
        route: Callable[[Any], Applied | None]
        if instrument is None or channel.kind not in ("book", "grouped_book", "ticker"):
            route = self._ignore
        elif channel.kind == "ticker":
            route = self._ticker_route(self._state(instrument))
        elif self._book_channel.setdefault(instrument, name) != name:
            route = self._ignore
        else:
            route = self._book_route(self._state(instrument))
        self._routes[name] = route
        return route

    def _ignore(self, data: Any) -> None:
        self.stats.ignored += 1

    def _book_route(self, state: Features) -> Callable[[Any], Applied | None]:
        apply = state.book.apply
        on_book = state.on_book
        stats = self.stats

        def route(data: Any) -> Applied | None:
            stats.book_messages += 1
            if type(data) is not dict:
                stats.ignored += 1
                return None
            applied = apply(data)
            on_book(applied)
            return applied

        return route

    def _ticker_route(self, state: Features) -> Callable[[Any], Applied | None]:
        on_ticker = state.on_ticker
        stats = self.stats

        def route(data: Any) -> None:
            stats.ticker_messages += 1
            if type(data) is dict:
                on_ticker(data)
            else:
                stats.ignored += 1

        return route
