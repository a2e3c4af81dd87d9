"""Each injected fault, seen from a plain WebSocket client, in-process and over the wire."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.test_simulator_server import read_until_closed
from tests.plugins.simulator import RawClient
from tests.plugins.threaded_simulator import RunningSimulator

pytestmark = pytest.mark.integration

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"


async def test_drop_over_the_wire_answers_then_aborts_every_connection(
    simulator: RunningSimulator,
) -> None:
    async with (
        await RawClient.connect(simulator.url) as caller,
        await RawClient.connect(simulator.url) as bystander,
    ):
        await bystander.result("public/test")
        assert await caller.result("simulator/fault", {"kind": "drop"}) == 2
        with pytest.raises(ConnectionClosed):
            await read_until_closed(caller, 30)
        with pytest.raises(ConnectionClosed):
            await read_until_closed(bystander, 30)
    async with await RawClient.connect(simulator.url) as again:
        assert await again.result("public/test")
    assert simulator.stats()["drops"] == 1


async def test_drop_can_refuse_reconnects_for_a_while(simulator: RunningSimulator) -> None:
    simulator.fault("drop", refuse_seconds=1.0)
    with pytest.raises(InvalidStatus) as refused:
        await RawClient.connect(simulator.url)
    assert refused.value.response.status_code == 503
    started = time.monotonic()
    client: RawClient | None = None
    for _ in range(600):  # retry (a poll with a deadline) until the refusal ends
        try:
            client = await RawClient.connect(simulator.url)
            break
        except InvalidStatus:
            await asyncio.sleep(0.05)
    assert client is not None
    assert time.monotonic() - started > 0.5, "refused for about a second"
    await client.close()


async def test_gap_breaks_the_chain_of_one_instrument_only(simulator: RunningSimulator) -> None:
    async with await RawClient.connect(simulator.url) as client:
        channels = [f"book.{BTC}.100ms", f"book.{ETH}.100ms"]
        await client.result("public/subscribe", {"channels": channels})
        last = {
            BTC: (await client.notification(channels[0]))["change_id"],
            ETH: (await client.notification(channels[1]))["change_id"],
        }
        assert simulator.fault("gap", instrument_name=BTC) == 1
        broken = {BTC: 0, ETH: 0}
        eth_changes = 0
        while broken[BTC] == 0 or eth_changes < 20:
            data = (await client.next(lambda d: d.get("method") == "subscription"))["params"][
                "data"
            ]
            name = data["instrument_name"]
            if data["prev_change_id"] != last[name]:
                broken[name] += 1
                assert data["prev_change_id"] > last[name], "the lost change sits in between"
            last[name] = data["change_id"]
            eth_changes += name == ETH
        assert broken == {BTC: 1, ETH: 0}
    assert simulator.stats()["gaps"] == 1


async def test_stall_sends_nothing_then_resumes_with_the_answers(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        channel = f"ticker.{BTC}.100ms"
        await client.result("public/subscribe", {"channels": [channel]})
        await client.notification(channel)
        simulator.fault("stall", seconds=1.5)
        started = time.monotonic()
        answer = await client.call("public/test")  # sent during the stall, answered after it
        assert time.monotonic() - started > 1.2
        assert answer["result"]
        await client.notification(channel)  # and the data flows again


async def test_malformed_frame_over_the_wire(simulator: RunningSimulator) -> None:
    async with await RawClient.connect(simulator.url) as client:
        assert await client.result("simulator/fault", {"kind": "malformed"}) == 1
        frame = await client.frame()
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(frame)
        assert await client.result("public/test")  # the connection goes on
    assert simulator.stats()["malformed"] == 1


async def test_reject_answers_the_next_calls_with_10028_then_recovers(
    simulator: RunningSimulator,
) -> None:
    async with await RawClient.connect(simulator.url) as client:
        armed = {"kind": "reject", "method": "public/get_time", "count": 2}
        assert await client.result("simulator/fault", armed) == "ok"
        first = await client.call("public/get_time")
        second = await client.call("public/get_time")
        assert first["error"]["code"] == 10028
        assert second["error"]["code"] == 10028
        assert isinstance(await client.result("public/get_time"), int)
        simulator.fault("reject", method="public/subscribe", code=10040)
        other = await client.call("public/subscribe", {"channels": [f"book.{BTC}.100ms"]})
        assert other["error"]["code"] == 10040
    assert simulator.stats()["rejections"] == 3


async def test_maintenance_is_announced_on_platform_state(simulator: RunningSimulator) -> None:
    async with await RawClient.connect(simulator.url) as client:
        await client.result("public/subscribe", {"channels": ["platform_state"]})
        assert simulator.fault("maintenance", active=True) == 1
        assert await client.notification("platform_state") == {"maintenance": True}
        await client.result("simulator/fault", {"kind": "maintenance", "active": False})
        assert await client.notification("platform_state") == {"maintenance": False}


async def test_bad_fault_requests_are_invalid_params(simulator: RunningSimulator) -> None:
    async with await RawClient.connect(simulator.url) as client:
        for params in (
            {"kind": "earthquake"},
            {"kind": "gap", "instrument_name": "NOPE"},
            {"kind": "stall", "seconds": -1},
            {"kind": "reject"},
            {},
        ):
            doc = await client.call("simulator/fault", params)
            assert doc["error"]["code"] == -32602, params
