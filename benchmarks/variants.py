"""A copy of the package with one change undone, to benchmark before against after.

Each comparison (``in_flight.py``, ``scrape_compare.py``) runs the same benchmark on the package
as it is and on such a copy through ``PYTHONPATH``, and writes one result document under
``benchmarks/results/`` whose figures the docs quote (``figures.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def run_json(script: str, args: list[str], python_path: Path | None) -> dict[str, Any]:
    """``benchmarks/SCRIPT ARGS`` on the package (``python_path`` None) or on a copy; its JSON.

    A run that fails ends the comparison: half a comparison cannot be quoted.
    """
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    command = [sys.executable, str(HERE / script), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{script} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def head() -> str:
    """The short commit the package is at."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
