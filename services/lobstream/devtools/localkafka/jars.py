"""Kafka's jars, resolved from Maven Central by Maven and cached between runs.

The cache holds ``libs/*.jar`` and a ``complete`` marker listing them; a cache with the
marker and every listed jar is used as it is, so a cached fetch costs no JVM start.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

KAFKA_VERSION = "4.1.1"
CACHE_ENV = "LOBSTREAM_KAFKA_CACHE"
MARKER = "complete"
FETCH_TIMEOUT_SECONDS = 900.0


class ToolError(RuntimeError):
    """A tool the local broker needs (java, mvn, openssl) is missing or failed."""


def cache_dir() -> Path:
    """Where the jars live: $LOBSTREAM_KAFKA_CACHE, else ~/.cache/lobstream/kafka-VERSION."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lobstream" / f"kafka-{KAFKA_VERSION}"


def java_executable() -> str:
    """The java launcher: $JAVA_HOME/bin/java if set, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
        raise ToolError(f"JAVA_HOME={home} has no bin/java: install Java 17+ or fix JAVA_HOME")
    found = shutil.which("java")
    if found is None:
        raise ToolError("java not found on PATH: install a Java 17+ runtime (or set JAVA_HOME)")
    return found


def _maven_executable() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise ToolError("mvn not found on PATH: install Apache Maven to fetch Kafka's jars")
    return found


def cached_jars(directory: Path | None = None) -> list[Path] | None:
    """The cached jars if the cache is complete, else None."""
    root = directory or cache_dir()
    try:
        names = (root / MARKER).read_text().split()
    except FileNotFoundError:
        return None
    jars = [root / "libs" / name for name in names]
    if not jars or not all(jar.is_file() for jar in jars):
        return None
    return jars


def fetch(directory: Path | None = None) -> list[Path]:
    """Resolve Kafka and its runtime dependencies into the cache; return the jars.

    Idempotent and cheap when cached; safe against a concurrent fetch (file lock).
    Raises ToolError when java or mvn is missing or Maven fails.
    """
    root = directory or cache_dir()
    jars = cached_jars(root)
    if jars is not None:
        return jars
    java_executable()
    maven = _maven_executable()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jars = cached_jars(root)
        if jars is not None:
            return jars
        return _resolve(maven, root)


def _resolve(maven: str, root: Path) -> list[Path]:
    pom = root / "pom.xml"
    pom.write_bytes(resources.files(__package__).joinpath("pom.xml").read_bytes())
    staging = root / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        maven,
        "--batch-mode",
        "--quiet",
        "--no-transfer-progress",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"mvn did not finish within {FETCH_TIMEOUT_SECONDS:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise ToolError(
            f"mvn failed to fetch Kafka {KAFKA_VERSION} (exit {done.returncode}):\n{tail}"
        )
    names = sorted(path.name for path in staging.glob("*.jar"))
    if not any(name.startswith(f"kafka_2.13-{KAFKA_VERSION}") for name in names):
        raise ToolError(f"mvn ran but {staging} has no kafka_2.13-{KAFKA_VERSION}.jar")
    libs = root / "libs"
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    # The marker is written last: an interrupted fetch leaves no marker and is redone.
    (root / MARKER).write_text("\n".join(names) + "\n")
    return [libs / name for name in names]


def classpath(jars: list[Path]) -> str:
    """A java -cp value for ``jars``."""
    return os.pathsep.join(str(jar) for jar in jars)
