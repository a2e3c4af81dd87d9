"""``lobstream replay FILE``: run recorded Deribit messages through the book and the features.

The file holds one JSON message per line exactly as the exchange sent it (``lobstream record``
writes such files): notifications, heartbeats and call results mixed. Book and ticker
notifications feed a :class:`~lobstream.book.router.Router`, the one the consumer runs; other
lines are skipped and lines that are not JSON are counted as malformed. ``FILE`` may be ``-``
(standard input) or gzip-compressed (``.gz``). The result is one JSON document on standard output.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from lobstream.book.router import NotNotification, Router, subscription
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
    router: Router,
    *,
    every: int = 0,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayCounts:
    """Feed every line to ``router``; with ``every`` > 0 call ``emit`` every ``every`` messages."""
    counts = ReplayCounts()
    if every > 0 and emit is not None:
        for chunk in _chunks(lines, every, counts):
            _feed(chunk, router, counts)
            if counts.messages % every == 0:
                emit({"messages": counts.messages, "instruments": router.values()})
    else:
        _feed(lines, router, counts)
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


def _feed(lines: Iterable[bytes | str], router: Router, counts: ReplayCounts) -> None:
    """The per-line hot path: parse, read the envelope, route to the instrument's book or ticker."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    appliers = router.appliers
    route_for = router.route
    messages = malformed = skipped = blank = 0
    for line in lines:
        messages += 1
        try:
            channel, data = subscription(loads(line))
        except decode_error:
            if line.strip():
                malformed += 1
            else:
                blank += 1
            continue
        except NotNotification as exc:
            if exc.malformed:
                malformed += 1
            else:
                skipped += 1  # heartbeats, requests, call results
            continue
        try:
            apply = appliers[channel]
        except KeyError:
            apply = route_for(channel).apply
        apply(data)
    counts.messages += messages - blank
    counts.malformed += malformed
    counts.skipped += skipped


def summary(router: Router, counts: ReplayCounts, seconds: float) -> dict[str, Any]:
    """The document ``lobstream replay`` prints."""
    return {
        "messages": counts.messages,
        "book_messages": router.book_messages,
        "ticker_messages": router.ticker_messages,
        "skipped": counts.skipped,
        "malformed": counts.malformed,
        "ignored": router.ignored,
        "gaps": router.gaps(),
        "seconds": round(seconds, 6),
        "instruments": router.values(),
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
    router = Router(settings)
    try:
        with open_messages(args.file, "rb") as stream:
            started = time.perf_counter()
            counts = replay(stream, router, every=args.every, emit=_print)
            seconds = time.perf_counter() - started
    except (OSError, EOFError) as exc:
        print(f"lobstream replay: {args.file}: {exc}", file=sys.stderr)
        return 1
    _print(summary(router, counts, seconds))
    sys.stdout.flush()
    return 0
