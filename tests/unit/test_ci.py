"""CI is read one way, `.ci/run` sets it, and a session that skips in CI fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.ci import ci

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("", False),
        ("0", False),
        ("false", False),
        ("no", False),
    ],
)
def test_ci_is_read_one_way(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert ci() is expected


def test_ci_run_sets_ci_itself(tmp_path: Path) -> None:
    # A stand-in `make` first on PATH says what CI the real one would have seen.
    fake = tmp_path / "make"
    fake.write_text('#!/bin/sh\necho "CI=${CI:-unset} $*"\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = f"{tmp_path}:{env['PATH']}"
    done = subprocess.run(
        ["bash", str(REPO / ".ci/run")], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "CI=true test"


SKIPPING = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("cannot run here")
"""


def _session(tmp_path: Path, ci_value: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci_value is not None:
        env["CI"] = ci_value
    env["PYTHONPATH"] = str(REPO)
    plugins = ["-p", "tests.plugins.ci", "-p", "no:cacheprovider"]
    isolated = ["--rootdir", str(tmp_path), "-c", os.devnull]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, *isolated, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_skip_fails_the_session_in_ci(tmp_path: Path) -> None:
    done = _session(tmp_path, "true")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "skipped in CI" in done.stdout
    assert "test_sample.py::test_skips" in done.stdout


@pytest.mark.parametrize("ci_value", [None, "false"])
def test_a_skip_outside_ci_is_a_skip(tmp_path: Path, ci_value: str | None) -> None:
    done = _session(tmp_path, ci_value)
    assert done.returncode == pytest.ExitCode.OK, done.stdout
    assert "1 passed, 1 skipped" in done.stdout
