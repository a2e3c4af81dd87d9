"""Message files as ``replay`` reads and ``record`` writes them: ``-`` or a path, ``.gz`` ok."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Literal, cast


@contextmanager
def open_messages(path: str, mode: Literal["rb", "wb"]) -> Iterator[IO[bytes]]:
    """A binary stream: ``-`` is standard input or output, ``*.gz`` is (de)compressed."""
    if path == "-":
        yield sys.stdin.buffer if mode == "rb" else sys.stdout.buffer
    elif path.endswith(".gz"):
        with gzip.open(path, mode) as stream:
            yield cast(IO[bytes], stream)
    else:
        with open(path, mode) as stream:
            yield stream
