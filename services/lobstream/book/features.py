"""Market-microstructure features over an :class:`~lobstream.book.orderbook.OrderBook`. No I/O.

Per book event only the order flow imbalance is updated (a few comparisons and one deque
append); every other feature is derived from the book when read. Values a one-sided or empty
book cannot define, or a stale book must not claim, read as ``None``.

- mid = (Pb + Pa) / 2, spread = Pa - Pb (best bid Pb, best ask Pa), both rounded to the decimals
  the prices carry (:func:`exact_mid`, :func:`exact_spread`): 3000.15 - 3000.1 is 0.05, as the
  exchange would print it, not 0.04999999999972715.
- imbalance = (Vb - Va) / (Vb + Va) at the best level; ``imbalance_k`` sums the top k levels.
- microprice = (Pb * Va + Pa * Vb) / (Vb + Va).
- OFI (Cont, Kukanov and Stoikov 2014): per book event n,
  e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n
  + 1{Pa_n >= Pa_n-1} qa_n-1, summed over rolling windows of exchange time.
- From the ticker: mark_price, index_price, current_funding, funding_8h.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from lobstream.book.catalogue import Snapshot, document
from lobstream.book.orderbook import Applied, OrderBook
from lobstream.settings import FeatureSettings

_SNAPSHOT: Final = Applied.SNAPSHOT

# A rolling window keeps at most this many time buckets, so its memory is bounded whatever
# the message rate: 1 ms buckets up to a 10 s window, coarser buckets beyond.
MAX_BUCKETS: Final = 10_000

Value = float | int | bool | None

TICKER_NUMBERS: Final = ("mark_price", "index_price", "current_funding", "funding_8h")
"""The ticker fields the features export; a ticker where one is present but not a number is
refused when the features are read (counted, the previous ticker kept)."""
_NUMBER_OR_ABSENT: Final = frozenset({float, int, type(None)})


def decimals(price: float) -> int:
    """Decimal places of ``price`` as the exchange wrote it (its shortest repr): 3000.05 -> 2."""
    text = repr(price)
    mantissa, _, exponent = text.partition("e")
    fraction = mantissa.partition(".")[2].rstrip("0")
    places = len(fraction) - (int(exponent) if exponent else 0)
    return max(places, 0)


def exact_spread(bid: float, ask: float) -> float:
    """``ask - bid`` without binary noise: exact to the decimals the two prices carry."""
    return round(ask - bid, max(decimals(bid), decimals(ask)))


def exact_mid(bid: float, ask: float) -> float:
    """``(bid + ask) / 2`` without binary noise: halving adds at most one decimal place."""
    return round((bid + ask) / 2, max(decimals(bid), decimals(ask)) + 1)


def window_label(seconds: float) -> str:
    """``1.0 -> "1s"``, ``0.5 -> "500ms"``: the suffix of an OFI feature's name."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


class RollingSum:
    """Values in time buckets over the last ``span_ms`` of exchange time, summed when read.

    Windows of the same bucket width share one instance (spanning the longest of them), so the
    default 1 s and 10 s OFI windows cost one deque append per book event.
    """

    __slots__ = ("_entries", "bucket_ms", "span_ms")

    def __init__(self, span_ms: int, bucket_ms: int = 1) -> None:
        self.span_ms = span_ms
        self.bucket_ms = bucket_ms
        # [bucket start, sum] pairs, oldest first; at most span/bucket + 1 of them.
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
            cutoff = bucket - self.span_ms
            while entries[0][0] <= cutoff:
                entries.popleft()
                if not entries:
                    break
        entries.append([bucket, value])

    def total(self, now_ms: int, window_ms: int) -> float:
        """The sum of the values added in ``(now - window, now]``."""
        cutoff = now_ms - window_ms
        return sum(value for start, value in self._entries if start > cutoff)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def rolling_sums(windows_seconds: Sequence[float]) -> dict[float, tuple[RollingSum, int]]:
    """window (s) -> (the shared RollingSum that holds it, window in ms)."""
    spans: dict[int, int] = {}
    sizes: dict[float, tuple[int, int]] = {}
    for seconds in windows_seconds:
        window_ms = max(1, round(seconds * 1000))
        bucket_ms = max(1, window_ms // MAX_BUCKETS)
        spans[bucket_ms] = max(spans.get(bucket_ms, 0), window_ms)
        sizes[seconds] = (bucket_ms, window_ms)
    sums = {bucket_ms: RollingSum(span_ms, bucket_ms) for bucket_ms, span_ms in spans.items()}
    return {seconds: (sums[bucket], window) for seconds, (bucket, window) in sizes.items()}


class Features:
    """One instrument's book and features.

    Feed it book notification data with :meth:`update` (never ``book.apply`` directly, or the
    OFI misses that event) and ticker data with :meth:`on_ticker`.
    """

    __slots__ = (
        "_good_ticker",
        "_ref",
        "_sums",
        "_windows",
        "book",
        "depths",
        "instrument",
        "ofi_windows",
        "ticker",
        "ticker_malformed",
        "ticker_messages",
        "ticker_non_numeric",
    )

    def __init__(self, book: OrderBook, settings: FeatureSettings | None = None) -> None:
        settings = settings or FeatureSettings()
        self.book = book
        self.instrument = book.instrument
        self.depths: tuple[int, ...] = tuple(settings.imbalance_depths)
        self.ofi_windows: tuple[float, ...] = tuple(settings.ofi_windows_seconds)
        self._windows = rolling_sums(self.ofi_windows)
        self._sums = tuple({id(rs): rs for rs, _ in self._windows.values()}.values())
        self.ticker: dict[str, Any] = {}
        self._good_ticker = self.ticker
        """The latest ticker whose :data:`TICKER_NUMBERS` were found to be numbers."""
        self.ticker_messages = 0
        self.ticker_malformed = 0
        """Ticker notifications whose data was not an object."""
        self.ticker_non_numeric = 0
        """Tickers refused when read: a :data:`TICKER_NUMBERS` field was not a number (the
        previous good ticker is used instead). A bad ticker superseded before any read was never
        used and is not counted."""
        # The previous event's best levels (Pb, qb, Pa, qa): the reference for the next OFI term.
        self._ref: tuple[float, float, float, float] | None = None

    # --- per message ------------------------------------------------------------------------

    def update(self, data: Any) -> Applied:
        """Apply one book notification's ``data`` to the book and account for it.

        The hot path: the OFI term is computed here, from the best levels before and after.
        """
        book = self.book
        applied = book.apply(data)  # data that is not an object is counted there
        if book.stale:
            self._ref = None
            return applied
        try:
            pb = book.bid_prices[-1]
            pa = book.ask_prices[0]
        except IndexError:  # a one-sided or empty book: no reference
            self._ref = None
            return applied
        ref = self._ref
        self._ref = now = (pb, book.bids[pb], pa, book.asks[pa])
        # Most events leave the touch as it was: no flow (one C-level comparison).
        if ref == now or ref is None:
            return applied
        # An incremental snapshot is a restart point, not order flow; a grouped book is.
        if applied is _SNAPSHOT and not book.grouped:
            return applied
        opb, oqb, opa, oqa = ref
        qb = now[1]
        qa = now[3]
        # e_n written per case of the indicators (both hold when a price is unchanged).
        if pb == opb:
            flow = qb - oqb
        elif pb > opb:
            flow = qb
        else:
            flow = -oqb
        if pa == opa:
            flow += oqa - qa
        elif pa < opa:
            flow -= qa
        else:
            flow += oqa
        if flow:
            timestamp = book.timestamp or 0
            for rolling in self._sums:
                rolling.add(timestamp, flow)
        return applied

    def on_ticker(self, data: Any) -> None:
        """Keep the ticker notification; its fields are checked and read lazily (:meth:`_ticker`).

        Checking the numeric fields here would cost more per ticker than keeping it: tickers are
        half of Deribit's public 100 ms stream.
        """
        self.ticker_messages += 1
        if type(data) is dict:
            self.ticker = data
        else:
            self.ticker_malformed += 1

    @property
    def now_ms(self) -> int:
        """The latest exchange timestamp seen (book or ticker): "now" for the OFI windows."""
        ticker_time = self.ticker.get("timestamp")
        book_time = self.book.timestamp or 0
        if type(ticker_time) is int and ticker_time > book_time:
            return ticker_time
        return book_time

    # --- reads ------------------------------------------------------------------------------

    def _ticker(self) -> dict[str, Any]:
        """The latest usable ticker: the newest one, unless a field features export is not a
        number; then it is counted, dropped, and the previous good one stands."""
        ticker = self.ticker
        if ticker is self._good_ticker:
            return ticker
        if all(type(ticker.get(name)) in _NUMBER_OR_ABSENT for name in TICKER_NUMBERS):
            self._good_ticker = ticker
            return ticker
        self.ticker_non_numeric += 1
        self.ticker = self._good_ticker
        return self._good_ticker

    def _best(self) -> tuple[float, float, float, float] | None:
        book = self.book
        if book.stale or not book.bid_prices or not book.ask_prices:
            return None
        pb = book.bid_prices[-1]
        pa = book.ask_prices[0]
        return pb, book.bids[pb], pa, book.asks[pa]

    def mid(self) -> float | None:
        best = self._best()
        return None if best is None else exact_mid(best[0], best[2])

    def spread(self) -> float | None:
        best = self._best()
        return None if best is None else exact_spread(best[0], best[2])

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
        rolling, window_ms = self._windows[seconds]
        return rolling.total(self.now_ms if now_ms is None else now_ms, window_ms)

    def snapshot(self, now_ms: int | None = None) -> Snapshot:
        """Every feature now, typed; ``now_ms`` as in :meth:`ofi`."""
        best = self._best()
        book = self.book
        ticker = self._ticker()
        if best is None:
            bid = None if book.stale else book.best_bid()
            ask = None if book.stale else book.best_ask()
            mid = spread = imbalance = microprice = None
            depth_imbalance: dict[int, float | None] = dict.fromkeys(self.depths)
            best_bid, best_bid_amount = bid if bid else (None, None)
            best_ask, best_ask_amount = ask if ask else (None, None)
        else:
            best_bid, best_bid_amount, best_ask, best_ask_amount = pb, vb, pa, va = best
            mid = exact_mid(pb, pa)
            spread = exact_spread(pb, pa)
            imbalance = (vb - va) / (vb + va)
            depth_imbalance = {depth: self.imbalance_k(depth) for depth in self.depths}
            microprice = (pb * va + pa * vb) / (vb + va)
        return Snapshot(
            best_bid=best_bid,
            best_ask=best_ask,
            best_bid_amount=best_bid_amount,
            best_ask_amount=best_ask_amount,
            mid=mid,
            spread=spread,
            imbalance=imbalance,
            depth_imbalance=depth_imbalance,
            microprice=microprice,
            order_flow_imbalance={
                window_label(seconds): self.ofi(seconds, now_ms) for seconds in self.ofi_windows
            },
            mark_price=ticker.get("mark_price"),
            index_price=ticker.get("index_price"),
            current_funding=ticker.get("current_funding"),
            funding_8h=ticker.get("funding_8h"),
            change_id=book.change_id,
            stale=book.stale,
            timestamp=self.now_ms or None,
        )

    def values(self, now_ms: int | None = None) -> dict[str, Value]:
        """Every feature by its JSON key (:func:`lobstream.book.catalogue.document`)."""
        return document(self.snapshot(now_ms))
