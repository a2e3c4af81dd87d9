"""The Grafana dashboards: generated from code, portable between Grafanas, and readable."""

import importlib.util
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.observability.families import known_families, series_names
from tests.observability.sources import (
    DASHBOARD_DIR,
    GENERATOR,
    dashboards,
    metric_names,
    panel_expressions,
    panels,
    variable_queries,
)

ORDER_BOOK = "lobstream-order-book.json"
PIPELINE_HEALTH = "lobstream-pipeline-health.json"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lobstream_dashboards", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_json_is_what_the_generator_writes() -> None:
    rendered: dict[str, str] = generator().render()
    committed = {path.name: path.read_text() for path in DASHBOARD_DIR.glob("*.json")}
    assert sorted(committed) == sorted(rendered) == [ORDER_BOOK, PIPELINE_HEALTH]
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} drifted: run python charts/tools/dashboards.py"


def datasource_refs(node: Any) -> Iterator[Any]:
    """Every value of a "datasource" key anywhere in the model."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


@pytest.mark.parametrize("name", [ORDER_BOOK, PIPELINE_HEALTH])
def test_the_datasource_is_a_variable_never_a_uid(name: str) -> None:
    board = dashboards()[name]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    refs = list(datasource_refs(board))
    assert refs, "no datasource reference at all"
    assert all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs), refs
    for panel in panels(board):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"{panel['title']} queries nothing"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


@pytest.mark.parametrize("name", [ORDER_BOOK, PIPELINE_HEALTH])
def test_every_panel_has_a_unit_a_description_and_thresholds(name: str) -> None:
    board = dashboards()[name]
    for panel in panels(board):
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), f"{panel['title']} has no unit"
        assert len(panel.get("description", "")) > 30, f"{panel['title']} has no description"
        assert defaults["thresholds"]["steps"], f"{panel['title']} has no thresholds"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert all(ref_ids), panel["title"]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", [ORDER_BOOK, PIPELINE_HEALTH])
def test_refreshes_every_5s_with_a_multi_select_instrument(name: str) -> None:
    board = dashboards()[name]
    assert board["refresh"] == "5s"
    instrument = next(v for v in board["templating"]["list"] if v["name"] == "instrument")
    assert instrument["multi"] is True
    assert instrument["includeAll"] is True


def used_families(name: str) -> set[str]:
    board = dashboards()[name]
    exprs = [expr for _, expr in panel_expressions(board)]
    exprs += [query for _, query in variable_queries(board)]
    return {metric for expr in exprs for metric in metric_names(expr)}


@pytest.mark.parametrize("name", [ORDER_BOOK, PIPELINE_HEALTH])
def test_expressions_use_only_exported_families(name: str) -> None:
    unknown = used_families(name) - series_names(known_families())
    assert not unknown, f"{name} uses metric names outside the contract: {sorted(unknown)}"


def test_order_book_shows_every_indicator() -> None:
    board = dashboards()[ORDER_BOOK]
    (query,) = [query for var, query in variable_queries(board) if var == "instrument"]
    assert query == "label_values(lobstream_consumer_mid_price, instrument)"
    expected = {
        "lobstream_consumer_mid_price",
        "lobstream_consumer_microprice",
        "lobstream_consumer_spread",
        "lobstream_consumer_imbalance",
        "lobstream_consumer_depth_imbalance",
        "lobstream_consumer_order_flow_imbalance",
        "lobstream_consumer_mark_price",
        "lobstream_consumer_index_price",
        "lobstream_consumer_funding_rate",
    }
    assert expected <= used_families(ORDER_BOOK)
    for _, expr in panel_expressions(board):
        assert 'instrument=~"$instrument"' in expr, f"not filtered by the variable: {expr}"


def test_pipeline_health_has_a_row_per_service_and_every_health_signal() -> None:
    board = dashboards()[PIPELINE_HEALTH]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert [row.split(":")[0] for row in rows] == ["Producer", "Consumer"]
    expected = {
        "lobstream_producer_frames_received_total",
        "lobstream_producer_records_published_total",
        "lobstream_consumer_records_applied_total",
        "lobstream_consumer_partition_lag_records",
        "lobstream_consumer_e2e_latency_seconds_bucket",
        "lobstream_producer_reconnects_total",
        "lobstream_producer_resyncs_total",
        "lobstream_producer_book_gaps_total",
        "lobstream_consumer_book_gaps_total",
        "lobstream_consumer_book_stale",
        "lobstream_consumer_records_rejected_total",
        "lobstream_consumer_messages_rejected_total",
        "lobstream_consumer_book_entries_rejected_total",
        "lobstream_producer_delivery_failures_total",
        "lobstream_producer_deliveries_unconfirmed_total",
        "lobstream_producer_kafka_buffer_fill_ratio",
        "lobstream_producer_blocked_seconds_total",
        "lobstream_producer_records_dropped_total",
    }
    missing = expected - used_families(PIPELINE_HEALTH)
    assert not missing, f"pipeline health does not show {sorted(missing)}"
