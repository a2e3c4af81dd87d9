"""The simulator's asyncio layer: a WebSocket server around markets, feeds and methods.

One event loop runs everything: the market loop steps every instrument at ``rate`` changes per
second, the tick loop flushes interval feeds every 100 ms, and one reader and one writer task per
connection move frames. Frames are encoded once per notification and queued per subscriber in
a bounded queue; a subscriber whose queue is full is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import time
from collections import Counter
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lobstream.deribit import protocol
from lobstream.simulator.accounts import Accounts
from lobstream.simulator.connection import Connection
from lobstream.simulator.faults import Faults
from lobstream.simulator.feeds import (
    BookFeed,
    Feed,
    GroupedBookFeed,
    PlatformStateFeed,
    TickerFeed,
    TradesFeed,
)
from lobstream.simulator.market import InstrumentSpec, Market, spec_for
from lobstream.simulator.methods import HANDLERS
from lobstream.simulator.rpc import (
    RpcError,
    error_response,
    now_us,
    parse_request,
    response,
)
from lobstream.simulator.stats import SimulatorStats

log = logging.getLogger("lobstream.simulator")

TICK_MS = 100
INTERNAL_ERROR = -32603
# Frames over 32 kB but under this get Deribit's -32600 answer; beyond it the connection is
# closed (1009) rather than buffering arbitrary amounts.
MAX_FRAME_READ = 1024 * 1024
GROUPED_DEPTHS = (1, 10, 20)
MAX_BATCH = 2_000  # market steps between yields to the event loop
MIN_SLEEP = 0.005
LAG_LOG_SECONDS = 10.0
DEFAULT_CLIENT_ID = "lobstream-sim"
DEFAULT_CLIENT_SECRET = "lobstream-sim-secret"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Simulator:
    """A Deribit-protocol exchange serving seeded synthetic markets."""

    def __init__(
        self,
        instruments: list[str],
        *,
        seed: int = 1,
        rate: float = 50.0,
        levels: int = 300,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_ttl: float = 900.0,
        min_heartbeat: float = 10.0,
        max_queue: int = 10_000,
        max_connections: int = 32,
        agg2_ms: int = 1_000,
        testnet: bool = True,
        specs: dict[str, InstrumentSpec] | None = None,
    ) -> None:
        if not instruments:
            raise ValueError("at least one instrument")
        if agg2_ms < TICK_MS or agg2_ms % TICK_MS:
            raise ValueError(f"agg2_ms must be a multiple of {TICK_MS}")
        specs = specs or {}
        self.markets = {
            name: Market(specs.get(name) or spec_for(name), seed, levels) for name in instruments
        }
        self.rate = rate
        self.min_heartbeat = min_heartbeat
        self.max_queue = max_queue
        self.max_connections = max_connections
        self.testnet = testnet
        self.intervals: dict[str, int | None] = {"raw": None, "100ms": TICK_MS, "agg2": agg2_ms}
        self.stats = SimulatorStats()
        self.accounts = Accounts(client_id, client_secret, token_ttl)
        self.faults = Faults(self)
        self.feeds: dict[str, Feed] = {}
        self.connections: set[Connection] = set()
        self.refuse_until = 0.0
        self.gate = asyncio.Event()  # cleared during a stall: nothing is sent
        self.gate.set()
        self._running = asyncio.Event()  # cleared while paused: the markets stand still
        self._running.set()
        self.paused: set[str] = set()
        """Instruments whose market stands still while the others move on."""
        self._event_feeds: dict[str, list[Feed]] = {name: [] for name in self.markets}
        self._tick_feeds: dict[int, list[Feed]] = {}
        self._per_ip: Counter[str] = Counter()
        self._next_id = 0
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_lag_log = 0.0
        self.host = "127.0.0.1"
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/api/v2"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: a free port, see ``.port``) and start the markets."""
        self._server = await serve(
            self._serve,
            host,
            port,
            process_request=self._admit,
            max_size=MAX_FRAME_READ,
            compression=None,
            ping_interval=None,  # liveness is the JSON-RPC heartbeat's job, as on Deribit
        )
        self.host = host
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._market_loop()), loop.create_task(self._tick_loop())]
        for task in self._tasks:
            task.add_done_callback(_loop_ended)
        log.info("simulator serving %s on %s", ", ".join(self.markets), self.url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        log.info("simulator stopped: %s", self.stats.as_dict())

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    # --- control -----------------------------------------------------------------------------

    def true_book(self, instrument: str) -> tuple[int, dict[float, float], dict[float, float]]:
        """Ground truth of one instrument: (change_id, bids, asks)."""
        return self.markets[instrument].true_book()

    def pause(self, instrument: str | None = None) -> None:
        """Stop the markets, or one (no book changes, no trades); heartbeats and ticks go on."""
        if instrument is None:
            self._running.clear()
        else:
            if instrument not in self.markets:
                raise KeyError(f"no market {instrument!r}")
            self.paused.add(instrument)

    def resume(self, instrument: str | None = None) -> None:
        """Move the markets again (``instrument``: only that one's market)."""
        if instrument is None:
            self._running.set()
            self.paused.clear()
        else:
            self.paused.discard(instrument)

    def advance(self, count: int = 1) -> None:
        """Step every market ``count`` times now, publishing as usual (for paused tests)."""
        for _ in range(count):
            self._advance(_now_ms())

    def stall(self, seconds: float) -> None:
        self.gate.clear()
        asyncio.get_running_loop().call_later(seconds, self.gate.set)

    # --- channels ----------------------------------------------------------------------------

    def feed_for(self, channel: str) -> Feed | None:
        """The feed serving ``channel``, made on first use; None if the channel is unknown."""
        feed = self.feeds.get(channel)
        if feed is None:
            feed = self._make_feed(channel)
            if feed is None:
                return None
            self.feeds[channel] = feed
            if feed.per_event:
                self._event_feeds[feed_instrument(channel)].append(feed)
            if feed.interval_ms:
                self._tick_feeds.setdefault(feed.interval_ms, []).append(feed)
        return feed

    def _make_feed(self, name: str) -> Feed | None:
        channel = protocol.parse_channel(name)
        if channel.kind == "platform_state":
            return PlatformStateFeed()
        market = self.markets.get(channel.instrument or "")
        if market is None or channel.interval not in self.intervals:
            return None
        interval = self.intervals[channel.interval]
        if channel.kind == "book":
            return BookFeed(name, interval, market)
        if channel.kind == "ticker":
            return TickerFeed(name, interval, market)
        if channel.kind == "trades":
            return TradesFeed(name, interval)
        if channel.kind == "grouped_book" and interval is not None:
            if channel.depth not in GROUPED_DEPTHS or channel.group is None:
                return None
            try:
                market.group_ticks(channel.group)
            except ValueError:
                return None
            return GroupedBookFeed(name, interval, market, channel.group, channel.depth)
        return None

    def unsubscribe(self, conn: Connection, feed: Feed) -> None:
        feed.remove(conn)
        if not feed.active():
            feed.idle()

    def instrument_info(self, name: str) -> dict[str, Any]:
        spec = self.markets[name].spec
        return {
            "instrument_name": name,
            "instrument_id": 100_000 + list(self.markets).index(name),
            "kind": spec.kind,
            "tick_size": spec.tick_size,
            "tick_size_steps": [],
            "contract_size": spec.contract_size,
            "min_trade_amount": spec.min_trade_amount,
            "settlement_period": "perpetual",
            "instrument_type": "reversed",
            "base_currency": spec.base_currency,
            "quote_currency": "USD",
            "counter_currency": "USD",
            "settlement_currency": spec.base_currency,
            "price_index": f"{spec.base_currency.lower()}_usd",
            "is_active": True,
            "rfq": False,
            "max_leverage": 50,
            "maker_commission": 0.0,
            "taker_commission": 0.0005,
            "creation_timestamp": 1_534_242_287_000,
            "expiration_timestamp": 32_503_708_800_000,
        }

    # --- loops -------------------------------------------------------------------------------

    def _advance(self, timestamp_ms: int) -> None:
        paused = self.paused
        for name, market in self.markets.items():
            if paused and name in paused:
                continue
            event = market.step(timestamp_ms)
            for feed in self._event_feeds[name]:
                if feed.subscribers:
                    feed.on_event(event, timestamp_ms)
        self.stats.book_changes += len(self.markets) - len(paused)

    async def _market_loop(self) -> None:
        if self.rate <= 0:
            return
        loop = asyncio.get_running_loop()
        rate = self.rate
        start, done = loop.time(), 0
        while True:
            if not (self._running.is_set() and self.gate.is_set()):
                await self._running.wait()
                await self.gate.wait()
                start, done = loop.time(), 0
                continue
            elapsed = loop.time() - start
            due = int(elapsed * rate) - done
            if due <= 0:
                await asyncio.sleep(max(MIN_SLEEP, (done + 1) / rate - elapsed))
                continue
            if due > max(rate, MAX_BATCH):
                self._lagging(due)
                start, done = loop.time(), 0
                continue
            count = min(due, MAX_BATCH)
            timestamp = _now_ms()
            for _ in range(count):
                self._advance(timestamp)
            done += count
            await asyncio.sleep(0)

    def _lagging(self, due: int) -> None:
        self.stats.market_lag_resets += 1
        now = time.monotonic()
        if now - self._last_lag_log > LAG_LOG_SECONDS:
            self._last_lag_log = now
            log.warning(
                "market loop %d steps behind rate %g/s: skipping ahead (%d times so far)",
                due,
                self.rate,
                self.stats.market_lag_resets,
            )

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline, count = loop.time(), 0
        while True:
            deadline += TICK_MS / 1000
            delay = deadline - loop.time()
            if delay < -1.0:
                deadline = loop.time()
            await asyncio.sleep(max(0.0, delay))
            if not self.gate.is_set():
                await self.gate.wait()
                deadline = loop.time()
            count += 1
            timestamp = _now_ms()
            for interval, feeds in self._tick_feeds.items():
                if count % (interval // TICK_MS) == 0:
                    for feed in feeds:
                        if feed.active():
                            feed.tick(timestamp)

    # --- connections ---------------------------------------------------------------------------

    def _admit(self, ws: ServerConnection, request: Request) -> Response | None:
        # Plain HTTP probes on the WebSocket port (for Kubernetes): /healthz answers while the
        # loop turns, /readyz only while connections are admitted (not during a refusal fault).
        if request.path == "/healthz":
            return _http_response(http.HTTPStatus.OK, "ok\n")
        if request.path == "/readyz":
            if time.monotonic() < self.refuse_until:
                return _http_response(http.HTTPStatus.SERVICE_UNAVAILABLE, "refusing\n")
            return _http_response(http.HTTPStatus.OK, "ok\n")
        if time.monotonic() < self.refuse_until:
            self.stats.connections_refused += 1
            return _http_response(http.HTTPStatus.SERVICE_UNAVAILABLE, "maintenance\n")
        if self._per_ip[_ip(ws)] >= self.max_connections:
            self.stats.connections_refused += 1
            return _http_response(http.HTTPStatus.TOO_MANY_REQUESTS, "too many connections\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        self._next_id += 1
        conn = Connection(ws, self._next_id, self.max_queue, self.stats)
        ip = _ip(ws)
        self._per_ip[ip] += 1
        self.connections.add(conn)
        self.stats.connections_opened += 1
        writer = asyncio.get_running_loop().create_task(conn.write(self.gate))
        try:
            async for frame in ws:
                self._on_frame(conn, frame)
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            conn.stop_heartbeat()
            writer.cancel()
            for feed in conn.subscriptions.values():
                self.unsubscribe(conn, feed)
            conn.subscriptions.clear()
            self.accounts.connection_closed(conn.id)
            self.connections.discard(conn)
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]
            self.stats.connections_closed += 1

    def _on_frame(self, conn: Connection, frame: str | bytes) -> None:
        us_in = now_us()
        self.stats.requests += 1
        try:
            request_id, method, params = parse_request(frame)
        except RpcError as error:
            self.stats.errors += 1
            conn.send(error_response(error.request_id, error, us_in, self.testnet))
            return
        try:
            result = self._call(conn, method, params)
        except RpcError as error:
            self.stats.errors += 1
            conn.deferred.clear()
            conn.send(error_response(request_id, error, us_in, self.testnet))
            return
        except Exception:  # a simulator bug must not take the connection down
            self.stats.internal_errors += 1
            log.exception("internal error answering %s %r", method, params)
            conn.deferred.clear()
            internal = RpcError(INTERNAL_ERROR, "Internal error")
            conn.send(error_response(request_id, internal, us_in, self.testnet))
            return
        conn.send(response(request_id, result, us_in, self.testnet))
        if conn.deferred:
            for action in conn.deferred:
                action()
            conn.deferred.clear()

    def _call(self, conn: Connection, method: str, params: dict[str, Any]) -> Any:
        code = self.faults.take_rejection(method)
        if code is not None:
            raise RpcError(code)
        handler = HANDLERS.get(method)
        if handler is None:
            raise RpcError(protocol.METHOD_NOT_FOUND)
        return handler(self, conn, params)


def _loop_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("simulator loop %s crashed", task.get_coro(), exc_info=task.exception())


def feed_instrument(channel: str) -> str:
    return channel.split(".")[1]


def _ip(ws: ServerConnection) -> str:
    address = ws.remote_address
    return str(address[0]) if address else "?"


def _http_response(status: http.HTTPStatus, body: str) -> Response:
    headers = Headers([("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body.encode())
