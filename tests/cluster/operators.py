"""Strimzi and Prometheus Operator on the test bed (k8s/testbed/operators/), and the Prometheus
that Prometheus Operator runs, as the tests see them.

The operators are installed per session (both at once; each install is idempotent) and removed
by the teardown test in skaffold's order. Prometheus is read through its HTTP API from inside the
test bed's network namespace.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.testbed import TESTBED, Cluster
from tests.plugins.prometheus import PrometheusApi, PrometheusError

OPERATORS = TESTBED / "operators"
STRIMZI_NAMESPACE = "strimzi"
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_POD = "prometheus-lobstream-0"
INSTALL_TIMEOUT_SECONDS = 15 * 60


@dataclass
class Install:
    """The two operator installs, started side by side (the image build runs meanwhile)."""

    processes: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]

    @classmethod
    def start(cls, logdir: Path) -> Install:
        processes, logs = {}, {}
        for script in ("strimzi.sh", "prometheus-operator.sh"):
            logs[script] = logdir / f"{script}.log"
            with logs[script].open("wb") as out:
                processes[script] = subprocess.Popen(
                    [str(OPERATORS / script), "install"], stdout=out, stderr=subprocess.STDOUT
                )
        return cls(processes, logs)

    def wait(self) -> list[str]:
        """Wait for both; the failures, each with its log's tail (empty when both are up)."""
        failures = []
        for script, process in self.processes.items():
            try:
                code = process.wait(timeout=INSTALL_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                code = -1
            if code != 0:
                tail = "\n".join(self.logs[script].read_text().splitlines()[-30:])
                failures.append(f"{script} install exited {code}:\n{tail}")
        return failures


def uninstall(script: str) -> None:
    """``operators/<script> uninstall``: the operator's release and its namespace."""
    subprocess.run([str(OPERATORS / script), "uninstall"], check=True, timeout=300)


class Prometheus(PrometheusApi):
    """The operator-managed Prometheus, through its HTTP API from the test bed's namespace."""

    def __init__(self, testbed: Cluster) -> None:
        self.testbed = testbed

    def api(self, path: str, **params: str | Sequence[str]) -> Any:
        pod = self.testbed.get("pod", "-n", MONITORING_NAMESPACE, PROMETHEUS_POD)
        query = urllib.parse.urlencode(params, doseq=True)
        url = f"http://{pod['status']['podIP']}:9090/api/v1/{path}" + (f"?{query}" if query else "")
        body = json.loads(self.testbed.http_get(url))
        if body.get("status") != "success":
            raise PrometheusError(path, body.get("errorType", ""), body.get("error", ""))
        return body["data"]
