"""Every value is documented in values.yaml, listed in the chart README and known to the schema."""

from __future__ import annotations

import json

import yaml

from tests.chart.helm import CHART
from tests.chart.values_readme import README, VALUES, documented, leaves, readme_with_table


def test_every_value_has_a_comment() -> None:
    keys = [value.key for value in documented(VALUES.read_text())]
    undocumented = [
        leaf
        for leaf in leaves(yaml.safe_load(VALUES.read_text()))
        if not any(leaf == key or leaf.startswith(key + ".") for key in keys)
    ]
    assert undocumented == []


def test_readme_lists_every_value() -> None:
    readme = README.read_text()
    expected = readme_with_table(readme, documented(VALUES.read_text()))
    assert readme == expected, "run: python tests/chart/values_readme.py --write"


def test_schema_knows_every_documented_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    for value in documented(VALUES.read_text()):
        node = schema
        for part in value.key.split("."):
            assert part in node.get("properties", {}), f"{value.key} is not in values.schema.json"
            node = node["properties"][part]


def test_documented_reads_nested_keys_and_continuations() -> None:
    text = (
        "a:\n  # -- first\n  #   more\n  b: 1\n  c:\n    # -- deep\n    d: [x]\n# -- top\ne: {}\n"
    )
    assert [(v.key, v.default, v.description) for v in documented(text)] == [
        ("a.b", 1, "first more"),
        ("a.c.d", ["x"], "deep"),
        ("e", {}, "top"),
    ]
