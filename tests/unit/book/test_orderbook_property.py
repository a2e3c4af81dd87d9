"""Property: after any sequence of valid changes the book equals a naive reference.

The reference is two plain dicts, updated entry by entry and sorted in full when read.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lobstream.book.orderbook import Applied, OrderBook

TICK = 0.5


@st.composite
def sessions(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], list[int]]:
    """A snapshot, a chain of valid changes, and which of them are re-delivered."""
    # Bids and asks live on disjoint tick ranges, so a valid session never crosses.
    bid_ticks = st.integers(1, 40)
    ask_ticks = st.integers(41, 80)
    amounts = st.integers(1, 50).map(lambda lots: lots * 10.0)
    bids = draw(st.dictionaries(bid_ticks, amounts, max_size=20))
    asks = draw(st.dictionaries(ask_ticks, amounts, max_size=20))
    change_id = draw(st.integers(1, 10**9))
    snapshot = {
        "type": "snapshot",
        "timestamp": 1,
        "instrument_name": "X",
        "change_id": change_id,
        "bids": [["new", t * TICK, a] for t, a in sorted(bids.items(), reverse=True)],
        "asks": [["new", t * TICK, a] for t, a in sorted(asks.items())],
    }
    changes = []
    for _ in range(draw(st.integers(0, 40))):
        entries: dict[str, list[list[Any]]] = {"bids": [], "asks": []}
        for side, levels, ticks in (("bids", bids, bid_ticks), ("asks", asks, ask_ticks)):
            touched: set[int] = set()
            for _ in range(draw(st.integers(0, 4))):
                tick = draw(ticks)
                if tick in touched:
                    continue  # one entry per level per message, as the exchange sends
                touched.add(tick)
                if tick not in levels:
                    levels[tick] = draw(amounts)
                    entries[side].append(["new", tick * TICK, levels[tick]])
                elif draw(st.booleans()):
                    del levels[tick]
                    entries[side].append(["delete", tick * TICK, 0.0])
                else:
                    levels[tick] = draw(amounts)
                    entries[side].append(["change", tick * TICK, levels[tick]])
        prev, change_id = change_id, change_id + draw(st.integers(1, 5))
        changes.append(
            {"type": "change", "timestamp": 2, "instrument_name": "X", "change_id": change_id,
             "prev_change_id": prev, **entries}
        )  # fmt: skip
    redeliver = draw(st.lists(st.integers(0, max(0, len(changes) - 1)), max_size=5))
    return snapshot, changes, redeliver


def naive_apply(ref: dict[str, dict[float, float]], data: dict[str, Any]) -> None:
    if data["type"] == "snapshot":
        for side in ("bids", "asks"):
            ref[side] = {price: amount for _, price, amount in data[side]}
        return
    for side in ("bids", "asks"):
        for action, price, amount in data[side]:
            if action == "delete":
                del ref[side][price]
            else:
                ref[side][price] = amount


def check(book: OrderBook, ref: dict[str, dict[float, float]]) -> None:
    bids = sorted(ref["bids"].items(), reverse=True)
    asks = sorted(ref["asks"].items())
    assert book.levels() == (ref["bids"], ref["asks"])
    assert book.best_bid() == (bids[0] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    for k in (1, 3, 10, 100):
        assert book.top_bids(k) == bids[:k]
        assert book.top_asks(k) == asks[:k]


@settings(max_examples=300, deadline=None)
@given(sessions())
def test_book_equals_naive_reference(
    session: tuple[dict[str, Any], list[dict[str, Any]], list[int]],
) -> None:
    snapshot, changes, redeliver = session
    book = OrderBook("X")
    ref: dict[str, dict[float, float]] = {}
    assert book.apply(snapshot) is Applied.SNAPSHOT
    naive_apply(ref, snapshot)
    check(book, ref)
    for index, data in enumerate(changes):
        assert book.apply(data) is Applied.CHANGE
        naive_apply(ref, data)
        check(book, ref)
        # At-least-once delivery: an earlier message again must change nothing.
        for again in redeliver:
            if again <= index:
                assert book.apply(changes[again]) is Applied.DUPLICATE
        check(book, ref)
    assert book.change_id == (changes[-1]["change_id"] if changes else snapshot["change_id"])
    assert book.stats.bad_entries == 0
    # What the producer writes to Kafka rebuilds the same book.
    copy = OrderBook("X")
    assert copy.apply(book.snapshot_data(3)) is Applied.SNAPSHOT
    check(copy, ref)
