"""Worker: time cryptofeed's Deribit handler on a cached stream; prints JSON.

Runs in ``benchmarks/.venv-peer`` (cryptofeed installed there only, never in the project's
environment). Each line goes to ``Deribit.message_handler`` exactly as cryptofeed's websocket
loop passes it (the frame as text, the connection, a receive time), with no-op callbacks for
every data type the book and ticker channels produce. Instrument metadata, which cryptofeed
normally fetches over HTTP, is filled in offline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from stream import INSTRUMENTS, load_lines


def _instrument(name: str) -> dict[str, Any]:
    base = name.split("-")[0]
    return {
        "instrument_name": name,
        "base_currency": base,
        "quote_currency": "USD",
        "settlement_period": "perpetual",
        "kind": "future",
        "expiration_timestamp": 32503680000000,
        "tick_size": 0.5 if base == "BTC" else 0.05,
    }


def make_feed() -> Any:
    from cryptofeed.defines import DERIBIT, FUNDING, L2_BOOK, OPEN_INTEREST, TICKER
    from cryptofeed.exchanges.deribit import Deribit
    from cryptofeed.symbols import Symbols

    syms, info = Deribit._parse_symbol_data([{"result": [_instrument(n) for n in INSTRUMENTS]}])
    Symbols.set(DERIBIT, syms, info)

    async def noop(obj: Any, receipt_timestamp: float) -> None:
        return None

    channels = [L2_BOOK, TICKER, FUNDING, OPEN_INTEREST]
    symbols = [s for s, name in syms.items() if name in INSTRUMENTS]
    # Deribit's book and ticker subscriptions are raw channels in cryptofeed, hence a key.
    feed = Deribit(
        symbols=symbols,
        channels=channels,
        callbacks={channel: noop for channel in channels},
        config={"deribit": {"key_id": "bench", "key_secret": "bench"}},
    )
    # What Deribit.subscribe does on every (re)connect before any message arrives.
    feed._Deribit__reset()
    return feed


class _Conn:
    uuid = "bench"


async def _drive(handler: Any, frames: list[str]) -> None:
    conn = _Conn()
    received = time.time()
    for frame in frames:
        await handler(frame, conn, received)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("stream", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    # Unknown-message warnings (heartbeats) would otherwise be formatted and written per line.
    logging.getLogger("feedhandler").setLevel(logging.ERROR)
    frames = [line.decode() for line in load_lines(args.stream)]
    from importlib.metadata import version

    runs: list[float] = []
    feed = None
    for _ in range(args.repeat):
        feed = make_feed()
        started = time.perf_counter()
        asyncio.run(_drive(feed.message_handler, frames))
        runs.append(time.perf_counter() - started)
    best = min(runs)
    final = {}
    for symbol, book in feed._l2_book.items():
        bids, asks = book.book.bids, book.book.asks
        name = feed.std_symbol_to_exchange_symbol(symbol)
        final[name] = {
            "best_bid": float(bids.index(0)[0]) if len(bids) else None,
            "best_ask": float(asks.index(0)[0]) if len(asks) else None,
            "change_id": feed.seq_no[symbol],
        }
    result = {
        "suite": "peer",
        "peer": f"cryptofeed {version('cryptofeed')}",
        "messages": len(frames),
        "seconds": best,
        "rate": len(frames) / best,
        "runs": [len(frames) / seconds for seconds in runs],
        "final": final,
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
