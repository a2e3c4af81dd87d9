"""Every metric family of the producer and the consumer, defined once.

A :class:`Family` is a name, a type, a unit, a help text and label names. The consumer's feature
gauges come from the feature catalogue (:data:`lobstream.book.catalogue.CATALOGUE`); every other
family is a constant below. The services' collectors build each family they serve from these
objects (:meth:`Family.metric`), so a name is spelled in one place, the README's table is
generated from :data:`FAMILIES` (``python -m lobstream.telemetry --markdown``), and a test scrapes
both services and compares what they serve with this list.

Naming (docs/observability.md): ``lobstream_<service>_<what>[_<unit>][_total]``, base units
(seconds, bytes, ratio), counters end in ``_total``, 0/1 flags have no unit.

Adding a family: a constant here (listed in :data:`FAMILIES`), filled by the service's collector
at scrape time (``lobstream.producer.metrics`` or ``lobstream.consumer.metrics``); then
``python -m lobstream.telemetry --write-readme``. A feature gauge is a :class:`Feature` in the
catalogue instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from lobstream import readme as readme_tables
from lobstream.book.catalogue import CATALOGUE

Kind = Literal["counter", "gauge", "histogram"]
Service = Literal["producer", "consumer"]
Samples = Mapping[tuple[str, ...], float | int | None]
"""Label values (in the family's label order) -> value; None: undefined now, left out."""


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family as Prometheus sees it (``name`` as exposed, ``_total`` included)."""

    name: str
    type: Kind
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    """The base unit (``seconds``, ``bytes``, ``ratio``, ``records``); empty for flags/counts."""

    @property
    def service(self) -> Service:
        return "producer" if self.name.startswith("lobstream_producer_") else "consumer"

    def metric(self, samples: Samples) -> Metric:
        """This family with ``samples`` (a counter or a gauge)."""
        family: Metric
        if self.type == "counter":
            family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        elif self.type == "gauge":
            family = GaugeMetricFamily(self.name, self.help, labels=self.labels)
        else:
            raise TypeError(f"{self.name} is a {self.type}: use histogram()")
        for labels, value in samples.items():
            if value is not None:
                family.add_metric(labels, value)
        return family

    def histogram(
        self, buckets: list[tuple[str, float]], sum_value: float
    ) -> HistogramMetricFamily:
        """This histogram family: cumulative ``(le, count)`` buckets, +Inf last, and the sum."""
        family = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        family.add_metric([], buckets, sum_value)
        return family


def _c(name: str, help: str, *labels: str, unit: str = "") -> Family:
    return Family(name, "counter", help, labels, unit)


def _g(name: str, help: str, *labels: str, unit: str = "") -> Family:
    return Family(name, "gauge", help, labels, unit)


def _feature_families() -> tuple[Family, ...]:
    """The consumer's feature gauges, one per catalogue metric (shared families once)."""
    seen: dict[str, Family] = {}
    for feature in CATALOGUE:
        if feature.metric is None or feature.metric in seen:
            continue
        labels = ("instrument", *(name for name, _ in feature.labels))
        if feature.key_label is not None:
            labels += (feature.key_label,)
        seen[feature.metric] = Family("lobstream_" + feature.metric, "gauge", feature.help, labels)
    return tuple(seen.values())


FEATURES: Final = _feature_families()
FEATURE_BY_METRIC: Final = {f.name.removeprefix("lobstream_"): f for f in FEATURES}
"""Catalogue metric name (``consumer_mid_price``) -> its family."""

I = "instrument"  # noqa: E741 - the label every per-instrument family carries

# --- consumer ------------------------------------------------------------------------------------

C_BOOK_LEVELS = _g(
    "lobstream_consumer_book_levels", "Price levels held in the book, by side.", I, "side"
)
C_BOOK_CHANGE_ID = _g(
    "lobstream_consumer_book_change_id", "change_id of the last update applied.", I
)
C_BOOK_STALE = _g(
    "lobstream_consumer_book_stale",
    "1 while the book waits for a snapshot (after a gap or before the first).",
    I,
)
C_BOOK_LAST_UPDATE = _g(
    "lobstream_consumer_book_last_update_timestamp_seconds",
    "Exchange timestamp of the last book update applied (seconds since the epoch).",
    I,
    unit="seconds",
)
C_BOOK_AGE = _g(
    "lobstream_consumer_book_age_seconds",
    "Seconds from the last book update applied (its exchange timestamp) to this scrape.",
    I,
    unit="seconds",
)
C_BOOK_GAPS = _c(
    "lobstream_consumer_book_gaps_total", "Book changes whose prev_change_id broke the chain.", I
)
C_BOOK_SNAPSHOTS = _c(
    "lobstream_consumer_book_snapshots_total", "Snapshots applied (exchange or producer).", I
)
C_RECORDS_APPLIED = _c(
    "lobstream_consumer_records_applied_total",
    "Notifications applied to a book (snapshots and changes) or to the features (tickers).",
    I,
    "channel",
)
C_RECORDS_IGNORED = _c(
    "lobstream_consumer_records_ignored_total",
    "Records of channels the features do not use (trades, a second book channel).",
)
C_RECORDS_REJECTED = _c(
    "lobstream_consumer_records_rejected_total",
    "Whole raw records refused before reaching a book, by reason.",
    "reason",
)
C_MESSAGES_REJECTED = _c(
    "lobstream_consumer_messages_rejected_total",
    "Notifications a book or the features refused, by reason "
    "(malformed, duplicate, stale, non_numeric).",
    I,
    "channel",
    "reason",
)
C_ENTRIES_REJECTED = _c(
    "lobstream_consumer_book_entries_rejected_total",
    "Book entries skipped, by reason (malformed, unknown_delete, bad_amount, crossed).",
    I,
    "reason",
)
C_RECORDS_REPLAYED = _c(
    "lobstream_consumer_records_replayed_total",
    "Records re-read to rebuild books after an assignment (not published, not committed).",
)
C_INSTRUMENTS_MOVED = _c(
    "lobstream_consumer_instruments_moved_total",
    "Instruments that continued on another partition after the raw topic grew.",
)
C_RECORDS_SUPERSEDED = _c(
    "lobstream_consumer_records_superseded_total",
    "Records of an instrument left on the partition it moved from, older than the snapshot "
    "that opened its new one (skipped).",
)
C_PARTITION_LAG = _g(
    "lobstream_consumer_partition_lag_records",
    "Records in the partition not yet consumed (librdkafka statistics, every 5 s).",
    "partition",
    unit="records",
)
C_PARTITION_REPLAYING = _g(
    "lobstream_consumer_partition_replaying",
    "1 while an assigned partition is being replayed to rebuild its books.",
    "partition",
)
C_PARTITION_INSTRUMENTS = _g(
    "lobstream_consumer_partition_instruments",
    "1 for each instrument seen on an assigned partition (join it to name a partition's books).",
    "partition",
    I,
)
C_E2E_LATENCY = Family(
    "lobstream_consumer_e2e_latency_seconds",
    "histogram",
    "Exchange frame received by the producer -> features updated in the consumer (one sample "
    "per batch, its oldest record).",
    unit="seconds",
)
C_MAINTENANCE = _g(
    "lobstream_consumer_exchange_maintenance",
    "1 while the exchange's platform_state announced maintenance.",
)
C_COMMITS = _c("lobstream_consumer_offset_commits_total", "Offset commits that succeeded.")
C_COMMIT_ERRORS = _c("lobstream_consumer_offset_commit_errors_total", "Offset commits that failed.")
C_PUBLISHED = _c("lobstream_consumer_features_published_total", "Feature records delivered.")
C_PUBLISH_ERRORS = _c(
    "lobstream_consumer_features_publish_errors_total", "Feature records not delivered."
)
C_KAFKA_ERRORS = _c("lobstream_consumer_kafka_errors_total", "Errors reported by the Kafka client.")
C_REBALANCES = _c(
    "lobstream_consumer_rebalances_total", "Partition assignments and revocations of this member."
)
C_READY = _g("lobstream_consumer_ready", "1 when /readyz answers 200 (assigned and caught up).")

# --- producer ------------------------------------------------------------------------------------

P_FRAMES = _c(
    "lobstream_producer_frames_received_total",
    "Notifications received from the exchange, by channel kind.",
    I,
    "channel",
)
P_LAST_FRAME = _g(
    "lobstream_producer_last_frame_timestamp_seconds",
    "When the last notification arrived (wall clock, seconds since the epoch).",
    I,
    unit="seconds",
)
P_PUBLISHED = _c(
    "lobstream_producer_records_published_total", "Records Kafka acknowledged (acks=all).", I
)
P_PRODUCED = _c(
    "lobstream_producer_records_produced_total", "Records handed to the Kafka client.", I
)
P_DROPPED = _c(
    "lobstream_producer_records_dropped_total",
    "Records never handed to Kafka (buffer full under drop-and-resync, refused, or shutdown).",
    I,
)
P_DELIVERY_FAILURES = _c(
    "lobstream_producer_delivery_failures_total",
    "Records Kafka finally failed to deliver (each triggers a repair snapshot).",
    I,
)
P_UNCONFIRMED = _c(
    "lobstream_producer_deliveries_unconfirmed_total",
    "Records acknowledged without an offset, so maybe never written (each triggers a repair"
    " snapshot).",
    I,
)
P_SNAPSHOTS = _c(
    "lobstream_producer_snapshots_written_total", "Producer-written book snapshot records.", I
)
P_REPAIRS = _c(
    "lobstream_producer_repairs_total",
    "Snapshots written because a record of the book chain was lost on the Kafka side.",
    I,
)
P_RESYNCS = _c(
    "lobstream_producer_resyncs_total",
    "Exchange resyncs (continuity broke; a fresh exchange snapshot was requested).",
    I,
)
P_GAPS = _c(
    "lobstream_producer_book_gaps_total", "Book changes that broke the producer's book chain.", I
)
P_BOOK_REJECTED = _c(
    "lobstream_producer_book_rejected_total",
    "Book notifications the producer's own book refused, by reason (malformed, duplicate, "
    "stale); the frame is written to Kafka as received all the same.",
    I,
    "reason",
)
P_BOOK_CHANGE_ID = _g(
    "lobstream_producer_book_change_id", "change_id of the producer's own book.", I
)
P_CONNECTS = _c("lobstream_producer_connects_total", "WebSocket sessions established.")
P_RECONNECTS = _c(
    "lobstream_producer_reconnects_total", "WebSocket sessions established after the first."
)
P_DISCONNECTS = _c("lobstream_producer_disconnects_total", "WebSocket sessions lost.")
P_CONNECT_FAILURES = _c(
    "lobstream_producer_connect_failures_total",
    "Connection attempts that failed before the WebSocket opened.",
)
P_CONNECTIONS_LIMITED = _c(
    "lobstream_producer_exchange_connections_limited_total",
    "Connection attempts the exchange refused with HTTP 429: too many connections from this "
    "address (Deribit allows 32 per IP).",
)
P_HEARTBEAT_FAILURES = _c(
    "lobstream_producer_heartbeat_failures_total",
    "Dead peers: the exchange did not answer a test_request in time (the session reconnects).",
)
P_DERIBIT_ERRORS = _c(
    "lobstream_producer_deribit_errors_total",
    "JSON-RPC errors the exchange answered to our requests, by error code.",
    "code",
)
P_EXCHANGE_FRAMES = _c(
    "lobstream_producer_exchange_frames_total", "WebSocket frames received from the exchange."
)
P_EXCHANGE_BYTES = _c(
    "lobstream_producer_exchange_received_bytes_total",
    "Bytes of WebSocket frames received from the exchange.",
    unit="bytes",
)
P_EXCHANGE_BAD_FRAMES = _c(
    "lobstream_producer_exchange_bad_frames_total",
    "Frames that were not valid JSON-RPC (dropped, logged).",
)
P_EXCHANGE_REQUESTS = _c(
    "lobstream_producer_exchange_requests_total", "JSON-RPC requests sent to the exchange."
)
P_EXCHANGE_REQUEST_TIMEOUTS = _c(
    "lobstream_producer_exchange_request_timeouts_total",
    "Requests the exchange did not answer in time.",
)
P_EXCHANGE_RATE_LIMITED = _c(
    "lobstream_producer_exchange_rate_limited_total",
    "Times the exchange said too many requests (HTTP 429 or error 10028).",
)
P_EXCHANGE_UNMATCHED = _c(
    "lobstream_producer_exchange_unmatched_responses_total",
    "Responses whose id matched no request in flight.",
)
P_EXCHANGE_HEARTBEATS = _c(
    "lobstream_producer_exchange_heartbeats_total", "Heartbeats received from the exchange."
)
P_EXCHANGE_TEST_REQUESTS = _c(
    "lobstream_producer_exchange_test_requests_total",
    "test_request heartbeats the exchange sent (each answered with public/test).",
)
P_EXCHANGE_CHANGES_DROPPED = _c(
    "lobstream_producer_exchange_book_changes_dropped_total",
    "Book changes the session dropped while waiting for a resync snapshot.",
)
P_EXCHANGE_CHANNELS_SUBSCRIBED = _c(
    "lobstream_producer_exchange_channels_subscribed_total",
    "Channels the exchange confirmed in subscribe answers.",
)
P_EXCHANGE_CHANNELS_REFUSED = _c(
    "lobstream_producer_exchange_channels_refused_total",
    "Channels asked for but missing from the exchange's subscribe answer.",
)
P_AUTH_GRANTS = _c("lobstream_producer_auth_grants_total", "Access tokens granted.")
P_AUTH_REFRESHES = _c("lobstream_producer_auth_refreshes_total", "Access tokens refreshed.")
P_AUTH_FAILURES = _c("lobstream_producer_auth_failures_total", "Authentication attempts refused.")
P_CLIENT_QUEUE_DEPTH = _g(
    "lobstream_producer_client_queue_depth",
    "Events waiting in the exchange client's bounded queue.",
)
P_CLIENT_QUEUE_CAPACITY = _g(
    "lobstream_producer_client_queue_capacity", "The exchange client's queue bound (max_queue)."
)
P_CLIENT_QUEUE_FULL_WAITS = _c(
    "lobstream_producer_client_queue_full_waits_total",
    "Times the WebSocket reader waited because the client's queue was full.",
)
P_KAFKA_BUFFER = _g(
    "lobstream_producer_kafka_buffer_records",
    "Records in the Kafka client's local buffer, not yet delivered.",
    unit="records",
)
P_KAFKA_BUFFER_FILL = _g(
    "lobstream_producer_kafka_buffer_fill_ratio",
    "The Kafka client's local buffer over its capacity (buffer_max_messages), 0..1.",
    unit="ratio",
)
P_BLOCKED_SECONDS = _c(
    "lobstream_producer_blocked_seconds_total",
    "Time the WebSocket reader waited for room in Kafka's local buffer (block policy).",
    unit="seconds",
)
P_BLOCKED = _g(
    "lobstream_producer_blocked", "1 while the reader waits for room in Kafka's local buffer."
)
P_PARTITION_MOVES = _c(
    "lobstream_producer_partition_moves_total",
    "Instruments moved to another raw-topic partition after its partition count grew (a moved "
    "record on the old one, a snapshot opening the new one).",
)
P_RAW_PARTITIONS = _g(
    "lobstream_producer_raw_topic_partitions",
    "Partitions of the raw topic as the producer last saw them (it chooses each record's).",
)
P_KAFKA_ERRORS = _c(
    "lobstream_producer_kafka_errors_total", "Kafka client errors (error_cb), by name.", "error"
)
P_KAFKA_REACHABLE = _g(
    "lobstream_producer_kafka_reachable",
    "1 when Kafka answered recently (a delivery or a metadata request).",
)
P_SUBSCRIBED = _g(
    "lobstream_producer_subscribed",
    "1 when every instrument has received a notification since the last connect.",
)
P_READY = _g(
    "lobstream_producer_ready", "1 when /readyz answers 200 (subscribed and Kafka reachable)."
)
P_MAINTENANCE = _g(
    "lobstream_producer_exchange_maintenance", "1 while the exchange announces maintenance."
)

FAMILIES: Final[tuple[Family, ...]] = tuple(
    sorted(
        [
            *FEATURES,
            *(value for name, value in list(globals().items()) if name[:2] in ("C_", "P_")),
        ],
        key=lambda family: family.name,
    )
)
"""Every family of both services, by name."""


def of(service: Service) -> dict[str, Family]:
    """The families ``service`` serves: name -> family."""
    return {f.name: f for f in FAMILIES if f.service == service}


# --- the README's table ----------------------------------------------------------------------

BEGIN = "<!-- metrics:begin (generated by python -m lobstream.telemetry --write-readme) -->"
END = "<!-- metrics:end -->"


def markdown() -> str:
    """The families as a Markdown table, one section per service."""
    lines: list[str] = []
    for service in ("producer", "consumer"):
        lines += [
            f"**{service}**",
            "",
            "| family | type | unit | labels | help |",
            "| --- | --- | --- | --- | --- |",
        ]
        for family in of(service).values():
            labels = ", ".join(family.labels) or "-"
            help_text = family.help.replace("|", "\\|")
            lines.append(
                f"| `{family.name}` | {family.type} | {family.unit or '-'} | {labels} | "
                f"{help_text} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def with_table(readme: str) -> str:
    """``readme`` with the text between the markers replaced by :func:`markdown`."""
    return readme_tables.between(readme, BEGIN, END, markdown())


def main(argv: list[str] | None = None) -> int:
    return readme_tables.main("python -m lobstream.telemetry", __doc__, markdown, with_table, argv)


if __name__ == "__main__":
    raise SystemExit(main())
