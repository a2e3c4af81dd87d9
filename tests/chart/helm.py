"""Running helm on the chart: lint and template, with the rendered objects parsed."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "lobstream"
RELEASE = "lobstream"
NAMESPACE = "lobstream"

Obj = dict[str, Any]


class HelmError(Exception):
    """helm exited non-zero; the message is its stderr."""


@dataclass(frozen=True)
class Helm:
    """A helm binary, run on one chart directory."""

    binary: Path
    chart: Path = CHART

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise HelmError(proc.stderr.strip() or proc.stdout.strip())
        return proc.stdout

    def lint(self, *values_files: Path) -> str:
        args = ["lint", "--strict", str(self.chart)]
        for path in values_files:
            args += ["--values", str(path)]
        return self.run(*args)

    def template(
        self, values: dict[str, Any] | None = None, *values_files: Path, chart: Path | None = None
    ) -> list[Obj]:
        """The chart rendered as objects; ``values`` go last, as one more values file."""
        args = ["template", RELEASE, str(chart or self.chart), "--namespace", NAMESPACE]
        for path in values_files:
            args += ["--values", str(path)]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="values-") as extra:
            if values:
                yaml.safe_dump(values, extra)
                extra.flush()
                args += ["--values", extra.name]
            return [doc for doc in yaml.safe_load_all(self.run(*args)) if doc]


def by_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def component(objects: list[Obj], kind: str, name: str) -> list[Obj]:
    """Objects of ``kind`` labelled app.kubernetes.io/component=``name``."""
    return [
        o
        for o in by_kind(objects, kind)
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == name
    ]
