"""What a change of values changes: an added instrument adds one Deployment and nothing else; a
setting rolls exactly the pods that read it; rule and dashboard files are read, not copied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import CHART, Helm, HelmError, Obj
from tests.chart.matrix import MONITORING_ON

Key = tuple[str, str]
CHECKSUM = "checksum/config"


def keyed(objects: list[Obj]) -> dict[Key, Obj]:
    result = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert len(result) == len(objects), "two objects of one kind share a name"
    return result


def checksums(objects: list[Obj]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"][CHECKSUM]
        for o in objects
        if o["kind"] == "Deployment"
    }


@pytest.mark.parametrize("simulator", [False, True], ids=["exchange", "simulator"])
@pytest.mark.parametrize("kafka_created", [True, False], ids=["kafka-created", "kafka-external"])
def test_adding_an_instrument_adds_one_deployment_and_changes_nothing_else(
    helm: Helm, simulator: bool, kafka_created: bool
) -> None:
    base: dict[str, Any] = {"monitoring": MONITORING_ON, "simulator": {"enabled": simulator}}
    if not kafka_created:
        base["kafka"] = {"create": False, "bootstrapServers": "kafka.data.svc:9092"}
    before = keyed(helm.template({**base, "instruments": ["BTC-PERPETUAL", "ETH-PERPETUAL"]}))
    after = keyed(
        helm.template({**base, "instruments": ["BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-27DEC26"]})
    )
    assert set(after) - set(before) == {("Deployment", "lobstream-producer-btc-27dec26")}
    assert set(before) <= set(after)
    changed = {key for key in before if before[key] != after[key]}
    # The simulator must serve the new instrument too; it is the one object that follows the list.
    assert changed == ({("Deployment", "lobstream-simulator")} if simulator else set())


def test_a_shared_producer_setting_rolls_every_producer(helm: Helm) -> None:
    before = checksums(helm.template())
    after = checksums(helm.template({"producer": {"snapshotIntervalSeconds": 10}}))
    assert set(before) == set(after)
    # The consumer reads the snapshot interval too (its rebuild look-back).
    assert all(before[name] != after[name] for name in before)


def test_raising_the_raw_partitions_restarts_no_pod(helm: Helm) -> None:
    """The producers move instruments to the grown topic's partitions themselves; restarted in
    the same upgrade they would skip that (no moved record, no snapshot first)."""
    raw = {"name": "deribit.raw", "partitions": 12}
    before = checksums(helm.template({"kafka": {"topics": {"raw": raw}}}))
    objects = helm.template({"kafka": {"topics": {"raw": {**raw, "partitions": 24}}}})
    assert checksums(objects) == before
    topic = next(o for o in objects if o["kind"] == "KafkaTopic" and "raw" in o["metadata"]["name"])
    assert topic["spec"]["partitions"] == 24


def test_a_consumer_setting_rolls_only_the_consumer(helm: Helm) -> None:
    before = checksums(helm.template())
    after = checksums(helm.template({"consumer": {"publishIntervalSeconds": 5}}))
    assert {name for name in before if before[name] != after[name]} == {"lobstream-consumer"}


def test_an_instrument_override_rolls_only_its_producer(helm: Helm) -> None:
    before = checksums(helm.template({"instruments": ["BTC-PERPETUAL", "ETH-PERPETUAL"]}))
    after = checksums(
        helm.template(
            {"instruments": ["BTC-PERPETUAL", {"name": "ETH-PERPETUAL", "channels": ["book"]}]}
        )
    )
    assert {name for name in before if before[name] != after[name]} == {
        "lobstream-producer-eth-perpetual"
    }


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """The chart without the observability files (a test adds what it needs)."""
    copy = tmp_path / "lobstream"
    shutil.copytree(CHART, copy, ignore=shutil.ignore_patterns("files"))
    (copy / "files").mkdir()
    return copy


def monitoring_objects(helm: Helm, chart: Path) -> tuple[list[Obj], list[Obj]]:
    objects = helm.template({"monitoring": MONITORING_ON}, chart=chart)
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    dashboards = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    return rules, dashboards


def test_renders_without_rule_and_dashboard_files(helm: Helm, chart_copy: Path) -> None:
    assert monitoring_objects(helm, chart_copy) == ([], [])


def test_rules_and_dashboards_come_from_the_files(helm: Helm, chart_copy: Path) -> None:
    groups = [
        {
            "name": "test",
            "rules": [
                {
                    "alert": "T",
                    "expr": 'up{job="lobstream-producer"} == 0',
                    "annotations": {"summary": "{{ $labels.pod }} down"},
                }
            ],
        }
    ]
    (chart_copy / "files/rules").mkdir()
    (chart_copy / "files/rules/lobstream.rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (chart_copy / "files/dashboards").mkdir()
    boards = {"a_board.json": {"title": "A {{ not a template }}"}, "b.json": {"title": "B"}}
    for name, board in boards.items():
        (chart_copy / "files/dashboards" / name).write_text(json.dumps(board))
    rules, dashboards = monitoring_objects(helm, chart_copy)
    assert [r["spec"]["groups"] for r in rules] == [groups]
    contents = {k: json.loads(v) for d in dashboards for k, v in d["data"].items()}
    assert contents == boards
    assert sorted(d["metadata"]["name"] for d in dashboards) == [
        "lobstream-dashboard-a-board",
        "lobstream-dashboard-b",
    ]


def test_a_rule_file_without_groups_is_refused(helm: Helm, chart_copy: Path) -> None:
    (chart_copy / "files/rules").mkdir()
    (chart_copy / "files/rules/lobstream.rules.yaml").write_text("rules: []\n")
    with pytest.raises(HelmError, match="has no top-level groups"):
        helm.template({"monitoring": MONITORING_ON}, chart=chart_copy)


def test_the_repository_files_are_rendered_as_they_are(helm: Helm) -> None:
    rules_file = CHART / "files/rules/lobstream.rules.yaml"
    dashboard_files = sorted((CHART / "files/dashboards").glob("*.json"))
    assert rules_file.is_file(), f"{rules_file} is missing"
    assert dashboard_files, f"no dashboards in {CHART / 'files/dashboards'}"
    rules, dashboards = monitoring_objects(helm, CHART)
    assert [r["spec"]["groups"] for r in rules] == [
        yaml.safe_load(rules_file.read_text())["groups"]
    ]
    contents = {k: v for d in dashboards for k, v in d["data"].items()}
    assert contents == {p.name: p.read_text().rstrip("\n") for p in dashboard_files}
