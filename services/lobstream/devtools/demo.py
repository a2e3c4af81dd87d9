"""``lobstream demo``: the whole pipeline on one machine, with a live terminal view.

Starts, in this order, a Kafka broker (a :class:`~lobstream.devtools.localkafka.LocalKafka` unless
``LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS`` names one), the exchange simulator (or nothing with
``--live``: the producer then connects to Deribit production), the producer and the consumer.
The three services are ``python -m lobstream ...`` subprocesses, each in its own process group
(and, on Linux, told to die with the demo), so stopping the demo stops every process they
started. The consumer serves its metrics at ``http://127.0.0.1:PORT/metrics`` (``--metrics-port``,
8000) and the producer at ``--producer-metrics-port`` (8001), both printed at start, so a local
Prometheus can scrape the whole pipeline; the view reads the consumer's endpoint, so it shows
exactly what Prometheus would scrape.

``--duration`` stops everything that many seconds after the consumer is first ready and exits
0; Ctrl-C or SIGTERM does the same at any time. A service that dies on its own ends the demo
with exit 1 and the tail of its log. Logs go to a temporary directory named at start.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from lobstream.devtools import liveview
from lobstream.settings import DERIBIT_URLS

DEFAULT_INSTRUMENTS = "BTC-PERPETUAL,ETH-PERPETUAL"
STOP_GRACE_SECONDS = 15.0
START_TIMEOUT_SECONDS = 90.0
_PR_SET_PDEATHSIG = 1


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instruments", default=DEFAULT_INSTRUMENTS, help="comma-separated instrument names"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=8000, help="the consumer's metrics port (default 8000)"
    )
    parser.add_argument(
        "--producer-metrics-port",
        type=int,
        default=8001,
        help="the producer's metrics port (default 8001)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds and exit 0"
    )
    parser.add_argument(
        "--live", action="store_true", help="stream from Deribit production, not the simulator"
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="simulator book events per second per instrument"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument(
        "--refresh", type=float, default=1.0, help="seconds between redraws of the live view"
    )


@dataclass
class Service:
    """One subprocess of the demo, in its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Demo:
    """The running pieces; :meth:`close` stops them all, whatever state they are in."""

    args: argparse.Namespace
    log_dir: Path
    services: list[Service] = field(default_factory=list)
    broker: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    bootstrap: str = ""
    env: dict[str, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        args = self.args
        _check_port_free(args.metrics_port, "--metrics-port")
        _check_port_free(args.producer_metrics_port, "--producer-metrics-port")
        self.bootstrap = os.environ.get("LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS", "")
        if not self.bootstrap:
            _say("starting a local Kafka broker ...")
            from lobstream.devtools.localkafka import LocalKafka

            kafka = self.broker.enter_context(LocalKafka())
            self.bootstrap = kafka.bootstrap_servers
        _say(f"Kafka at {self.bootstrap}")
        env = dict(os.environ)
        env.update(
            {
                "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "LOBSTREAM_DERIBIT__INSTRUMENTS": args.instruments,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Snapshots every 10 s unless configured: a restarted consumer rebuilds sooner.
        env.setdefault("LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS", "10")
        if args.live:
            env["LOBSTREAM_DERIBIT__URL"] = DERIBIT_URLS["production"]
        else:
            port = _free_port()
            command = [
                "simulate",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--instruments",
                args.instruments,
                "--seed",
                str(args.seed),
            ]
            if args.rate is not None:
                command += ["--rate", str(args.rate)]
            self._spawn("simulator", command, env)
            _wait_for(
                lambda: _tcp_open(port), f"simulator on port {port}", self.services, self.stop
            )
            env["LOBSTREAM_DERIBIT__URL"] = f"ws://127.0.0.1:{port}/ws/api/v2"
        self.env = env
        producer_port = args.producer_metrics_port
        self._spawn(
            "producer",
            ["producer"],
            {
                **env,
                "LOBSTREAM_METRICS__HOST": "127.0.0.1",
                "LOBSTREAM_METRICS__PORT": str(producer_port),
            },
        )
        self._spawn(
            "consumer",
            ["consumer", "--metrics-host", "127.0.0.1", "--metrics-port", str(args.metrics_port)],
            env,
        )
        _wait_for(
            lambda: _http_ok(f"http://127.0.0.1:{args.metrics_port}/healthz"),
            "the consumer's metrics endpoint",
            self.services,
            self.stop,
        )
        _say(f"consumer metrics at http://127.0.0.1:{args.metrics_port}/metrics")
        _wait_for(
            lambda: _http_ok(f"http://127.0.0.1:{producer_port}/healthz"),
            "the producer's metrics endpoint",
            self.services,
            self.stop,
        )
        _say(f"producer metrics at http://127.0.0.1:{producer_port}/metrics")

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "lobstream", *command],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.services.append(Service(name, process, log_path))

    def dead(self) -> Service | None:
        """A service that exited on its own, if any."""
        return next((s for s in self.services if not s.alive()), None)

    def close(self) -> None:
        """Stop services (producer and consumer first), then the broker; never raises."""
        order = {"producer": 0, "consumer": 0, "simulator": 1}
        for rank in (0, 1):
            group = [s for s in self.services if order.get(s.name, 1) == rank]
            for service in group:
                _signal_group(service.process, signal.SIGTERM)
            for service in group:
                _reap(service.process, STOP_GRACE_SECONDS)
        self.broker.close()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the demo itself is killed (Linux only)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _reap(process: subprocess.Popen[bytes], grace: float) -> None:
    """Wait for a clean exit, then SIGKILL the whole group; grandchildren go with it."""
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)
    # The leader may be gone while something it started still runs in its group.
    _signal_group(process, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_port_free(port: int, option: str) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(f"port {port} is in use; choose another with {option}") from None


def _tcp_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_for(
    ready: Callable[[], bool], what: str, services: list[Service], stop: threading.Event
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready():
        for service in services:
            if not service.alive():
                raise DemoError(
                    f"{service.name} exited with {service.process.returncode} while waiting for "
                    f"{what}:\n{service.tail()}"
                )
        if stop.is_set():
            raise DemoError(f"stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        stop.wait(0.2)


def _say(text: str) -> None:
    print(f"lobstream demo: {text}", file=sys.stderr, flush=True)


class _Screen:
    """Redraws in place on a terminal; prints a table every few seconds otherwise."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._tty = out.isatty()
        self._last_print = 0.0

    def show(self, text: str) -> None:
        if self._tty:
            self._out.write("\x1b[H\x1b[2J" + text + "\n")
            self._out.flush()
            return
        now = time.monotonic()
        if now - self._last_print >= 5.0:
            self._last_print = now
            self._out.write(text + "\n\n")
            self._out.flush()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch(demo: Demo, stop: threading.Event) -> int:
    """Show the live view until ``stop``, the duration, or a service dying."""
    args = demo.args
    url = f"http://127.0.0.1:{args.metrics_port}/metrics"
    screen = _Screen(sys.stdout)
    started = time.monotonic()
    # The duration counts from the consumer's first ready answer, not from start-up: joining
    # the group takes as long as the machine makes it, and must not eat the run.
    ready_url = f"http://127.0.0.1:{args.metrics_port}/readyz"
    deadline: float | None = None
    source = "Deribit production" if args.live else "the simulator"
    while not stop.is_set():
        if args.duration is not None and deadline is None and _http_ok(ready_url):
            deadline = time.monotonic() + args.duration
            _say(f"consumer ready: stopping in {args.duration:g} s")
        if deadline is not None and time.monotonic() >= deadline:
            return 0
        dead = demo.dead()
        if dead is not None:
            _say(f"{dead.name} exited with {dead.process.returncode}:\n{dead.tail()}")
            return 1
        elapsed = time.monotonic() - started
        title = f"lobstream demo: {source} -> Kafka -> consumer   {url}   {elapsed:.0f}s"
        try:
            screen.show(liveview.render(liveview.parse(liveview.fetch(url)), title=title))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            screen.show(f"{title}\n(metrics not readable yet: {exc})")
        stop.wait(args.refresh)
    return 0


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    log_dir = Path(tempfile.mkdtemp(prefix="lobstream-demo-"))
    _say(f"logs in {log_dir}")
    demo = Demo(args, log_dir, stop=stop)
    code = 1
    with _stop_on_signals(stop):
        try:
            demo.start()
            code = watch(demo, stop)
        except DemoError as exc:
            _say(str(exc))
            code = 1
        finally:
            _say("stopping ...")
            demo.close()
    _say("stopped" if code == 0 else f"stopped with exit code {code}")
    return code
