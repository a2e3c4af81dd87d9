"""A test's subprocess with its output in a log file, and polls that fail with that log's tail.

:class:`LoggedProcess` is what :class:`tests.plugins.service.ServiceProcess` and
:class:`tests.plugins.prometheus.PrometheusServer` share: the process, its log, ``log_tail`` and
``wait_until`` (a poll with a deadline that fails at once when the process exits).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest


class LoggedProcess:
    """``args`` as a subprocess; its stdout and stderr go to ``log_path``."""

    poll_interval = 0.2
    """Seconds between two checks of a ``wait_until`` condition."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_until(
        self, condition: Callable[[], bool], timeout: float, what: str | Callable[[], str]
    ) -> None:
        """Poll ``condition`` until true; fail with the log's tail if the process exits first
        or after ``timeout`` seconds. ``what`` may be a callable, read only on failure, so the
        message can say what the last poll saw."""

        def said() -> str:
            return what() if callable(what) else what

        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.proc.returncode}) while waiting for {said()}:\n"
                    f"{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {said()}:\n{self.log_tail()}")
            time.sleep(self.poll_interval)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
