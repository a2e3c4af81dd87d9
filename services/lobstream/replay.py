"""``lobstream replay FILE``: run recorded Deribit messages through the book and the features.

The file holds one JSON message per line exactly as the exchange sent it (``lobstream record``
writes such files): notifications, heartbeats and call results mixed. Book and ticker
notifications feed a :class:`~lobstream.features.FeatureEngine`; other lines are skipped and
lines that are not JSON are counted as malformed. ``FILE`` may be ``-`` (standard input) or
gzip-compressed (``.gz``). The result is one JSON document on standard output.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, cast

import orjson

from lobstream.features import FeatureEngine
from lobstream.settings import FeatureSettings, load


@dataclass(slots=True)
class ReplayCounts:
    """What a replay saw, line by line."""

    messages: int = 0
    malformed: int = 0
    skipped: int = 0


def replay(
    lines: Iterable[bytes | str],
    engine: FeatureEngine,
    *,
    every: int = 0,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayCounts:
    """Feed every line to ``engine``; with ``every`` > 0 call ``emit`` every ``every`` messages."""
    counts = ReplayCounts()
    loads = orjson.loads
    on_notification = engine.on_notification
    messages = malformed = skipped = 0
    for line in lines:
        if not line.strip():
            continue
        messages += 1
        try:
            doc = loads(line)
        except orjson.JSONDecodeError:
            malformed += 1
            continue
        if type(doc) is not dict:
            malformed += 1
            continue
        if doc.get("method") != "subscription":
            skipped += 1  # heartbeats, call results, requests
            continue
        params: Any = doc.get("params")
        try:
            channel = params["channel"]
            data = params["data"]
        except (KeyError, TypeError):
            malformed += 1
            continue
        if type(channel) is not str:
            malformed += 1
            continue
        on_notification(channel, data)
        if every and emit is not None and messages % every == 0:
            emit({"messages": messages, "instruments": engine.values()})
    counts.messages = messages
    counts.malformed = malformed
    counts.skipped = skipped
    return counts


def summary(engine: FeatureEngine, counts: ReplayCounts, seconds: float) -> dict[str, Any]:
    """The document ``lobstream replay`` prints."""
    return {
        "messages": counts.messages,
        "book_messages": engine.stats.book_messages,
        "ticker_messages": engine.stats.ticker_messages,
        "skipped": counts.skipped,
        "malformed": counts.malformed,
        "gaps": engine.gaps(),
        "seconds": round(seconds, 6),
        "instruments": engine.values(),
    }


@contextmanager
def open_lines(path: str) -> Iterator[IO[bytes]]:
    """A binary line source: ``-`` for standard input, ``*.gz`` decompressed on the fly."""
    if path == "-":
        yield sys.stdin.buffer
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            yield cast(IO[bytes], stream)
    else:
        with open(path, "rb") as stream:
            yield stream


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="messages, one per line; - for stdin; .gz ok")
    parser.add_argument(
        "--every",
        type=int,
        default=0,
        metavar="N",
        help="also print the features every N messages (one JSON document per line)",
    )


def _print(doc: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")


def run(args: argparse.Namespace) -> int:
    if args.every < 0:
        print("lobstream replay: --every must be >= 0", file=sys.stderr)
        return 2
    settings: FeatureSettings = load().features
    engine = FeatureEngine(settings)
    try:
        with open_lines(args.file) as stream:
            started = time.perf_counter()
            counts = replay(stream, engine, every=args.every, emit=_print)
            seconds = time.perf_counter() - started
    except (OSError, EOFError) as exc:
        print(f"lobstream replay: {args.file}: {exc}", file=sys.stderr)
        return 1
    _print(summary(engine, counts, seconds))
    sys.stdout.flush()
    return 0
