"""``lobstream producer`` as a real subprocess, with its metrics and health endpoints at hand.

- :class:`ProducerProcess`: start it with settings given as environment variables, scrape
  ``/metrics``, probe ``/healthz`` and ``/readyz``, signal it, read its log.
- ``producer_factory``: start producers for a test; any still running afterwards are killed.
- :func:`kafka_env`: the LOBSTREAM_KAFKA__* variables for a KafkaSettings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from lobstream.devtools.localkafka.broker import free_ports
from lobstream.settings import KafkaSettings

ProducerFactory = Callable[..., "ProducerProcess"]


def kafka_env(settings: KafkaSettings) -> dict[str, str]:
    """Every KafkaSettings field as LOBSTREAM_KAFKA__<FIELD>."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"LOBSTREAM_KAFKA__{name.upper()}"] = str(value)
    return env


class ProducerProcess:
    """One ``python -m lobstream producer``; its stderr goes to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, command: str = "producer") -> None:
        self.port = free_ports(1)[0]
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOBSTREAM_")}
        self.env = {
            **base,
            "LOBSTREAM_METRICS__HOST": "127.0.0.1",
            "LOBSTREAM_METRICS__PORT": str(self.port),
            **env,
        }
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lobstream", command],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    # --- HTTP -----------------------------------------------------------------------------------

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of a GET, or (0, reason) when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            return 0, str(exc)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of /metrics by (name, labels); empty when nothing answers."""
        status, body = self.get("/metrics")
        if status != 200:
            return {}
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, frozenset(labels.items())))

    def wait_until(
        self, condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
    ) -> None:
        """Poll ``condition`` until true; fail with the producer's log tail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"producer exited ({self.proc.returncode}) while waiting for {what}:\n"
                    f"{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}:\n{self.log_tail()}")
            time.sleep(interval)

    def wait_metric(
        self, name: str, at_least: float, timeout: float = 60.0, **labels: str
    ) -> float:
        """Wait until a sample reaches ``at_least``; returns its value."""
        value: list[float] = []

        def reached() -> bool:
            v = self.metric(name, **labels)
            value[:] = [v] if v is not None else []
            return v is not None and v >= at_least

        self.wait_until(reached, timeout, f"{name}{labels} >= {at_least}")
        return value[0]

    # --- process --------------------------------------------------------------------------------

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def producer_factory(tmp_path: Path) -> Iterator[ProducerFactory]:
    """``factory(env) -> ProducerProcess``; every producer is killed after the test."""
    started: list[ProducerProcess] = []

    def factory(env: Mapping[str, str]) -> ProducerProcess:
        process = ProducerProcess(env, tmp_path / f"producer-{len(started)}.log")
        started.append(process)
        return process

    yield factory
    for process in started:
        process.close()
