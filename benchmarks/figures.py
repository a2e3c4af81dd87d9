"""Every benchmark figure the docs quote, taken from one result document.

``benchmarks/run.py`` (``make bench``) writes ``benchmarks/results/bench.json``: its date, the
machine, what else ran meanwhile, and every row. The docs never type a figure: each one stands
between ``<!-- fig:NAME -->`` and ``<!-- /fig -->``, and ``python benchmarks/figures.py
--write`` puts :data:`FIGURES`' value for NAME there. A test fails when a doc's figure is not
the document's (run it after every ``make bench``), so the README, docs/benchmarks.md,
docs/consumer.md and docs/capacity.md cannot disagree with each other or with the run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "bench.json"
COMPANIONS = {
    "in_flight": HERE / "results" / "in-flight.json",
    "scrape_stall": HERE / "results" / "scrape-stall.json",
    "producer_load": HERE / "results" / "producer-load.json",
}
"""Result documents of one-off comparisons (``benchmarks/in_flight.py``), read into the main
document under their key: their figures are named ``KEY.*``."""
DOCS = [
    REPO / "README.md",
    REPO / "docs" / "benchmarks.md",
    REPO / "docs" / "consumer.md",
    REPO / "docs" / "capacity.md",
]
MARK = re.compile(r"<!-- fig:([a-z0-9_.]+) -->(.*?)<!-- /fig -->")

PUBLIC_RECORDS_80 = 80 * 20
"""docs/capacity.md's Deribit-wide case: 80 instruments at the public feed's 20 records/s."""
PUBLIC_RECORDS_1000 = 1_000 * 20
"""docs/capacity.md's 1,000 instruments at 20 records/s."""

Doc = dict[str, Any]


def row(doc: Doc, profile: str, suite: str) -> dict[str, Any]:
    for found in doc["rows"]:
        if found["profile"] == profile and found["suite"] == suite:
            return dict(found)
    raise KeyError(f"no {profile}/{suite} row in the result document")


def rate(doc: Doc, profile: str, suite: str) -> float:
    return float(row(doc, profile, suite)["rate"])


def spread(doc: Doc, profile: str, suite: str) -> float:
    """(fastest - slowest) / fastest over one suite's repeats, in percent."""
    runs = row(doc, profile, suite)["extra"]["runs"]
    return 100.0 * (max(runs) - min(runs)) / max(runs)


def latency(doc: Doc) -> dict[str, Any]:
    extra: dict[str, Any] = row(doc, "raw", "e2e-latency")["extra"]
    return extra


def public_consumer_estimate(doc: Doc) -> float:
    """The e2e consumer rate on raw records, scaled by the replay's public/raw rate ratio."""
    scale = rate(doc, "100ms", "replay") / rate(doc, "raw", "replay")
    return round(rate(doc, "raw", "e2e") * scale, -3)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _us(value: float) -> str:
    return f"{value:.2f} µs"


FIGURES: dict[str, Callable[[Doc], str]] = {
    "date": lambda d: d["date"][:10],
    "machine": lambda d: d["machine"],
    "pinned": lambda d: d["pinned"],
    "repeat": lambda d: str(d["repeat"]),
    "messages": lambda d: _count(d["messages"]),
    "note": lambda d: d["note"] or "nothing noted",
    "e2e.rate": lambda d: _count(rate(d, "raw", "e2e")),
    "e2e.records": lambda d: _count(row(d, "raw", "e2e")["messages"]),
    "latency.rate": lambda d: _count(latency(d)["rate_seen"]),
    "latency.p50": lambda d: f"{latency(d)['p50_ms']:.1f} ms",
    "latency.p99": lambda d: f"{latency(d)['p99_ms']:.1f} ms",
    "latency.samples": lambda d: _count(latency(d)["samples"]),
    "public_over_raw": lambda d: f"{rate(d, '100ms', 'replay') / rate(d, 'raw', 'replay'):.2f}",
    "consumer.public": lambda d: _count(public_consumer_estimate(d)),
    "consumer.load80": lambda d: f"{100 * PUBLIC_RECORDS_80 / public_consumer_estimate(d):.1f} %",
    "consumer.load1000": lambda d: (
        f"{100 * PUBLIC_RECORDS_1000 / public_consumer_estimate(d):.0f} %"
    ),
    # 3x the peer on raw: lobstream's time per message must be a third of cryptofeed's.
    "raw.need_us": lambda d: _us(1e6 / rate(d, "raw", "peer") / 3),
}


def _in_flight(side: str, measure: str, field: str) -> Callable[[Doc], str]:
    def figure(d: Doc) -> str:
        value = d["in_flight"][side][measure][field]
        return _count(value) if field == "rate" else f"{value:.1f} ms"

    return figure


FIGURES["in_flight.date"] = lambda d: d["in_flight"]["date"][:10]
FIGURES["in_flight.note"] = lambda d: d["in_flight"]["note"] or "nothing noted"
for _rate in (2_000, 20_000):
    FIGURES[f"in_flight.asked.{_rate}"] = lambda d, r=_rate: _count(
        d["in_flight"]["after"][f"latency_{r}"]["rate_asked"]
    )
for _side in ("before", "after"):
    FIGURES[f"in_flight.{_side}.e2e.rate"] = _in_flight(_side, "throughput", "rate")
    for _rate in (2_000, 20_000):
        for _field in ("p50_ms", "p99_ms"):
            FIGURES[f"in_flight.{_side}.{_rate}.{_field[:3]}"] = _in_flight(
                _side, f"latency_{_rate}", _field
            )


def _stall(side: str, field: str) -> Callable[[Doc], str]:
    """Every run's value of one scrape_stall.py field, in run order ("76 ms, 105 ms")."""

    def figure(d: Doc) -> str:
        values = [run[field] for run in d["scrape_stall"]["runs"][side]]
        unit = " ms" if "_ms" in field else ""
        return ", ".join(f"{v:,.1f}{unit}" if v < 100 else f"{v:,.0f}{unit}" for v in values)

    return figure


def _producer(count: int, field: str) -> Callable[[Doc], str]:
    """One figure of producer_load.py's run with ``count`` instruments on one connection."""

    def figure(d: Doc) -> str:
        (result,) = [r for r in d["producer_load"]["results"] if r["instruments"] == count]
        value = result[field]
        if field == "cpu_share_of_one_core":
            return f"{100 * value:.1f} % of a core"
        if field.endswith("_mib"):
            return f"{value:.0f} MiB"
        return _count(value)

    return figure


FIGURES["producer_load.date"] = lambda d: d["producer_load"]["date"][:10]
FIGURES["producer_load.note"] = lambda d: d["producer_load"]["note"] or "nothing noted"
for _count_of in (1, 50):
    for _field in (
        "cpu_share_of_one_core",
        "rss_mib",
        "peak_rss_mib",
        "frames_per_second",
        "records_per_second",
    ):
        FIGURES[f"producer_load.{_count_of}.{_field}"] = _producer(_count_of, _field)
FIGURES["scrape_stall.date"] = lambda d: d["scrape_stall"]["date"][:10]
FIGURES["scrape_stall.note"] = lambda d: d["scrape_stall"]["note"] or "nothing noted"
FIGURES["scrape_stall.kib"] = lambda d: _count(
    d["scrape_stall"]["runs"]["new"][0]["families_bytes"] / 1024
)
for _side in ("old", "new"):
    for _field in (
        "longest_hold_ms_median",
        "longest_hold_ms_max",
        "held_per_scrape_ms_median",
        "loop_wait_ms_max_with_scrapes",
        "loop_waits_over_1ms_per_scrape",
        "loop_waited_ms_per_scrape",
        "scrape_ms_median",
        "loop_wait_ms_max_without",
    ):
        FIGURES[f"scrape_stall.{_side}.{_field}"] = _stall(_side, _field)
for _profile in ("100ms", "raw"):
    for _suite in ("replay", "peer", "book", "parse"):
        FIGURES[f"{_profile}.{_suite}.rate"] = lambda d, p=_profile, s=_suite: _count(rate(d, p, s))
        FIGURES[f"{_profile}.{_suite}.us"] = lambda d, p=_profile, s=_suite: _us(
            1e6 / rate(d, p, s)
        )
    for _suite in ("replay", "peer"):
        FIGURES[f"{_profile}.{_suite}.spread"] = lambda d, p=_profile, s=_suite: (
            f"{spread(d, p, s):.0f}%"
        )
    FIGURES[f"{_profile}.ratio"] = lambda d, p=_profile: (
        f"{rate(d, p, 'replay') / rate(d, p, 'peer'):.2f}x"
    )


def load(path: Path = RESULTS) -> Doc:
    """The result document, with each companion document that exists under its key."""
    doc: Doc = json.loads(path.read_text())
    for key, companion in COMPANIONS.items():
        if companion.exists():
            doc[key] = json.loads(companion.read_text())
    return doc


def fill(text: str, doc: Doc) -> str:
    """``text`` with every marked figure set from ``doc``; an unknown name raises KeyError."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in FIGURES:
            raise KeyError(f"unknown figure {name!r}")
        return f"<!-- fig:{name} -->{FIGURES[name](doc)}<!-- /fig -->"

    return MARK.sub(one, text)


def stale(doc: Doc, docs: list[Path] = DOCS) -> list[str]:
    """The docs whose marked figures are not the document's."""
    return [str(p.relative_to(REPO)) for p in docs if fill(p.read_text(), doc) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write", action="store_true", help="rewrite the docs' figures")
    args = parser.parse_args(argv)
    doc = load(args.results)
    if args.write:
        for path in DOCS:
            path.write_text(fill(path.read_text(), doc))
        return 0
    behind = stale(doc)
    for path in behind:
        print(f"{path}: figures differ from {args.results}", file=sys.stderr)
    return 1 if behind else 0


if __name__ == "__main__":
    sys.exit(main())
