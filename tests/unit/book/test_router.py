"""The one router: envelope parsing and "the first book channel applied feeds the book"."""

from __future__ import annotations

from typing import Any

import pytest

from lobstream.book.orderbook import Applied
from lobstream.book.router import (
    BOOK,
    IGNORED,
    PLATFORM,
    TICKER,
    UNKNOWN,
    NotNotification,
    Router,
    subscription,
)
from tests.unit.book.book_data import snapshot


def test_router_routes_book_and_ticker_channels() -> None:
    router = Router()
    book = snapshot(1, [(100.0, 1)], [(101.0, 3)])
    assert router.dispatch("book.BTC-PERPETUAL.100ms", book) is Applied.SNAPSHOT
    assert router.dispatch("ticker.BTC-PERPETUAL.100ms", {"mark_price": 7.0}) is None
    # A second book channel for the same instrument would fight the first: ignored.
    grouped = {"timestamp": 1, "change_id": 9, "bids": [[1, 1]], "asks": [[2, 1]]}
    assert router.dispatch("book.BTC-PERPETUAL.none.10.100ms", grouped) is None
    assert router.dispatch("trades.BTC-PERPETUAL.100ms", []) is None
    assert router.dispatch("book.BTC-PERPETUAL.100ms", ["not", "an", "object"]) is (Applied.BAD)
    assert router.ignored == 2
    assert router.book_messages == 2
    assert router.ticker_messages == 1
    values = router.values()["BTC-PERPETUAL"]
    assert values["mid"] == 100.5
    assert values["mark_price"] == 7.0
    book_ = router.book("BTC-PERPETUAL")
    assert book_ is not None
    assert book_.stats.malformed_messages == 1


def note(channel: Any, data: Any = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }


def test_subscription_returns_channel_and_data() -> None:
    assert subscription(note("book.X.100ms", {"a": 1})) == ("book.X.100ms", {"a": 1})


@pytest.mark.parametrize(
    "doc",
    [
        {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "heartbeat"}},
        {"jsonrpc": "2.0", "id": 3, "result": "ok"},
        {"jsonrpc": "2.0", "id": 4, "method": "public/test"},
        {"method": 7},
    ],
)
def test_other_messages_are_not_notifications_but_not_malformed(doc: Any) -> None:
    with pytest.raises(NotNotification) as caught:
        subscription(doc)
    assert not caught.value.malformed


@pytest.mark.parametrize(
    "doc",
    [
        [1, 2],
        "subscription",
        3,
        {"method": "subscription"},
        {"method": "subscription", "params": []},
        {"method": "subscription", "params": {"channel": "book.X.100ms"}},
        {"method": "subscription", "params": {"data": {}}},
        note(["unhashable"]),
        note(5),
    ],
)
def test_broken_subscriptions_are_malformed(doc: Any) -> None:
    with pytest.raises(NotNotification) as caught:
        subscription(doc)
    assert caught.value.malformed


def test_route_kinds() -> None:
    router = Router()
    assert router.route("book.BTC-PERPETUAL.100ms").kind == BOOK
    assert router.route("ticker.BTC-PERPETUAL.100ms").kind == TICKER
    assert router.route("trades.BTC-PERPETUAL.100ms").kind == IGNORED
    assert router.route("platform_state").kind == PLATFORM
    assert router.route("nonsense").kind == UNKNOWN
    assert router.route("book.BTC-PERPETUAL.100ms").key == b"BTC-PERPETUAL"


def test_the_book_channel_is_claimed_by_the_first_applied_not_the_first_seen() -> None:
    router = Router()
    first_seen = router.route("book.BTC-PERPETUAL.raw")
    applied = router.route("book.BTC-PERPETUAL.100ms")
    # The consumer refused the first channel's record (say, a wrong key): it never applied it.
    assert applied.apply(snapshot(1, [(100.0, 1)], [(101.0, 3)])) is Applied.SNAPSHOT
    assert first_seen.apply(snapshot(2, [(99.0, 1)], [(101.0, 3)])) is None
    assert router.route("book.BTC-PERPETUAL.raw").kind == IGNORED
    assert router.ignored == 1
    book = router.book("BTC-PERPETUAL")
    assert book is not None
    assert book.change_id == 1


def test_drop_forgets_the_instrument_and_its_channel_claim() -> None:
    router = Router()
    router.dispatch("book.BTC-PERPETUAL.100ms", snapshot(1, [(100.0, 1)], [(101.0, 3)]))
    router.drop("BTC-PERPETUAL")
    assert router.book("BTC-PERPETUAL") is None
    assert router.routes == {}
    # Another book channel may now feed the instrument's (new) book.
    grouped = {"timestamp": 1, "change_id": 9, "bids": [[1, 1]], "asks": [[2, 1]]}
    assert router.dispatch("book.BTC-PERPETUAL.none.10.100ms", grouped) is Applied.SNAPSHOT


def test_routes_allocate_no_book_until_a_notification_is_applied() -> None:
    router = Router()
    for n in range(100):
        router.route(f"ticker.JUNK-{n}.100ms")
        router.route(f"book.JUNK-{n}.100ms")
    assert router.features == {}
    router.route("ticker.ETH-PERPETUAL.100ms").apply({"mark_price": 1.0})
    assert list(router.features) == ["ETH-PERPETUAL"]
    assert (
        router.appliers["ticker.ETH-PERPETUAL.100ms"] == router.features["ETH-PERPETUAL"].on_ticker
    )
