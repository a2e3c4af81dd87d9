"""A real Prometheus server (Debian's ``prometheus``) for a test, with lobstream's alert rules.

- :class:`PrometheusServer`: a ``prometheus`` process on a free loopback port with a generated
  config (the test's scrape targets by job, 1 s scrape and evaluation intervals, the rule file
  loaded) and its own storage directory; HTTP API helpers (``query``, ``query_range``,
  ``alerts``, ``rules``, ``targets``) and polls with deadlines (``wait_targets_up``,
  ``wait_value``, ``wait_alert``; ``wait_until`` from
  :class:`~tests.plugins.process.LoggedProcess`).
- ``prometheus_factory``: start servers for a test; every one still running afterwards is
  stopped (SIGTERM, then SIGKILL after a grace period).

Installed by ``make tools-prometheus`` (tests/tools/install-prometheus.sh).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from lobstream.devtools.localkafka.broker import free_ports
from tests.plugins.process import LoggedProcess

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "charts/lobstream/files/rules/lobstream.rules.yaml"
PRODUCER_JOB = "lobstream-producer"
CONSUMER_JOB = "lobstream-consumer"

# job name -> ["127.0.0.1:PORT", ...]
Targets = Mapping[str, Sequence[str]]
PrometheusFactory = Callable[..., "PrometheusServer"]


class PrometheusError(AssertionError):
    """The HTTP API answered an error (``error_type`` is Prometheus' errorType, e.g. bad_data)."""

    def __init__(self, path: str, error_type: str, error: str) -> None:
        super().__init__(f"{path}: {error_type}: {error}")
        self.error_type = error_type
        self.error = error


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus is not on PATH: run `make tools-prometheus` (Debian's package)")
    return path


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is not on PATH: run `make tools-prometheus` (Debian's prometheus)"
    return path


class PrometheusApi:
    """Prometheus' HTTP API as the tests read it; subclasses say how a GET reaches the server."""

    def api(self, path: str, **params: str | Sequence[str]) -> Any:
        """``data`` of a GET on /api/v1/``path``; PrometheusError when the API says error."""
        raise NotImplementedError

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the result vector (``[{"metric": {...}, "value": [t, "v"]}, ...]``)."""
        params = {"query": expr} if at is None else {"query": expr, "time": str(at)}
        data = self.api("query", **params)
        result: list[dict[str, Any]] = (
            data["result"]
            if data["resultType"] == "vector"
            else [{"metric": {}, "value": data["result"]}]
        )
        return result

    def query_range(
        self, expr: str, start: float, end: float, step: float = 1.0
    ) -> list[dict[str, Any]]:
        """Range query: the result matrix (``[{"metric": {...}, "values": [[t, "v"], ...]}]``)."""
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        result: list[dict[str, Any]] = data["result"]
        return result

    def values(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        """Instant query as {labels: value}."""
        return {
            frozenset(sample["metric"].items()): float(sample["value"][1])
            for sample in self.query(expr)
        }

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts: ``[{"labels", "annotations", "state": pending|firing, ...}]``."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def rules(self) -> list[dict[str, Any]]:
        """Rule groups as loaded: ``[{"name", "file", "rules": [{"name", "health", ...}]}]``."""
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets: ``[{"labels", "health": up|down|unknown, "lastError"}]``."""
        targets: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return targets


class PrometheusServer(LoggedProcess, PrometheusApi):
    """One ``prometheus`` process; stderr (its log) goes to ``workdir/prometheus.log``."""

    poll_interval = 0.25

    def __init__(
        self,
        workdir: Path,
        targets: Targets | None = None,
        rule_files: Sequence[Path] = (RULES_FILE,),
        interval: str = "1s",
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.rule_files = [Path(path).resolve() for path in rule_files]
        self.interval = interval
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.write_config(targets or {})
        super().__init__(
            "prometheus",
            [
                prometheus_binary(),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            workdir / "prometheus.log",
        )

    # --- configuration --------------------------------------------------------------------------

    def write_config(self, targets: Targets) -> None:
        """Write the config: one static scrape job per entry of ``targets`` (JSON is YAML)."""
        config = {
            "global": {
                "scrape_interval": self.interval,
                "scrape_timeout": self.interval,
                "evaluation_interval": self.interval,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
                for job, addresses in targets.items()
            ],
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def set_targets(self, targets: Targets, timeout: float = 30.0) -> None:
        """Replace the scrape targets and reload; returns once Prometheus scrapes exactly them."""
        self.write_config(targets)
        self.post("/-/reload")
        wanted = {(job, address) for job, addresses in targets.items() for address in addresses}

        def active() -> bool:
            seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in self.targets()}
            return seen == wanted

        self.wait_until(active, timeout, f"targets {sorted(wanted)}")

    # --- HTTP API -------------------------------------------------------------------------------

    def _request(self, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=data)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            return 0, str(exc).encode()

    def api(self, path: str, **params: str | Sequence[str]) -> Any:
        """``data`` of a GET on /api/v1/``path``; PrometheusError when the API says error."""
        query = urllib.parse.urlencode(params, doseq=True)
        full = f"/api/v1/{path}" + (f"?{query}" if query else "")
        status, body = self._request(full)
        if status == 0:
            raise AssertionError(f"GET {full}: Prometheus does not answer ({body.decode()})")
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise PrometheusError(full, doc.get("errorType", str(status)), doc.get("error", ""))
        return doc["data"]

    def post(self, path: str) -> None:
        status, body = self._request(path, data=b"")
        assert status == 200, f"POST {path}: {status} {body.decode(errors='replace')}"

    # --- polls with deadlines -------------------------------------------------------------------

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.wait_until(lambda: self._request("/-/ready")[0] == 200, timeout, "/-/ready")

    def wait_targets_up(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every configured target has been scraped successfully."""
        found: list[list[dict[str, Any]]] = [[]]

        def all_up() -> bool:
            found[0] = self.targets()
            return bool(found[0]) and all(t["health"] == "up" for t in found[0])

        self.wait_until(all_up, timeout, "every scrape target up")
        return found[0]

    def wait_value(
        self, expr: str, condition: Callable[[float], bool], timeout: float = 30.0
    ) -> float:
        """Wait until ``expr`` returns one sample whose value satisfies ``condition``."""
        seen: list[float] = []

        def met() -> bool:
            samples = self.query(expr)
            seen[:] = [float(s["value"][1]) for s in samples]
            return len(seen) == 1 and condition(seen[0])

        self.wait_until(met, timeout, lambda: f"{expr} (last seen {seen})")
        return seen[0]

    def wait_alert(
        self,
        name: str,
        states: Sequence[str] = ("pending", "firing"),
        timeout: float = 60.0,
        **labels: str,
    ) -> dict[str, Any]:
        """Wait until alert ``name`` with ``labels`` is in one of ``states``; returns it."""
        found: list[dict[str, Any]] = []

        def active() -> bool:
            found[:] = [
                alert
                for alert in self.alerts()
                if alert["labels"].get("alertname") == name
                and alert["state"] in states
                and all(alert["labels"].get(k) == v for k, v in labels.items())
            ]
            return bool(found)

        self.wait_until(active, timeout, f"alert {name}{labels} in {list(states)}")
        return found[0]

    def wait_rules_evaluated(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every loaded rule has been evaluated once (health no longer unknown)."""
        groups: list[list[dict[str, Any]]] = [[]]

        def evaluated() -> bool:
            groups[0] = self.rules()
            rules = [rule for group in groups[0] for rule in group["rules"]]
            return bool(rules) and all(rule["health"] != "unknown" for rule in rules)

        self.wait_until(evaluated, timeout, "every rule evaluated")
        return groups[0]

    # --- process --------------------------------------------------------------------------------

    def stop(self, grace: float = 20.0) -> int:
        """SIGTERM and wait (Prometheus flushes its head block), SIGKILL after ``grace``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """``start(targets={job: [addresses]}, rule_files=(RULES_FILE,), interval="1s")``: a ready
    PrometheusServer; all are stopped at teardown."""
    servers: list[PrometheusServer] = []

    def start(
        targets: Targets | None = None,
        rule_files: Sequence[Path] = (RULES_FILE,),
        interval: str = "1s",
    ) -> PrometheusServer:
        server = PrometheusServer(
            tmp_path / f"prometheus-{len(servers)}", targets, rule_files, interval
        )
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
