"""OrderBook: snapshots, changes, continuity, grouped books and defensive handling of bad data."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

from lobstream.book.orderbook import Applied, OrderBook
from tests.unit.book.book_data import NAME, snapshot


def change(
    change_id: int, prev: int | None, bids: list[Any] = (), asks: list[Any] = (), ts: int = 1001
) -> dict[str, Any]:
    return {
        "type": "change",
        "timestamp": ts,
        "instrument_name": NAME,
        "change_id": change_id,
        "prev_change_id": prev,
        "bids": [list(e) for e in bids],
        "asks": [list(e) for e in asks],
    }


def example_book() -> OrderBook:
    """The snapshot from Deribit's documentation (see docs/deribit-protocol.md)."""
    book = OrderBook(NAME)
    data = snapshot(297217, [(5042.34, 30), (5041.94, 20)], [(5042.64, 40), (5043.3, 40)])
    assert book.apply(data) is Applied.SNAPSHOT
    return book


def test_snapshot_gives_best_levels_and_top_k_best_first() -> None:
    book = example_book()
    assert book.change_id == 297217
    assert not book.stale
    assert book.best_bid() == (5042.34, 30)
    assert book.best_ask() == (5042.64, 40)
    assert book.top_bids(5) == [(5042.34, 30), (5041.94, 20)]
    assert book.top_asks(1) == [(5042.64, 40)]
    assert book.top_asks(0) == []
    assert book.levels() == ({5042.34: 30, 5041.94: 20}, {5042.64: 40, 5043.3: 40})


def test_documented_change_deletes_both_bids() -> None:
    book = example_book()
    data = change(297218, 297217, bids=[("delete", 5041.94, 0), ("delete", 5042.34, 0)])
    assert book.apply(data) is Applied.CHANGE
    assert book.best_bid() is None
    assert book.top_bids(10) == []
    assert book.best_ask() == (5042.64, 40)
    assert book.change_id == 297218


def test_new_change_and_delete_in_one_message() -> None:
    book = example_book()
    data = change(
        297220,
        297217,
        bids=[("new", 5042.5, 7), ("change", 5041.94, 25)],
        asks=[("delete", 5042.64, 0), ("new", 5044.0, 1)],
    )
    assert book.apply(data) is Applied.CHANGE
    assert book.top_bids(3) == [(5042.5, 7), (5042.34, 30), (5041.94, 25)]
    assert book.top_asks(3) == [(5043.3, 40), (5044.0, 1)]
    assert book.timestamp == 1001


def test_change_to_zero_amount_removes_the_level() -> None:
    book = example_book()
    assert book.apply(change(297218, 297217, asks=[("change", 5042.64, 0)])) is Applied.CHANGE
    assert book.best_ask() == (5043.3, 40)


def test_redelivered_change_is_a_harmless_duplicate() -> None:
    book = example_book()
    first = change(297218, 297217, bids=[("change", 5042.34, 99)])
    assert book.apply(first) is Applied.CHANGE
    before = book.levels()
    assert book.apply(first) is Applied.DUPLICATE
    assert book.apply(change(297217, 297216, bids=[("delete", 5042.34, 0)])) is Applied.DUPLICATE
    assert book.levels() == before
    assert book.stats.duplicates == 2
    assert not book.stale


def test_gap_marks_stale_until_next_snapshot() -> None:
    book = example_book()
    assert book.apply(change(297220, 297219, bids=[("delete", 5042.34, 0)])) is Applied.GAP
    assert book.stale
    assert book.stats.gaps == 1
    # Nothing is applied while stale, even a change that chains to the last good one.
    assert book.apply(change(297218, 297217, bids=[("delete", 5042.34, 0)])) is Applied.STALE
    assert book.best_bid() == (5042.34, 30)
    assert book.stats.stale_ignored == 1
    resync = snapshot(297300, [(5000.0, 1)], [(5001.0, 2)])
    assert book.apply(resync) is Applied.SNAPSHOT
    assert not book.stale
    assert book.levels() == ({5000.0: 1}, {5001.0: 2})
    assert book.apply(change(297301, 297300, asks=[("new", 5002.0, 3)])) is Applied.CHANGE
    assert book.stats.gaps == 1


def test_changes_before_any_snapshot_are_ignored() -> None:
    book = OrderBook(NAME)
    assert book.stale
    assert book.apply(change(5, 4, bids=[("new", 1.0, 1)])) is Applied.STALE
    assert book.levels() == ({}, {})
    assert book.stats.gaps == 0


def test_snapshot_not_newer_than_a_healthy_book_is_a_duplicate() -> None:
    book = example_book()
    older = snapshot(297000, [(1.0, 1)], [(2.0, 1)])
    assert book.apply(older) is Applied.DUPLICATE
    assert book.best_bid() == (5042.34, 30)
    # A stale book takes any snapshot, whatever its change_id.
    book.mark_stale()
    assert book.apply(older) is Applied.SNAPSHOT
    assert book.change_id == 297000


def test_grouped_book_replaces_everything() -> None:
    book = OrderBook("ETH-PERPETUAL")
    grouped = {
        "timestamp": 1554375447971,
        "instrument_name": "ETH-PERPETUAL",
        "change_id": 109615,
        "bids": [[160, 40]],
        "asks": [[161, 20]],
    }
    assert book.apply(grouped) is Applied.SNAPSHOT
    assert book.grouped
    assert book.best_bid() == (160, 40)
    nxt = dict(grouped, change_id=109616, bids=[[159.5, 5], [159, 1]], asks=[[160.5, 2]])
    assert book.apply(nxt) is Applied.SNAPSHOT
    assert book.levels() == ({159.5: 5, 159: 1}, {160.5: 2})
    assert book.apply(nxt) is Applied.DUPLICATE


def test_snapshot_data_round_trips() -> None:
    book = example_book()
    book.apply(change(297218, 297217, bids=[("new", 5040.0, 5)]))
    data = book.snapshot_data(1234)
    assert data["type"] == "snapshot"
    assert data["timestamp"] == 1234
    assert data["change_id"] == 297218
    assert data["bids"] == [["new", 5042.34, 30], ["new", 5041.94, 20], ["new", 5040.0, 5]]
    assert data["asks"] == [["new", 5042.64, 40], ["new", 5043.3, 40]]
    copy = OrderBook(NAME)
    assert copy.apply(data) is Applied.SNAPSHOT
    assert copy.levels() == book.levels()


@pytest.mark.parametrize(
    ("entry", "counter"),
    [
        (("delete", 4000.0, 0), "unknown_deletes"),
        (("change", 4000.0, -10), "bad_amounts"),
        (("new", 4000.0, math.nan), "bad_amounts"),
        (("new", 4000.0, math.inf), "bad_amounts"),
        (("new", -1.0, 10), "malformed_entries"),
        (("new", math.nan, 10), "malformed_entries"),
        (("new", "4000", 10), "malformed_entries"),
        (("move", 4000.0, 10), "malformed_entries"),
        (("new", 4000.0), "malformed_entries"),
    ],
)
def test_bad_entry_is_skipped_and_counted_the_rest_applied(entry: Any, counter: str) -> None:
    book = example_book()
    data = change(297218, 297217, bids=[entry, ("change", 5041.94, 21)], asks=[("new", 5050, 1)])
    assert book.apply(data) is Applied.BAD
    assert getattr(book.stats, counter) == 1
    assert book.stats.bad_entries == 1
    assert book.levels() == (
        {5042.34: 30, 5041.94: 21},
        {5042.64: 40, 5043.3: 40, 5050: 1},
    )
    assert book.bid_prices == [5041.94, 5042.34]
    assert not book.stale
    assert book.change_id == 297218


def test_bad_entries_in_a_snapshot_are_skipped() -> None:
    book = OrderBook(NAME)
    data = snapshot(10, [(100.0, 1), (99.0, -5)], [(101.0, 2)])
    data["asks"].append(["oops"])
    assert book.apply(data) is Applied.BAD
    assert book.levels() == ({100.0: 1}, {101.0: 2})
    assert book.stats.bad_amounts == 1
    assert book.stats.malformed_entries == 1


@pytest.mark.parametrize(
    "data",
    [
        {"type": "change", "timestamp": 1, "change_id": "7", "prev_change_id": 6,
         "bids": [], "asks": []},
        {"type": "change", "timestamp": 1, "change_id": 7, "bids": [], "asks": []},
        {"type": "unknown", "change_id": 7},
        {"type": "snapshot", "timestamp": 1, "bids": [], "asks": []},
    ],
)  # fmt: skip
def test_malformed_message_is_counted_and_changes_nothing(data: dict[str, Any]) -> None:
    book = example_book()
    assert book.apply(data) is Applied.BAD
    assert book.stats.malformed_messages == 1
    assert book.change_id == 297217
    assert book.best_bid() == (5042.34, 30)


def test_crossed_book_is_counted_once_per_episode() -> None:
    book = example_book()
    assert book.apply(change(297218, 297217, bids=[("new", 5042.64, 1)])) is Applied.BAD
    assert book.crossed
    assert book.apply(change(297219, 297218, bids=[("new", 5042.7, 1)])) is Applied.BAD
    assert book.stats.crossed == 1
    assert book.best_bid() == (5042.7, 1)  # still applied: a crossed book says so, it is kept
    uncross = change(297220, 297219, bids=[("delete", 5042.7, 0), ("delete", 5042.64, 0)])
    assert book.apply(uncross) is Applied.CHANGE
    assert not book.crossed
    assert book.apply(change(297221, 297220, asks=[("new", 5042.0, 1)])) is Applied.BAD
    assert book.stats.crossed == 2


def test_a_burst_of_bad_entries_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    book = example_book()
    caplog.set_level(logging.WARNING, logger="lobstream.book.orderbook")
    prev = 297217
    for n in range(100):
        book.apply(change(prev + 1, prev, asks=[("delete", 1.0 + n, 0)]))
        prev += 1
    assert book.stats.unknown_deletes == 100
    lines = [r for r in caplog.records if "unknown" in r.getMessage()]
    assert len(lines) == 1
    assert NAME in lines[0].getMessage()


def test_stats_count_every_message() -> None:
    book = example_book()
    book.apply(change(297218, 297217))
    book.apply(change(297218, 297217))
    book.apply(change(297300, 297299))
    book.apply(change(297301, 297300))
    book.apply({"type": "bogus", "change_id": 1})
    assert book.stats.messages == 6
    assert book.stats.as_dict()["gaps"] == 1
