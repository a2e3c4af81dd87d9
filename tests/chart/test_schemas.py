"""Every rendered object against the real schemas: Kubernetes' OpenAPI schemas for built-in
kinds, the Strimzi 1.2 and Prometheus Operator CRDs (unknown fields are errors) for the rest;
skaffold.yaml against skaffold's own schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.chart.conftest import shared_schemas
from tests.chart.helm import CHART, REPO, Helm, Obj
from tests.chart.matrix import CASES, Case
from tests.chart.schemas import CrdValidators, close_objects, kubernetes_errors

Render = Callable[[Case], list[Obj]]
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def schema_errors(objects: list[Obj], crds: CrdValidators) -> list[str]:
    errors: list[str] = []
    for obj in objects:
        errors += crds.errors(obj) if crds.knows(obj) else kubernetes_errors(obj)
    return errors


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matrix_objects_match_their_schemas(
    render: Render, case: Case, crds: CrdValidators
) -> None:
    objects = render(case)
    # 50 producers differ only in names and labels; one of each shape is enough for the schemas.
    seen: set[str] = set()
    distinct = []
    for obj in objects:
        shape = json.dumps(obj, sort_keys=True)
        shape = shape.replace(obj["metadata"].get("labels", {}).get("instrument", "\0"), "")
        if shape not in seen:
            seen.add(shape)
            distinct.append(obj)
    assert schema_errors(distinct, crds) == []


@pytest.mark.parametrize("values_file", CI_VALUES, ids=[p.name for p in CI_VALUES])
def test_ci_values_objects_match_their_schemas(
    helm: Helm, values_file: Path, crds: CrdValidators
) -> None:
    objects = helm.template(None, values_file)
    assert objects
    assert schema_errors(objects, crds) == []


def test_strict_crd_check_catches_an_unknown_field(helm: Helm, crds: CrdValidators) -> None:
    """The check can fail: a misspelt field in a Kafka is an error, as on a real API server."""
    kafka = next(o for o in helm.template() if o["kind"] == "Kafka")
    kafka["spec"]["kafka"]["listners"] = kafka["spec"]["kafka"].pop("listeners")
    errors = crds.errors(kafka)
    assert any("listners" in e for e in errors), errors


def test_kubernetes_check_catches_an_unknown_field(helm: Helm) -> None:
    deployment = next(o for o in helm.template() if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    assert kubernetes_errors(deployment)


def test_close_objects_keeps_open_maps_open() -> None:
    schema = {
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"a": {"type": "string"}},
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    closed = close_objects(schema)
    assert closed["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["config"]
    assert closed["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_close_objects_leaves_one_of_branches_open() -> None:
    """Strimzi's env entries: {name, value} must match the branch that requires ``value``."""
    entry = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        "oneOf": [
            {"properties": {"value": {}}, "required": ["value"]},
            {"properties": {"valueFrom": {}}, "required": ["valueFrom"]},
        ],
    }
    validator = jsonschema.Draft7Validator(close_objects(entry))
    assert not list(validator.iter_errors({"name": "A", "value": "b"}))
    assert list(validator.iter_errors({"name": "A", "value": "b", "valu": "c"}))


def _skaffold_documents() -> list[Obj]:
    return [doc for doc in yaml.safe_load_all((REPO / "skaffold.yaml").read_text()) if doc]


def test_skaffold_config_matches_schema(skaffold_schema_path: Path) -> None:
    schema = json.loads(skaffold_schema_path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    documents = _skaffold_documents()
    assert [d["metadata"]["name"] for d in documents] == ["cluster", "operators", "lobstream"]
    for document in documents:
        assert document["apiVersion"] == "skaffold/v4beta14"
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)
        ]
        assert errors == [], document["metadata"]["name"]


def test_the_skaffold_schema_kept_here_is_the_shared_one(skaffold_schema_path: Path) -> None:
    shared = shared_schemas() / skaffold_schema_path.name
    assert skaffold_schema_path.read_bytes() == shared.read_bytes()


def test_skaffold_config_refers_to_files_that_exist() -> None:
    documents = {d["metadata"]["name"]: d for d in _skaffold_documents()}
    paths = list(documents["cluster"]["manifests"]["rawYaml"])
    for config in documents.values():
        for release in config.get("deploy", {}).get("helm", {}).get("releases", []):
            paths += release.get("valuesFiles", [])
            if "chartPath" in release:
                paths.append(release["chartPath"])
        for profile in config.get("profiles", []):
            paths += [
                p["value"]
                for p in profile.get("patches", [])
                if p["path"].endswith("/valuesFiles/-")
            ]
    artifact = documents["lobstream"]["build"]["artifacts"][0]
    paths.append(artifact["docker"]["dockerfile"])
    missing = [p for p in paths if not (REPO / p).exists()]
    assert missing == []
    releases = [
        r["name"]
        for c in documents.values()
        for r in c.get("deploy", {}).get("helm", {}).get("releases", [])
    ]
    assert releases == ["strimzi", "kube-prometheus-stack", "lobstream"]
    assert {p["name"] for p in documents["lobstream"]["profiles"]} >= {
        "offline",
        "many-instruments",
    }
