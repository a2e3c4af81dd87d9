"""What makes a benchmark's answer wrong, whatever its speed: pure checks, no I/O.

A benchmark that computed the wrong thing fast has measured nothing, so ``run.py`` and
``e2e.py`` exit 1 when any of these finds a problem (missed speed targets are reported, not
failed: they are findings, not wrong answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BOOK_FIELDS = ("best_bid", "best_ask", "change_id")
"""What the replay and the peer both report of each final book."""
MIN_RATE_SEEN = 0.5
"""The latency run's records/s must reach this share of the rate asked, or it measured an idle
pipeline (a producer that never subscribed, a simulator that stalled)."""


def books_disagree(ours: Mapping[str, Any], peer: Mapping[str, Any]) -> list[str]:
    """How lobstream's final books differ from the peer's; empty when they agree.

    Nothing to compare is a disagreement: an empty result on either side is a broken run.
    """
    if not ours or not peer:
        return [f"no final books to compare (lobstream {len(ours)}, peer {len(peer)})"]
    problems = []
    if set(ours) != set(peer):
        problems.append(f"instruments differ: lobstream {sorted(ours)}, peer {sorted(peer)}")
    for name in sorted(set(ours) & set(peer)):
        mine = {k: ours[name].get(k) for k in BOOK_FIELDS}
        theirs = {k: peer[name].get(k) for k in BOOK_FIELDS}
        if mine != theirs:
            problems.append(f"{name}: lobstream {mine} != peer {theirs}")
    return problems


def e2e_problems(result: Mapping[str, Any]) -> list[str]:
    """Wrong answers in an ``e2e.py`` result: gaps or bad records where the stream has none,
    records not all applied, no latency samples, or a latency run far below its rate."""
    problems = []
    t = result.get("throughput")
    if t is not None:
        if t.get("applied") != t.get("records"):
            problems.append(f"throughput: applied {t.get('applied')} of {t.get('records')}")
        for key in ("gaps", "bad"):
            if t.get(key) != 0:
                problems.append(f"throughput: {key} {t.get(key)} (the stream has none)")
    lat = result.get("latency")
    if lat is not None:
        for key in ("gaps", "bad"):
            if lat.get(key) != 0:
                problems.append(f"latency: {key} {lat.get(key)} (the simulator sends none)")
        if not lat.get("samples"):
            problems.append("latency: no samples")
        if lat.get("rate_seen", 0) < MIN_RATE_SEEN * lat.get("rate_asked", 0):
            problems.append(
                f"latency: {lat.get('rate_seen')} records/s seen of {lat.get('rate_asked')} asked"
            )
    return problems
