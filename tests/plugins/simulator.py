"""The ``simulator`` fixture, and a minimal JSON-RPC test client written from Deribit's docs.

``RawClient`` deliberately does not use the project's client: simulator tests must judge the
simulator by the protocol alone.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

SIM_INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
SIM_SEED = 7
TEST_MIN_HEARTBEAT = 0.2  # the test-only knob: Deribit's minimum is 10 s
# The ticker fields Deribit documents (docs/deribit-protocol.md).
TICKER_FIELDS = frozenset(
    [
        "best_bid_price",
        "best_bid_amount",
        "best_ask_price",
        "best_ask_amount",
        "mark_price",
        "index_price",
        "last_price",
        "current_funding",
        "funding_8h",
        "open_interest",
        "settlement_price",
        "min_price",
        "max_price",
        "state",
        "stats",
        "timestamp",
    ]
)


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    """A seeded simulator (BTC-PERPETUAL, ETH-PERPETUAL, 200 changes/s) on a free port."""
    with start_in_thread(
        instruments=SIM_INSTRUMENTS, seed=SIM_SEED, rate=200.0, min_heartbeat=TEST_MIN_HEARTBEAT
    ) as running:
        yield running


async def poll(condition: Callable[[], bool], within: float = 30.0, every: float = 0.05) -> None:
    """Wait until ``condition()`` holds, checking every ``every`` s; fail after ``within`` s."""
    for _ in range(int(within / every) + 1):
        if condition():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s")


class RawClient:
    """JSON-RPC 2.0 over one WebSocket: requests by id, everything else kept in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.backlog: list[str | bytes] = []  # frames that were not the awaited response

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> RawClient:
        return cls(await connect(url, **kwargs))

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        request_id = next(self._ids)
        doc = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        await self.ws.send(orjson.dumps(doc).decode())
        return request_id

    async def response(self, request_id: int | None, within: float = 10.0) -> dict[str, Any]:
        """The response with ``request_id``; other frames go to the backlog."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.ws.recv()
                try:
                    doc = orjson.loads(frame)
                except orjson.JSONDecodeError:
                    self.backlog.append(frame)
                    continue
                if isinstance(doc, dict) and "id" in doc and doc["id"] == request_id:
                    assert isinstance(doc, dict)
                    return doc
                self.backlog.append(frame)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, within: float = 10.0
    ) -> dict[str, Any]:
        """Send a request and return the whole response document (result or error)."""
        return await self.response(await self.send(method, params), within)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        doc = await self.call(method, params)
        assert "error" not in doc, doc
        return doc["result"]

    async def frame(self, within: float = 10.0) -> str | bytes:
        """The next frame, from the backlog first."""
        if self.backlog:
            return self.backlog.pop(0)
        async with asyncio.timeout(within):
            return await self.ws.recv()

    async def next(
        self, match: Callable[[dict[str, Any]], bool] = lambda doc: True, within: float = 10.0
    ) -> dict[str, Any]:
        """The next JSON message satisfying ``match`` (others are skipped)."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.frame(within)
                doc = orjson.loads(frame)
                if match(doc):
                    assert isinstance(doc, dict)
                    return doc

    async def notification(self, channel: str, within: float = 10.0) -> Any:
        """The ``data`` of the next notification on ``channel``."""
        doc = await self.next(
            lambda d: d.get("method") == "subscription" and d["params"]["channel"] == channel,
            within,
        )
        return doc["params"]["data"]


class LocalBook:
    """Applies Deribit snapshot/change data and checks the change_id chain on the way."""

    def __init__(self) -> None:
        self.change_id: int | None = None
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def apply(self, data: dict[str, Any]) -> None:
        if data["type"] == "snapshot":
            self.bids, self.asks = {}, {}
        else:
            assert data["prev_change_id"] == self.change_id, "change chain broken"
        for side, entries in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for action, price, amount in entries:
                if action == "new":
                    assert price not in side, f"new on an existing level {price}"
                    side[price] = amount
                elif action == "change":
                    assert price in side, f"change on a missing level {price}"
                    side[price] = amount
                else:
                    assert action == "delete"
                    assert amount == 0
                    del side[price]
        self.change_id = data["change_id"]
