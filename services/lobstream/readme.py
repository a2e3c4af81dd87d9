"""Tables generated into README.md between two marker comments, and their command line.

:mod:`lobstream.telemetry` (the metric families) and :mod:`lobstream.devtools.settings_table`
(the settings) each render a table; this module puts it between its markers and gives both the
same ``--markdown`` / ``--write-readme`` options.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path


def between(readme: str, begin: str, end: str, body: str) -> str:
    """``readme`` with the text between ``begin`` and ``end`` replaced by ``body``."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(readme):
        raise ValueError(f"README has no {begin!r} ... {end!r} markers")
    return pattern.sub(lambda _: f"{begin}\n{body}{end}", readme)


def main(
    prog: str,
    description: str | None,
    markdown: Callable[[], str],
    with_table: Callable[[str], str],
    argv: list[str] | None = None,
) -> int:
    """``--markdown`` prints the table; ``--write-readme [README]`` rewrites it in place."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the table")
    group.add_argument(
        "--write-readme", type=Path, nargs="?", const=Path("README.md"), metavar="README"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    path: Path = args.write_readme
    path.write_text(with_table(path.read_text()))
    return 0
