"""The one list of metric families: naming rules, the README's table, and that each service's
collector serves exactly its families (a live scrape of both is in tests/integration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lobstream import telemetry
from lobstream.consumer.metrics import consumer_registry
from lobstream.consumer.pipeline import Pipeline
from lobstream.consumer.state import ConsumerState
from lobstream.deribit.session import SessionStats
from lobstream.http import CallbackCollector
from lobstream.producer.core import ProducerCore
from lobstream.producer.metrics import Gauges, collect
from lobstream.settings import FeatureSettings
from tests.observability.families import CONTRACT, served_families

README = Path(__file__).resolve().parents[2] / "README.md"
UNITS = {"", "seconds", "bytes", "ratio", "records"}


def test_names_follow_the_scheme() -> None:
    names = [family.name for family in telemetry.FAMILIES]
    assert len(names) == len(set(names)), "a family is defined twice"
    for family in telemetry.FAMILIES:
        assert re.fullmatch(r"lobstream_(producer|consumer)_[a-z0-9_]+", family.name), family
        assert family.unit in UNITS, family
        base = family.name.removesuffix("_total")
        assert (family.type == "counter") == family.name.endswith("_total"), family
        if family.unit:
            assert base.endswith("_" + family.unit), f"{family.name}: unit {family.unit}"
        assert family.help.endswith("."), family.name
        assert len(set(family.labels)) == len(family.labels), family


def test_the_list_keeps_every_contract_family_with_its_type_and_labels() -> None:
    # Dashboards and alert rules were written against these: never renamed, retyped, relabelled.
    families = {f.name: f for f in telemetry.FAMILIES}
    for name, (kind, labels) in CONTRACT.items():
        assert name in families, f"contract family {name} is missing"
        assert families[name].type == kind, name
        assert set(families[name].labels) == labels, name


def test_the_readme_table_is_generated_from_the_list() -> None:
    text = README.read_text()
    assert telemetry.with_table(text) == text, (
        "README's metric table is stale: python -m lobstream.telemetry --write-readme"
    )
    for family in telemetry.FAMILIES:
        assert f"`{family.name}`" in text


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        telemetry.with_table("# no table here\n")


def test_the_consumer_serves_exactly_its_families() -> None:
    state = ConsumerState(Pipeline(FeatureSettings()))
    text = generate_latest(consumer_registry(state)).decode()
    expected = {name: f.type for name, f in telemetry.of("consumer").items()}
    assert served_families(text) == expected


@pytest.mark.parametrize("with_session", [False, True])
def test_the_producer_serves_exactly_its_families(with_session: bool) -> None:
    core = ProducerCore(["BTC-PERPETUAL"], 10**9)
    session = SessionStats() if with_session else None
    gauges = Gauges(
        kafka_buffer=lambda: 3,
        kafka_buffer_capacity=1000,
        client_queue=lambda: (1, 10) if with_session else None,
        kafka_reachable=lambda: True,
        subscribed=lambda: False,
        ready=lambda: False,
        change_ids=core.change_ids,
        book_stats=core.book_stats,
        session=lambda: session,
        partitions=lambda: 3,
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CallbackCollector(lambda: collect(core.stats, gauges)))
    text = generate_latest(registry).decode()
    expected = {name: f.type for name, f in telemetry.of("producer").items()}
    assert served_families(text) == expected
    assert "lobstream_producer_kafka_buffer_fill_ratio 0.003" in text
