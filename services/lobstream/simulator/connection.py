"""One client connection: a bounded outbound queue, its writer, its heartbeat."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from lobstream.simulator.accounts import Token
from lobstream.simulator.rpc import HEARTBEAT, TEST_REQUEST

if TYPE_CHECKING:
    from collections.abc import Callable

    from lobstream.simulator.feeds import Feed
    from lobstream.simulator.stats import SimulatorStats

log = logging.getLogger("lobstream.simulator")


class Connection:
    """Everything the simulator keeps per client.

    ``send`` never blocks and never grows without bound: when ``max_queue`` frames are waiting,
    the client is too slow and is disconnected, as an exchange would.
    """

    def __init__(
        self, ws: ServerConnection, connection_id: int, max_queue: int, stats: SimulatorStats
    ) -> None:
        self.ws = ws
        self.id = connection_id
        self.stats = stats
        self.queue: asyncio.Queue[str] = asyncio.Queue(max_queue)
        self.subscriptions: dict[str, Feed] = {}
        self.token: Token | None = None
        self.closed = False
        self.deferred: list[Callable[[], None]] = []
        self.awaiting_test = False
        self.heartbeat_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Connection({self.id}, {self.ws.remote_address})"

    def authenticated(self, now: float) -> bool:
        return self.token is not None and self.token.expires_at > now

    def send(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.stats.slow_disconnects += 1
            log.warning(
                "disconnecting %r: %d frames waiting, the client is not keeping up",
                self,
                self.queue.maxsize,
            )
            self.abort()

    def abort(self) -> None:
        """Close the TCP connection at once, without a closing handshake."""
        if not self.closed:
            self.closed = True
            self.ws.transport.abort()

    async def write(self, gate: asyncio.Event) -> None:
        """Send queued frames in order; waits while the gate is closed (a stall)."""
        queue, ws = self.queue, self.ws
        try:
            while True:
                text = await queue.get()
                if not gate.is_set():
                    await gate.wait()
                await ws.send(text)
                queue.task_done()
        except ConnectionClosed:
            self.closed = True

    async def drained(self, within: float) -> None:
        """Wait until every queued frame was written (or ``within`` seconds passed)."""
        try:
            await asyncio.wait_for(self.queue.join(), within)
        except TimeoutError:
            log.warning("%r did not drain within %.1f s", self, within)

    def start_heartbeat(self, interval: float, gate: asyncio.Event) -> None:
        self.stop_heartbeat()
        self.awaiting_test = False
        self.heartbeat_task = asyncio.get_running_loop().create_task(
            self._heartbeat(interval, gate)
        )

    def stop_heartbeat(self) -> None:
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
            self.heartbeat_task = None

    async def _heartbeat(self, interval: float, gate: asyncio.Event) -> None:
        # A heartbeat half-way, a test_request each interval; an unanswered one closes the link.
        while not self.closed:
            await asyncio.sleep(interval / 2)
            if not gate.is_set():
                await self._after_stall(gate)
                continue
            self.send(HEARTBEAT)
            await asyncio.sleep(interval / 2)
            if not gate.is_set():
                await self._after_stall(gate)
                continue
            if self.awaiting_test:
                self.stats.heartbeat_disconnects += 1
                log.warning("closing %r: test_request not answered within %.1f s", self, interval)
                self.abort()
                return
            self.awaiting_test = True
            self.send(TEST_REQUEST)

    async def _after_stall(self, gate: asyncio.Event) -> None:
        await gate.wait()
        self.awaiting_test = False  # the client could not have answered during the stall

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "subscriptions": sorted(self.subscriptions)}
