"""A child process that cannot outlive us: its own process group, a watchdog, and atexit.

- The child leads a new session, so signals reach the JVM and anything it spawned at once,
  and Ctrl-C in a terminal reaches only us (we then stop it in order).
- atexit stops every child still running when Python exits normally or by an exception.
- A watchdog process holds the read end of a pipe whose write end only we hold; if we die
  without running atexit (SIGKILL, a crashed test runner) the pipe closes and the watchdog
  kills the child's group.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

_WATCHDOG = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "sys.stdin.buffer.read()\n"
    "try:\n"
    "    os.killpg(int(sys.argv[1]), signal.SIGKILL)\n"
    "except ProcessLookupError:\n"
    "    pass\n"
)

_LIVE: set[GroupProcess] = set()


class GroupProcess:
    """A command run as the leader of its own process group, guarded by a watchdog."""

    def __init__(self, command: Sequence[str], *, cwd: Path, output: Path) -> None:
        with output.open("ab") as sink:
            self.popen = subprocess.Popen(
                list(command),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        self._watchdog: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _LIVE.add(self)

    def running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def terminate(self, timeout: float) -> int:
        """SIGTERM the group, SIGKILL it after ``timeout`` seconds; return the exit code."""
        self._disarm()
        if self.running():
            self._signal(signal.SIGTERM)
            try:
                code = self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return self.kill()
            _LIVE.discard(self)
            return code
        return self.kill()

    def kill(self) -> int:
        """SIGKILL the group at once and reap the leader."""
        self._disarm()
        self._signal(signal.SIGKILL)
        code = self.popen.wait()
        _LIVE.discard(self)
        return code

    def _signal(self, signum: signal.Signals) -> None:
        # The group outlives a reaped leader only if the JVM forked, which it does not; the
        # leader's exit status is the test of "gone".
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def _disarm(self) -> None:
        """Stop the watchdog first, so it can never signal a reused process group id."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        watchdog.kill()
        watchdog.wait()
        stdin: IO[bytes] | None = watchdog.stdin
        if stdin is not None:
            stdin.close()


@atexit.register
def _stop_all() -> None:
    for process in list(_LIVE):
        process.terminate(timeout=10.0)
