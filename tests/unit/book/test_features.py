"""Features, checked against numbers worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from lobstream.book.features import (
    MAX_BUCKETS,
    Features,
    RollingSum,
    decimals,
    exact_mid,
    exact_spread,
    window_label,
)
from lobstream.book.orderbook import Applied, OrderBook
from lobstream.settings import FeatureSettings
from tests.unit.book.book_data import NAME, snapshot


class Stream:
    """Feeds chained changes to one Features object."""

    def __init__(self, features: Features, change_id: int) -> None:
        self.features = features
        self.change_id = change_id

    def change(self, ts: int, bids: list[Any] = (), asks: list[Any] = ()) -> Applied:
        prev, self.change_id = self.change_id, self.change_id + 1
        data = {
            "type": "change",
            "timestamp": ts,
            "instrument_name": NAME,
            "change_id": self.change_id,
            "prev_change_id": prev,
            "bids": [list(e) for e in bids],
            "asks": [list(e) for e in asks],
        }
        return self.features.update(data)


def features(settings: FeatureSettings | None = None) -> Features:
    return Features(OrderBook(NAME), settings)


def documented() -> Features:
    """The book of Deribit's documented snapshot: best bid 5042.34 x 30, best ask 5042.64 x 40."""
    f = features()
    f.update(snapshot(297217, [(5042.34, 30), (5041.94, 20)], [(5042.64, 40), (5043.3, 40)]))
    return f


def test_imbalance_of_the_original_design_on_its_own_example() -> None:
    # Imb = (Vb - Va) / (Vb + Va) = (30 - 40) / (30 + 40) = -1/7
    assert documented().imbalance() == pytest.approx(-1 / 7)


def test_mid_spread_and_microprice() -> None:
    f = documented()
    assert f.mid() == pytest.approx(5042.49)
    assert f.spread() == pytest.approx(0.30)
    # (Pb*Va + Pa*Vb) / (Vb + Va) = Pb + spread * Vb / (Vb + Va) = 5042.34 + 0.3 * 3/7
    assert f.microprice() == pytest.approx(5042.34 + 0.3 * 3 / 7)


def test_imbalance_over_top_k_levels() -> None:
    f = features()
    bids = [(100.0 - i, 10.0 * (i + 1)) for i in range(12)]  # 10, 20, ..., 120
    asks = [(101.0 + i, 30.0) for i in range(12)]
    f.update(snapshot(1, bids, asks))
    # k=5: Vb = 10+20+30+40+50 = 150, Va = 5*30 = 150 -> 0
    assert f.imbalance_k(5) == pytest.approx(0.0)
    # k=10: Vb = 550, Va = 300 -> 250/850
    assert f.imbalance_k(10) == pytest.approx(250 / 850)
    # k=1 is the best-level imbalance: (10 - 30) / 40
    assert f.imbalance_k(1) == pytest.approx(f.imbalance()) == pytest.approx(-0.5)
    # fewer levels than k: all of them, 12 each side: Vb = 780, Va = 360
    assert f.imbalance_k(50) == pytest.approx(420 / 1140)
    values = f.values()
    assert values["imbalance_5"] == pytest.approx(0.0)
    assert values["imbalance_10"] == pytest.approx(250 / 850)


@pytest.mark.parametrize(
    ("bids", "asks"),
    [([(100.0, 5)], []), ([], [(101.0, 5)]), ([], [])],
)
def test_one_sided_or_empty_book_gives_none(bids: list[Any], asks: list[Any]) -> None:
    f = features()
    f.update(snapshot(1, bids, asks))
    values = f.values()
    for name in ("mid", "spread", "imbalance", "imbalance_5", "imbalance_10", "microprice"):
        assert values[name] is None, name
    assert f.mid() is None
    assert f.imbalance_k(5) is None
    assert values["best_bid"] == (bids[0][0] if bids else None)
    assert values["best_bid_amount"] == (bids[0][1] if bids else None)
    assert values["best_ask"] == (asks[0][0] if asks else None)
    assert values["stale"] is False
    assert values["ofi_1s"] == 0


def test_stale_book_gives_no_book_features() -> None:
    f = documented()
    stream = Stream(f, 297217)
    stream.change_id += 5  # the next change skips ahead: a gap
    assert stream.change(10, bids=[("change", 5042.34, 31)]) is Applied.GAP
    values = f.values()
    assert values["stale"] is True
    assert values["change_id"] == 297217
    for name in ("best_bid", "best_ask", "mid", "imbalance", "microprice", "ofi_1s", "ofi_10s"):
        assert values[name] is None, name


# --- order flow imbalance -----------------------------------------------------------------


def ofi_book() -> tuple[Features, Stream]:
    """Best bid 100 x 10 (then 99.5 x 8), best ask 101 x 20 (then 101.5 x 9)."""
    f = features()
    f.update(snapshot(1, [(100.0, 10), (99.5, 8)], [(101.0, 20), (101.5, 9)], ts=0))
    return f, Stream(f, 1)


@pytest.mark.parametrize(
    ("bids", "asks", "expected"),
    [
        # bid queue grows at the same price: +(15 - 10)
        ([("change", 100.0, 15)], [], 5),
        # bid queue shrinks at the same price: +(4 - 10)
        ([("change", 100.0, 4)], [], -6),
        # bid price improves: +qb_n = +7
        ([("new", 100.5, 7)], [], 7),
        # best bid removed, price falls: -qb_n-1 = -10
        ([("delete", 100.0, 0)], [], -10),
        # ask queue grows at the same price: -(26 - 20)
        ([], [("change", 101.0, 26)], -6),
        # ask price improves (falls): -qa_n = -4
        ([], [("new", 100.5, 4)], -4),
        # best ask removed, price rises: +qa_n-1 = +20
        ([], [("delete", 101.0, 0)], 20),
        # a level away from the touch: no flow
        ([("change", 99.5, 50)], [("change", 101.5, 1)], 0),
        # both sides at once: +(12 - 10) - (25 - 20)
        ([("change", 100.0, 12)], [("change", 101.0, 25)], -3),
    ],
)
def test_ofi_event_term(bids: list[Any], asks: list[Any], expected: float) -> None:
    f, stream = ofi_book()
    assert stream.change(500, bids, asks) is Applied.CHANGE
    assert f.ofi(1.0) == expected
    assert f.ofi(10.0) == expected


def test_ofi_sums_over_rolling_windows_of_exchange_time() -> None:
    f, stream = ofi_book()
    stream.change(1_000, [("change", 100.0, 15)])  # +5
    stream.change(8_000, [("change", 100.0, 12)])  # -3
    stream.change(8_600, [], [("change", 101.0, 10)])  # +10
    stream.change(9_500, [("change", 100.0, 13)])  # +1
    # now = 9500: the 1 s window holds (8500, 9500], the 10 s window everything.
    assert f.ofi(1.0) == 11
    assert f.ofi(10.0) == 13
    # A later ticker moves "now" on: at 11 000 the 1 s window is empty and the +5 at 1000 has
    # left the 10 s window.
    f.on_ticker({"timestamp": 11_000, "mark_price": 1.0})
    assert f.ofi(1.0) == 0
    assert f.ofi(10.0) == 8
    assert f.values()["ofi_10s"] == 8
    # An explicit "now" (wall clock, for a live consumer) is honoured too.
    assert f.ofi(10.0, now_ms=9_500) == 13


def test_ofi_ignores_duplicates_and_restarts_after_a_resync() -> None:
    f, stream = ofi_book()
    stream.change(100, [("change", 100.0, 15)])  # +5
    redelivered = {
        "type": "change", "timestamp": 100, "instrument_name": NAME, "change_id": 2,
        "prev_change_id": 1, "bids": [["change", 100.0, 15]], "asks": [],
    }  # fmt: skip
    assert f.update(redelivered) is Applied.DUPLICATE
    assert f.ofi(10.0) == 5
    # Gap, then a snapshot with a different best: the jump is not order flow.
    stream.change_id += 3
    assert stream.change(200, [("change", 100.0, 1)]) is Applied.GAP
    assert f.update(snapshot(50, [(90.0, 1)], [(95.0, 1)], ts=300)) is Applied.SNAPSHOT
    assert f.ofi(10.0) == 5
    stream.change_id = 50
    stream.change(400, [("change", 90.0, 4)])  # +3
    assert f.ofi(10.0) == 8


def test_grouped_books_are_ofi_events() -> None:
    f = features()

    def grouped(change_id: int, ts: int, bid: float, ask: float) -> dict[str, Any]:
        return {"timestamp": ts, "instrument_name": NAME, "change_id": change_id,
                "bids": [[100.0, bid]], "asks": [[101.0, ask]]}  # fmt: skip

    f.update(grouped(1, 0, 10, 20))
    f.update(grouped(2, 100, 14, 20))  # +4
    f.update(grouped(3, 200, 14, 25))  # -5
    assert f.ofi(1.0) == -1


def test_ticker_fields() -> None:
    f = documented()
    ticker = {"timestamp": 5, "mark_price": 5042.5, "index_price": 5040.1}
    f.on_ticker(ticker | {"current_funding": 0.0001, "funding_8h": 0.00025, "best_bid_price": 1})
    values = f.values()
    assert values["mark_price"] == 5042.5
    assert values["index_price"] == 5040.1
    assert values["current_funding"] == 0.0001
    assert values["funding_8h"] == 0.00025
    assert f.ticker_messages == 1


def test_configured_depths_and_windows_name_the_features() -> None:
    settings = FeatureSettings(imbalance_depths=[3], ofi_windows_seconds=[0.5, 60])
    f = features(settings)
    f.update(snapshot(1, [(100.0, 1), (99.0, 1), (98.0, 1), (97.0, 5)], [(101.0, 2)]))
    values = f.values()
    assert values["imbalance_3"] == pytest.approx((3 - 2) / 5)
    assert "imbalance_5" not in values
    assert values["ofi_500ms"] == 0
    assert values["ofi_60s"] == 0
    assert window_label(1.0) == "1s"
    assert window_label(0.25) == "250ms"


def test_rolling_sum_memory_is_bounded() -> None:
    rolling = RollingSum(span_ms=100_000, bucket_ms=100_000 // MAX_BUCKETS)
    for ts in range(0, 400_000, 3):
        rolling.add(ts, 1.0)
    assert len(rolling) <= MAX_BUCKETS + 1
    # 100 s at one event per 3 ms, to within one 10 ms bucket
    assert rolling.total(399_999, 100_000) == pytest.approx(100_000 / 3, abs=5)


# --- exact values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "mid", "spread"),
    [
        # The features topic used to carry 3000.1000000000004 and 0.04999999999972715 here.
        (3000.05, 3000.15, 3000.1, 0.1),
        (3000.1, 3000.15, 3000.125, 0.05),
        (5042.34, 5042.64, 5042.49, 0.3),
        (0.1, 0.3, 0.2, 0.2),
        (64250.5, 64251.0, 64250.75, 0.5),
        (64250, 64251, 64250.5, 1),
        (0.00001234, 0.00001237, 0.000012355, 0.00000003),
    ],
)
def test_mid_and_spread_are_exact_to_the_prices_decimals(
    bid: float, ask: float, mid: float, spread: float
) -> None:
    f = features()
    f.update(snapshot(1, [(bid, 1)], [(ask, 2)]))
    # Exact equality: the value is the double nearest the decimal the exchange would print.
    assert f.mid() == mid
    assert f.spread() == spread
    assert repr(f.mid()) == repr(mid)
    values = f.values()
    assert (values["mid"], values["spread"]) == (mid, spread)


def test_the_naive_arithmetic_is_noisy_for_these_prices() -> None:
    # Why exact_mid/exact_spread exist: the plain formulas print binary noise.
    assert (3000.05 + 3000.15) / 2 != 3000.1
    assert 3000.15 - 3000.1 != 0.05
    assert (exact_mid(3000.05, 3000.15), exact_spread(3000.1, 3000.15)) == (3000.1, 0.05)


@pytest.mark.parametrize(
    ("price", "places"), [(3000.05, 2), (3000.0, 0), (64250, 0), (1e-05, 5), (2.5e-07, 8), (0.1, 1)]
)
def test_decimals_reads_the_shortest_repr(price: float, places: int) -> None:
    assert decimals(price) == places


def test_a_ticker_with_a_non_numeric_field_is_refused_and_counted() -> None:
    f = documented()
    f.on_ticker({"timestamp": 5, "mark_price": 5042.5, "index_price": 5040.1})
    assert f.values()["mark_price"] == 5042.5
    f.on_ticker({"timestamp": 6, "mark_price": "5042.6", "index_price": 5040.2})
    assert f.values()["mark_price"] == 5042.5  # refused when read: the last good one stands
    assert f.values()["index_price"] == 5040.1
    f.on_ticker({"timestamp": 7, "mark_price": True, "index_price": 5040.2})
    assert f.values()["mark_price"] == 5042.5
    f.on_ticker(["not", "an", "object"])
    assert (f.ticker_messages, f.ticker_non_numeric, f.ticker_malformed) == (4, 2, 1)
    f.on_ticker({"timestamp": 8, "mark_price": 5043.0, "index_price": 5040.3, "funding_8h": None})
    assert f.values()["mark_price"] == 5043.0
    assert f.ticker_non_numeric == 2  # each refusal counted once, however often it is read
