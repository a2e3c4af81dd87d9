"""Freeze one thread of a running process, the rest of it running on (Linux ptrace, root).

A Kafka loop stuck in a C call or a deadlock looks like this from outside: one thread makes no
progress while the others (the HTTP server answering probes, librdkafka's) go on. SIGSTOP cannot
show that, because it stops every thread, the probe's too. ``PTRACE_SEIZE`` then
``PTRACE_INTERRUPT`` stop exactly one thread (a tid), and ``PTRACE_DETACH`` lets it go on.
"""

from __future__ import annotations

import contextlib
import ctypes
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
        errno = ctypes.get_errno()
        raise OSError(errno, f"ptrace {what} of thread {tid}: {os.strerror(errno)}")


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
        _ptrace(PTRACE_DETACH, tid, "detach")
