"""``lobstream replay FILE``: run recorded Deribit messages through the book and the features.

The file holds one JSON message per line exactly as the exchange sent it (``lobstream record``
writes such files): notifications, heartbeats and call results mixed. Book and ticker
notifications feed a :class:`~lobstream.book.features.FeatureEngine`; other lines are skipped and
lines that are not JSON are counted as malformed. ``FILE`` may be ``-`` (standard input) or
gzip-compressed (``.gz``). The result is one JSON document on standard output.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from lobstream.book.features import FeatureEngine
from lobstream.offline.files import open_messages
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
    if every > 0 and emit is not None:
        for chunk in _chunks(lines, every, counts):
            _feed(chunk, engine, counts)
            if counts.messages % every == 0:
                emit({"messages": counts.messages, "instruments": engine.values()})
    else:
        _feed(lines, engine, counts)
    return counts


def _chunks(
    lines: Iterable[bytes | str], every: int, counts: ReplayCounts
) -> Iterator[list[bytes | str]]:
    """Lists of lines holding ``every`` messages each (blank lines are not messages)."""
    chunk: list[bytes | str] = []
    wanted = every
    for line in lines:
        chunk.append(line)
        if line.strip():
            wanted -= 1
            if not wanted:
                yield chunk
                chunk = []
                wanted = every
    if chunk:
        yield chunk


def _feed(lines: Iterable[bytes | str], engine: FeatureEngine, counts: ReplayCounts) -> None:
    """The per-line hot path: parse, classify, route to the instrument's book or ticker."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    routes = engine.routes
    route_for = engine.route
    messages = malformed = skipped = blank = 0
    for line in lines:
        messages += 1
        try:
            doc = loads(line)
        except decode_error:
            if line.strip():
                malformed += 1
            else:
                blank += 1
            continue
        # Not a JSON object (an array, a string, a number): subscripting it raises TypeError.
        try:
            if doc["method"] != "subscription":
                skipped += 1  # heartbeats, requests
                continue
            params = doc["params"]
            channel = params["channel"]
            data = params["data"]
        except KeyError:
            if "method" in doc:
                malformed += 1
            else:
                skipped += 1  # call results
            continue
        except TypeError:
            malformed += 1
            continue
        try:
            route = routes[channel]
        except KeyError:
            if type(channel) is not str:
                malformed += 1
                continue
            route = route_for(channel)
        except TypeError:  # an unhashable channel
            malformed += 1
            continue
        route(data)
    counts.messages += messages - blank
    counts.malformed += malformed
    counts.skipped += skipped


def summary(engine: FeatureEngine, counts: ReplayCounts, seconds: float) -> dict[str, Any]:
    """The document ``lobstream replay`` prints."""
    return {
        "messages": counts.messages,
        "book_messages": engine.book_messages,
        "ticker_messages": engine.ticker_messages,
        "skipped": counts.skipped,
        "malformed": counts.malformed,
        "ignored": engine.ignored,
        "gaps": engine.gaps(),
        "seconds": round(seconds, 6),
        "instruments": engine.values(),
    }


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
        with open_messages(args.file, "rb") as stream:
            started = time.perf_counter()
            counts = replay(stream, engine, every=args.every, emit=_print)
            seconds = time.perf_counter() - started
    except (OSError, EOFError) as exc:
        print(f"lobstream replay: {args.file}: {exc}", file=sys.stderr)
        return 1
    _print(summary(engine, counts, seconds))
    sys.stdout.flush()
    return 0
