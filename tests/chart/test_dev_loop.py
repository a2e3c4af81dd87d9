"""The files a first `skaffold dev` on kind reads, as a new user meets them: the Kubernetes
version the chart asks for, what kube-prometheus-stack scrapes on kind, the first run's time
limits, kind's port mappings, and the Kubernetes version helm assumes without a cluster."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.chart.helm import CHART, REPO, Helm, Obj

K8S = REPO / "k8s"
# Strimzi 1.2 supports Kubernetes 1.30 and newer.
OLDEST_KUBERNETES = (1, 30)


def _skaffold_configs() -> dict[str, Obj]:
    docs = yaml.safe_load_all((REPO / "skaffold.yaml").read_text())
    return {d["metadata"]["name"]: d for d in docs if d}


def _minutes(flag: str) -> float:
    match = re.fullmatch(r"--timeout=(\d+)([ms])", flag)
    assert match, flag
    return int(match[1]) * (1 if match[2] == "m" else 1 / 60)


def test_the_chart_asks_for_the_kubernetes_strimzi_supports() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    major, minor = OLDEST_KUBERNETES
    assert chart["kubeVersion"] == f">={major}.{minor}.0-0"
    assert f"- Kubernetes {major}.{minor}+" in (CHART / "README.md").read_text()


def test_kube_prometheus_stack_scrapes_nothing_kind_binds_to_loopback() -> None:
    values = yaml.safe_load((K8S / "kube-prometheus-stack-values.yaml").read_text())
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values.get(component, {}).get("enabled") is False, component


def test_first_run_has_room_for_image_pulls_and_kafka_start() -> None:
    configs = _skaffold_configs()
    flags = configs["operators"]["deploy"]["helm"]["flags"]
    # helm's own default is 5 minutes per release; a first pull of every operator image needs more.
    for command in ("install", "upgrade"):
        timeouts = [f for f in flags[command] if f.startswith("--timeout")]
        assert timeouts, (command, flags)
        assert _minutes(timeouts[-1]) >= 15, (command, flags)
    deploy = configs["lobstream"]["deploy"]
    # skaffold's default status-check deadline is 600 s, Strimzi's Kafka start included.
    assert deploy["statusCheckDeadlineSeconds"] >= 1200


def test_kind_publishes_the_node_ports_the_values_set() -> None:
    text = (K8S / "kind-config.yaml").read_text()
    kind = yaml.safe_load(text)
    published = {m["containerPort"] for m in kind["nodes"][0]["extraPortMappings"]}
    named = set(re.findall(r"\b(?:k8s|charts)/[\w./-]+\.yaml\b", text))
    assert named, "kind-config.yaml names no file for its NodePorts"
    assert all((REPO / path).is_file() for path in named), named
    ports = set()
    for path in named:
        values = yaml.safe_load((REPO / path).read_text()) or {}
        for service in ("prometheus", "grafana"):
            port = values.get(service, {}).get("service", {}).get("nodePort")
            if port is not None:
                ports.add(port)
    assert ports == published


def test_helm_assumes_a_kubernetes_the_chart_accepts(helm: Helm, tmp_path: Path) -> None:
    """A helm built by `go install` alone assumes v1.20.0 and then refuses the chart."""
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\n"
        "data: {major: {{ .Capabilities.KubeVersion.Major | quote }},"
        " minor: {{ .Capabilities.KubeVersion.Minor | quote }}}\n"
    )
    [configmap] = helm.template(chart=chart)
    version = (int(configmap["data"]["major"]), int(configmap["data"]["minor"].rstrip("+")))
    assert version >= OLDEST_KUBERNETES, version
