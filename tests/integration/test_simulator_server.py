"""The simulator over real localhost WebSockets, judged by Deribit's documented protocol."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from lobstream.simulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
)
from tests.plugins.service import http_get
from tests.plugins.simulator import TICKER_FIELDS, LocalBook, RawClient, poll
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"


async def authenticate(client: RawClient) -> dict[str, Any]:
    params = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    result: dict[str, Any] = await client.result("public/auth", params)
    return result


async def read_until_closed(client: RawClient, within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            await client.ws.recv()


async def follow_until_truth(client: RawClient, channel: str, instrument: str) -> None:
    """Apply snapshot + changes, pause, and read on until the local book is the true book."""
    book = LocalBook()
    book.apply(await client.notification(channel))
    for _ in range(20):  # a stretch of live changes first
        book.apply(await client.notification(channel))
    await client.result("simulator/pause")
    truth = await client.result("simulator/true_book", {"instrument_name": instrument})
    while book.change_id != truth["change_id"]:
        assert book.change_id is not None
        assert book.change_id < truth["change_id"]
        book.apply(await client.notification(channel))
    assert sorted(book.bids.items(), reverse=True) == [tuple(level) for level in truth["bids"]]
    assert sorted(book.asks.items()) == [tuple(level) for level in truth["asks"]]


async def test_100ms_book_snapshot_then_chained_changes_equal_the_true_book(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        channel = f"book.{BTC}.100ms"
        assert await client.result("public/subscribe", {"channels": [channel]}) == [channel]
        await follow_until_truth(client, channel, BTC)


async def test_raw_book_needs_auth_and_then_chains_every_change(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        channel = f"book.{ETH}.raw"
        refused = await client.call("public/subscribe", {"channels": [channel]})
        assert refused["error"]["code"] == 13778
        await authenticate(client)
        assert await client.result("public/subscribe", {"channels": [channel]}) == [channel]
        await follow_until_truth(client, channel, ETH)


async def test_a_resubscribe_brings_a_fresh_snapshot(simulator: RunningSimulator) -> None:
    async with await RawClient.connect(simulator.url) as client:
        channel = f"book.{ETH}.100ms"
        await client.result("public/subscribe", {"channels": [channel]})
        assert (await client.notification(channel))["type"] == "snapshot"
        assert (await client.notification(channel))["type"] == "change"
        assert await client.result("public/unsubscribe", {"channels": [channel]}) == [channel]
        await client.result("public/subscribe", {"channels": [channel]})
        assert (await client.notification(channel))["type"] == "snapshot"


async def test_subscribe_leaves_out_unknown_channels_silently(simulator: RunningSimulator) -> None:
    wanted = [
        f"book.{BTC}.100ms",
        "book.NOPE-PERPETUAL.100ms",
        f"book.{BTC}.7ms",
        f"book.{BTC}.3.10.100ms",  # 3 is not a BTC group
        f"ticker.{ETH}.100ms",
        "platform_state",
        "nonsense",
    ]
    async with await RawClient.connect(simulator.url) as client:
        result = await client.result("public/subscribe", {"channels": wanted})
        assert result == [f"book.{BTC}.100ms", f"ticker.{ETH}.100ms", "platform_state"]
        assert await client.result("public/unsubscribe_all") == "ok"


async def test_grouped_book_is_the_full_top_depth_of_the_true_book(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        await client.result("simulator/pause")
        channel = f"book.{ETH}.25.10.100ms"
        await client.result("public/subscribe", {"channels": [channel]})
        data = await client.notification(channel)
        truth = await client.result("simulator/true_book", {"instrument_name": ETH})
    assert set(data) == {"timestamp", "instrument_name", "change_id", "bids", "asks"}
    assert data["change_id"] == truth["change_id"]
    assert len(data["bids"]) == 10
    assert len(data["asks"]) == 10
    # ETH groups are hundredths: 25 means 0.25
    top_bid = truth["bids"][0][0]
    bucket = data["bids"][0][0]
    assert bucket <= top_bid < bucket + 0.25
    bucket_sum = sum(a for p, a in truth["bids"] if bucket <= p < bucket + 0.25 - 1e-9)
    assert data["bids"][0][1] == pytest.approx(bucket_sum)
    assert all(len(level) == 2 for level in data["bids"] + data["asks"])


async def test_ticker_and_trades_notifications_have_the_documented_fields(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        channels = [f"ticker.{BTC}.100ms", f"trades.{BTC}.100ms"]
        await client.result("public/subscribe", {"channels": channels})
        ticker = await client.notification(channels[0])
        trades = await client.notification(channels[1])
    assert set(ticker) >= TICKER_FIELDS
    assert set(ticker["stats"]) >= {"high", "low", "price_change", "volume", "volume_usd"}
    assert isinstance(trades, list)
    assert trades
    for trade in trades:
        assert set(trade) >= {
            "trade_id",
            "trade_seq",
            "timestamp",
            "price",
            "amount",
            "direction",
            "mark_price",
            "index_price",
            "tick_direction",
        }


async def test_responses_carry_timing_and_testnet_and_the_public_methods_answer(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        doc = await client.call("public/test")
        assert doc["result"]["version"]
        assert doc["usOut"] >= doc["usIn"]
        assert doc["usDiff"] == doc["usOut"] - doc["usIn"]
        assert doc["testnet"] is True
        server_ms = await client.result("public/get_time")
        assert abs(server_ms - time.time() * 1000) < 60_000
        assert "version" in await client.result(
            "public/hello", {"client_name": "t", "client_version": "1"}
        )
        instruments = await client.result("public/get_instruments", {"currency": "BTC"})
        assert [i["instrument_name"] for i in instruments] == [BTC]
        assert instruments[0]["tick_size"] == 0.5
        assert instruments[0]["contract_size"] == 10
        assert instruments[0]["settlement_period"] == "perpetual"
        assert len(await client.result("public/get_instruments", {"currency": "any"})) == 2
        book = await client.result("public/get_order_book", {"instrument_name": ETH, "depth": 5})
        assert len(book["bids"]) == 5
        assert book["bids"][0][0] == book["best_bid_price"]
        assert book["asks"][0][0] == book["best_ask_price"]
        assert {"change_id", "mark_price", "index_price", "current_funding"} <= set(book)


async def test_pause_with_an_instrument_freezes_that_market_only(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:

        async def change_ids() -> tuple[int, int]:
            books = [
                await client.result("simulator/true_book", {"instrument_name": name})
                for name in (BTC, ETH)
            ]
            return books[0]["change_id"], books[1]["change_id"]

        assert await client.result("simulator/pause", {"instrument_name": ETH}) == "ok"
        try:
            btc, eth = await change_ids()
            await poll(lambda: simulator.true_book(BTC)[0] > btc + 5, 10)
            assert (await change_ids())[1] == eth, "the paused market moved"
            unknown = await client.call("simulator/pause", {"instrument_name": "NOPE"})
            assert unknown["error"]["code"] == -32602
        finally:
            assert await client.result("simulator/resume", {"instrument_name": ETH}) == "ok"
        await poll(lambda: simulator.true_book(ETH)[0] > eth, 10)


async def test_json_rpc_errors(simulator: RunningSimulator) -> None:
    async with await RawClient.connect(simulator.url) as client:
        unknown = await client.call("public/no_such_method")
        assert unknown["error"]["code"] == -32601
        await client.ws.send('{"jsonrpc":"2.0","id":5,"method":')
        malformed = await client.response(None)
        assert malformed["error"]["code"] == -32700
        bad = await client.call("public/set_heartbeat", {"interval": "often"})
        assert bad["error"]["code"] == -32602
        bad_book = await client.call("public/get_order_book", {"instrument_name": "NOPE"})
        assert bad_book["error"]["code"] == -32602
        bad_channels = await client.call("public/subscribe", {"channels": "book.BTC-PERPETUAL.raw"})
        assert bad_channels["error"]["code"] == -32602
        huge = orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "public/subscribe",
                "params": {"channels": [f"book.X{i}.100ms" for i in range(3_000)]},
            }
        ).decode()
        assert len(huge) > 32 * 1024
        await client.ws.send(huge)
        too_large = await client.response(None)  # Deribit answers it without an id
        assert too_large["error"]["code"] == -32600
        assert (await client.call("public/test"))["result"]  # the connection survived it all


async def test_heartbeat_test_requests_answered_keep_the_connection(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        too_short = await client.call("public/set_heartbeat", {"interval": 0.1})
        assert too_short["error"]["code"] == -32602
        assert await client.result("public/set_heartbeat", {"interval": 0.3}) == "ok"
        kinds = []
        while kinds.count("test_request") < 4:
            doc = await client.next(lambda d: d.get("method") == "heartbeat")
            kinds.append(doc["params"]["type"])
            if kinds[-1] == "test_request":
                await client.result("public/test")
        assert "heartbeat" in kinds
        assert await client.result("public/test")
    assert simulator.stats()["heartbeat_disconnects"] == 0


async def test_a_client_that_ignores_test_requests_is_disconnected(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        assert await client.result("public/set_heartbeat", {"interval": 0.3}) == "ok"
        with pytest.raises(ConnectionClosed):
            await read_until_closed(client, 30)
    assert simulator.stats()["heartbeat_disconnects"] == 1


def test_deribits_ten_second_minimum_heartbeat_by_default() -> None:
    async def scenario(url: str) -> dict[str, Any]:
        async with await RawClient.connect(url) as client:
            return await client.call("public/set_heartbeat", {"interval": 9})

    with start_in_thread(instruments=[BTC], rate=10.0) as running:
        doc = asyncio.run(scenario(running.url))
    assert doc["error"]["code"] == -32602


def test_a_client_that_cannot_keep_up_is_disconnected_not_buffered() -> None:
    async def scenario(running: RunningSimulator) -> None:
        # The client reads nothing: TCP buffers fill, then the simulator's bounded queue.
        client = await RawClient.connect(running.url, max_queue=1)
        await authenticate(client)
        await client.result("public/subscribe", {"channels": [f"book.{BTC}.raw"]})
        await poll(lambda: running.stats()["slow_disconnects"] > 0)
        assert running.stats()["slow_disconnects"] == 1
        # What was already in flight can be read; then the connection is gone.
        with pytest.raises(ConnectionClosed):
            await read_until_closed(client, 30)

    with start_in_thread(instruments=[BTC], rate=20_000.0, max_queue=200) as running:
        asyncio.run(scenario(running))


def test_plain_http_probes_on_the_websocket_port(simulator: RunningSimulator) -> None:
    # A plain HTTP/1.1 GET, no WebSocket upgrade, as a kubelet's httpGet probe sends it.
    before = simulator.stats()
    assert http_get(simulator.port, "/healthz") == (200, "ok\n")
    assert http_get(simulator.port, "/readyz") == (200, "ok\n")
    # Any other plain GET is still refused as a failed WebSocket handshake.
    assert http_get(simulator.port, "/ws/api/v2")[0] == 426
    # While the simulator refuses connections it is alive but not ready.
    simulator.fault("drop", refuse_seconds=30)
    assert http_get(simulator.port, "/readyz")[0] == 503
    assert http_get(simulator.port, "/healthz")[0] == 200
    after = simulator.stats()
    # Probes are neither connections nor refusals (a refusal is a client turned away).
    assert after["connections_opened"] == before["connections_opened"]
    assert after["connections_refused"] == before["connections_refused"]


async def test_pausing_one_instrument_freezes_only_its_market(
    simulator: RunningSimulator,
) -> None:
    simulator.pause(BTC)
    btc = simulator.true_book(BTC)
    eth = simulator.true_book(ETH)
    await poll(lambda: simulator.true_book(ETH)[0] > eth[0] + 20)
    assert simulator.true_book(BTC) == btc
    simulator.resume(BTC)
    await poll(lambda: simulator.true_book(BTC)[0] > btc[0])
    with pytest.raises(KeyError):
        simulator.pause("NOPE-PERPETUAL")
