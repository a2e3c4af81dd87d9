"""How long a scrape stalls the consumer's loop, before and after issue 15's fix, side by side.

"New" is the package as it is. "Old" is a copy with the modules the fix changed as they were
before it (:data:`BEFORE`): families built under the state lock. Each side runs
``scrape_stall.py`` (500 instruments by default) ``--repeat`` times, alternating, and every
run is kept. Writes ``benchmarks/results/scrape-stall.json``, which docs/benchmarks.md quotes.

    python benchmarks/scrape_compare.py --note "what else ran"
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scrape-stall.json"
BEFORE = "5c8d171~1"
"""The commit before "Consumer scrapes no longer stall the Kafka loop"."""
CHANGED = ("consumer/metrics.py", "book/router.py")
"""What that commit changed in the package."""

sys.path.insert(0, str(HERE))
from run import stamp  # noqa: E402
from variants import as_of, head, package_copy, run_json  # noqa: E402


def stall(python_path: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    options = ["--instruments", str(args.instruments), "--scrapes", str(args.scrapes)]
    return run_json("scrape_stall.py", options, python_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        old = package_copy(Path(tmp))
        for module in CHANGED:
            as_of(old, module, BEFORE)
        for _ in range(args.repeat):
            runs["old"].append(stall(old, args))
            runs["new"].append(stall(None, args))
    doc = {
        **stamp(args.note),
        "commit": head(),
        "before": BEFORE,
        "instruments": args.instruments,
        "scrapes": args.scrapes,
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
