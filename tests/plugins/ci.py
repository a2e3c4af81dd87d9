"""CI: the one reading of ``CI``, and a session that skipped anything in CI fails.

"Nothing skips in CI" is enforced here rather than hoped for: a test that cannot run in CI must
fail (``pytest.fail``), and one that skips anyway turns the whole session red.
"""

from __future__ import annotations

import os

import pytest

CI_VALUES = frozenset({"1", "true", "yes"})


def ci() -> bool:
    """Whether this is a CI run: ``CI`` is 1, true or yes (any case); ``false`` or unset is not."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


_skipped: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid or "(collection)")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ci() and _skipped:
        terminalreporter.section("skipped in CI (the session fails)", sep="=", red=True)
        for nodeid in _skipped:
            terminalreporter.write_line(nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if ci() and _skipped and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
