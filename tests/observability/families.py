"""The metric families dashboards and alerts may use, and the contract of issue 8.

``known_families()`` is the one place the observability tests ask: it returns the code's own list
(:data:`lobstream.telemetry.FAMILIES`). :data:`CONTRACT` is the table the dashboards, alerts and
chart were written against (name, type, labels); a unit test keeps the code's list a superset.
"""

import re

from lobstream import telemetry

# The contract's table, one family per line ("a / _b" spelled out): name, type, labels (- none).
_CONTRACT = """
lobstream_consumer_mid_price gauge instrument
lobstream_consumer_spread gauge instrument
lobstream_consumer_best_bid_price gauge instrument
lobstream_consumer_best_ask_price gauge instrument
lobstream_consumer_best_bid_amount gauge instrument
lobstream_consumer_best_ask_amount gauge instrument
lobstream_consumer_imbalance gauge instrument
lobstream_consumer_depth_imbalance gauge instrument,depth
lobstream_consumer_microprice gauge instrument
lobstream_consumer_order_flow_imbalance gauge instrument,window
lobstream_consumer_mark_price gauge instrument
lobstream_consumer_index_price gauge instrument
lobstream_consumer_funding_rate gauge instrument,horizon
lobstream_consumer_book_levels gauge instrument,side
lobstream_consumer_book_change_id gauge instrument
lobstream_consumer_book_stale gauge instrument
lobstream_consumer_book_last_update_timestamp_seconds gauge instrument
lobstream_consumer_book_age_seconds gauge instrument
lobstream_consumer_book_gaps_total counter instrument
lobstream_consumer_book_snapshots_total counter instrument
lobstream_consumer_records_applied_total counter instrument,channel
lobstream_consumer_records_rejected_total counter reason
lobstream_consumer_messages_rejected_total counter instrument,channel,reason
lobstream_consumer_book_entries_rejected_total counter instrument,reason
lobstream_consumer_records_replayed_total counter -
lobstream_consumer_partition_lag_records gauge partition
lobstream_consumer_partition_replaying gauge partition
lobstream_consumer_e2e_latency_seconds histogram -
lobstream_consumer_exchange_maintenance gauge -
lobstream_consumer_offset_commits_total counter -
lobstream_consumer_offset_commit_errors_total counter -
lobstream_consumer_features_published_total counter -
lobstream_consumer_features_publish_errors_total counter -
lobstream_consumer_kafka_errors_total counter -
lobstream_consumer_rebalances_total counter -
lobstream_consumer_ready gauge -
lobstream_producer_frames_received_total counter instrument,channel
lobstream_producer_last_frame_timestamp_seconds gauge instrument
lobstream_producer_records_published_total counter instrument
lobstream_producer_records_produced_total counter instrument
lobstream_producer_records_dropped_total counter instrument
lobstream_producer_delivery_failures_total counter instrument
lobstream_producer_snapshots_written_total counter instrument
lobstream_producer_repairs_total counter instrument
lobstream_producer_resyncs_total counter instrument
lobstream_producer_book_gaps_total counter instrument
lobstream_producer_book_rejected_total counter instrument,reason
lobstream_producer_book_change_id gauge instrument
lobstream_producer_connects_total counter -
lobstream_producer_reconnects_total counter -
lobstream_producer_disconnects_total counter -
lobstream_producer_heartbeat_failures_total counter -
lobstream_producer_deribit_errors_total counter code
lobstream_producer_client_queue_depth gauge -
lobstream_producer_client_queue_capacity gauge -
lobstream_producer_kafka_buffer_records gauge -
lobstream_producer_kafka_buffer_fill_ratio gauge -
lobstream_producer_blocked_seconds_total counter -
lobstream_producer_blocked gauge -
lobstream_producer_kafka_errors_total counter error
lobstream_producer_kafka_reachable gauge -
lobstream_producer_subscribed gauge -
lobstream_producer_ready gauge -
lobstream_producer_exchange_maintenance gauge -
"""

# Series every Prometheus makes itself for each scrape target.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_SERIES_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def _contract() -> dict[str, tuple[str, frozenset[str]]]:
    table: dict[str, tuple[str, frozenset[str]]] = {}
    for line in _CONTRACT.split("\n"):
        if line:
            name, kind, labels = line.split()
            table[name] = (kind, frozenset() if labels == "-" else frozenset(labels.split(",")))
    return table


CONTRACT = _contract()
"""name -> (type, label names) of every contract family."""


def known_families() -> dict[str, str]:
    """Every metric family the services export: name -> type (counter, gauge, histogram)."""
    return {family.name: family.type for family in telemetry.FAMILIES}


_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


def served_families(exposition: str) -> dict[str, str]:
    """name -> type of every family in a /metrics text, exactly as exposed (``_total`` kept)."""
    return dict(_TYPE_LINE.findall(exposition))


def series_names(families: dict[str, str]) -> frozenset[str]:
    """The names a PromQL expression can select: a histogram's _bucket/_sum/_count series."""
    names = set(SCRAPE_SERIES)
    for name, kind in families.items():
        names.update(name + suffix for suffix in _SERIES_SUFFIXES.get(kind, ("",)))
    return frozenset(names)
