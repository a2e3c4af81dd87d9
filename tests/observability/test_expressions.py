"""Every dashboard and rule expression is valid PromQL for a real Prometheus, and the rule file
loads healthy into it (the Prometheus the chart deploys reads the same file)."""

import re

import pytest

from tests.observability.sources import (
    RULES_FILE,
    dashboards,
    panel_expressions,
    rule_groups,
    substituted,
    variable_queries,
)
from tests.plugins.prometheus import PrometheusError, PrometheusFactory, PrometheusServer

pytestmark = pytest.mark.integration


@pytest.fixture
def prometheus(prometheus_factory: PrometheusFactory) -> PrometheusServer:
    """A Prometheus with lobstream's rules and nothing to scrape."""
    return prometheus_factory()


def test_the_server_refuses_bad_promql(prometheus: PrometheusServer) -> None:
    # The checks below mean something only if a broken expression is an error.
    with pytest.raises(PrometheusError) as caught:
        prometheus.query("sum by (instrument) (rate(lobstream_consumer_mid_price[1m])")
    assert caught.value.error_type == "bad_data"


def test_every_dashboard_expression_parses(prometheus: PrometheusServer) -> None:
    checked = 0
    for name, board in dashboards().items():
        for title, expr in panel_expressions(board):
            try:
                prometheus.query(substituted(expr))
            except PrometheusError as exc:
                pytest.fail(f"{name} / {title}: {exc}")
            checked += 1
        for variable, query in variable_queries(board):
            call = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert call, f"{name} / ${variable}: not label_values(metric, label): {query}"
            metric, label = call.groups()
            prometheus.api(f"label/{label}/values", **{"match[]": metric})
    assert checked > 30


def test_every_rule_expression_parses(prometheus: PrometheusServer) -> None:
    for group in rule_groups():
        for rule in group["rules"]:
            try:
                prometheus.query(rule["expr"])
            except PrometheusError as exc:
                pytest.fail(f"{rule.get('alert') or rule['record']}: {exc}")


def test_the_rule_file_loads_healthy(prometheus: PrometheusServer) -> None:
    loaded = prometheus.wait_rules_evaluated()
    expected = {
        group["name"]: [rule.get("alert") or rule["record"] for rule in group["rules"]]
        for group in rule_groups()
    }
    assert {group["name"]: [rule["name"] for rule in group["rules"]] for group in loaded} == (
        expected
    )
    for group in loaded:
        assert group["file"] == str(RULES_FILE.resolve())
        for rule in group["rules"]:
            assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
