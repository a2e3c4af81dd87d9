"""The producer's metric families, read at scrape time from its plain counters.

Nothing here runs per message: :func:`collect` turns the
:class:`~lobstream.producer.stats.ProducerStats`, the exchange session's
:class:`~lobstream.deribit.session.SessionStats` and the live :class:`Gauges` into the families
of :mod:`lobstream.telemetry` when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from lobstream import telemetry as t
from lobstream.book.orderbook import BookStats
from lobstream.deribit.session import SessionStats
from lobstream.producer.stats import InstrumentStats, ProducerStats


@dataclass(frozen=True, slots=True)
class Gauges:
    """Live values the service reads at scrape time (not counters)."""

    kafka_buffer: Callable[[], int]
    """Records in the Kafka client's local buffer, not yet delivered."""
    kafka_buffer_capacity: int
    client_queue: Callable[[], tuple[int, int] | None]
    """The exchange client's queue (depth, capacity); None before the client exists."""
    kafka_reachable: Callable[[], bool]
    subscribed: Callable[[], bool]
    ready: Callable[[], bool]
    change_ids: Callable[[], dict[str, int | None]]
    """The producer's own book change_id per instrument."""
    book_stats: Callable[[], dict[str, BookStats]]
    session: Callable[[], SessionStats | None]
    partitions: Callable[[], int]
    """The raw topic's partition count as last seen (0: not yet)."""


SESSION_COUNTERS: tuple[tuple[t.Family, str], ...] = (
    (t.P_CONNECT_FAILURES, "connect_failures"),
    (t.P_CONNECTIONS_LIMITED, "connections_limited"),
    (t.P_HEARTBEAT_FAILURES, "dead_peer"),
    (t.P_EXCHANGE_FRAMES, "frames"),
    (t.P_EXCHANGE_BYTES, "bytes"),
    (t.P_EXCHANGE_BAD_FRAMES, "bad_frames"),
    (t.P_EXCHANGE_REQUESTS, "requests_sent"),
    (t.P_EXCHANGE_REQUEST_TIMEOUTS, "request_timeouts"),
    (t.P_EXCHANGE_RATE_LIMITED, "rate_limited"),
    (t.P_EXCHANGE_UNMATCHED, "unmatched_responses"),
    (t.P_EXCHANGE_HEARTBEATS, "heartbeats"),
    (t.P_EXCHANGE_TEST_REQUESTS, "test_requests"),
    (t.P_EXCHANGE_CHANGES_DROPPED, "book_changes_dropped"),
    (t.P_EXCHANGE_CHANNELS_SUBSCRIBED, "channels_subscribed"),
    (t.P_EXCHANGE_CHANNELS_REFUSED, "channels_refused"),
    (t.P_AUTH_GRANTS, "auth_grants"),
    (t.P_AUTH_REFRESHES, "auth_refreshes"),
    (t.P_AUTH_FAILURES, "auth_failures"),
    (t.P_CLIENT_QUEUE_FULL_WAITS, "queue_full_waits"),
)
"""Session counters, each its own family: a renamed SessionStats field fails here, loudly."""

INSTRUMENT_COUNTERS: tuple[tuple[t.Family, str], ...] = (
    (t.P_PRODUCED, "produced"),
    (t.P_PUBLISHED, "delivered"),
    (t.P_DELIVERY_FAILURES, "delivery_failures"),
    (t.P_UNCONFIRMED, "unconfirmed"),
    (t.P_DROPPED, "dropped"),
    (t.P_SNAPSHOTS, "snapshots_written"),
    (t.P_REPAIRS, "repairs"),
    (t.P_GAPS, "gaps"),
    (t.P_RESYNCS, "resyncs"),
)


def _flag(value: bool) -> dict[tuple[str, ...], float | None]:
    return {(): 1.0 if value else 0.0}


def collect(stats: ProducerStats, gauges: Gauges) -> Iterator[Metric]:
    """Every lobstream_producer_* family, read now."""
    items: list[tuple[str, InstrumentStats]] = sorted(stats.instruments.items())
    yield t.P_FRAMES.metric(
        {(name, kind): n for name, s in items for kind, n in list(s.received.items())}
    )
    for family, attr in INSTRUMENT_COUNTERS:
        yield family.metric({(name,): getattr(s, attr) for name, s in items})
    yield t.P_LAST_FRAME.metric(
        {(name,): s.last_receive_ns / 1e9 if s.last_receive_ns else None for name, s in items}
    )
    yield t.P_BOOK_REJECTED.metric(_book_rejected(stats, gauges.book_stats()))
    yield t.P_BOOK_CHANGE_ID.metric({(name,): cid for name, cid in gauges.change_ids().items()})
    yield t.P_CONNECTS.metric({(): stats.connects})
    yield t.P_RECONNECTS.metric({(): max(stats.connects - 1, 0)})
    yield t.P_DISCONNECTS.metric({(): stats.disconnects})
    yield t.P_PARTITION_MOVES.metric({(): stats.partition_moves})
    yield t.P_RAW_PARTITIONS.metric({(): gauges.partitions() or None})
    yield t.P_KAFKA_ERRORS.metric({(name,): n for name, n in list(stats.kafka_errors.items())})
    yield t.P_BLOCKED_SECONDS.metric({(): stats.blocked_seconds()})
    yield t.P_BLOCKED.metric(_flag(bool(stats.blocked_since_ns)))
    buffered = gauges.kafka_buffer()
    yield t.P_KAFKA_BUFFER.metric({(): buffered})
    yield t.P_KAFKA_BUFFER_FILL.metric({(): buffered / gauges.kafka_buffer_capacity})
    queue = gauges.client_queue()
    yield t.P_CLIENT_QUEUE_DEPTH.metric({(): None if queue is None else queue[0]})
    yield t.P_CLIENT_QUEUE_CAPACITY.metric({(): None if queue is None else queue[1]})
    yield t.P_KAFKA_REACHABLE.metric(_flag(gauges.kafka_reachable()))
    yield t.P_SUBSCRIBED.metric(_flag(gauges.subscribed()))
    yield t.P_READY.metric(_flag(gauges.ready()))
    yield t.P_MAINTENANCE.metric(_flag(stats.maintenance))
    yield from collect_session(gauges.session())


def _book_rejected(
    stats: ProducerStats, books: dict[str, BookStats]
) -> dict[tuple[str, ...], float | None]:
    samples: dict[tuple[str, ...], float | None] = {}
    for name, book in sorted(books.items()):
        not_object = stats.instruments[name].book_not_object if name in stats.instruments else 0
        samples[(name, "malformed")] = book.malformed_messages + not_object
        samples[(name, "duplicate")] = book.duplicates
        samples[(name, "stale")] = book.stale_ignored
    return samples


def collect_session(session: SessionStats | None) -> Iterator[Metric]:
    """The exchange session's counters (no samples before the session exists)."""
    for family, attr in SESSION_COUNTERS:
        yield family.metric({} if session is None else {(): getattr(session, attr)})
    codes = {} if session is None else dict(session.errors_by_code)
    yield t.P_DERIBIT_ERRORS.metric({(str(code),): n for code, n in sorted(codes.items())})
