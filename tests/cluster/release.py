"""One release of the chart on the test bed, and what the tests read from its pods.

Shared by the pipeline tests on the test bed's own Kafka (test_pipeline.py) and on the
operator-managed Kafka and Prometheus (test_operators.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lobstream.telemetry import C_PARTITION_REPLAYING, FEATURE_BY_METRIC
from tests.cluster.testbed import REPO, Cluster, poll

CHART = REPO / "charts" / "lobstream"
RELEASE = "lob"
FULLNAME = f"{RELEASE}-lobstream"
METRIC = re.compile(r"^(lobstream_[a-z_]+)\{([^}]*)\} (\S+)$", re.M)
Metrics = dict[tuple[str, str], float]


def image_values(image: str) -> dict[str, str]:
    """The chart's ``image`` values for an image built here: loaded, never pulled."""
    repository, _, tag = image.partition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": "Never"}


@dataclass
class Release:
    """The installed release and the values it was last installed or upgraded with."""

    testbed: Cluster
    namespace: str
    values_file: Path
    values: dict[str, Any] = field(default_factory=dict)
    # Values files given before the test's own (the ones skaffold gives the chart).
    base_values: tuple[Path, ...] = ()
    install_timeout: int = 360

    def apply(self, **changes: Any) -> None:
        """helm upgrade --install --wait with ``changes`` merged into the values."""
        self.values.update(changes)
        self.values_file.write_text(yaml.safe_dump(self.values))
        files = [arg for path in (*self.base_values, self.values_file) for arg in ("-f", str(path))]
        self.testbed.helm(
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "--namespace",
            self.namespace,
            *files,
            "--wait",
            "--timeout",
            f"{self.install_timeout}s",
            timeout=self.install_timeout + 60,
        )

    def selector(self, component: str) -> str:
        return f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"

    def deployments(self) -> dict[str, dict[str, Any]]:
        items = self.testbed.get(
            "deployments", "-n", self.namespace, "-l", f"app.kubernetes.io/instance={RELEASE}"
        )["items"]
        return {item["metadata"]["name"]: item for item in items}

    def pods(self, component: str) -> list[dict[str, Any]]:
        items = self.testbed.get("pods", "-n", self.namespace, "-l", self.selector(component))[
            "items"
        ]
        return [pod for pod in items if "deletionTimestamp" not in pod["metadata"]]

    def ready_pod_ips(self, component: str) -> list[str]:
        return [
            pod["status"]["podIP"]
            for pod in self.pods(component)
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod["status"].get("conditions", [])
            )
        ]

    def metrics(self, ip: str) -> Metrics:
        """(metric, labels) -> value from a pod's /metrics."""
        text = self.testbed.http_get(f"http://{ip}:8000/metrics")
        return {(m[1], m[2]): float(m[3]) for m in METRIC.finditer(text)}

    def book(self, ip: str, instrument: str) -> dict[str, Any] | None:
        done = self.testbed.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "5",
                "-w",
                "\n%{http_code}",
                f"http://{ip}:8000/book?instrument={instrument}",
            ],
        )
        body, _, status = done.stdout.rpartition("\n")
        if status == "404":
            return None
        assert status == "200", done.stdout
        book: dict[str, Any] = json.loads(body)
        return book

    def simulator_url(self) -> str:
        service = self.testbed.get(
            "services", "-n", self.namespace, "-l", self.selector("simulator")
        )["items"]
        assert len(service) == 1, service
        spec = service[0]["spec"]
        return f"ws://{spec['clusterIP']}:{spec['ports'][0]['port']}/ws/api/v2"


def producers_of(deployments: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Producer Deployment -> the instruments it subscribes (its annotation)."""
    return {
        name: sorted(d["metadata"]["annotations"]["lobstream.io/instruments"].split(","))
        for name, d in deployments.items()
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "producer"
    }


# The families' names as the service defines them, once, in lobstream.telemetry.
MID = FEATURE_BY_METRIC["consumer_mid_price"].name
IMBALANCE = FEATURE_BY_METRIC["consumer_imbalance"].name
REPLAYING = C_PARTITION_REPLAYING.name


def value(metrics: Metrics, name: str, labels: str) -> float | None:
    """The sample of family ``name`` with exactly ``labels``."""
    return metrics.get((name, labels))


def wait_for_features(release: Release, instruments: list[str]) -> Metrics:
    def ready() -> Metrics | None:
        merged: Metrics = {}
        for ip in release.ready_pod_ips("consumer"):
            merged.update(release.metrics(ip))
        for instrument in instruments:
            for name in (MID, IMBALANCE):
                if value(merged, name, f'instrument="{instrument}"') is None:
                    return None
        return merged

    return poll(f"mid and imbalance of {instruments}", ready, timeout=180, interval=2)


@contextmanager
def frozen_market(release: Release, instrument: str | None = None) -> Iterator[str]:
    """The simulator's markets (or one instrument's) paused for the block; yields its RPC URL."""
    url = release.simulator_url()
    only = {"instrument_name": instrument} if instrument else {}
    release.testbed.rpc(url, "simulator/pause", only)
    try:
        yield url
    finally:
        release.testbed.rpc(url, "simulator/resume", only)


def wait_for_true_books(release: Release, url: str, instruments: list[str]) -> None:
    """Markets frozen: every consumer book must become the true book (one replica holds each)."""
    for instrument in instruments:
        truth = release.testbed.rpc(url, "simulator/true_book", {"instrument_name": instrument})

        def matches(instrument: str = instrument, truth: Any = truth) -> bool | None:
            held = [
                b for ip in release.ready_pod_ips("consumer") if (b := release.book(ip, instrument))
            ]
            assert len(held) <= 1, f"{instrument} held by {len(held)} replicas"
            if not held:
                return None
            book = held[0]
            return (
                book["change_id"] == truth["change_id"]
                and book["bids"] == truth["bids"]
                and book["asks"] == truth["asks"]
                and not book["stale"]
            )

        poll(
            f"the consumer's {instrument} book to equal the truth", matches, timeout=120, interval=2
        )


def assert_books_equal_truth(release: Release, instruments: list[str]) -> None:
    """Freeze the simulator's markets, then every consumer book must become the true book."""
    with frozen_market(release) as url:
        wait_for_true_books(release, url, instruments)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values", []),
        )
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
