"""``make bench``: lobstream's replay path against cryptofeed's Deribit handler, messages/s.

Generates (once, cached under ``benchmarks/data/``) a seeded stream of Deribit frames for two
perpetuals, then times, each in its own process pinned to one CPU:

- ``replay``: lobstream's full replay path (parse, route, book, features), as ``lobstream replay``;
- ``peer``: the same frames through cryptofeed's Deribit handler, in ``benchmarks/.venv-peer``
  (created here; cryptofeed is never installed in the project's environment);
- ``book``: ``OrderBook.apply`` alone on pre-parsed data (a micro-benchmark).

More suites plug in without touching this file: a module ``benchmarks/suite_<name>.py`` with
``NAME: str`` and ``run(ctx: Context) -> list[Row]`` is found, listed in ``--suite``'s choices
and run by default after the built-in ones (the Kafka end-to-end benchmark goes there).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".venv-peer"
PEER_REQUIREMENT = "cryptofeed==2.4.1"
PEER_STAMP = PEER_VENV / ".installed"
RESULTS = HERE / "results" / "bench.json"
"""The one result document every benchmark figure in the docs is quoted from."""
PARTIAL = HERE / "results" / "partial.json"
"""Where a run of only some suites or one profile goes by default (gitignored)."""

sys.path.insert(0, str(HERE))
from checks import books_disagree  # noqa: E402
from stream import PROFILES, ensure_stream  # noqa: E402


@dataclass
class Context:
    """What a suite needs: the cached stream and how to measure."""

    stream: Path
    profile: str
    messages: int
    seed: int
    repeat: int
    cpu: int | None
    python: str = sys.executable


@dataclass
class Row:
    """One measurement: ``rate`` is messages (or events) per second."""

    profile: str
    suite: str
    what: str
    messages: int
    seconds: float
    rate: float
    extra: dict[str, Any] = field(default_factory=dict)


Suite = Callable[[Context], list[Row]]


def _worker(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=HERE)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _pin(ctx: Context) -> list[str]:
    return [] if ctx.cpu is None else ["--cpu", str(ctx.cpu)]


def suite_replay(ctx: Context) -> list[Row]:
    result = _worker(
        [ctx.python, "ours.py", "replay", str(ctx.stream), "--repeat", str(ctx.repeat), *_pin(ctx)]
    )
    what = "lobstream replay: parse + book + features"
    return [_row(ctx, "replay", what, result)]


def suite_parse(ctx: Context) -> list[Row]:
    result = _worker(
        [ctx.python, "ours.py", "parse", str(ctx.stream), "--repeat", str(ctx.repeat), *_pin(ctx)]
    )
    return [_row(ctx, "parse", "orjson.loads alone (every frame)", result)]


def suite_book(ctx: Context) -> list[Row]:
    result = _worker(
        [ctx.python, "ours.py", "book", str(ctx.stream), "--repeat", str(ctx.repeat), *_pin(ctx)]
    )
    return [_row(ctx, "book", "OrderBook.apply alone (book messages)", result)]


def suite_peer(ctx: Context) -> list[Row]:
    python = ensure_peer_venv()
    result = _worker(
        [str(python), "peer.py", str(ctx.stream), "--repeat", str(ctx.repeat), *_pin(ctx)]
    )
    return [_row(ctx, "peer", f"{result['peer']} Deribit handler (no-op callbacks)", result)]


def _row(ctx: Context, suite: str, what: str, result: dict[str, Any]) -> Row:
    extra = {k: v for k, v in result.items() if k not in ("messages", "seconds", "rate", "suite")}
    return Row(
        ctx.profile, suite, what, result["messages"], result["seconds"], result["rate"], extra
    )


def ensure_peer_venv() -> Path:
    """``benchmarks/.venv-peer`` with cryptofeed (and nothing of lobstream's)."""
    python = PEER_VENV / "bin" / "python"
    if not PEER_STAMP.exists() or PEER_STAMP.read_text() != PEER_REQUIREMENT:
        print(f"creating {PEER_VENV} with {PEER_REQUIREMENT} ...", file=sys.stderr)
        venv.create(PEER_VENV, with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", PEER_REQUIREMENT], check=True
        )
        PEER_STAMP.write_text(PEER_REQUIREMENT)
    return python


BUILTIN: dict[str, Suite] = {
    "replay": suite_replay,
    "peer": suite_peer,
    "book": suite_book,
    "parse": suite_parse,
}


def discover() -> dict[str, Suite]:
    """Built-in suites, then every ``suite_<name>.py`` module beside this file."""
    suites = dict(BUILTIN)
    for path in sorted(HERE.glob("suite_*.py")):
        module = importlib.import_module(path.stem)
        suites[module.NAME] = module.run
    return suites


def stamp(note: str) -> dict[str, str]:
    """What every result document starts with: when, on what machine, and what else ran."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "note": note,
    }


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def wrong_answers(rows: list[Row]) -> list[str]:
    """Every problem the suites reported, and every profile whose replay and peer books differ."""
    problems = [
        f"{row.profile}/{row.suite}: {problem}"
        for row in rows
        for problem in row.extra.get("problems", [])
    ]
    for profile in sorted({row.profile for row in rows}):
        by_suite = {row.suite: row for row in rows if row.profile == profile}
        ours, peer = by_suite.get("replay"), by_suite.get("peer")
        if ours and peer:
            problems += [
                f"{profile}: final books: {problem}"
                for problem in books_disagree(
                    ours.extra.get("final", {}), peer.extra.get("final", {})
                )
            ]
    return problems


def report(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| stream | what | messages | seconds | messages/s |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.profile} | {row.what} | {row.messages:,} | {row.seconds:.2f} | "
            f"{row.rate:,.0f} |"
        )
    lines.append("")
    for profile in sorted({row.profile for row in rows}):
        by_suite = {row.suite: row for row in rows if row.profile == profile}
        ours, peer = by_suite.get("replay"), by_suite.get("peer")
        if ours and peer:
            agree = not books_disagree(ours.extra.get("final", {}), peer.extra.get("final", {}))
            lines.append(
                f"{profile}: lobstream / cryptofeed = {ours.rate / peer.rate:.2f}x "
                f"(final books agree: {'yes' if agree else 'NO'})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    suites = discover()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        choices=(*PROFILES, "all"),
        default="all",
        help="100ms: the public feed (merged changes + tickers); raw: one change per message",
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per suite")
    parser.add_argument(
        "--cpu",
        type=int,
        default=max(os.sched_getaffinity(0)),
        help="pin every measurement to this CPU (-1: no pinning)",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(suites),
        help="run only these suites (repeatable); default: all",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"the result document (default: {RESULTS.relative_to(HERE.parent)}, which the docs "
        f"quote (benchmarks/figures.py), for a complete run; {PARTIAL.name} beside it for a "
        "run of some suites or one profile, so that it never replaces the quoted one)",
    )
    parser.add_argument(
        "--note",
        default="",
        help="what else ran on the machine meanwhile (kept in the result document)",
    )
    args = parser.parse_args(argv)
    chosen = args.suite or list(suites)
    profiles = PROFILES if args.profile == "all" else (args.profile,)
    rows: list[Row] = []
    failed = []
    for profile in profiles:
        print(f"stream {profile}: {args.messages:,} messages (seed {args.seed})", file=sys.stderr)
        ctx = Context(
            stream=ensure_stream(args.messages, args.seed, profile),
            profile=profile,
            messages=args.messages,
            seed=args.seed,
            repeat=args.repeat,
            cpu=None if args.cpu < 0 else args.cpu,
        )
        for name in chosen:
            print(f"  {name} ...", file=sys.stderr)
            try:
                rows.extend(suites[name](ctx))
            except (subprocess.CalledProcessError, OSError) as exc:
                stderr = getattr(exc, "stderr", "") or ""
                print(f"  {name} failed: {exc}\n{stderr}", file=sys.stderr)
                failed.append(f"{profile}/{name}")
    pinned = "not pinned" if args.cpu < 0 else f"pinned to CPU {args.cpu}"
    print(report(rows, f"machine: {machine()}; each measurement {pinned}, best of {args.repeat}"))
    wrong = wrong_answers(rows)
    document = {
        **stamp(args.note),
        "pinned": pinned,
        "repeat": args.repeat,
        "messages": args.messages,
        "seed": args.seed,
        "complete": not failed and not args.suite and args.profile == "all",
        "rows": [asdict(row) for row in rows],
        "problems": wrong,
    }
    path = args.json or (RESULTS if document["complete"] else PARTIAL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"result document: {path}", file=sys.stderr)
    for problem in wrong:
        print(f"wrong answer: {problem}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
