"""Strict validators: Kubernetes' own OpenAPI schemas, the real CRDs, skaffold's schema.

A CRD's schema lets unknown fields through wherever it does not say otherwise (the API server
prunes them silently). Validation here is stricter, like ``kubectl apply --validate=strict``:
every object schema that lists properties and does not set
``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false``. The branches of
``oneOf``/``anyOf``/``allOf``/``not`` are left as they are: in a structural schema they only
say which of the fields the object already declares must be present.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.37.0"
Obj = dict[str, Any]
LOGIC = frozenset({"oneOf", "anyOf", "allOf", "not"})


def close_objects(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema in which unknown properties are errors."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for key, value in node.items():
                if key not in LOGIC:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(schema)
    return schema


class CrdValidators:
    """Validators of every served version of every CRD in some directories, keyed
    (apiVersion, kind)."""

    def __init__(self, *crd_dirs: Path) -> None:
        self.validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        for path in sorted(p for d in crd_dirs for p in d.glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    if not version.get("served"):
                        continue
                    api = f"{spec['group']}/{version['name']}"
                    schema = close_objects(version["schema"]["openAPIV3Schema"])
                    # OpenAPI 3.0 schemas follow draft 4 (boolean exclusiveMinimum and so on).
                    self.validators[(api, spec["names"]["kind"])] = jsonschema.Draft4Validator(
                        schema
                    )

    def knows(self, obj: Obj) -> bool:
        return (obj["apiVersion"], obj["kind"]) in self.validators

    def errors(self, obj: Obj) -> list[str]:
        validator = self.validators[(obj["apiVersion"], obj["kind"])]
        return [
            f"{obj['kind']} {obj['metadata']['name']}: {'/'.join(map(str, e.absolute_path))}: "
            f"{e.message}"
            for e in validator.iter_errors(obj)
        ]


def kubernetes_errors(obj: Obj) -> list[str]:
    """Errors of a built-in object against Kubernetes' OpenAPI schema, unknown fields included."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{obj['apiVersion']} {obj['kind']}: no schema to check it against"]
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(map(str, exc.path))
        return [f"{obj['kind']} {obj['metadata']['name']}: {path}: {exc.message}"]
    return []
