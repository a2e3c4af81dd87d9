"""The producer's metric families, read at scrape time from its plain counters.

Nothing here runs per message: :func:`collect` turns the
:class:`~lobstream.producer.stats.ProducerStats` and the live :class:`Gauges` into families when
Prometheus scrapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from lobstream.http import counter, gauge
from lobstream.producer.stats import ProducerStats


@dataclass(frozen=True, slots=True)
class Gauges:
    """Live values the service computes at scrape time (not counters)."""

    queue_depth: Callable[[], int]
    """Records in the Kafka client's local buffer, not yet delivered."""
    kafka_reachable: Callable[[], bool]
    subscribed: Callable[[], bool]
    change_ids: Callable[[], dict[str, int | None]]
    """The producer's own book change_id per instrument."""


PREFIX = "lobstream_producer"


def collect_session(stats: object | None) -> Iterator[Metric]:
    """The exchange session's int counters (a dataclass) as ``lobstream_deribit_<name>_total``."""
    if stats is None or not dataclasses.is_dataclass(stats):
        return
    for f in dataclasses.fields(stats):
        value = getattr(stats, f.name)
        if isinstance(value, int) and not isinstance(value, bool):
            yield counter(
                f"lobstream_deribit_{f.name}", f"Exchange session: {f.name}.", (), {(): value}
            )


def collect(stats: ProducerStats, gauges: Gauges) -> Iterator[Metric]:
    """Every lobstream_producer_* metric family, read now."""
    items = list(stats.instruments.items())
    per = [(name,) for name, _ in items]
    inst = ("instrument",)

    def family(attr: str) -> dict[tuple[str, ...], float]:
        return {labels: getattr(s, attr) for labels, (_, s) in zip(per, items, strict=True)}

    yield counter(
        f"{PREFIX}_received",
        "Notifications received from the exchange, by channel kind.",
        ("instrument", "channel"),
        {(name, kind): n for name, s in items for kind, n in s.received.items()},
    )
    yield counter(f"{PREFIX}_produced", "Records handed to Kafka.", inst, family("produced"))
    yield counter(
        f"{PREFIX}_delivered", "Records Kafka acknowledged (acks=all).", inst, family("delivered")
    )
    yield counter(
        f"{PREFIX}_delivery_failures",
        "Records Kafka finally failed to deliver (each triggers a repair snapshot).",
        inst,
        family("delivery_failures"),
    )
    yield counter(
        f"{PREFIX}_dropped",
        "Records never handed to Kafka (buffer full under drop-and-resync, or shutdown).",
        inst,
        family("dropped"),
    )
    yield counter(
        f"{PREFIX}_snapshots_written",
        "Producer-written book snapshot records.",
        inst,
        family("snapshots_written"),
    )
    yield counter(
        f"{PREFIX}_repairs",
        "Snapshots written because a record of the book chain was lost on the Kafka side.",
        inst,
        family("repairs"),
    )
    yield counter(
        f"{PREFIX}_gaps", "Book changes that broke the producer's book chain.", inst, family("gaps")
    )
    yield counter(
        f"{PREFIX}_resyncs",
        "Exchange resyncs (continuity broke; a fresh exchange snapshot was requested).",
        inst,
        family("resyncs"),
    )
    yield counter(
        f"{PREFIX}_book_rejected",
        "Book notifications the producer's book ignored (stale, duplicate or bad).",
        inst,
        family("book_rejected"),
    )
    yield gauge(
        f"{PREFIX}_last_receive_timestamp_seconds",
        "When the last notification arrived (seconds since the epoch).",
        inst,
        {
            labels: (s.last_receive_ns / 1e9 if s.last_receive_ns else None)
            for labels, (_, s) in zip(per, items, strict=True)
        },
    )
    yield gauge(
        f"{PREFIX}_book_change_id",
        "change_id of the producer's own book.",
        inst,
        {(name,): change_id for name, change_id in gauges.change_ids().items()},
    )
    yield counter(f"{PREFIX}_connects", "WebSocket sessions established.", (), {(): stats.connects})
    yield counter(
        f"{PREFIX}_reconnects",
        "WebSocket sessions established after the first.",
        (),
        {(): max(stats.connects - 1, 0)},
    )
    yield counter(f"{PREFIX}_disconnects", "WebSocket sessions lost.", (), {(): stats.disconnects})
    yield counter(
        f"{PREFIX}_kafka_errors",
        "Kafka client errors (error_cb), by error name.",
        ("error",),
        {(name,): n for name, n in list(stats.kafka_errors.items())},
    )
    yield counter(
        f"{PREFIX}_blocked_seconds",
        "Time the WebSocket reader waited for room in Kafka's local buffer (block policy).",
        (),
        {(): stats.blocked_seconds()},
    )
    yield gauge(
        f"{PREFIX}_blocked",
        "1 while the WebSocket reader waits for room in Kafka's local buffer.",
        (),
        {(): 1.0 if stats.blocked_since_ns else 0.0},
    )
    yield gauge(
        f"{PREFIX}_queue_depth",
        "Records in the Kafka client's local buffer, not yet delivered.",
        (),
        {(): gauges.queue_depth()},
    )
    yield gauge(
        f"{PREFIX}_kafka_reachable",
        "1 when Kafka answered recently (a delivery or a metadata request).",
        (),
        {(): 1.0 if gauges.kafka_reachable() else 0.0},
    )
    yield gauge(
        f"{PREFIX}_subscribed",
        "1 when every instrument has received a notification since the last connect.",
        (),
        {(): 1.0 if gauges.subscribed() else 0.0},
    )
    yield gauge(
        f"{PREFIX}_exchange_maintenance",
        "1 while the exchange announces maintenance.",
        (),
        {(): 1.0 if stats.maintenance else 0.0},
    )
