"""The real DeribitClient against the real simulator over localhost WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from lobstream.book.orderbook import OrderBook
from lobstream.deribit.client import DeribitClient
from lobstream.deribit.events import Connected, Disconnected, Event, Maintenance, Received, Resync
from lobstream.deribit.protocol import DeribitError
from lobstream.settings import DeribitSettings
from lobstream.simulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
)
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
DEADLINE = 30.0


def client_settings(sim: RunningSimulator, **overrides: Any) -> DeribitSettings:
    values: dict[str, Any] = {
        "url": sim.url,
        "instruments": INSTRUMENTS,
        "channels": ["book", "ticker", "trades"],
        "backoff_initial_seconds": 0.1,
        "backoff_max_seconds": 1.0,
        "backoff_rate_limited_seconds": 0.5,
        "request_timeout_seconds": 10.0,
    }
    heartbeat = overrides.pop("heartbeat_seconds", None)
    values.update(overrides)
    settings = DeribitSettings(**values)
    if heartbeat is not None:
        # Deribit's minimum is 10 s (the setting enforces it); the simulator lets tests go lower.
        settings = settings.model_copy(update={"heartbeat_seconds": heartbeat})
    return settings


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_in_thread(instruments=INSTRUMENTS, rate=200.0, min_heartbeat=1) as running:
        yield running


@pytest.fixture
def auth_sim() -> Iterator[RunningSimulator]:
    with start_in_thread(instruments=INSTRUMENTS, rate=200.0, token_ttl=3.0) as running:
        yield running


class Collector:
    """Consumes a client's events in the background and rebuilds its books from them."""

    def __init__(self, client: DeribitClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self.books = {name: OrderBook(name) for name in INSTRUMENTS}
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        try:
            async for event in self.client:
                self.events.append(event)
                if isinstance(event, Received) and event.kind == "book":
                    assert event.instrument is not None
                    self.books[event.instrument].apply(event.data)
                self._changed.set()
        except DeribitError as exc:
            self.error = exc
            self._changed.set()

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until ``predicate()`` holds, re-checking as events arrive (and at least 10/s)."""
        deadline = time.monotonic() + DEADLINE
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; stats {self.client.stats}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))

    def count(self, kind: type) -> int:
        return sum(isinstance(event, kind) for event in self.events)

    def received(self, channel_prefix: str) -> list[Received]:
        return [
            e
            for e in self.events
            if isinstance(e, Received) and e.channel.startswith(channel_prefix)
        ]

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@contextlib.asynccontextmanager
async def running(settings: DeribitSettings) -> AsyncIterator[tuple[DeribitClient, Collector]]:
    async with DeribitClient(settings) as client:
        collector = Collector(client)
        try:
            yield client, collector
        finally:
            await collector.stop()


def book_equals_truth(sim: RunningSimulator, collector: Collector, name: str) -> bool:
    change_id, bids, asks = sim.true_book(name)
    book = collector.books[name]
    if book.stale or book.change_id != change_id:
        return False
    got_bids, got_asks = book.levels()
    return got_bids == bids and got_asks == asks


async def test_streams_data_and_answers_calls(sim: RunningSimulator) -> None:
    async with running(client_settings(sim)) as (client, collector):
        await collector.until(lambda: client.ready, "subscriptions")
        assert client.session.refused == set()
        server_ms = await client.call("public/get_time")
        assert abs(server_ms - time.time() * 1000) < 5_000
        with pytest.raises(DeribitError) as failure:
            await client.call("public/no_such_method", {})
        assert failure.value.code == -32601
        await collector.until(
            lambda: all(len(collector.received(f"trades.{n}")) > 0 for n in INSTRUMENTS),
            "trades on every instrument",
        )
        first = collector.received("book.BTC-PERPETUAL")[0]
        assert first.data["type"] == "snapshot"
        assert first.raw.startswith(b"{")
        assert b'"channel":"book.BTC-PERPETUAL.100ms"' in first.raw
        assert abs(first.received_ns - time.time_ns()) < 60 * 10**9
        assert isinstance(collector.events[0], Connected)


async def test_reconnects_after_a_drop_and_resubscribes(sim: RunningSimulator) -> None:
    async with running(client_settings(sim)) as (client, collector):
        await collector.until(lambda: len(collector.received("book.ETH")) > 3, "ETH book data")
        sim.fault("drop")
        await collector.until(lambda: collector.count(Disconnected) == 1, "the disconnect")
        await collector.until(lambda: collector.count(Connected) == 2, "the reconnect")
        mark = len(collector.events)
        await collector.until(
            lambda: all(
                any(
                    isinstance(e, Received)
                    and e.kind == "book"
                    and e.instrument == name
                    and e.data["type"] == "snapshot"
                    for e in collector.events[mark:]
                )
                for name in INSTRUMENTS
            ),
            "fresh snapshots on both instruments",
        )
        assert client.stats.connects == 2
        assert client.stats.disconnects == 1
        assert client.stats.gaps == 0


async def test_gap_resyncs_one_instrument_and_the_book_stays_exact(
    sim: RunningSimulator,
) -> None:
    settings = client_settings(sim, channels=["book"])
    async with running(settings) as (client, collector):
        await collector.until(
            lambda: all(b.change_id is not None for b in collector.books.values()), "snapshots"
        )
        eth_snapshots = sum(
            1 for e in collector.received("book.ETH") if e.data.get("type") == "snapshot"
        )
        sim.fault("gap", instrument_name="BTC-PERPETUAL")
        await collector.until(lambda: collector.count(Resync) == 1, "the resync")
        resync = next(e for e in collector.events if isinstance(e, Resync))
        assert resync.instrument == "BTC-PERPETUAL"
        assert resync.channel == "book.BTC-PERPETUAL.100ms"
        await collector.until(lambda: not collector.books["BTC-PERPETUAL"].stale, "BTC snapshot")
        # ETH was never touched: no second snapshot, no resync, no reconnect.
        assert (
            sum(1 for e in collector.received("book.ETH") if e.data.get("type") == "snapshot")
            == eth_snapshots
        )
        assert client.stats.gaps_by_instrument == {"BTC-PERPETUAL": 1}
        assert client.stats.connects == 1
        # Let changes flow on the new subscription, then freeze the market and compare.
        changes = collector.books["BTC-PERPETUAL"].stats.changes
        await collector.until(
            lambda: collector.books["BTC-PERPETUAL"].stats.changes > changes + 5, "new changes"
        )
        sim.pause()
        for name in INSTRUMENTS:
            await collector.until(
                lambda name=name: book_equals_truth(sim, collector, name), f"{name} book exact"
            )
        assert client.stats.gaps == 1
        assert client.stats.resyncs == 1


async def test_heartbeat_keeps_the_connection_alive(sim: RunningSimulator) -> None:
    settings = client_settings(sim, heartbeat_seconds=1, channels=["ticker"])
    async with running(settings) as (client, collector):
        await collector.until(lambda: client.stats.test_requests >= 5, "five test requests")
        assert client.stats.disconnects == 0
        assert client.stats.dead_peer == 0
        assert sim.stats()["heartbeat_disconnects"] == 0


async def test_stalled_peer_is_detected_and_the_client_reconnects(sim: RunningSimulator) -> None:
    settings = client_settings(sim, heartbeat_seconds=1, channels=["ticker"])
    async with running(settings) as (client, collector):
        await collector.until(lambda: client.ready, "subscriptions")
        sim.fault("stall", seconds=6)
        # 2 intervals + 1 s of silence: the client gives up on the connection well before 6 s.
        await collector.until(lambda: client.stats.dead_peer == 1, "dead-peer detection")
        disconnect = next(e for e in collector.events if isinstance(e, Disconnected))
        assert "dead peer" in disconnect.reason
        await collector.until(lambda: collector.count(Connected) >= 2, "a new connection")
        mark = len(collector.events)
        await collector.until(
            lambda: any(isinstance(e, Received) for e in collector.events[mark:]),
            "data after the stall",
        )


async def test_rate_limited_subscribe_backs_off_before_retrying(sim: RunningSimulator) -> None:
    sim.fault("reject", method="public/subscribe", count=2, code=10028)
    settings = client_settings(sim, channels=["ticker"], backoff_rate_limited_seconds=0.75)
    started = time.monotonic()
    async with running(settings) as (client, collector):
        await collector.until(lambda: client.ready, "subscriptions after two rejections")
        elapsed = time.monotonic() - started
        assert client.stats.rate_limited == 2
        # Each retry waited at least the rate-limit floor: not hammering.
        assert elapsed >= 2 * 0.75
        assert sim.stats()["rejections"] == 2
        assert client.stats.connects == 1


async def test_malformed_frame_and_maintenance(sim: RunningSimulator) -> None:
    async with running(client_settings(sim, channels=["ticker"])) as (client, collector):
        await collector.until(lambda: client.ready, "subscriptions")
        sim.fault("malformed")
        await collector.until(lambda: client.stats.bad_frames == 1, "the bad frame counted")
        sim.fault("maintenance", active=True)
        await collector.until(lambda: collector.count(Maintenance) == 1, "maintenance")
        assert Maintenance(True) in collector.events
        mark = len(collector.events)
        await collector.until(
            lambda: any(isinstance(e, Received) for e in collector.events[mark:]), "more data"
        )
        assert client.stats.disconnects == 0


async def test_auth_raw_book_refresh_and_session_reuse(auth_sim: RunningSimulator) -> None:
    settings = client_settings(
        auth_sim,
        channels=["book"],
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    assert settings.effective_book_interval == "raw"
    async with running(settings) as (client, collector):
        await collector.until(lambda: client.ready, "raw subscriptions")
        assert client.session.subscribed >= {"book.BTC-PERPETUAL.raw", "book.ETH-PERPETUAL.raw"}
        assert client.stats.auth_grants == 1
        # 3 s tokens are refreshed 0.6 s before they expire.
        await collector.until(lambda: client.stats.auth_refreshes >= 2, "two refreshes")
        auth_sim.fault("drop")
        await collector.until(lambda: collector.count(Connected) == 2, "the reconnect")
        await collector.until(lambda: client.ready, "raw subscriptions again")
        # The session-scoped token was refreshed on the new connection, not a new login.
        assert client.stats.auth_grants == 1
        assert client.stats.auth_failures == 0
        assert collector.received("book.BTC-PERPETUAL.raw")


async def test_client_signature_grant(auth_sim: RunningSimulator) -> None:
    settings = client_settings(
        auth_sim,
        channels=["book"],
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        auth_grant="client_signature",
    )
    async with running(settings) as (client, collector):
        await collector.until(lambda: client.ready, "raw subscriptions")
        assert client.stats.auth_grants == 1


async def test_bad_credentials_end_the_iteration_with_the_error(
    auth_sim: RunningSimulator,
) -> None:
    settings = client_settings(
        auth_sim, channels=["book"], client_id=DEFAULT_CLIENT_ID, client_secret="wrong"
    )
    async with running(settings) as (client, collector):
        await collector.until(lambda: collector.error is not None, "the failure")
        assert isinstance(collector.error, DeribitError)
        assert collector.error.code == 13004
        assert client.stats.connects == 1  # no reconnect loop on a configuration error


async def test_back_pressure_waits_instead_of_dropping(sim: RunningSimulator) -> None:
    settings = client_settings(sim, channels=["book"], max_queue=4)
    async with DeribitClient(settings) as client:
        books = {name: OrderBook(name) for name in INSTRUMENTS}
        deadline = time.monotonic() + DEADLINE
        async for event in client:
            if isinstance(event, Received) and event.kind == "book":
                assert event.instrument is not None
                books[event.instrument].apply(event.data)
            assert client._queue.qsize() <= 4
            if client.stats.queue_full_waits >= 10:
                break
            await asyncio.sleep(0.1)  # a consumer slower than the 20 notifications/s stream
            assert time.monotonic() < deadline, client.stats
        assert client.stats.gaps == 0
        assert client.stats.book_changes_dropped == 0
        assert all(not book.stale for book in books.values())
