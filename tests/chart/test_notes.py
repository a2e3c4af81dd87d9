"""NOTES.txt renders and tells the user what was installed (helm template skips NOTES, so a
copy of the chart renders it as an ordinary template)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.chart.helm import CHART, Helm


@pytest.fixture
def notes_chart(tmp_path: Path) -> Path:
    copy = tmp_path / "lobstream"
    shutil.copytree(CHART, copy)
    shutil.copy(copy / "templates/NOTES.txt", copy / "notes.txt")
    (copy / "templates/notes-as-object.yaml").write_text(
        '{{ dict "kind" "Notes" "metadata" (dict "name" "notes") '
        '"text" (tpl (.Files.Get "notes.txt") .) | toYaml }}\n'
    )
    return copy


@pytest.mark.parametrize(
    "values_file", ["three-instruments-simulator-values.yaml", "external-kafka-values.yaml"]
)
def test_notes_name_every_producer_and_the_endpoints(
    helm: Helm, notes_chart: Path, values_file: str
) -> None:
    objects = helm.template(None, CHART / "ci" / values_file, chart=notes_chart)
    (notes,) = [o["text"] for o in objects if o.get("kind") == "Notes"]
    producers = [
        o
        for o in objects
        if o.get("kind") == "Deployment"
        and o["metadata"]["labels"].get("app.kubernetes.io/component") == "producer"
    ]
    instruments = [
        i
        for d in producers
        for i in d["metadata"]["annotations"]["lobstream.io/instruments"].split(",")
    ]
    assert f"Producers: {len(instruments)} instruments in {len(producers)} Deployments" in notes
    for deployment in producers:
        name = deployment["metadata"]["name"]
        members = deployment["metadata"]["annotations"]["lobstream.io/instruments"]
        assert f"{name}  ({members.replace(',', ', ')})" in notes
    assert "port-forward svc/lobstream-consumer 8000" in notes
    assert "<no value>" not in notes
