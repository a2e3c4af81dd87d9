"""The synthetic market, without sockets: shape, invariants, determinism, chain continuity."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from lobstream.deribit.auth import signature as client_signature
from lobstream.simulator.accounts import Accounts
from lobstream.simulator.market import (
    FUNDING_DEAD_BAND,
    InstrumentSpec,
    Market,
    funding,
    spec_for,
)
from lobstream.simulator.merge import ChangeMerger
from lobstream.simulator.rpc import RpcError
from tests.plugins.simulator import TICKER_FIELDS, LocalBook

NAMES = ["BTC-PERPETUAL", "ETH-PERPETUAL", "SOL-PERPETUAL"]


def on_grid(value: float, step: float) -> bool:
    units = value / step
    return abs(units - round(units)) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_never_crossed_and_on_the_tick_and_lot_grid(name: str) -> None:
    market = Market(spec_for(name), seed=11)
    tick, lot = market.spec.tick_size, market.spec.contract_size
    for step in range(20_000):
        event = market.step(step)
        for _, price, amount in event.change["bids"] + event.change["asks"]:
            assert on_grid(price, tick), price
            assert on_grid(amount, lot), amount
        for trade in event.trades:
            assert on_grid(trade["price"], tick)
            assert on_grid(trade["amount"], lot)
        assert market.best_bid() < market.best_ask(), f"crossed at step {step}"
    _, bids, asks = market.true_book()
    assert max(bids) < min(asks)
    assert all(amount > 0 for amount in [*bids.values(), *asks.values()])


def test_known_specs_and_a_configurable_default() -> None:
    btc, eth = spec_for("BTC-PERPETUAL"), spec_for("ETH-PERPETUAL")
    assert (btc.tick_size, btc.contract_size) == (0.5, 10.0)
    assert (eth.tick_size, eth.contract_size) == (0.05, 1.0)
    custom = InstrumentSpec("X", 0.25, 5.0, 100.0)
    other = spec_for("XRP-PERPETUAL", default=custom)
    assert (other.name, other.tick_size, other.base_currency) == ("XRP-PERPETUAL", 0.25, "XRP")


def test_a_few_hundred_levels_per_side_stay_after_many_steps() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=3, levels=300)
    for step in range(50_000):
        market.step(step)
    _, bids, asks = market.true_book()
    assert 250 <= len(bids) <= 350
    assert 250 <= len(asks) <= 350
    # the mid stays near where it started: no runaway walk
    assert abs(market.best_bid() / 60_000 - 1) < 0.05


def stream(seed: int, steps: int) -> list[dict[str, Any]]:
    market = Market(spec_for("ETH-PERPETUAL"), seed=seed)
    return [market.step(step).change for step in range(steps)]


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    assert stream(5, 3_000) == stream(5, 3_000)
    assert stream(5, 3_000) != stream(6, 3_000)


def test_change_ids_chain_grow_and_sometimes_skip() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=2)
    last = market.snapshot(0)["change_id"]
    steps: Counter[int] = Counter()
    for step in range(5_000):
        change = market.step(step).change
        assert change["prev_change_id"] == last
        steps[change["change_id"] - last] += 1
        last = change["change_id"]
    assert min(steps) >= 1
    assert steps[1] > 2_500, "mostly by one"
    assert sum(count for delta, count in steps.items() if delta > 1) > 100, "but not always"


def test_most_changes_touch_one_to_three_levels() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=4)
    sizes = Counter(
        len(change["bids"]) + len(change["asks"])
        for change in (market.step(step).change for step in range(10_000))
    )
    assert sizes[0] == 0
    assert (sizes[1] + sizes[2] + sizes[3]) / 10_000 > 0.95


def test_snapshot_plus_changes_reproduce_the_true_book_with_valid_actions() -> None:
    market = Market(spec_for("ETH-PERPETUAL"), seed=9)
    for step in range(500):
        market.step(step)
    book = LocalBook()
    snapshot = market.snapshot(1)
    assert [p for _, p, _ in snapshot["bids"]] == sorted(
        (p for _, p, _ in snapshot["bids"]), reverse=True
    )
    assert [p for _, p, _ in snapshot["asks"]] == sorted(p for _, p, _ in snapshot["asks"])
    book.apply(snapshot)
    for step in range(20_000):
        book.apply(market.step(step).change)
    assert (book.change_id, book.bids, book.asks) == market.true_book()


def test_trades_hit_the_touch_they_remove() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=5)
    seen = 0
    for step in range(5_000):
        bid, ask = market.best_bid(), market.best_ask()
        event = market.step(step)
        for trade in event.trades:
            seen += 1
            assert trade["direction"] in ("buy", "sell")
            if trade["direction"] == "buy":
                assert trade["price"] >= ask
            else:
                assert trade["price"] <= bid
            assert trade["instrument_name"] == "BTC-PERPETUAL"
            assert trade["tick_direction"] in (0, 1, 2, 3)
    assert seen > 100


def test_merged_changes_equal_the_raw_changes_they_merge() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=8)
    raw, merged = LocalBook(), LocalBook()
    raw.apply(market.snapshot(0))
    merged.apply(market.snapshot(0))
    merger = ChangeMerger()
    for batch in range(300):
        for step in range(batch % 7 + 1):  # intervals of 1 to 7 raw changes
            change = market.step(step).change
            raw.apply(change)
            merger.add(change)
        assert merged.change_id is not None
        merged.apply(merger.flush(merged.change_id, "BTC-PERPETUAL", batch))
        assert (merged.change_id, merged.bids, merged.asks) == (raw.change_id, raw.bids, raw.asks)


@pytest.mark.parametrize(
    ("name", "group", "size"), [("BTC-PERPETUAL", "5", 5.0), ("ETH-PERPETUAL", "25", 0.25)]
)
def test_grouped_book_sums_levels_into_buckets(name: str, group: str, size: float) -> None:
    market = Market(spec_for(name), seed=1)
    for step in range(2_000):
        market.step(step)
    data = market.grouped(group, 10, 123)
    assert set(data) == {"timestamp", "instrument_name", "change_id", "bids", "asks"}
    _, bids, asks = market.true_book()
    for levels, truth, down in ((data["bids"], bids, True), (data["asks"], asks, False)):
        assert len(levels) == 10
        prices = [price for price, _ in levels]
        assert prices == sorted(prices, reverse=down)
        for price, amount in levels:
            assert on_grid(price, size)
            inside = [
                a
                for p, a in truth.items()
                if (price <= p < price + size if down else price - size < p <= price)
            ]
            assert amount == pytest.approx(sum(inside))
    best_bid_bucket = data["bids"][0][0]
    assert best_bid_bucket <= market.best_bid() < best_bid_bucket + size


def test_grouped_none_is_the_plain_top_and_bad_groups_are_refused() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=1)
    bids, asks = market.top(20)
    data = market.grouped("none", 20, 0)
    assert (data["bids"], data["asks"]) == (bids, asks)
    with pytest.raises(ValueError, match="group"):
        market.group_ticks("x")
    eth = Market(spec_for("ETH-PERPETUAL"), seed=1)
    with pytest.raises(ValueError, match="offered"):
        eth.group_ticks("1")  # Deribit offers ETH groups none, 5, 10, 25, 100, 250
    odd = Market(InstrumentSpec("ODD", 0.5, 1.0, 100.0), seed=1)
    assert odd.group_ticks("3") == 6
    with pytest.raises(ValueError, match="tick"):
        Market(InstrumentSpec("FINE", 0.05, 1.0, 100.0, group_unit=0.01), seed=1).group_ticks("1")


def test_ticker_fields_and_funding_dead_band() -> None:
    market = Market(spec_for("BTC-PERPETUAL"), seed=1)
    ticker = market.ticker(1_000)
    assert set(ticker) >= TICKER_FIELDS
    assert ticker["best_bid_price"] < ticker["mark_price"] < ticker["best_ask_price"]
    assert funding(FUNDING_DEAD_BAND / 2) == 0.0
    assert funding(FUNDING_DEAD_BAND * 3) == pytest.approx(FUNDING_DEAD_BAND * 2)
    assert funding(-1.0) == -0.005


def test_client_signature_matches_the_published_test_vector() -> None:
    signature = client_signature("AMANDASECRECT", 1576074319000, "1iqt2wls", "")
    assert signature == "56590594f97921b09b18f166befe0d1319b198bbcdad7ca73382de2f88fe9aa1"


def test_accounts_grants_refreshes_and_expires() -> None:
    accounts = Accounts("id", "secret", expires_in=10.0)
    token = accounts.grant(
        {"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"}, 100.0, 1
    )
    assert accounts.check(token.access_token, 105.0) is token
    assert accounts.check(token.access_token, 111.0) is None
    fresh = accounts.grant(
        {"grant_type": "refresh_token", "refresh_token": token.refresh_token}, 109.0, 1
    )
    assert fresh.access_token != token.access_token
    with pytest.raises(RpcError) as reused:
        accounts.grant(
            {"grant_type": "refresh_token", "refresh_token": token.refresh_token}, 109.0, 1
        )
    assert reused.value.code == 13004
    with pytest.raises(RpcError) as wrong:
        accounts.grant(
            {"grant_type": "client_credentials", "client_id": "id", "client_secret": "x"}, 0, 1
        )
    assert wrong.value.code == 13004


def test_connection_scoped_tokens_die_with_the_connection_session_ones_do_not() -> None:
    accounts = Accounts("id", "secret")
    params = {"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"}
    connection = accounts.grant(params, 0.0, 1)
    session = accounts.grant({**params, "scope": "session:bot"}, 0.0, 1)
    assert session.scope == "session:bot"
    accounts.connection_closed(1)
    assert accounts.check(connection.access_token, 1.0) is None
    assert accounts.check(session.access_token, 1.0) is session
    moved = accounts.grant(
        {"grant_type": "refresh_token", "refresh_token": session.refresh_token}, 1.0, 2
    )
    assert moved.scope == "session:bot"
