"""Generate lobstream's Grafana dashboards from code (grafana-foundation-sdk).

    python charts/tools/dashboards.py           # write charts/lobstream/files/dashboards/*.json
    python charts/tools/dashboards.py --check   # exit 1 if the committed JSON differs

The JSON is committed under the chart, which ships it to Grafana's dashboard sidecar; this script
lives outside the chart directory so Helm does not package it. Every panel and query uses the
`${datasource}` variable (no data source UID is hard-coded), has a unit and says what its value
means. Metric names: docs/observability.md.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    VizLegendOptions,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

OUT_DIR = Path(__file__).resolve().parents[1] / "lobstream/files/dashboards"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Selects the instruments picked in the dashboard's `instrument` variable.
PICKED = 'instrument=~"$instrument"'
# Rare events (gaps, reconnects, rejections) read best as counts over the alerts' window.
WINDOW = "5m"
GREEN, YELLOW, RED = "green", "yellow", "red"

Steps = Sequence[tuple[float | None, str]]


def query(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .datasource(DATASOURCE)
    )


def thresholds(steps: Steps) -> gd.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (from minus infinity)."""
    return (
        gd.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def graph(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[tuple[str, str]],
    steps: Steps = ((None, GREEN),),
    width: int = 12,
    bounds: tuple[float, float] | None = None,
) -> timeseries.Panel:
    """A time series panel; thresholds other than the base colour are drawn as dashed lines."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .thresholds(thresholds(steps))
        .line_width(1)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if len(steps) > 1:
        panel = panel.thresholds_style(
            GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
    if bounds is not None:
        panel = panel.min(bounds[0]).max(bounds[1])
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + index)))
    return panel


def single(
    title: str,
    description: str,
    unit: str,
    expr: str,
    legend: str,
    steps: Steps,
    width: int = 6,
) -> stat.Panel:
    """A stat panel: the latest value, coloured by thresholds."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(4)
        .thresholds(thresholds(steps))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(query(expr, legend))
    )


def datasource_variable() -> gd.DatasourceVariable:
    return (
        gd.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("The Prometheus that scrapes lobstream")
    )


def instrument_variable(family: str) -> gd.QueryVariable:
    return (
        gd.QueryVariable("instrument")
        .label("Instrument")
        .description(f"Deribit instruments that have a {family} series")
        .datasource(DATASOURCE)
        .query(
            {
                "query": f"label_values({family}, instrument)",
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
                "qryType": 1,
            }
        )
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def base(uid: str, title: str, description: str) -> gd.Dashboard:
    return (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["lobstream", "deribit"])
        .refresh("5s")
        .time("now-30m", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .editable()
        .with_variable(datasource_variable())
    )


def order_book() -> gd.Dashboard:
    d = base(
        "lobstream-order-book",
        "lobstream: order book",
        "Market microstructure indicators of the consumer's books, per instrument.",
    ).with_variable(instrument_variable("lobstream_consumer_mid_price"))

    d = d.with_row(gd.Row("Prices"))
    d = d.with_panel(
        graph(
            "Mid price and microprice",
            "Mid: (best bid + best ask) / 2, exact to the tick. Microprice: the best prices "
            "weighted by the opposite side's amount, (bid * ask amount + ask * bid amount) / "
            "(bid amount + ask amount), which leans towards the side likely to trade next.",
            "currencyUSD",
            [
                (f"lobstream_consumer_mid_price{{{PICKED}}}", "{{instrument}} mid"),
                (f"lobstream_consumer_microprice{{{PICKED}}}", "{{instrument}} microprice"),
            ],
        )
    )
    d = d.with_panel(
        graph(
            "Spread",
            "Best ask minus best bid, in the quote currency, exact to the tick: one tick is "
            "the tightest a book can be.",
            "currencyUSD",
            [(f"lobstream_consumer_spread{{{PICKED}}}", "{{instrument}}")],
            width=6,
        )
    )
    d = d.with_panel(
        graph(
            "Relative spread",
            "Spread as a share of the mid price, comparable across instruments; above 0.1 % "
            "a perpetual's book is unusually thin.",
            "percent",
            [
                (
                    f"100 * lobstream_consumer_spread{{{PICKED}}}"
                    f" / lobstream_consumer_mid_price{{{PICKED}}}",
                    "{{instrument}}",
                )
            ],
            steps=((None, GREEN), (0.05, YELLOW), (0.1, RED)),
            width=6,
        )
    )
    d = d.with_panel(
        graph(
            "Amount at the best levels",
            "Amount resting at the best bid and the best ask, in the instrument's amount unit "
            "(USD of contracts for inverse perpetuals).",
            "short",
            [
                (f"lobstream_consumer_best_bid_amount{{{PICKED}}}", "{{instrument}} bid"),
                (f"lobstream_consumer_best_ask_amount{{{PICKED}}}", "{{instrument}} ask"),
            ],
        )
    )
    d = d.with_panel(
        graph(
            "Price levels held",
            "Price levels in the consumer's book on each side: how deep a book the depth "
            "imbalances are computed from.",
            "short",
            [(f"lobstream_consumer_book_levels{{{PICKED}}}", "{{instrument}} {{side}}")],
        )
    )

    d = d.with_row(gd.Row("Imbalance and order flow"))
    d = d.with_panel(
        graph(
            "Order book imbalance by depth",
            "(bid amount - ask amount) / (bid amount + ask amount) at the best level and over "
            "the best N levels: +1 only bids, -1 only asks, 0 balanced. Persistent values "
            "beyond +-0.5 mean one-sided pressure.",
            "none",
            [
                (f"lobstream_consumer_imbalance{{{PICKED}}}", "{{instrument}} best level"),
                (
                    f"lobstream_consumer_depth_imbalance{{{PICKED}}}",
                    "{{instrument}} top {{depth}}",
                ),
            ],
            steps=((None, RED), (-0.5, GREEN), (0.5, RED)),
            bounds=(-1, 1),
        )
    )
    d = d.with_panel(
        graph(
            "Order flow imbalance per window",
            "Order flow imbalance (Cont, Kukanov and Stoikov) summed over each trailing window "
            "of exchange time: amount added on the bid side and removed from the ask side, "
            "minus the reverse. Positive: net buying pressure at the touch.",
            "short",
            [
                (
                    f"lobstream_consumer_order_flow_imbalance{{{PICKED}}}",
                    "{{instrument}} {{window}}",
                )
            ],
        )
    )

    d = d.with_row(gd.Row("Ticker: mark, index and funding"))
    d = d.with_panel(
        graph(
            "Mark and index price",
            "Deribit's mark price (what positions are valued at) and the underlying index, from "
            "the ticker channel.",
            "currencyUSD",
            [
                (f"lobstream_consumer_mark_price{{{PICKED}}}", "{{instrument}} mark"),
                (f"lobstream_consumer_index_price{{{PICKED}}}", "{{instrument}} index"),
            ],
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Mark premium over index",
            "(mark - index) / index: the perpetual's premium, which drives funding. Beyond "
            "+-0.05 % funding is paid.",
            "percent",
            [
                (
                    f"100 * (lobstream_consumer_mark_price{{{PICKED}}}"
                    f" - lobstream_consumer_index_price{{{PICKED}}})"
                    f" / lobstream_consumer_index_price{{{PICKED}}}",
                    "{{instrument}}",
                )
            ],
            steps=((None, RED), (-0.05, GREEN), (0.05, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Funding rate",
            "Funding rate from the ticker, as a fraction: `current` is the rate now, `8h` the "
            "rate over eight hours. Positive: longs pay shorts.",
            "percentunit",
            [(f"lobstream_consumer_funding_rate{{{PICKED}}}", "{{instrument}} {{horizon}}")],
            steps=((None, RED), (-0.0005, GREEN), (0.0005, RED)),
            width=8,
        )
    )
    return d


def pipeline_health() -> gd.Dashboard:
    d = base(
        "lobstream-pipeline-health",
        "lobstream: pipeline health",
        "Exchange -> producer -> Kafka -> consumer: throughput, latency, errors and "
        "back-pressure, one row per service. Alerts: docs/alerts.md.",
    ).with_variable(instrument_variable("lobstream_producer_frames_received_total"))
    d = producer_row(d)
    return consumer_row(d)


def select(family: str, selector: str) -> str:
    return f"{family}{{{selector}}}" if selector else family


def increase(family: str, by: str, selector: str = PICKED) -> str:
    """Events of a counter in the last WINDOW, summed by the `by` labels."""
    return f"sum by ({by}) (increase({select(family, selector)}[{WINDOW}]))"


def rate(family: str, by: str, selector: str = PICKED) -> str:
    """A counter's per-second rate, summed by the `by` labels."""
    return f"sum by ({by}) (rate({select(family, selector)}[$__rate_interval]))"


def producer_row(d: gd.Dashboard) -> gd.Dashboard:
    d = d.with_row(gd.Row("Producer: Deribit -> Kafka"))
    d = d.with_panel(
        single(
            "Producers up",
            "Producer targets Prometheus scraped successfully, out of all producer targets "
            "(job lobstream-producer). Fewer than all: LobstreamProducerDown.",
            "percentunit",
            'avg(up{job="lobstream-producer"})',
            "up",
            ((None, RED), (0.999, GREEN)),
        )
    )
    d = d.with_panel(
        single(
            "Producers ready",
            "Share of producers whose /readyz answers 200: every instrument subscribed and "
            "Kafka reachable.",
            "percentunit",
            "avg(lobstream_producer_ready)",
            "ready",
            ((None, RED), (0.999, GREEN)),
        )
    )
    d = d.with_panel(
        single(
            "Exchange maintenance",
            "1 while Deribit's platform_state says maintenance (data frozen), else 0.",
            "bool_yes_no",
            "max(lobstream_producer_exchange_maintenance)",
            "maintenance",
            ((None, GREEN), (1, YELLOW)),
        )
    )
    d = d.with_panel(
        single(
            "Seconds since the last frame",
            "The longest time any picked instrument has gone without a notification from "
            "Deribit. Above 30 s: LobstreamNoFrames.",
            "s",
            f"max(time() - lobstream_producer_last_frame_timestamp_seconds{{{PICKED}}})",
            "oldest",
            ((None, GREEN), (10, YELLOW), (30, RED)),
        )
    )
    d = d.with_panel(
        graph(
            "Frames received per second",
            "Notifications from Deribit per second, by instrument and channel (book, ticker, "
            "trades, ...).",
            "cps",
            [
                (
                    rate("lobstream_producer_frames_received_total", "instrument, channel"),
                    "{{instrument}} {{channel}}",
                )
            ],
        )
    )
    d = d.with_panel(
        graph(
            "Records per second into Kafka",
            "Records handed to the Kafka client (produced) and acknowledged by Kafka "
            "(published), by instrument. A lasting difference is records waiting in the buffer.",
            "cps",
            [
                (
                    rate("lobstream_producer_records_produced_total", "instrument"),
                    "{{instrument}} produced",
                ),
                (
                    rate("lobstream_producer_records_published_total", "instrument"),
                    "{{instrument}} published",
                ),
            ],
        )
    )
    d = d.with_panel(
        graph(
            "Delivery failures, unconfirmed and dropped records",
            f"Records Kafka did not acknowledge (delivery failures), acknowledged without an "
            f"offset (unconfirmed: maybe never written) and never handed to Kafka (dropped), in "
            f"the last {WINDOW}. Each is repaired by a snapshot; any is an alert.",
            "short",
            [
                (
                    increase("lobstream_producer_delivery_failures_total", "instrument"),
                    "{{instrument}} delivery failures",
                ),
                (
                    increase("lobstream_producer_deliveries_unconfirmed_total", "instrument"),
                    "{{instrument}} unconfirmed",
                ),
                (
                    increase("lobstream_producer_records_dropped_total", "instrument"),
                    "{{instrument}} dropped",
                ),
            ],
            steps=((None, GREEN), (1, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Back-pressure",
            "Kafka client buffer fill (records waiting / capacity), the exchange client's queue "
            "fill, and the share of time the reader was blocked waiting for buffer room. "
            "Above 80 % buffer fill: LobstreamProducerBackpressure.",
            "percentunit",
            [
                ("lobstream_producer_kafka_buffer_fill_ratio", "{{instance}} Kafka buffer"),
                (
                    "lobstream_producer_client_queue_depth"
                    " / lobstream_producer_client_queue_capacity",
                    "{{instance}} client queue",
                ),
                (
                    "rate(lobstream_producer_blocked_seconds_total[$__rate_interval])",
                    "{{instance}} time blocked",
                ),
            ],
            steps=((None, GREEN), (0.5, YELLOW), (0.8, RED)),
            width=8,
            bounds=(0, 1),
        )
    )
    d = d.with_panel(
        graph(
            "Gaps, resyncs and repairs",
            f"In the last {WINDOW}, by instrument: breaks in the exchange's change_id chain "
            "(gaps), resubscriptions for a fresh snapshot (resyncs) and repair snapshots "
            "written after Kafka-side losses (repairs). More than 3 gaps: an alert.",
            "short",
            [
                (
                    increase("lobstream_producer_book_gaps_total", "instrument"),
                    "{{instrument}} gaps",
                ),
                (
                    increase("lobstream_producer_resyncs_total", "instrument"),
                    "{{instrument}} resyncs",
                ),
                (
                    increase("lobstream_producer_repairs_total", "instrument"),
                    "{{instrument}} repairs",
                ),
            ],
            steps=((None, GREEN), (1, YELLOW), (4, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Connections",
            f"WebSocket reconnects and heartbeat failures (a dead peer found by test_request) "
            f"per producer, in the last {WINDOW}. More than 3 reconnects in 15 minutes: an alert.",
            "short",
            [
                (
                    increase("lobstream_producer_reconnects_total", "instance", ""),
                    "{{instance}} reconnects",
                ),
                (
                    increase("lobstream_producer_heartbeat_failures_total", "instance", ""),
                    "{{instance}} heartbeat failures",
                ),
            ],
            steps=((None, GREEN), (1, YELLOW), (4, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Errors from Deribit and Kafka",
            f"JSON-RPC error codes Deribit answered (10028: too many requests, 13778: raw "
            f"channel without authentication, ...) and Kafka client errors, in the last {WINDOW}.",
            "short",
            [
                (
                    increase("lobstream_producer_deribit_errors_total", "code", ""),
                    "Deribit {{code}}",
                ),
                (increase("lobstream_producer_kafka_errors_total", "error", ""), "Kafka {{error}}"),
            ],
            steps=((None, GREEN), (1, YELLOW)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Book entries rejected by the producer",
            f"Entries of Deribit book notifications the producer's own book refused, by "
            f"instrument and reason, in the last {WINDOW}.",
            "short",
            [
                (
                    increase("lobstream_producer_book_rejected_total", "instrument, reason"),
                    "{{instrument}} {{reason}}",
                )
            ],
            steps=((None, GREEN), (1, YELLOW)),
            width=8,
        )
    )
    return d


def consumer_row(d: gd.Dashboard) -> gd.Dashboard:
    d = d.with_row(gd.Row("Consumer: Kafka -> indicators"))
    d = d.with_panel(
        single(
            "Consumers up",
            "Consumer targets Prometheus scraped successfully, out of all consumer targets "
            "(job lobstream-consumer). Fewer than all: LobstreamConsumerDown.",
            "percentunit",
            'avg(up{job="lobstream-consumer"})',
            "up",
            ((None, RED), (0.999, GREEN)),
        )
    )
    d = d.with_panel(
        single(
            "Consumers ready",
            "Share of consumers whose /readyz answers 200: partitions assigned and caught up.",
            "percentunit",
            "avg(lobstream_consumer_ready)",
            "ready",
            ((None, RED), (0.999, GREEN)),
        )
    )
    d = d.with_panel(
        single(
            "Stale books",
            "Books of picked instruments waiting for a snapshot (after a gap or a restart); "
            "their indicators are not exported meanwhile.",
            "short",
            f"sum(lobstream_consumer_book_stale{{{PICKED}}})",
            "stale",
            ((None, GREEN), (1, RED)),
        )
    )
    d = d.with_panel(
        single(
            "End-to-end latency p99",
            "99th percentile, over the last 5 minutes, of the time from a Deribit frame "
            "reaching the producer to the consumer's features being updated. Target 10 ms; "
            "alert above 50 ms.",
            "s",
            "histogram_quantile(0.99, sum by (le) "
            "(rate(lobstream_consumer_e2e_latency_seconds_bucket[5m])))",
            "p99",
            ((None, GREEN), (0.01, YELLOW), (0.05, RED)),
        )
    )
    d = d.with_panel(
        graph(
            "Records applied per second",
            "Raw records the consumer applied to its books and features, by instrument and "
            "channel.",
            "cps",
            [
                (
                    rate("lobstream_consumer_records_applied_total", "instrument, channel"),
                    "{{instrument}} {{channel}}",
                )
            ],
        )
    )
    d = d.with_panel(
        graph(
            "End-to-end latency",
            "p50 and p99 of the time from a Deribit frame reaching the producer to the "
            "consumer's features being updated (one histogram for all instruments).",
            "s",
            [
                (
                    f"histogram_quantile({q}, sum by (le) "
                    "(rate(lobstream_consumer_e2e_latency_seconds_bucket[$__rate_interval])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
            steps=((None, GREEN), (0.01, YELLOW), (0.05, RED)),
        )
    )
    d = d.with_panel(
        graph(
            "Consumer lag",
            "Records in the raw topic not yet consumed, per partition (librdkafka's statistics, "
            "every 5 s). Above 10,000 and growing: LobstreamConsumerLagGrowing.",
            "short",
            [("lobstream_consumer_partition_lag_records", "partition {{partition}}")],
            steps=((None, GREEN), (1000, YELLOW), (10000, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Book age",
            "Seconds since the consumer last applied an update to each book. Above 15 s: "
            "LobstreamBookStale (the indicators are frozen).",
            "s",
            [(f"lobstream_consumer_book_age_seconds{{{PICKED}}}", "{{instrument}}")],
            steps=((None, GREEN), (5, YELLOW), (15, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Gaps and snapshots",
            f"Breaks in the raw topic's change_id chain found by the consumer (the book goes "
            f"stale) and snapshots applied (a book rebuilt), in the last {WINDOW}.",
            "short",
            [
                (
                    increase("lobstream_consumer_book_gaps_total", "instrument"),
                    "{{instrument}} gaps",
                ),
                (
                    increase("lobstream_consumer_book_snapshots_total", "instrument"),
                    "{{instrument}} snapshots",
                ),
            ],
            steps=((None, GREEN), (1, YELLOW), (4, RED)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Rejected records, messages and entries",
            f"What the consumer refused in the last {WINDOW}: whole raw records by reason, "
            "notifications by instrument, channel and reason (duplicate and stale are "
            "re-deliveries, normal after a restart), book entries by instrument and reason.",
            "short",
            [
                (
                    increase("lobstream_consumer_records_rejected_total", "reason", ""),
                    "record {{reason}}",
                ),
                (
                    increase(
                        "lobstream_consumer_messages_rejected_total", "instrument, channel, reason"
                    ),
                    "{{instrument}} {{channel}} {{reason}}",
                ),
                (
                    increase(
                        "lobstream_consumer_book_entries_rejected_total", "instrument, reason"
                    ),
                    "{{instrument}} entry {{reason}}",
                ),
            ],
            steps=((None, GREEN), (1, YELLOW)),
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Kafka: commits, features, errors",
            "Per second: offsets committed and commit errors, feature records published and "
            "publish errors, Kafka client errors, rebalances, and records re-read to rebuild "
            "books (replayed).",
            "cps",
            [
                (f"sum(rate(lobstream_consumer_{name}[$__rate_interval]))", legend)
                for name, legend in (
                    ("offset_commits_total", "commits"),
                    ("offset_commit_errors_total", "commit errors"),
                    ("features_published_total", "features published"),
                    ("features_publish_errors_total", "publish errors"),
                    ("kafka_errors_total", "Kafka errors"),
                    ("rebalances_total", "rebalances"),
                    ("records_replayed_total", "replayed"),
                )
            ],
            width=8,
        )
    )
    d = d.with_panel(
        graph(
            "Partitions replaying",
            "1 while the consumer re-reads a partition to rebuild its books after an "
            "assignment or restart; its instruments are not published meanwhile.",
            "short",
            [("lobstream_consumer_partition_replaying", "partition {{partition}}")],
            steps=((None, GREEN), (1, YELLOW)),
            width=8,
        )
    )
    return d


def numbered(board: model.Dashboard) -> model.Dashboard:
    """Give every panel, rows included, a stable id in layout order (Grafana links use them)."""
    for number, panel in enumerate(board.panels or [], start=1):
        panel.id_val = number
    return board


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard, exactly as committed."""
    built = {
        "lobstream-order-book.json": order_book().build(),
        "lobstream-pipeline-health.json": pipeline_health().build(),
    }
    return {
        name: json.dumps(numbered(board), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, board in built.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT_DIR / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run python charts/tools/dashboards.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
