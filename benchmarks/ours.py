"""Worker: time lobstream's replay path (and the bare book) on a cached stream; prints JSON.

Run by ``benchmarks/run.py`` in the project's virtualenv, one process per measurement, pinned
to one CPU. The timed region is exactly what ``lobstream replay`` runs per line: orjson parse,
the envelope, the consumer's router, ``OrderBook.apply`` and the features; the file is read first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from lobstream.book.orderbook import OrderBook
from lobstream.book.router import Router
from lobstream.offline.replay import replay
from stream import load_lines


def bench_replay(lines: list[bytes], repeat: int) -> dict[str, Any]:
    runs: list[float] = []
    router = Router()
    for _ in range(repeat):
        router = Router()
        started = time.perf_counter()
        counts = replay(lines, router)
        runs.append(time.perf_counter() - started)
    final = {
        name: {key: values[key] for key in ("best_bid", "best_ask", "change_id", "mid", "ofi_10s")}
        for name, values in router.values().items()
    }
    return {
        **timings("replay", counts.messages, runs),
        "book_messages": router.book_messages,
        "gaps": router.gaps(),
        "final": final,
    }


def bench_parse(lines: list[bytes], repeat: int) -> dict[str, Any]:
    """``orjson.loads`` alone on every line: the floor under any per-message work."""
    loads = orjson.loads
    runs: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        for line in lines:
            loads(line)
        runs.append(time.perf_counter() - started)
    return timings("parse", len(lines), runs)


def timings(suite: str, messages: int, runs: list[float]) -> dict[str, Any]:
    """A suite's result: the best of ``runs`` (seconds each), and every run's rate."""
    best = min(runs)
    return {
        "suite": suite,
        "messages": messages,
        "seconds": best,
        "rate": messages / best,
        "runs": [messages / seconds for seconds in runs],
    }


def bench_book(lines: list[bytes], repeat: int) -> dict[str, Any]:
    """OrderBook.apply alone, on data dicts parsed beforehand."""
    datas: list[tuple[str, dict[str, Any]]] = []
    for line in lines:
        doc = orjson.loads(line)
        params = doc.get("params") if doc.get("method") == "subscription" else None
        if params and params["channel"].startswith("book."):
            data = params["data"]
            datas.append((data["instrument_name"], data))
    names = sorted({name for name, _ in datas})
    runs: list[float] = []
    for _ in range(repeat):
        books = {name: OrderBook(name) for name in names}
        applies = [(books[name].apply, data) for name, data in datas]
        started = time.perf_counter()
        for apply, data in applies:
            apply(data)
        runs.append(time.perf_counter() - started)
    return timings("book", len(datas), runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("suite", choices=("replay", "book", "parse"))
    parser.add_argument("stream", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    lines = load_lines(args.stream)
    bench = {"replay": bench_replay, "book": bench_book, "parse": bench_parse}[args.suite]
    json.dump(bench(lines, args.repeat), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
