"""A lobstream service as a real subprocess: ``python -m lobstream COMMAND`` with its endpoints.

- :class:`ServiceProcess`: start one with settings given as environment variables, scrape
  ``/metrics``, probe ``/healthz`` and ``/readyz``, read the consumer's ``/book``, signal it,
  read its log.
- ``service_factory(command, env)``: start services for a test; any still running afterwards
  are killed. ``producer_factory`` and ``consumer_factory`` are it with the command filled in.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lobstream.devtools.localkafka.broker import free_ports
from tests.plugins.process import LoggedProcess

Book = tuple[int | None, dict[float, float], dict[float, float]]
ServiceFactory = Callable[[str, Mapping[str, str]], "ServiceProcess"]


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a plain HTTP GET on loopback, or (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, str(exc)


class ServiceProcess(LoggedProcess):
    """One ``python -m lobstream COMMAND``; its stdout and stderr go to ``log_path``."""

    def __init__(self, command: str, env: Mapping[str, str], log_path: Path) -> None:
        self.command = command
        self.port = free_ports(1)[0]
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOBSTREAM_")}
        self.env = {
            **base,
            "LOBSTREAM_METRICS__HOST": "127.0.0.1",
            "LOBSTREAM_METRICS__PORT": str(self.port),
            **env,
        }
        super().__init__(
            command, [sys.executable, "-m", "lobstream", command], log_path, env=self.env
        )

    # --- HTTP -----------------------------------------------------------------------------------

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of a GET, or (0, reason) when nothing answers."""
        return http_get(self.port, path)

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

    def wait_metric(
        self, name: str, at_least: float, timeout: float = 60.0, **labels: str
    ) -> float:
        """Wait until a sample reaches ``at_least``; returns its value."""
        value: list[float] = []

        def reached() -> bool:
            v = self.metric(name, **labels)
            value[:] = [v] if v is not None else []
            return v is not None and v >= at_least

        self.wait_until(
            reached, timeout, lambda: f"{name}{labels} >= {at_least} (last seen {value})"
        )
        return value[0]

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def book(self, instrument: str) -> dict[str, Any] | None:
        """The consumer's ``/book`` of ``instrument``; None if it does not hold it."""
        status, body = self.get(f"/book?instrument={instrument}")
        if status != 200:
            return None
        doc: dict[str, Any] = orjson.loads(body)
        return doc

    def book_state(self, instrument: str) -> Book | None:
        doc = self.book(instrument)
        if doc is None:
            return None
        return (
            doc["change_id"],
            {price: amount for price, amount in doc["bids"]},
            {price: amount for price, amount in doc["asks"]},
        )

    def wait_book(self, instrument: str, truth: Callable[[], Book], timeout: float = 90.0) -> Book:
        """Wait until the consumer's book has the truth's change_id; returns both for comparing."""
        seen: list[Book | None] = [None]

        def reached() -> bool:
            seen[0] = self.book_state(instrument)
            return seen[0] is not None and seen[0][0] == truth()[0]

        self.wait_until(reached, timeout, f"{instrument} at change_id {truth()[0]}")
        book = seen[0]
        assert book is not None
        return book

    # --- process --------------------------------------------------------------------------------

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[ServiceFactory]:
    """``factory(command, env) -> ServiceProcess``; every one is killed after the test."""
    started: list[ServiceProcess] = []

    def factory(command: str, env: Mapping[str, str]) -> ServiceProcess:
        process = ServiceProcess(command, env, tmp_path / f"{command}-{len(started)}.log")
        started.append(process)
        return process

    yield factory
    for process in started:
        process.close()
