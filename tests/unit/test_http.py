"""The metrics server serves what the services' counters hold at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from lobstream.http import CallbackCollector, MetricsServer
from lobstream.telemetry import Family
from tests.plugins.service import http_get as _get

MESSAGES = Family("t_messages_total", "counter", "messages", ("instrument",))
MID = Family("t_mid", "gauge", "mid", ("instrument",))


class State:
    def __init__(self) -> None:
        self.messages = 0
        self.mid: float | None = None
        self.ready = False

    def collect(self) -> Iterable[Metric]:
        yield MESSAGES.metric({("BTC-PERPETUAL",): self.messages})
        yield MID.metric({("BTC-PERPETUAL",): self.mid})


@pytest.fixture
def served() -> Iterator[tuple[State, MetricsServer]]:
    state = State()
    registry = CollectorRegistry()
    registry.register(CallbackCollector(state.collect))
    with MetricsServer(
        registry, host="127.0.0.1", port=0, healthy=lambda: True, ready=lambda: state.ready
    ) as server:
        yield state, server


def _samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_values_are_read_at_scrape_time(served: tuple[State, MetricsServer]) -> None:
    state, server = served
    status, body = _get(server.port, "/metrics")
    assert status == 200
    first = _samples(body)
    assert first["t_messages_total"] == 0
    assert "t_mid" not in first  # undefined values are left out, not exported as 0

    state.messages = 42
    state.mid = 60000.25
    second = _samples(_get(server.port, "/metrics")[1])
    assert second["t_messages_total"] == 42
    assert second["t_mid"] == 60000.25


def test_readiness_follows_the_probe(served: tuple[State, MetricsServer]) -> None:
    state, server = served
    assert _get(server.port, "/healthz")[0] == 200
    assert _get(server.port, "/readyz")[0] == 503
    state.ready = True
    assert _get(server.port, "/readyz")[0] == 200
    assert _get(server.port, "/nope")[0] == 404


def test_a_failing_probe_reads_as_not_ready() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    with MetricsServer(
        CollectorRegistry(), host="127.0.0.1", port=0, healthy=lambda: True, ready=broken
    ) as server:
        assert _get(server.port, "/readyz")[0] == 503


def test_a_probe_failing_again_and_again_logs_its_traceback_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    with (
        caplog.at_level(logging.ERROR, logger="lobstream.http"),
        MetricsServer(
            CollectorRegistry(), host="127.0.0.1", port=0, healthy=broken, ready=lambda: True
        ) as server,
    ):
        answers = [_get(server.port, "/healthz")[0] for _ in range(20)]
    assert answers == [503] * 20
    failures = [r for r in caplog.records if r.name == "lobstream.http"]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].getMessage() == "/healthz probe failed"
    assert failures[0].exc_info is not None
    assert "boom" in str(failures[0].exc_info[1])


def test_extra_routes_get_their_query() -> None:
    def echo(params: dict[str, str]) -> tuple[int, bytes, str]:
        return 200, params.get("instrument", "").encode(), "text/plain"

    with MetricsServer(
        CollectorRegistry(),
        host="127.0.0.1",
        port=0,
        healthy=lambda: True,
        ready=lambda: True,
        routes={"/echo": echo},
    ) as server:
        assert _get(server.port, "/echo?instrument=ETH-PERPETUAL") == (200, "ETH-PERPETUAL")
