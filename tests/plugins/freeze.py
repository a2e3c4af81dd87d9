"""Freeze one thread of a running process, the rest of it running on (Linux ptrace, root).

A Kafka loop stuck in a C call or a deadlock looks like this from outside: one thread makes no
progress while the others (the HTTP server answering probes, librdkafka's) go on. SIGSTOP cannot
show that, because it stops every thread, the probe's too. ``PTRACE_SEIZE`` then
``PTRACE_INTERRUPT`` stop exactly one thread (a tid), and ``PTRACE_DETACH`` lets it go on.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterator

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # __WALL: wait for any kind of traced thread

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def _ptrace(request: int, tid: int, what: str) -> None:
    if _libc.ptrace(request, tid, None, None) == -1:
        code = ctypes.get_errno()
        raise OSError(code, f"ptrace {what} of thread {tid}: {os.strerror(code)}")


@contextlib.contextmanager
def frozen(tid: int) -> Iterator[None]:
    """Thread ``tid`` stopped for the ``with`` block (only it: its process's others run on).

    The caller's thread is the tracer: enter and leave on the same thread.
    """
    _ptrace(PTRACE_SEIZE, tid, "seize")
    try:
        _ptrace(PTRACE_INTERRUPT, tid, "interrupt")
        _, status = os.waitpid(tid, WALL)
        if not os.WIFSTOPPED(status):
            raise OSError(f"thread {tid} did not stop (wait status {status:#x})")
        yield
    finally:
        try:
            _ptrace(PTRACE_DETACH, tid, "detach")
        except OSError as error:
            # Killed while frozen (a kubelet's restart does that): nothing left to let go.
            if error.errno != errno.ESRCH:
                raise


def reap(tid: int) -> bool:
    """Collect ``tid``'s end if it was killed while frozen; True once it is gone.

    A traced thread that is killed stays a zombie until its tracer waits for it, and its
    container cannot finish stopping (nor the kubelet restart it) until then. Other stops
    (a signal arriving while frozen) are collected and leave it frozen.
    """
    try:
        pid, status = os.waitpid(tid, WALL | os.WNOHANG)
    except ChildProcessError:
        return True
    return pid != 0 and (os.WIFEXITED(status) or os.WIFSIGNALED(status))


def main_threads(command: str, cgroup_part: str) -> list[int]:
    """Processes whose command line contains ``command`` and whose cgroup path contains
    ``cgroup_part`` (a pod's uid, as the kubelet names its cgroup); their pid is the tid of
    their main thread."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                cmdline = file.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/cgroup") as file:
                cgroup = file.read()
        except OSError:
            continue
        if command in cmdline and cgroup_part in cgroup:
            found.append(int(entry))
    return found
