"""How long a ``/metrics`` scrape stalls the consumer's Kafka loop, with many instruments.

The consumer's loop applies each batch of records under ``ConsumerState.lock``; a scrape reads
the same state under that lock. This builds a consumer state of N instruments (default 500,
each with a book, tickers and both OFI windows), then runs two threads as the service does:

- the loop: batches of records applied under the lock, back to back, timing how long each
  batch waited for the lock;
- the scraper: a full scrape (``generate_latest`` of the consumer's registry) every
  ``--every`` seconds, timing the whole scrape and how long it held the lock.

It prints one JSON line: the scrape's time, its longest single hold of the lock and its total
time holding it, and the loop's longest wait for the lock with scrapes and, as a baseline,
without (a wait includes getting the GIL back from the scraping thread).

    .venv/bin/python benchmarks/scrape_stall.py --instruments 500 --scrapes 20
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import threading
import time
from types import TracebackType
from typing import Any

import orjson
from prometheus_client import generate_latest

from lobstream.consumer.metrics import consumer_registry
from lobstream.consumer.pipeline import Pipeline
from lobstream.consumer.rebuild import PartitionStart
from lobstream.consumer.state import ConsumerState
from lobstream.settings import FeatureSettings
from lobstream.simulator.market import Market, spec_for

T0 = 1_700_000_000_000
Record = tuple[bytes, bytes]


class TimedLock:
    """A lock that records how long the thread ``watched`` (an ident) held it each time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.watched: int | None = None
        self.holds: list[float] = []
        self._since = 0.0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got and threading.get_ident() == self.watched:
            self._since = time.perf_counter()
        return got

    def release(self) -> None:
        if threading.get_ident() == self.watched:
            self.holds.append(time.perf_counter() - self._since)
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _frame(channel: str, data: Any) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    )


def build(instruments: int, changes: int) -> tuple[ConsumerState, TimedLock, list[Record]]:
    """A consumer state of ``instruments`` live books, and records that keep changing them."""
    lock = TimedLock()
    state = ConsumerState(Pipeline(FeatureSettings()), lock=lock)  # type: ignore[arg-type]
    state.pipeline.assign(0, PartitionStart(0, 0, {}, "bench"))
    markets = [Market(spec_for(f"SYN{i:03d}-PERPETUAL"), seed=i) for i in range(instruments)]
    offset = 0
    for market in markets:
        key = market.name.encode()
        for record in (
            _frame(f"book.{market.name}.100ms", market.snapshot(T0)),
            _frame(f"ticker.{market.name}.100ms", market.ticker(T0)),
        ):
            state.pipeline.apply(key, record, 0, offset)
            offset += 1
    stream: list[Record] = []
    for step in range(changes):
        market = markets[step % instruments]
        event = market.step(T0 + 1 + step)
        stream.append((market.name.encode(), _frame(f"book.{market.name}.100ms", event.change)))
    state.assigned = True
    return state, lock, stream


def loop(
    state: ConsumerState, stream: list[Record], batch: int, stop: threading.Event
) -> list[float]:
    """Apply ``stream`` in batches under the lock, as the service does; the lock waits."""
    waits: list[float] = []
    apply = state.pipeline.apply
    lock = state.lock
    offset = 1_000_000
    position = 0
    while not stop.is_set():
        chunk = stream[position : position + batch]
        position = position + batch if position + batch < len(stream) else 0
        started = time.perf_counter()
        with lock:
            waits.append(time.perf_counter() - started)
            for key, value in chunk:
                apply(key, value, 0, offset)
                offset += 1
    return waits


def measure(args: argparse.Namespace) -> dict[str, Any]:
    state, lock, stream = build(args.instruments, args.changes)
    registry = consumer_registry(state)
    size = len(generate_latest(registry))

    def run_loop(seconds: float, scrape: bool) -> tuple[list[float], list[float]]:
        stop = threading.Event()
        result: list[list[float]] = []
        worker = threading.Thread(
            target=lambda: result.append(loop(state, stream, args.batch, stop))
        )
        worker.start()
        scrapes: list[float] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if scrape:
                lock.holds.clear()
                started = time.perf_counter()
                generate_latest(registry)
                scrapes.append(time.perf_counter() - started)
                longest.append(max(lock.holds))
                held.append(sum(lock.holds))
            time.sleep(args.every)
        stop.set()
        worker.join()
        return result[0], scrapes

    longest: list[float] = []
    held: list[float] = []
    baseline, _ = run_loop(args.every * args.scrapes, scrape=False)
    lock.watched = threading.get_ident()
    waits, scrapes = run_loop(args.every * args.scrapes, scrape=True)
    ms = 1000.0
    return {
        "instruments": args.instruments,
        "gc": not args.no_gc,
        "families_bytes": size,
        "scrapes": len(scrapes),
        "scrape_ms_median": round(statistics.median(scrapes) * ms, 2),
        "scrape_ms_max": round(max(scrapes) * ms, 2),
        "longest_hold_ms_median": round(statistics.median(longest) * ms, 3),
        "longest_hold_ms_max": round(max(longest) * ms, 3),
        "held_per_scrape_ms_median": round(statistics.median(held) * ms, 2),
        "loop_wait_ms_p99_with_scrapes": round(_quantile(waits, 0.99) * ms, 3),
        "loop_wait_ms_p999_with_scrapes": round(_quantile(waits, 0.999) * ms, 3),
        "loop_wait_ms_max_with_scrapes": round(max(waits) * ms, 3),
        "loop_waits_over_1ms_per_scrape": round(sum(w > 0.001 for w in waits) / len(scrapes), 1),
        "loop_waited_ms_per_scrape": round(sum(waits) * ms / len(scrapes), 2),
        "loop_wait_ms_max_without": round(max(baseline) * ms, 3),
        "loop_batches": len(waits),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--changes", type=int, default=50_000, help="records the loop cycles")
    parser.add_argument("--batch", type=int, default=100, help="records per locked batch")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--every", type=float, default=0.25, help="seconds between scrapes")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="disable the cyclic garbage collector while measuring (to tell its pauses apart)",
    )
    args = parser.parse_args(argv)
    if args.no_gc:
        gc.disable()
    print(json.dumps(measure(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
