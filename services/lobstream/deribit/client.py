"""The asyncio Deribit client: a thin layer of sockets and timers around :class:`Session`.

::

    async with DeribitClient(settings) as client:
        now = await client.call("public/get_time")
        async for event in client:
            ...

Events come out of a bounded queue (``settings.max_queue``). When it is full the WebSocket
reader waits, so a slow consumer slows the socket down instead of growing memory; the dead-peer
clock is paused meanwhile because that silence is ours. The client reconnects by itself (full
jitter back-off, bounded, longer after 10028 and other retriable codes) and resubscribes
everything. A non-retriable error during the handshake (bad credentials, a refused raw book) ends
the iteration with that :class:`DeribitError`, since reconnecting cannot fix configuration.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from lobstream.deribit.events import Event
from lobstream.deribit.session import Session, SessionStats
from lobstream.logs import BurstLog
from lobstream.settings import DeribitSettings

log = logging.getLogger(__name__)

# Deribit's raw book snapshots can run to megabytes for deep books.
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
# The timer wakes at least this often, so deadlines set while it sleeps are seen in time.
TICK_SECONDS: Final = 0.2
CLOSE_TIMEOUT_SECONDS: Final = 2.0
HTTP_TOO_MANY_REQUESTS: Final = 429


class DeribitClient:
    """One self-healing Deribit session over a WebSocket (see the module docstring)."""

    def __init__(
        self,
        settings: DeribitSettings,
        *,
        rng: random.Random | None = None,
        session: Session | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or Session(settings, rng=rng)
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=settings.max_queue)
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._closed = False
        self._failure: BaseException | None = None
        self._connect_log = BurstLog(log, quiet_seconds=60.0)
        self._limit_log = BurstLog(log, quiet_seconds=60.0)

    @property
    def queue_depth(self) -> int:
        """Events waiting in the bounded queue (read at scrape time; no per-event cost)."""
        return self._queue.qsize()

    @property
    def queue_capacity(self) -> int:
        """The queue's bound (``settings.max_queue``)."""
        return self._queue.maxsize

    @property
    def stats(self) -> SessionStats:
        """Plain counters (frames, gaps, resyncs, reconnects, ...), read at scrape time."""
        return self.session.stats

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def ready(self) -> bool:
        """Connected and every subscription batch answered."""
        return self.session.ready

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> DeribitClient:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start connecting in the background (``async with`` does this)."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="deribit-client")

    async def close(self) -> None:
        """Close the connection and stop reconnecting; iteration then ends."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        self._fail_calls(ConnectionError("client closed"))
        self._wake()

    # --- the user's side ----------------------------------------------------------------------

    def __aiter__(self) -> DeribitClient:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._queue.empty():
                if self._failure is not None:
                    raise self._failure
                if self._closed:
                    raise StopAsyncIteration
            event = await self._queue.get()
            if event is not None:
                return event

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call a JSON-RPC method; raises DeribitError, TimeoutError or ConnectionError.

        Waits for a connection first, then for the answer, each up to
        ``settings.request_timeout_seconds`` (the session's clock enforces the second).
        """
        if self._closed or self._failure is not None:
            raise ConnectionError("client closed")
        if not self.session.connected:
            await asyncio.wait_for(self._connected.wait(), self.settings.request_timeout_seconds)
        loop = asyncio.get_running_loop()
        request_id = self.session.call(method, params, loop.time())
        future: asyncio.Future[Any] = loop.create_future()
        self._futures[request_id] = future
        try:
            if self._ws is not None:
                await self._send(self._ws)
            return await future
        finally:
            if self._futures.pop(request_id, None) is not None:
                self.session.forget(request_id)

    # --- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._closed:
                await self._connect_once()
                if self.session.fatal is not None:
                    self._failure = self.session.fatal
                    break
                if self._closed:
                    break
                delay = self.session.reconnect_delay()
                log.info("reconnecting to %s in %.2fs", self.settings.url, delay)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug, not a network condition: stop and let the user see it.
            log.exception("Deribit client stopped by an unexpected error")
            self._failure = exc
        finally:
            self._fail_calls(ConnectionError("client stopped"))
            self._wake()

    async def _connect_once(self) -> None:
        session = self.session
        try:
            ws = await connect(
                self.settings.url,
                open_timeout=self.settings.request_timeout_seconds,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                # Deribit's own heartbeat is the liveness check (WebSocket pings would be a second
                # one that also fails while we apply back-pressure).
                ping_interval=None,
                max_size=MAX_MESSAGE_BYTES,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            limited = isinstance(exc, InvalidStatus) and (
                exc.response.status_code == HTTP_TOO_MANY_REQUESTS
            )
            session.connect_failed(rate_limited=limited)
            if limited:
                self._limit_log.log(
                    time.monotonic(),
                    logging.ERROR,
                    "%s refused the connection with HTTP 429: too many connections from this "
                    "address (Deribit allows 32 per IP); retrying no sooner than every %.0fs. "
                    "Open fewer: the chart packs instruments within deribit.connectionBudget",
                    self.settings.url,
                    self.settings.backoff_rate_limited_seconds,
                )
                return
            self._connect_log.log(
                time.monotonic(),
                logging.WARNING,
                "cannot connect to %s: %s",
                self.settings.url,
                str(exc) or type(exc).__name__,
            )
            return
        loop = asyncio.get_running_loop()
        self._ws = ws
        reason = "client closed"
        tasks: list[asyncio.Task[str]] = []
        try:
            session.connection_made(loop.time(), self.settings.url)
            log.info("connected to %s", self.settings.url)
            await self._send(ws)
            self._connected.set()
            await self._deliver()
            tasks = [
                asyncio.create_task(self._read(ws), name="deribit-reader"),
                asyncio.create_task(self._time(ws), name="deribit-timer"),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._connected.clear()
            self._ws = None
            await ws.close()
            session.connection_lost(reason)
            self._resolve()
            if not self._closed:
                log.warning("disconnected from %s: %s", self.settings.url, reason)
                await self._deliver()

    async def _read(self, ws: ClientConnection) -> str:
        session = self.session
        receive = session.receive
        clock = asyncio.get_running_loop().time
        try:
            while True:
                frame = await ws.recv(decode=False)
                receive(frame, clock(), time.time_ns())
                await self._send(ws)
                await self._deliver()
                if session.closing is not None:
                    return session.closing
        except ConnectionClosed as exc:
            return f"connection closed ({exc})"

    async def _time(self, ws: ClientConnection) -> str:
        session = self.session
        clock = asyncio.get_running_loop().time
        try:
            while True:
                deadline = session.next_deadline()
                now = clock()
                wait = TICK_SECONDS if deadline is None else max(0.0, deadline - now)
                await asyncio.sleep(min(wait, TICK_SECONDS))
                session.tick(clock())
                await self._send(ws)
                # tick() never produces events, only frames and replies, so event order stays
                # the reader's alone.
                self._resolve()
                if session.closing is not None:
                    return session.closing
        except ConnectionClosed as exc:
            return f"connection closed ({exc})"

    async def _send(self, ws: ClientConnection) -> None:
        frames = self.session.data_to_send()
        if frames:
            async with self._send_lock:
                for frame in frames:
                    await ws.send(frame)

    async def _deliver(self) -> None:
        """Hand events to the queue (waiting when it is full) and replies to their callers."""
        self._resolve()
        session = self.session
        queue = self._queue
        for event in session.events():
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                clock = asyncio.get_running_loop().time
                session.stats.queue_full_waits += 1
                session.pause_liveness(clock())
                try:
                    await queue.put(event)
                finally:
                    session.resume_liveness(clock())

    def _resolve(self) -> None:
        for reply in self.session.replies():
            future = self._futures.pop(reply.request_id, None)
            if future is None or future.done():
                continue
            if reply.error is None:
                future.set_result(reply.result)
            else:
                future.set_exception(reply.error)

    def _fail_calls(self, error: BaseException) -> None:
        self._resolve()
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(error)

    def _wake(self) -> None:
        """Wake an iterator waiting on an empty queue so it sees the end or the failure."""
        # A full queue means the iterator is not waiting: it has events to drain first.
        if not self._queue.full():
            self._queue.put_nowait(None)
