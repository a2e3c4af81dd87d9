"""A copy of the package with one change undone, to benchmark before against after.

Each comparison (``in_flight.py``, ``scrape_compare.py``) runs the same benchmark on the package
as it is and on such a copy through ``PYTHONPATH``, and writes one result document under
``benchmarks/results/`` whose figures the docs quote (``figures.py``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE = REPO / "services" / "lobstream"


def package_copy(root: Path) -> Path:
    """``root/lobstream``, a copy of the package; returns ``root`` (the PYTHONPATH entry)."""
    shutil.copytree(PACKAGE, root / "lobstream", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def without_lines(root: Path, module: str, lines: tuple[str, ...]) -> None:
    """Take each of ``lines`` out of ``module`` (a path inside the package) in the copy."""
    path = root / "lobstream" / module
    source = path.read_text()
    for line in lines:
        if source.count(line) != 1:
            raise SystemExit(f"{module} changed: cannot take out {line.strip()!r}")
        source = source.replace(line, "")
    path.write_text(source)


def as_of(root: Path, module: str, revision: str) -> None:
    """Put ``module`` (a path inside the package) back as it was at git ``revision``."""
    old = subprocess.run(
        ["git", "show", f"{revision}:services/lobstream/{module}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (root / "lobstream" / module).write_text(old)


def head() -> str:
    """The short commit the package is at."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
