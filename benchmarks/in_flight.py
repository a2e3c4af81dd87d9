"""What closing KAFKA-15591's window costs: ``benchmarks/e2e.py`` before and after, side by side.

"After" is the package as it is. "Before" is a copy of it with the two defences of issue 13
taken out of ``lobstream/kafka.py``: ``max.in.flight.requests.per.connection=1`` (librdkafka
then allows idempotence's five) and the start-up wait until every partition is served. Each
side runs ``e2e.py`` at 2,000 msg/s (with the throughput run) and at 20,000 msg/s, alternating,
``--repeat`` times; the best run of each measure is kept. Writes
``benchmarks/results/in-flight.json``, which the README's figures quote (benchmarks/figures.py).

    python benchmarks/in_flight.py --note "what else ran"
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "in-flight.json"

sys.path.insert(0, str(HERE))
from run import stamp  # noqa: E402
from variants import head, package_copy, run_json, without_lines  # noqa: E402

DEFENCES = (
    '            "max.in.flight.requests.per.connection": 1,\n',
    "    _wait_until_served(admin, led, deadline)\n",
)
RATES = (2_000, 20_000)


def e2e(rate: int, python_path: Path | None) -> dict[str, Any]:
    args = ["--json", "--latency-rate", str(rate)]
    if rate != RATES[0]:
        args += ["--skip", "throughput"]
    return run_json("e2e.py", args, python_path)


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest throughput and, per rate, the run with the lowest p99."""
    out: dict[str, Any] = {}
    with_throughput = [r["throughput"] for r in runs if "throughput" in r]
    if with_throughput:
        out["throughput"] = max(with_throughput, key=lambda t: t["rate"])
    for rate in RATES:
        at = [r["latency"] for r in runs if r["latency"]["rate_asked"] == rate]
        out[f"latency_{rate}"] = min(at, key=lambda lat: lat["p99_ms"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        before = package_copy(Path(tmp))
        without_lines(before, "kafka.py", DEFENCES)
        for _ in range(args.repeat):
            for rate in RATES:
                runs["before"].append(e2e(rate, before))
                runs["after"].append(e2e(rate, None))
    doc = {
        **stamp(args.note),
        "commit": head(),
        "repeat": args.repeat,
        "before": best(runs["before"]),
        "after": best(runs["after"]),
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({side: doc[side] for side in ("before", "after")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
