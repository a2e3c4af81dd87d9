"""A :class:`~lobstream.simulator.server.Simulator` on its own event loop in a daemon thread.

Tests (and docs' examples) drive it synchronously: start it on a free port, read its true book,
inject faults, pause and resume its markets. Only tests use it, so it lives here rather than in
the package.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from lobstream.simulator.server import Simulator

T = TypeVar("T")


class RunningSimulator:
    """A :class:`Simulator` on its own event loop in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._kwargs = kwargs
        self._host, self._port = host, port
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("simulator did not start within 30 s")
        if self._error is not None:
            raise RuntimeError(f"simulator failed to start: {self._error}") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            self.sim = Simulator(**self._kwargs)
            await self.sim.start(self._host, self._port)
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.sim.stop()

    @property
    def url(self) -> str:
        return self.sim.url

    @property
    def port(self) -> int:
        return self.sim.port

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 30.0) -> T:
        """Run ``fn(*args)`` on the simulator's loop (awaited if it returns a coroutine)."""

        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)  # type: ignore[no-any-return]

    def fault(self, kind: str, **params: Any) -> Any:
        """Inject a fault, as ``simulator/fault`` would."""
        return self.call(self.sim.faults.inject, kind, params)

    def true_book(self, instrument: str) -> tuple[int, dict[float, float], dict[float, float]]:
        return self.call(self.sim.true_book, instrument)

    def pause(self, instrument: str | None = None) -> None:
        self.call(self.sim.pause, instrument)

    def resume(self, instrument: str | None = None) -> None:
        self.call(self.sim.resume, instrument)

    def stats(self) -> dict[str, int]:
        return self.call(self.sim.stats.as_dict)

    def stop(self) -> None:
        if self._thread.is_alive() and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(30)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(**kwargs: Any) -> RunningSimulator:
    """Start a :class:`Simulator` in a daemon thread; ``host``/``port`` plus Simulator kwargs.

    ``instruments`` defaults to BTC-PERPETUAL and ETH-PERPETUAL, ``port`` to a free one.
    """
    kwargs.setdefault("instruments", ["BTC-PERPETUAL", "ETH-PERPETUAL"])
    return RunningSimulator(**kwargs)
