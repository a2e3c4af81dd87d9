"""``lobstream demo`` as a user runs it: features served while it runs, nothing left behind after.

The processes a demo started are found by walking /proc from the demo's pid while it runs; after
it exits, none of them may be alive and its metrics port must be closed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lobstream.devtools.localkafka import free_ports, port_open
from lobstream.settings import KafkaSettings
from tests.plugins.kafka import kafka_env
from tests.plugins.service import http_get

pytestmark = pytest.mark.integration

INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command line."""
    tree = _children()
    found: dict[int, str] = {}
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        todo.extend(tree.get(child, []))
    return found


def still_running(processes: dict[int, str]) -> dict[int, str]:
    alive = {}
    for pid, cmdline in processes.items():
        try:
            now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if now == cmdline and state != "Z":
            alive[pid] = cmdline
    return alive


def features_served(port: int) -> bool:
    status, text = http_get(port, "/metrics", timeout=2)
    if status != 200:
        return False
    mids = {
        sample.labels.get("instrument")
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "lobstream_consumer_mid_price"
    }
    return mids >= set(INSTRUMENTS)


class Demo:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port, self.producer_port = free_ports(2)
        self.log = log
        self._out = log.open("wb")
        ports = [
            "--metrics-port",
            str(self.port),
            "--producer-metrics-port",
            str(self.producer_port),
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lobstream", "demo", *ports, *args],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.seen: dict[int, str] = {}

    def wait_serving(self, timeout: float) -> None:
        """Until the metrics endpoint serves both instruments' mid; notes the demo's processes."""
        deadline = time.monotonic() + timeout
        while not features_served(self.port):
            self.seen.update(descendants(self.proc.pid))
            assert self.proc.poll() is None, f"demo exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"no features served:\n{self.text()}"
            time.sleep(0.5)
        self.seen.update(descendants(self.proc.pid))

    def text(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in still_running(self.seen):
            os.kill(pid, signal.SIGKILL)
        self._out.close()


@pytest.fixture
def demo_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOBSTREAM_")}


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.close()


def assert_left_nothing(demo: Demo) -> None:
    names = " ".join(demo.seen.values())
    for service in ("simulate", "producer", "consumer"):
        assert f"lobstream {service}" in names, f"never saw the {service}: {demo.seen}"
    assert still_running(demo.seen) == {}, "processes left behind"
    assert not port_open(demo.port), "the metrics port is still open"
    assert not port_open(demo.producer_port), "the producer's metrics port is still open"


def test_demo_runs_for_its_duration_serves_features_and_leaves_nothing(
    demo_env: dict[str, str], demos: list[Demo], tmp_path: Path
) -> None:
    # No broker configured: the demo starts its own LocalKafka, as `make demo` does.
    demo = Demo(["--duration", "25", "--rate", "100"], demo_env, tmp_path / "demo.log")
    demos.append(demo)
    demo.wait_serving(120)
    assert "java" in " ".join(demo.seen.values()), "no local broker was started"
    # The producer's metrics too, on the port printed at start: Prometheus can scrape both.
    assert f"producer metrics at http://127.0.0.1:{demo.producer_port}/metrics" in demo.text()
    status, producer_text = http_get(demo.producer_port, "/metrics")
    assert status == 200, producer_text
    assert "lobstream_producer_frames_received_total{" in producer_text
    assert demo.proc.wait(120) == 0, demo.text()
    assert_left_nothing(demo)
    out = demo.text()
    # The 25 s counted from the consumer's readiness, not from start-up (a slow group join
    # would otherwise leave no time to serve features).
    assert "consumer ready: stopping in 25 s" in out
    assert "BTC-PERPETUAL" in out
    assert "microprice" in out


def test_ctrl_c_stops_the_demo_and_everything_it_started(
    demo_env: dict[str, str],
    demos: list[Demo],
    tmp_path: Path,
    kafka_settings: KafkaSettings,
) -> None:
    # A configured broker: the demo uses it and starts none of its own.
    demo = Demo([], {**demo_env, **kafka_env(kafka_settings)}, tmp_path / "demo.log")
    demos.append(demo)
    demo.wait_serving(120)
    assert "java" not in " ".join(demo.seen.values())
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(60) == 0, demo.text()
    assert_left_nothing(demo)
