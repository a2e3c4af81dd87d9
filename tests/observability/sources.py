"""Where the observability artefacts live, and what the tests read out of them."""

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "charts/lobstream/files/rules/lobstream.rules.yaml"
RULES_TEST_FILE = Path(__file__).with_name("rules_test.yaml")
DASHBOARD_DIR = REPO / "charts/lobstream/files/dashboards"
GENERATOR = REPO / "charts/tools/dashboards.py"
ALERTS_DOC = REPO / "docs/alerts.md"

# What Grafana would put in place of the dashboards' template variables.
SUBSTITUTIONS = {
    "$instrument": "BTC-PERPETUAL|ETH-PERPETUAL",
    "$__rate_interval": "1m",
}


def substituted(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a template variable is left: {expr}"
    return expr


EMPTY_WHEN_HEALTHY = {
    "sum by (code) (increase(lobstream_producer_deribit_errors_total[5m]))": (
        "one series per error code the exchange answered: none on a healthy session"
    ),
    "sum by (error) (increase(lobstream_producer_kafka_errors_total[5m]))": (
        "one series per Kafka client error name: none while the broker is up"
    ),
}
"""Panel expressions that may return nothing on a healthy pipeline, and why."""


def silent_panels(query: Callable[[str], list[Any]]) -> list[str]:
    """``board / panel: expr`` of every panel whose query returns nothing (the allowed excepted).

    ``query`` runs an instant query on the Prometheus under test.
    """
    expressions = [
        (f"{board} / {title}", " ".join(expr.split()))
        for board, model in dashboards().items()
        for title, expr in panel_expressions(model)
    ]
    assert set(EMPTY_WHEN_HEALTHY) <= {expr for _, expr in expressions}, "stale allow-list"
    return [
        f"{where}: {expr}"
        for where, expr in expressions
        if expr not in EMPTY_WHEN_HEALTHY and not query(substituted(expr))
    ]


def rule_groups() -> list[dict[str, Any]]:
    """The rule file's groups, as Prometheus reads them."""
    groups: list[dict[str, Any]] = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def recorded_names() -> set[str]:
    return {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }


def dashboards() -> dict[str, dict[str, Any]]:
    """The committed dashboards: file name -> JSON model."""
    paths = sorted(DASHBOARD_DIR.glob("*.json"))
    return {path.name: json.loads(path.read_text()) for path in paths}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows excluded), nested ones included."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variable_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(variable name, query) for the query variables."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            yield variable["name"], query["query"] if isinstance(query, dict) else query


# What is not a metric name in PromQL: strings, label matchers, ranges, grouping label lists,
# function calls, keywords, numbers and template variables.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_OFFSET = re.compile(r"\boffset\s+-?\w+", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "inf",
        "nan",
    }
)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (label_values(m, l) counts as selecting m)."""
    text = _VARIABLE.sub(" ", _STRINGS.sub(" ", expr))
    text = _BRACES.sub(" ", text)
    text = _OFFSET.sub(" ", _GROUPING.sub(" ", text))
    label_values = re.match(r"\s*label_values\(\s*([\w:]+)", text)
    if label_values:
        return {label_values.group(1)}
    return {
        name
        for name in _IDENTIFIER.findall(text)
        if name.lower() not in _KEYWORDS and not re.fullmatch(r"\d\w*", name)
    }
