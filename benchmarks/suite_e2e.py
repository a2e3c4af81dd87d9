"""``run.py`` suite ``e2e``: the pipeline through a real Kafka broker (see ``e2e.py``).

Runs once, on the ``raw`` stream (distinct book changes, one per record): throughput through
one consumer from a preloaded topic, then p50/p99 latency at 2,000 msgs/s through the real
simulator and producer. Not pinned to one CPU: a broker, a simulator and a producer run beside it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from run import Context, Row

NAME = "e2e"
HERE = Path(__file__).resolve().parent


def run(ctx: Context) -> list[Row]:
    if ctx.profile != "raw":
        return []
    # e2e.py exits 1 on a wrong answer but still prints its result: read it, keep its problems.
    done = subprocess.run(
        [ctx.python, "e2e.py", "--json", "--stream", str(ctx.stream)],
        check=False,
        capture_output=True,
        text=True,
        cwd=HERE,
    )
    if not done.stdout.strip():
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    t = result["throughput"]
    lat = result["latency"]
    return [
        Row(
            ctx.profile,
            "e2e",
            "end to end via Kafka: one consumer, preloaded topic (target >= 200,000/s)",
            t["records"],
            t["seconds"],
            t["rate"],
            {**t, "problems": result["problems"]},
        ),
        Row(
            ctx.profile,
            "e2e-latency",
            f"end to end latency via producer + Kafka: p50 {lat['p50_ms']} ms, "
            f"p99 {lat['p99_ms']} ms (target p99 < 10 ms)",
            lat["samples"],
            lat["seconds"],
            lat["rate_seen"],
            lat,
        ),
    ]
