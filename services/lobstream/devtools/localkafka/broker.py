"""LocalKafka: a real single-node Apache Kafka (KRaft) broker on free local ports.

Used by the tests, the demo and the benchmarks when no broker is configured. One JVM runs
broker and controller; its data, configuration, certificates and log live in a temporary
directory removed by :meth:`LocalKafka.stop`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import logging
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from lobstream.devtools.localkafka import cds, certs, jars, properties
from lobstream.devtools.localkafka.process import GroupProcess
from lobstream.settings import KafkaSettings

log = logging.getLogger(__name__)

DEFAULT_USER = "lobstream"
DEFAULT_HEAP_MB = 384
POLL_SECONDS = 0.05
BIND_ATTEMPTS = 3  # another process may take a port between our probe and the JVM's bind

_STARTED: set[LocalKafka] = set()


class BrokerError(RuntimeError):
    """The local broker could not be formatted, started or reached; carries its log tail."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(
            f"{message}\n--- broker log (tail) ---\n{log_tail}" if log_tail else message
        )
        self.log_tail = log_tail


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((properties.HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((properties.HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def cluster_id() -> str:
    """A random cluster id in Kafka's format (URL-safe base64 of a UUID, no padding).

    Like Kafka's own generator it never starts with "-", which the storage tool's argument
    parser would take for an option.
    """
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


class LocalKafka:
    """A single-node KRaft broker; start with ``with LocalKafka() as kafka:`` or ``start()``.

    ``secure=True`` adds a SASL_SSL listener (SCRAM-SHA-512, certificates made on the fly);
    ``users`` maps SCRAM user names to passwords (default: one user with a random password).
    """

    def __init__(
        self,
        *,
        secure: bool = False,
        users: Mapping[str, str] | None = None,
        heap_mb: int = DEFAULT_HEAP_MB,
        start_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.secure = secure
        self._users = (
            dict(users) if users is not None else {DEFAULT_USER: secrets.token_urlsafe(18)}
        )
        if secure:
            properties.scram_arguments(self._users)  # reject unusable names before any JVM
        self.heap_mb = heap_mb
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.startup_seconds: float | None = None
        self._workdir: Path | None = None
        self._ports: properties.Ports | None = None
        self._tls: certs.TlsFiles | None = None
        self._process: GroupProcess | None = None
        self._classpath = ""
        self._archive: Path | None = None
        self._dump: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalKafka:
        """Format a fresh data directory and start the broker; return once it serves."""
        if self._workdir is not None:
            raise RuntimeError("LocalKafka already started; use restart()")
        began = time.monotonic()
        self._classpath = jars.classpath(jars.fetch())
        if cds.enabled():
            self._archive = cds.archive_path(
                jars.cache_dir(), jars.java_executable(), self._classpath
            )
        self._workdir = Path(tempfile.mkdtemp(prefix="lobstream-kafka-"))
        _STARTED.add(self)
        try:
            self.data_dir.mkdir()
            self.config_dir.mkdir()
            if self.secure:
                self._tls = certs.make_tls_files(self._workdir / "tls")
            (self.config_dir / "log4j2.properties").write_text(
                properties.log4j2_properties(self.log_file)
            )
            self._start_on_free_ports()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        log.info(
            "local Kafka broker serving on %s after %.1fs (log %s)",
            self.bootstrap_servers,
            self.startup_seconds,
            self.log_file,
        )
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after ``stop_timeout``) and delete its files."""
        self._end_process(graceful=True)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        _STARTED.discard(self)

    def kill(self) -> None:
        """SIGKILL the broker, keeping its data and ports for :meth:`restart`."""
        self._end_process(graceful=False)

    def restart(self) -> None:
        """Start the broker again on the same ports and data directory (stopping it first)."""
        if self._workdir is None or self._ports is None:
            raise RuntimeError("LocalKafka was never started")
        self._end_process(graceful=True)
        began = time.monotonic()
        self._launch()
        self._wait_until_serving()
        log.info("local Kafka broker restarted after %.1fs", time.monotonic() - began)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """The PLAINTEXT listener, ``127.0.0.1:PORT``."""
        return f"{properties.HOST}:{self._started_ports().plaintext}"

    @property
    def secure_bootstrap_servers(self) -> str:
        """The SASL_SSL (SCRAM-SHA-512) listener, ``127.0.0.1:PORT``."""
        port = self._started_ports().secure
        if port is None:
            raise RuntimeError(
                "this LocalKafka has no secure listener: use LocalKafka(secure=True)"
            )
        return f"{properties.HOST}:{port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate that signed the secure listener's certificate."""
        if self._tls is None:
            raise RuntimeError(
                "this LocalKafka has no secure listener: use LocalKafka(secure=True)"
            )
        return self._tls.ca_file

    @property
    def users(self) -> dict[str, str]:
        """SCRAM-SHA-512 user names and passwords accepted on the secure listener."""
        return dict(self._users)

    def kafka_settings(
        self, *, secure: bool = False, username: str | None = None, **overrides: Any
    ) -> KafkaSettings:
        """KafkaSettings for this broker; ``secure`` uses SASL_SSL as ``username``."""
        if not secure:
            return KafkaSettings(bootstrap_servers=self.bootstrap_servers, **overrides)
        name = username or next(iter(self._users))
        fields: dict[str, Any] = {
            "bootstrap_servers": self.secure_bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": properties.SCRAM_MECHANISM,
            "sasl_username": name,
            "sasl_password": self._users[name],
            "ssl_ca_location": str(self.ca_file),
        }
        return KafkaSettings(**(fields | overrides))

    # -- files -----------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("LocalKafka is not started")
        return self._workdir

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def config_dir(self) -> Path:
        return self.workdir / "config"

    @property
    def log_file(self) -> Path:
        """The broker's log4j2 log."""
        return self.workdir / "server.log"

    @property
    def console_file(self) -> Path:
        """The JVM's own stdout and stderr (crashes, format output)."""
        return self.workdir / "console.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the console output and of the broker log."""
        if self._workdir is None:
            return ""
        parts = []
        for path in (self.console_file, self.log_file):
            with contextlib.suppress(FileNotFoundError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"[{path.name}]\n" + "\n".join(text))
        return "\n".join(parts)

    def __repr__(self) -> str:
        where = self.bootstrap_servers if self._ports is not None else "not started"
        return f"LocalKafka({where}, secure={self.secure}, running={self.running})"

    # -- internals -------------------------------------------------------------------------

    def _started_ports(self) -> properties.Ports:
        if self._ports is None:
            raise RuntimeError("LocalKafka is not started")
        return self._ports

    def _start_on_free_ports(self) -> None:
        formatted = False
        for attempt in range(1, BIND_ATTEMPTS + 1):
            chosen = free_ports(3 if self.secure else 2)
            self._ports = properties.Ports(
                plaintext=chosen[0],
                controller=chosen[1],
                secure=chosen[2] if self.secure else None,
            )
            keystore = self._tls.keystore if self._tls is not None else None
            props = properties.server_properties(self._ports, self.data_dir, keystore)
            (self.config_dir / "server.properties").write_text(properties.render(props))
            if not formatted:
                self._format()
                formatted = True
            self._launch()
            try:
                self._wait_until_serving()
                return
            except BrokerError:
                if attempt == BIND_ATTEMPTS or "BindException" not in self.log_tail(200):
                    raise
                log.warning("local Kafka broker lost a port race; retrying on new ports")

    def _end_process(self, *, graceful: bool) -> None:
        """Stop the JVM (SIGTERM first if ``graceful``, else SIGKILL) and settle its CDS dump."""
        process, self._process = self._process, None
        if process is None:
            return
        code = process.terminate(self.stop_timeout) if graceful else process.kill()
        if self._dump is not None and self._archive is not None:
            # Kafka exits 143 (128 + SIGTERM) after a clean shutdown on SIGTERM.
            cds.settle(self._dump, self._archive, graceful and code in (0, 143))
            self._dump = None

    def _cds_options(self, dump: bool) -> list[str]:
        if self._archive is None:
            return []
        if self._archive.is_file():
            return cds.use_options(self._archive)
        if dump and self._dump is None:
            options, self._dump = cds.dump_options(self._archive)
            return options
        return []

    def _java(self, main_class: str, *args: str, heap_mb: int, dump: bool = False) -> list[str]:
        return [
            jars.java_executable(),
            *self._cds_options(dump),
            f"-Xmx{heap_mb}m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.config_dir / 'log4j2.properties'}",
            "-cp",
            self._classpath,
            main_class,
            *args,
        ]

    def _format(self) -> None:
        arguments = [
            "format",
            "--config",
            str(self.config_dir / "server.properties"),
            "--cluster-id",
            cluster_id(),
        ]
        if self.secure:
            arguments += properties.scram_arguments(self._users)
        command = self._java("kafka.tools.StorageTool", *arguments, heap_mb=128)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.start_timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise BrokerError(f"formatting storage took over {self.start_timeout:.0f}s") from None
        with self.console_file.open("a") as console:
            console.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise BrokerError(
                f"kafka-storage format failed (exit {done.returncode})", self.log_tail()
            )

    def _launch(self) -> None:
        self._end_process(graceful=False)  # a JVM that failed to bind: reap it first
        command = self._java(
            "kafka.Kafka",
            str(self.config_dir / "server.properties"),
            heap_mb=self.heap_mb,
            dump=True,
        )
        self._process = GroupProcess(command, cwd=self.workdir, output=self.console_file)

    def _wait_until_serving(self) -> None:
        """Poll the listeners, then the broker's metadata, until it serves or the deadline."""
        process, ports = self._process, self._started_ports()
        assert process is not None
        deadline = time.monotonic() + self.start_timeout
        admin: AdminClient | None = None
        wanted = [ports.plaintext] + ([ports.secure] if ports.secure is not None else [])
        while True:
            if not process.running():
                raise BrokerError(
                    f"the broker exited with code {process.returncode} while starting",
                    self.log_tail(),
                )
            if all(port_open(port) for port in wanted):
                # Only now: before the port opens librdkafka would log refused connections.
                config: dict[str, Any] = {
                    "bootstrap.servers": self.bootstrap_servers,
                    "logger": log,
                }
                admin = admin or AdminClient(config)
                if _serves(admin):
                    return
            if time.monotonic() > deadline:
                process.kill()
                raise BrokerError(
                    f"the broker did not serve within {self.start_timeout:.0f}s", self.log_tail()
                )
            time.sleep(POLL_SECONDS)


@atexit.register
def _stop_all() -> None:
    for kafka in list(_STARTED):
        kafka.stop()


def _serves(admin: AdminClient) -> bool:
    try:
        metadata = admin.list_topics(timeout=2.0)
    except KafkaException:
        return False
    return properties.NODE_ID in metadata.brokers
