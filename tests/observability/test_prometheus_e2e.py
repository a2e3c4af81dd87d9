"""End to end with a real Prometheus: simulator -> producer -> real broker -> consumer, both
services scraped every second with lobstream's alert rules loaded.

One pipeline serves the whole module (it takes ~15 s to come up); the tests run in file order and
the last one pauses an instrument for good. What is checked:

- what each service serves at /metrics is exactly its families in ``lobstream.telemetry`` (name
  and type), and ``promtool check metrics`` finds nothing on the live scrapes;
- every dashboard panel's expression returns data, and every series every rule reads exists (an
  alert's condition is rightly empty on a healthy pipeline; the recording rule returns data);
- no alert is pending or firing on the healthy pipeline;
- the mid and the imbalance Prometheus holds equal the simulator's true book, markets frozen;
- pausing one instrument's market makes LobstreamBookStale fire for exactly that instrument.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest

from lobstream import telemetry
from lobstream.settings import KafkaSettings
from tests.observability.families import served_families
from tests.observability.sources import (
    metric_names,
    rule_groups,
    silent_panels,
)
from tests.plugins.consumer import FAST_CONSUMER_ENV
from tests.plugins.kafka import kafka_env
from tests.plugins.prometheus import (
    CONSUMER_JOB,
    PRODUCER_JOB,
    PrometheusServer,
    promtool,
)
from tests.plugins.service import ServiceProcess
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
INSTRUMENTS = [BTC, ETH]

LABELLED_BY_OCCURRENCE = {
    "lobstream_producer_deribit_errors_total": "a series per error code, none without errors",
    "lobstream_producer_kafka_errors_total": "a series per error name, none without errors",
}
"""Families a rule reads that have no series until the first occurrence."""


@dataclass
class Pipeline:
    simulator: RunningSimulator
    producer: ServiceProcess
    consumer: ServiceProcess
    prometheus: PrometheusServer


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("e2e")
    suffix = uuid.uuid4().hex[:12]
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        raw_topic=f"test.raw.{suffix}",
        features_topic=f"test.features.{suffix}",
        group_id=f"test-group-{suffix}",
        raw_topic_partitions=2,
    )
    processes: list[ServiceProcess] = []
    prometheus: PrometheusServer | None = None
    with start_in_thread(instruments=INSTRUMENTS, seed=7, rate=200.0) as simulator:
        try:
            # The consumer first: had it started behind a backlog, its first latency samples
            # would be catch-up times, and the p99 alert would rightly go pending.
            consumer = ServiceProcess(
                "consumer", {**kafka_env(settings), **FAST_CONSUMER_ENV}, workdir / "consumer.log"
            )
            processes.append(consumer)
            consumer.wait_until(consumer.ready, 90, "the consumer ready")
            producer = ServiceProcess(
                "producer",
                {
                    **kafka_env(settings),
                    "LOBSTREAM_DERIBIT__URL": simulator.url,
                    "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(INSTRUMENTS),
                    "LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS": "5",
                },
                workdir / "producer.log",
            )
            processes.append(producer)
            producer.wait_until(producer.ready, 90, "the producer ready")
            for name in INSTRUMENTS:
                consumer.wait_until(
                    lambda name=name: _book_live(consumer, name), 90, f"{name} live in the consumer"
                )
            prometheus = PrometheusServer(
                workdir / "prometheus",
                {
                    PRODUCER_JOB: [f"127.0.0.1:{producer.port}"],
                    CONSUMER_JOB: [f"127.0.0.1:{consumer.port}"],
                },
            )
            prometheus.wait_ready()
            prometheus.wait_targets_up(timeout=60)
            yield Pipeline(simulator, producer, consumer, prometheus)
        finally:
            if prometheus is not None:
                prometheus.stop()
            for process in processes:
                process.close()


def _book_live(consumer: ServiceProcess, name: str) -> bool:
    return consumer.metric("lobstream_consumer_book_stale", instrument=name) == 0


# --- what the services serve -------------------------------------------------------------------


@pytest.mark.parametrize("service", ["producer", "consumer"])
def test_a_live_scrape_serves_exactly_the_listed_families_and_promtool_accepts_it(
    pipeline: Pipeline, service: telemetry.Service
) -> None:
    process = pipeline.producer if service == "producer" else pipeline.consumer
    status, text = process.get("/metrics")
    assert status == 200
    listed = {name: family.type for name, family in telemetry.of(service).items()}
    served = served_families(text)
    assert {n: t for n, t in served.items() if n not in listed} == {}, "served but not listed"
    assert {n: t for n, t in listed.items() if n not in served} == {}, "listed but not served"
    assert served == listed, "a family's type differs from the list"
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- dashboards and rules ----------------------------------------------------------------------


def test_every_panel_returns_data_and_every_series_a_rule_reads_exists(
    pipeline: Pipeline,
) -> None:
    prometheus = pipeline.prometheus
    # Rates need two samples and the lag comes with librdkafka's statistics every 5 s: poll.
    silent: list[str] = []

    def all_answer() -> bool:
        silent[:] = silent_panels(prometheus.query)
        return not silent

    prometheus.wait_until(all_answer, 30, f"data from every panel (still empty: {silent})")

    for group in rule_groups():
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            if "record" in rule:
                assert prometheus.query(rule["expr"]), f"recording rule {name} returns nothing"
            for metric in metric_names(rule["expr"]) - set(LABELLED_BY_OCCURRENCE):
                if ":" in metric:
                    continue  # a recorded series: checked through its own rule above
                assert prometheus.query(metric), f"{name} reads {metric}, which has no series"


def test_no_alert_is_pending_or_firing_on_a_healthy_pipeline(pipeline: Pipeline) -> None:
    prometheus = pipeline.prometheus
    since = time.time()

    def evaluated_after(moment: float) -> bool:
        groups = prometheus.rules()
        return all(_epoch(group["lastEvaluation"]) > moment and group["rules"] for group in groups)

    # Every group evaluated on scraped data, then a few more rounds: nothing active at any poll.
    prometheus.wait_until(lambda: evaluated_after(since), 30, "rules evaluated on scraped data")
    settled = time.time() + 5
    active: list[str] = []

    def quiet_until_settled() -> bool:
        active[:] = [f"{a['labels']['alertname']} {a['state']}" for a in prometheus.alerts()]
        assert active == [], f"alerts on a healthy pipeline: {active}"
        return evaluated_after(settled)

    prometheus.wait_until(quiet_until_settled, 30, "five more seconds of evaluations")


def _epoch(rfc3339: str) -> float:
    """Prometheus' lastEvaluation (``2026-11-27T17:20:01.123456789Z``) as epoch seconds."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


# --- the values ---------------------------------------------------------------------------------


def _true_values(book: tuple[int, dict[float, float], dict[float, float]]) -> tuple[float, float]:
    """Mid (exact decimal arithmetic on the printed prices) and best-level imbalance."""
    _, bids, asks = book
    bid, ask = max(bids), min(asks)
    mid = float((Decimal(repr(bid)) + Decimal(repr(ask))) / 2)
    imbalance = (bids[bid] - asks[ask]) / (bids[bid] + asks[ask])
    return mid, imbalance


def test_prometheus_holds_the_true_mid_and_imbalance_of_the_frozen_market(
    pipeline: Pipeline,
) -> None:
    simulator, consumer, prometheus = pipeline.simulator, pipeline.consumer, pipeline.prometheus
    simulator.pause()
    try:
        for name in INSTRUMENTS:
            truth = simulator.true_book(name)
            assert consumer.wait_book(name, lambda name=name: simulator.true_book(name)) == truth
            expected = dict(zip(("mid", "imbalance"), _true_values(truth), strict=True))
            deadline = time.monotonic() + 20
            while (held := _held(prometheus, name)) != expected:
                assert time.monotonic() < deadline, f"{name}: Prometheus {held}, truth {expected}"
                time.sleep(0.2)
    finally:
        simulator.resume()


def _held(prometheus: PrometheusServer, name: str) -> dict[str, float | None]:
    """The latest mid and imbalance samples of ``name`` in Prometheus."""
    held: dict[str, float | None] = {}
    for key, family in (
        ("mid", "lobstream_consumer_mid_price"),
        ("imbalance", "lobstream_consumer_imbalance"),
    ):
        result = prometheus.query(f'{family}{{instrument="{name}"}}')
        held[key] = float(result[0]["value"][1]) if len(result) == 1 else None
    return held


# --- an alert, for real (last: it leaves an instrument paused) ---------------------------------


def test_a_paused_instrument_fires_book_stale_for_that_instrument_only(
    pipeline: Pipeline,
) -> None:
    simulator, prometheus = pipeline.simulator, pipeline.prometheus
    simulator.pause(ETH)
    alert = prometheus.wait_alert("LobstreamBookStale", ("firing",), timeout=60, instrument=ETH)
    assert alert["labels"]["severity"] == "critical"
    assert ETH in alert["annotations"]["description"]
    others = [
        (a["labels"]["alertname"], a["labels"].get("instrument"), a["state"])
        for a in prometheus.alerts()
        if a["labels"].get("instrument") != ETH
    ]
    assert others == [], "the moving instrument must not alert"
    # BTC's market kept moving all along: its book is fresh in Prometheus' latest sample.
    age = prometheus.values(f'lobstream_consumer_book_age_seconds{{instrument="{BTC}"}}')
    assert age, f"no book age of {BTC}"
    assert all(value < 15 for value in age.values()), age
