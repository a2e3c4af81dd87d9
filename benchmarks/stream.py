"""The benchmark's input: a seeded stream of Deribit frames, generated once and cached.

Two perpetuals from the project's own synthetic market (``lobstream.simulator``),
interleaved the way one WebSocket connection carries them: a subscribe result, a snapshot per
instrument, then ``book.*.100ms`` changes (several raw changes merged per notification, as the
exchange's 100 ms feed does), a ticker notification every ~10 book messages, and heartbeats.
Written as gzip-compressed JSON lines under ``benchmarks/data/`` (gitignored).

Loading (:func:`load_lines`) is plain Python with no lobstream import, so the peer's virtualenv,
which has cryptofeed but not lobstream, can read the same file.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL")
FORMAT = 1  # bump when the generator changes, so stale caches are not reused


# Assumed raw book-change rates (changes/s): a busy but ordinary hour on the two perpetuals.
CHANGE_RATES = {"BTC-PERPETUAL": 100.0, "ETH-PERPETUAL": 60.0}
INTERVAL_MS = 100  # the public book and ticker interval
HEARTBEAT_MS = 10_000
PROFILES = ("100ms", "raw")


def stream_path(messages: int, seed: int, profile: str = "100ms") -> Path:
    return DATA / f"deribit-{profile}-{messages}-seed{seed}-v{FORMAT}.jsonl.gz"


def load_lines(path: Path) -> list[bytes]:
    """Every line of a cached stream, in memory, so timing excludes file I/O."""
    with gzip.open(path, "rb") as stream:
        return stream.read().splitlines()


def ensure_stream(messages: int, seed: int, profile: str = "100ms") -> Path:
    """The cached stream for (messages, seed, profile), generating it on first use."""
    path = stream_path(messages, seed, profile)
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with gzip.open(partial, "wb", compresslevel=3) as out:
            for line in generate(messages, seed, profile):
                out.write(line)
                out.write(b"\n")
        partial.rename(path)
    return path


def _frame(channel: str, data: object) -> bytes:
    doc = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    return json.dumps(doc, separators=(",", ":")).encode()


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def generate(messages: int, seed: int, profile: str = "100ms") -> Iterator[bytes]:
    """Yield ``messages`` frames (bytes, no newline) of one connection.

    Raw book changes arrive per instrument as a Poisson process (:data:`CHANGE_RATES`).
    ``100ms``: each instrument's changes are merged into one ``book.*.100ms`` notification per
    100 ms, as the exchange's public feed does; ``raw``: every change is its own
    ``book.*.raw`` notification. Both carry a ticker per instrument every 100 ms and a
    heartbeat every 10 s, in timestamp order.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}")
    # Imported here so that load_lines works where lobstream is not installed.
    from lobstream.simulator.market import Market, spec_for
    from lobstream.simulator.merge import ChangeMerger

    rng = random.Random(seed)
    interval = "100ms" if profile == "100ms" else "raw"
    markets = [Market(spec_for(name), seed) for name in INSTRUMENTS]
    books = [f"book.{name}.{interval}" for name in INSTRUMENTS]
    tickers = [f"ticker.{name}.100ms" for name in INSTRUMENTS]
    mergers = [ChangeMerger() for _ in INSTRUMENTS]
    prevs = [market.change_id for market in markets]
    now = 1_700_000_000_000
    yield _dumps(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "result": books + tickers,
            "usIn": now * 1000,
            "usOut": now * 1000 + 80,
            "usDiff": 80,
            "testnet": False,
        }
    )
    count = 1
    for index, market in enumerate(markets):
        yield _frame(books[index], market.snapshot(now))
        count += 1
    # Next event time per source: raw changes per instrument, the 100 ms tick, the heartbeat.
    next_change = [now + rng.expovariate(CHANGE_RATES[n] / 1000) for n in INSTRUMENTS]
    next_tick = now + INTERVAL_MS
    next_heartbeat = now + HEARTBEAT_MS
    while count < messages:
        soonest = min(next_change)
        if next_heartbeat <= min(soonest, next_tick):
            now = next_heartbeat
            next_heartbeat += HEARTBEAT_MS
            yield _dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "heartbeat"}})
            count += 1
        elif soonest < next_tick:
            index = next_change.index(soonest)
            now = int(soonest)
            next_change[index] = soonest + rng.expovariate(CHANGE_RATES[INSTRUMENTS[index]] / 1000)
            change = markets[index].step(now).change
            if profile == "raw":
                yield _frame(books[index], change)
                count += 1
            else:
                mergers[index].add(change)
        else:
            now = next_tick
            next_tick += INTERVAL_MS
            for index, market in enumerate(markets):
                if mergers[index] and count < messages:
                    data = mergers[index].flush(prevs[index], market.name, now)
                    prevs[index] = data["change_id"]
                    yield _frame(books[index], data)
                    count += 1
                if count < messages:
                    yield _frame(tickers[index], market.ticker(now))
                    count += 1
