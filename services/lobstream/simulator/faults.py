"""Fault injection: the same faults in-process (``sim.faults.gap(...)``) and over the wire.

Over the wire, the simulator-only method ``simulator/fault`` takes ``{"kind": ..., ...}`` with the
keyword arguments of the method of the same name, so a simulator run as a subprocess can be
driven by tests and the demo. :meth:`Faults.periodic` repeats a fault for ``lobstream simulate
--fault-*-every``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from lobstream.deribit import protocol
from lobstream.simulator.feeds import BookFeed
from lobstream.simulator.rpc import MALFORMED, bad_param

if TYPE_CHECKING:
    from lobstream.simulator.connection import Connection
    from lobstream.simulator.server import Simulator

log = logging.getLogger("lobstream.simulator")

KINDS = ("drop", "gap", "stall", "malformed", "reject", "maintenance")


class Faults:
    """Injects one fault at a time into a running :class:`Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._rejections: dict[str, list[int]] = {}  # method -> [remaining, code]
        self.maintenance_active = False

    def drop(self, refuse_seconds: float = 0.0) -> int:
        """Abort every connection (no closing handshake); refuse new ones for a while."""
        sim = self._sim
        sim.stats.drops += 1
        sim.refuse_until = time.monotonic() + refuse_seconds
        victims = list(sim.connections)
        for connection in victims:
            connection.abort()
        log.warning("fault: dropped %d connections", len(victims))
        return len(victims)

    async def drop_after(self, caller: Connection, refuse_seconds: float = 0.0) -> int:
        """:meth:`drop`, once the caller's queued frames (its answer) were written."""
        await caller.drained(within=2.0)
        return self.drop(refuse_seconds)

    def gap(self, instrument_name: str) -> int:
        """Lose the next change notification of every incremental book feed of an instrument."""
        sim = self._sim
        if instrument_name not in sim.markets:
            raise bad_param("instrument_name", "unknown instrument")
        feeds = [
            feed
            for feed in sim.feeds.values()
            if isinstance(feed, BookFeed) and feed.market.name == instrument_name
        ]
        for feed in feeds:
            feed.skip_next = True
        sim.stats.gaps += 1
        log.warning("fault: gap in %s (%d book feeds)", instrument_name, len(feeds))
        return len(feeds)

    def stall(self, seconds: float) -> None:
        """Send nothing (no data, no heartbeats, no answers) for ``seconds``."""
        sim = self._sim
        if not 0 < seconds <= 3_600:
            raise bad_param("seconds", "must be in (0, 3600]")
        sim.stats.stalls += 1
        sim.stall(seconds)
        log.warning("fault: stalling for %.1f s", seconds)

    def malformed(self) -> int:
        """Send every connection one frame that is not valid JSON."""
        sim = self._sim
        sim.stats.malformed += 1
        for connection in sim.connections:
            connection.send(MALFORMED)
        log.warning("fault: malformed frame to %d connections", len(sim.connections))
        return len(sim.connections)

    def reject(self, method: str, count: int = 1, code: int = protocol.TOO_MANY_REQUESTS) -> None:
        """Answer the next ``count`` calls of ``method`` with error ``code``."""
        if not method or method.startswith("simulator/"):
            raise bad_param("method", "must name an exchange method")
        if count < 1:
            raise bad_param("count", "must be >= 1")
        self._rejections[method] = [count, code]
        log.warning("fault: rejecting the next %d %s calls with %d", count, method, code)

    def take_rejection(self, method: str) -> int | None:
        """The error code to answer this call of ``method`` with, if a rejection is armed."""
        armed = self._rejections.get(method)
        if armed is None:
            return None
        armed[0] -= 1
        if armed[0] <= 0:
            del self._rejections[method]
        self._sim.stats.rejections += 1
        return armed[1]

    def maintenance(self, active: bool = True) -> int:
        """Announce maintenance on ``platform_state`` (or its end)."""
        sim = self._sim
        sim.stats.maintenance += 1
        self.maintenance_active = active
        feed = sim.feed_for("platform_state")
        assert feed is not None
        feed.publish({"maintenance": active})
        log.warning("fault: maintenance %s", "on" if active else "off")
        return len(feed.subscribers)

    def inject(self, kind: str, params: dict[str, Any], caller: Connection | None = None) -> Any:
        """Run fault ``kind`` with JSON ``params`` (as ``simulator/fault`` receives them)."""
        if kind == "drop":
            refuse = _number(params, "refuse_seconds", 0.0)
            if caller is not None:
                asyncio.get_running_loop().create_task(self.drop_after(caller, refuse))
                return len(self._sim.connections)
            return self.drop(refuse)
        if kind == "gap":
            return self.gap(_text(params, "instrument_name"))
        if kind == "stall":
            self.stall(_number(params, "seconds", 5.0))
            return "ok"
        if kind == "malformed":
            return self.malformed()
        if kind == "reject":
            count = _number(params, "count", 1)
            code = _number(params, "code", protocol.TOO_MANY_REQUESTS)
            self.reject(_text(params, "method"), int(count), int(code))
            return "ok"
        if kind == "maintenance":
            active = params.get("active", True)
            if not isinstance(active, bool):
                raise bad_param("active", "must be a boolean")
            return self.maintenance(active)
        raise bad_param("kind", f"must be one of {', '.join(KINDS)}")

    async def periodic(self, kind: str, every: float, params: dict[str, Any]) -> None:
        """Inject ``kind`` every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            self.inject(kind, params)


def _number(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise bad_param(name, "must be a non-negative number")
    return value


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise bad_param(name, "required string")
    return value
