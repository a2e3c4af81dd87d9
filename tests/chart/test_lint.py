"""helm lint --strict over the defaults and every ci/*-values.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.helm import CHART, Helm

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


@pytest.mark.parametrize(
    "values_file", [None, *CI_VALUES], ids=["defaults", *[p.name for p in CI_VALUES]]
)
def test_lint_strict(helm: Helm, values_file: Path | None) -> None:
    output = helm.lint(*([values_file] if values_file else []))
    assert "0 chart(s) failed" in output, output
    assert "[WARNING]" not in output, output
    assert "[ERROR]" not in output, output
