"""The consumer's pure core: record routing, rebuild planning, commit rules, metrics, live view.

No broker here: records are built from the simulator's seeded market exactly as the producer
writes them, and fed to the :class:`Pipeline` with made-up partitions and offsets.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lobstream.book.features import Features
from lobstream.consumer import metrics
from lobstream.consumer.metrics import book_route, consumer_registry
from lobstream.consumer.pipeline import Pipeline
from lobstream.consumer.rebuild import (
    METADATA_MAX_BYTES,
    CommitMetadata,
    PartitionStart,
    decode_metadata,
    encode_metadata,
    lookup_timestamp_ms,
    needs_time_lookup,
    plan_start,
)
from lobstream.consumer.service import ConsumerService
from lobstream.consumer.state import ConsumerState
from lobstream.devtools import liveview
from lobstream.settings import FeatureSettings, load
from lobstream.simulator.market import Market, spec_for

BTC = "BTC-PERPETUAL"
ETH = "ETH-PERPETUAL"
T0 = 1_700_000_000_000

Record = tuple[bytes | None, bytes | None]


def frame(channel: str, data: Any) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    )


def book_records(market: Market, changes: int, *, ticker_every: int = 0) -> list[Record]:
    """A snapshot then ``changes`` changes (and tickers), keyed by instrument."""
    key = market.name.encode()
    channel = f"book.{market.name}.100ms"
    out: list[Record] = [(key, frame(channel, market.snapshot(T0)))]
    for i in range(changes):
        out.append((key, frame(channel, market.step(T0 + i + 1).change)))
        if ticker_every and i % ticker_every == 0:
            out.append((key, frame(f"ticker.{market.name}.100ms", market.ticker(T0 + i + 1))))
    return out


def start_all(pipeline: Pipeline, partition: int = 0, start: int = 0, resume: int = 0) -> None:
    pipeline.assign(partition, PartitionStart(start, resume, {}, "test"))


def feed(pipeline: Pipeline, records: list[Record], partition: int = 0, first: int = 0) -> None:
    for offset, (key, value) in enumerate(records, start=first):
        pipeline.apply(key, value, partition, offset)


def book_of(
    pipeline: Pipeline, name: str
) -> tuple[int | None, dict[float, float], dict[float, float]]:
    book = pipeline.instruments[name].book
    bids, asks = book.levels()
    return book.change_id, bids, asks


# --- the pipeline ---------------------------------------------------------------------------


def test_records_rebuild_the_true_book_and_redelivery_is_harmless() -> None:
    market = Market(spec_for(BTC), seed=3)
    records = book_records(market, 2_000, ticker_every=50)
    pipeline = Pipeline(FeatureSettings())
    start_all(pipeline)
    feed(pipeline, records)
    assert book_of(pipeline, BTC) == market.true_book()
    assert not pipeline.instruments[BTC].book.stale

    # At-least-once: the second half delivered again changes nothing.
    feed(pipeline, records[1000:], first=1000)
    assert book_of(pipeline, BTC) == market.true_book()
    assert pipeline.instruments[BTC].book.stats.duplicates > 0
    assert pipeline.instruments[BTC].book.stats.gaps == 0
    assert sum(pipeline.bad.total.values()) == 0


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"BTC-PERPETUAL", b"{not json", "not_json"),
        (b"BTC-PERPETUAL", None, "not_notification"),
        (b"BTC-PERPETUAL", b"[1, 2]", "not_notification"),
        (b"BTC-PERPETUAL", b'{"jsonrpc":"2.0","id":3,"result":{}}', "not_notification"),
        (b"BTC-PERPETUAL", b'{"method":"subscription","params":{"data":{}}}', "not_notification"),
        (b"BTC-PERPETUAL", frame("chat.room.1", {}), "unknown_channel"),
        (b"ETH-PERPETUAL", frame("book.BTC-PERPETUAL.100ms", {"type": "change"}), "wrong_key"),
        (None, frame("book.BTC-PERPETUAL.100ms", {"type": "change"}), "wrong_key"),
        (b"BTC-PERPETUAL", frame("book.BTC-PERPETUAL.100ms", [1, 2]), "bad_data"),
        (b"BTC-PERPETUAL", frame("ticker.BTC-PERPETUAL.100ms", "x"), "bad_data"),
    ],
)
def test_bad_records_are_counted_by_reason_and_skipped(
    key: bytes | None, value: bytes | None, reason: str
) -> None:
    market = Market(spec_for(BTC), seed=5)
    records = book_records(market, 300)
    pipeline = Pipeline(FeatureSettings())
    start_all(pipeline)
    feed(pipeline, [*records[:150], (key, value), *records[150:]])
    assert pipeline.bad.total[reason] == 1
    assert sum(pipeline.bad.total.values()) == 1
    assert book_of(pipeline, BTC) == market.true_book()


def test_a_gap_makes_the_book_stale_until_the_next_snapshot() -> None:
    market = Market(spec_for(ETH), seed=8)
    records = book_records(market, 400)
    del records[200]  # one lost change
    pipeline = Pipeline(FeatureSettings())
    start_all(pipeline)
    feed(pipeline, records)
    state = pipeline.instruments[ETH]
    assert state.book.stale
    assert state.book.stats.gaps == 1
    assert state.features.mid() is None

    key = ETH.encode()
    feed(pipeline, [(key, frame(f"book.{ETH}.100ms", market.snapshot(T0 + 9999)))], first=1000)
    assert not state.book.stale
    assert book_of(pipeline, ETH) == market.true_book()
    assert state.snapshot_offset == 1000


def test_partitions_own_their_instruments_and_revocation_drops_them() -> None:
    btc = book_records(Market(spec_for(BTC), seed=1), 50)
    eth = book_records(Market(spec_for(ETH), seed=1), 50)
    pipeline = Pipeline(FeatureSettings())
    start_all(pipeline, partition=0)
    start_all(pipeline, partition=1)
    feed(pipeline, btc, partition=0)
    feed(pipeline, eth, partition=1)
    assert set(pipeline.instruments) == {BTC, ETH}

    # The same instrument on a second partition is a foreign writer, not a second book.
    feed(pipeline, btc[5:6], partition=1, first=999)
    assert pipeline.bad.total["wrong_key"] == 1

    assert pipeline.revoke(0) == [BTC]
    assert set(pipeline.instruments) == {ETH}
    feed(pipeline, btc[:3], partition=0, first=100)  # fetched before the revocation
    assert pipeline.foreign == 3
    assert BTC not in pipeline.instruments


def test_a_second_book_channel_does_not_feed_the_book() -> None:
    market = Market(spec_for(BTC), seed=2)
    records = book_records(market, 100)
    grouped = (BTC.encode(), frame(f"book.{BTC}.none.10.100ms", market.grouped("none", 10, T0)))
    pipeline = Pipeline(FeatureSettings())
    start_all(pipeline)
    feed(pipeline, [*records[:50], grouped, *records[50:]])
    assert pipeline.ignored == 1
    assert book_of(pipeline, BTC) == market.true_book()


# --- commits and rebuild ------------------------------------------------------------------


def test_replayed_records_are_never_committed_and_commits_only_move_forward() -> None:
    market = Market(spec_for(BTC), seed=4)
    records = book_records(market, 100)
    pipeline = Pipeline(FeatureSettings())
    pipeline.assign(0, PartitionStart(start=0, resume=60, skip_before={}, reason="test"))
    part = pipeline.partitions[0]
    feed(pipeline, records[:59])
    assert part.replaying
    assert not pipeline.caught_up
    assert part.commit_offset() is None
    feed(pipeline, records[59:60], first=59)
    assert pipeline.caught_up  # everything below the committed offset is applied again
    assert part.commit_offset() is None  # ... and 60 is committed already
    feed(pipeline, records[60:61], first=60)
    assert part.commit_offset() == 61
    part.committed = 61
    assert part.commit_offset() is None
    assert pipeline.replayed == 60


def test_a_restart_rebuilds_the_book_from_the_snapshot_named_in_the_commit() -> None:
    """The consumer 'never stopped' vs. one restarted from A's commit: the same book."""
    btc, eth = Market(spec_for(BTC), seed=6), Market(spec_for(ETH), seed=6)
    log: list[Record] = []
    log += book_records(btc, 300)
    log += book_records(eth, 300)
    key_b, key_e = BTC.encode(), ETH.encode()

    def both(steps: int, t: int) -> None:
        for i in range(steps):
            log.append((key_b, frame(f"book.{BTC}.100ms", btc.step(t + i).change)))
            log.append((key_e, frame(f"book.{ETH}.100ms", eth.step(t + i).change)))

    both(100, T0 + 1000)
    # A producer snapshot of BTC in the middle of ongoing changes, then more of both.
    log.append((key_b, frame(f"book.{BTC}.100ms", btc.snapshot(T0 + 5000))))
    snapshot_offset = len(log) - 1
    both(500, T0 + 6000)

    committed = len(log) - 100
    first = Pipeline(FeatureSettings())
    start_all(first)
    feed(first, log[:committed])
    meta = decode_metadata(encode_metadata(first.commit_metadata(first.partitions[0])))
    assert meta is not None
    assert meta.snapshots == {BTC: snapshot_offset, ETH: 301}

    plan = plan_start(committed=committed, meta=meta, low=0, high=len(log), offset_for_time=None)
    assert plan == PartitionStart(301, committed, {BTC: snapshot_offset, ETH: 301}, plan.reason)
    second = Pipeline(FeatureSettings())
    second.assign(0, plan)
    feed(second, log[plan.start :], first=plan.start)
    feed(first, log[committed:], first=committed)
    for name, market in ((BTC, btc), (ETH, eth)):
        assert book_of(second, name) == book_of(first, name) == market.true_book()
        assert second.instruments[name].book.stats.gaps == 0
    assert second.skipped_before_snapshot > 0


def test_metadata_round_trip_and_size_limit() -> None:
    meta = CommitMetadata(T0, {BTC: 10, ETH: 12})
    assert decode_metadata(encode_metadata(meta)) == meta
    many = CommitMetadata(T0, {f"INSTRUMENT-{i:05d}": i for i in range(500)})
    text = encode_metadata(many)
    assert len(text) <= METADATA_MAX_BYTES
    assert decode_metadata(text) == CommitMetadata(T0, {})
    for foreign in (None, "", "nonsense", '{"v":99}', '{"v":1,"snap":[1]}'):
        assert decode_metadata(foreign) is None


def test_plan_start_falls_back_to_the_time_lookback() -> None:
    # No commit: start at the end, rebuilt from the look-back.
    assert needs_time_lookup(-1001, None)
    plan = plan_start(committed=-1001, meta=None, low=5, high=500, offset_for_time=420)
    assert (plan.start, plan.resume) == (420, 500)
    # Nothing in the look-back: wait for the next snapshot.
    plan = plan_start(committed=-1001, meta=None, low=5, high=500, offset_for_time=-1)
    assert (plan.start, plan.resume) == (500, 500)
    # A commit without snapshot offsets: look back from the commit's own timestamp.
    meta = CommitMetadata(T0, {})
    assert needs_time_lookup(300, meta)
    assert lookup_timestamp_ms(meta, now_ms=T0 + 10**6, lookback_ms=60_000) == T0 - 60_000
    assert lookup_timestamp_ms(None, now_ms=T0, lookback_ms=60_000) == T0 - 60_000
    plan = plan_start(committed=300, meta=meta, low=0, high=500, offset_for_time=250)
    assert (plan.start, plan.resume) == (250, 300)
    # Snapshots deleted by retention are not a start point.
    meta = CommitMetadata(T0, {BTC: 3})
    plan = plan_start(committed=300, meta=meta, low=10, high=500, offset_for_time=None)
    assert (plan.start, plan.resume) == (300, 300)
    # A committed offset below the log start resumes at the log start.
    plan = plan_start(committed=2, meta=None, low=10, high=500, offset_for_time=-1)
    assert (plan.start, plan.resume) == (10, 10)


# --- metrics and the live view --------------------------------------------------------------


def test_metrics_export_the_features_and_the_live_view_reads_them() -> None:
    settings = load(features={"imbalance_depths": [5, 10], "ofi_windows_seconds": [1, 10]})
    # The state the service owns, without the service: no Kafka client in this test.
    state = ConsumerState(Pipeline(settings.features))
    market = Market(spec_for(BTC), seed=9)
    start_all(state.pipeline)
    maintenance = (b"platform_state", frame("platform_state", {"maintenance": True}))
    records = [*book_records(market, 500, ticker_every=100), (b"x", b"{"), maintenance]
    feed(state.pipeline, records)
    state.latency.observe(3_000_000)

    text = generate_latest(consumer_registry(state)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    features = state.pipeline.instruments[BTC].features
    label = (("instrument", BTC),)
    assert samples[("lobstream_consumer_mid_price", label)] == features.mid()
    assert samples[("lobstream_consumer_microprice", label)] == features.microprice()
    assert samples[("lobstream_consumer_imbalance", label)] == features.imbalance()
    depth5 = (("depth", "5"), ("instrument", BTC))
    assert samples[("lobstream_consumer_depth_imbalance", depth5)] == features.imbalance_k(5)
    ofi1 = (("instrument", BTC), ("window", "1s"))
    assert samples[("lobstream_consumer_order_flow_imbalance", ofi1)] == features.ofi(1.0)
    assert samples[("lobstream_consumer_book_change_id", label)] == market.true_book()[0]
    assert samples[("lobstream_consumer_book_stale", label)] == 0
    assert samples[("lobstream_consumer_mark_price", label)] == features.ticker["mark_price"]
    assert samples[("lobstream_consumer_records_rejected_total", (("reason", "not_json"),))] == 1
    assert samples[("lobstream_consumer_exchange_maintenance", ())] == 1
    assert samples[("lobstream_consumer_e2e_latency_seconds_count", ())] == 1
    assert samples[("lobstream_consumer_e2e_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert samples[("lobstream_consumer_e2e_latency_seconds_bucket", (("le", "0.002"),))] == 0

    view = liveview.parse(text)
    row = view.rows[BTC]
    assert (row.values["mid"], row.values["spread"], row.stale) == (
        features.mid(),
        features.spread(),
        False,
    )
    assert row.values["ofi 1s"] == features.ofi(1.0)
    funding = (("horizon", "8h"), ("instrument", BTC))
    assert samples[("lobstream_consumer_funding_rate", funding)] == features.ticker["funding_8h"]
    assert view.bad == 1
    assert view.latency_p99_bucket == 0.005
    table = liveview.render(view, title="t")
    assert BTC in table
    assert f"{features.mid():.2f}" in table


def test_the_live_view_counts_healthy_snapshots_as_already_applied_not_bad() -> None:
    # A clean demo: the producer's periodic snapshots arrive at the book's current change_id.
    state = ConsumerState(Pipeline(FeatureSettings()))
    markets = [Market(spec_for(name), seed=5) for name in (BTC, ETH)]
    start_all(state.pipeline)
    for market in markets:
        feed(state.pipeline, book_records(market, 50))
    for interval in range(3):
        periodic = [
            (m.name.encode(), frame(f"book.{m.name}.100ms", m.snapshot(T0 + 1000 * interval)))
            for m in markets
        ]
        feed(state.pipeline, periodic)
    view = liveview.parse(generate_latest(consumer_registry(state)).decode())
    assert (view.bad, view.already_applied) == (0, 6)
    assert "bad 0   already applied 6" in liveview.render(view)

    # What is wrong still shows: a malformed book change and a book entry of a negative amount.
    name = BTC.encode()
    channel = f"book.{BTC}.100ms"
    change_id = state.pipeline.instruments[BTC].book.change_id
    assert change_id is not None
    broken = {"type": "change", "change_id": "x", "prev_change_id": change_id}
    negative = {
        "type": "change",
        "change_id": change_id + 1,
        "prev_change_id": change_id,
        "timestamp": T0 + 9999,
        "bids": [["new", 1.0, -5.0]],
        "asks": [],
    }
    feed(state.pipeline, [(name, frame(channel, broken)), (name, frame(channel, negative))])
    view = liveview.parse(generate_latest(consumer_registry(state)).decode())
    assert (view.bad, view.already_applied) == (2, 6)


class CountingLock:
    """A real lock that counts, per hold, the feature snapshots taken while it is held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held = False
        self.per_hold: list[int] = []

    def acquire(self) -> bool:
        self._lock.acquire()
        self.held = True
        self.per_hold.append(0)
        return True

    def release(self) -> None:
        self.held = False
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_scrape_lets_go_of_the_lock_between_instruments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The Kafka loop applies records under this lock: a scrape that held it while building the
    # families of 500 instruments stalled consumption for tens of ms (docs/benchmarks.md). With
    # no time allowed per hold, a scrape must take it anew for every instrument.
    monkeypatch.setattr(metrics, "HOLD_SECONDS", 0.0, raising=False)
    lock = CountingLock()
    state = ConsumerState(Pipeline(FeatureSettings()), lock=lock)  # type: ignore[arg-type]
    start_all(state.pipeline)
    names = [f"SYN{i:02d}-PERPETUAL" for i in range(20)]
    for name in names:
        feed(state.pipeline, book_records(Market(spec_for(name), seed=1), 5))
    snapshot = Features.snapshot

    def counted(self: Features, now_ms: int | None = None) -> Any:
        assert lock.held, "a feature snapshot read the book without the lock"
        lock.per_hold[-1] += 1
        return snapshot(self, now_ms)

    monkeypatch.setattr(Features, "snapshot", counted)
    samples = scrape(state)
    assert sum(lock.per_hold) == len(names)
    assert max(lock.per_hold) == 1
    for name in names:
        assert samples[("lobstream_consumer_book_stale", (("instrument", name),))] == 0


def scrape(state: ConsumerState) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(consumer_registry(state)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_refusal_is_a_counter_with_its_reason() -> None:
    state = ConsumerState(Pipeline(FeatureSettings()))
    market = Market(spec_for(BTC), seed=4)
    start_all(state.pipeline)
    records = book_records(market, 20)
    key, channel = BTC.encode(), f"book.{BTC}.100ms"
    change = market.step(T0 + 100).change
    unknown_delete = {
        **market.step(T0 + 101).change,
        "prev_change_id": change["change_id"],
        "change_id": change["change_id"] + 1,
        "bids": [["delete", 1.5, 0.0]],
        "asks": [["new", "not a price", 1.0]],
    }
    ticker = f"ticker.{BTC}.100ms"
    feed(
        state.pipeline,
        [
            *records,
            (key, frame(channel, change)),
            (key, frame(channel, change)),  # a re-delivery
            (key, frame(channel, unknown_delete)),
            (key, frame(ticker, market.ticker(T0 + 102))),
            (key, frame(ticker, {**market.ticker(T0 + 103), "mark_price": "60000.5"})),
            (key, frame(ticker, ["not", "an", "object"])),
        ],
    )
    samples = scrape(state)

    def rejected(channel: str, reason: str) -> float:
        labels = (("channel", channel), ("instrument", BTC), ("reason", reason))
        return samples[("lobstream_consumer_messages_rejected_total", labels)]

    def entries(reason: str) -> float:
        labels = (("instrument", BTC), ("reason", reason))
        return samples[("lobstream_consumer_book_entries_rejected_total", labels)]

    assert rejected("book", "duplicate") == 1
    assert rejected("book", "stale") == 0
    assert rejected("ticker", "non_numeric") == 1
    # Data that is not an object never reaches a book or the features: the whole record goes.
    assert rejected("ticker", "malformed") == 0
    bad_data = ("lobstream_consumer_records_rejected_total", (("reason", "bad_data"),))
    assert samples[bad_data] == 1
    assert (entries("unknown_delete"), entries("malformed")) == (1, 1)
    applied = (("channel", "book"), ("instrument", BTC))
    assert samples[("lobstream_consumer_records_applied_total", applied)] == 1 + 20 + 1 + 1
    taken = (("channel", "ticker"), ("instrument", BTC))
    assert samples[("lobstream_consumer_records_applied_total", taken)] == 1
    bids, asks = (
        state.pipeline.instruments[BTC].book.bids,
        state.pipeline.instruments[BTC].book.asks,
    )
    levels = "lobstream_consumer_book_levels"
    assert samples[(levels, (("instrument", BTC), ("side", "bid")))] == len(bids)
    assert samples[(levels, (("instrument", BTC), ("side", "ask")))] == len(asks)
    where = (("instrument", BTC), ("partition", "0"))
    assert samples[("lobstream_consumer_partition_instruments", where)] == 1
    assert samples[("lobstream_consumer_ready", ())] == 0  # never assigned by a group here


def test_consumer_lag_comes_from_librdkafka_statistics_of_assigned_partitions() -> None:
    service = ConsumerService(load())
    start_all(service.state.pipeline, partition=0)
    start_all(service.state.pipeline, partition=2)
    partitions = {
        "0": {"consumer_lag": 17},
        "1": {"consumer_lag": 99},  # not ours (any more)
        "2": {"consumer_lag": -1},  # unknown yet
        "-1": {"consumer_lag": -1},  # librdkafka's internal unassigned partition
    }
    stats = {"topics": {service.topic: {"partitions": partitions}}}
    service._on_stats(orjson.dumps(stats).decode())
    assert service.state.stats.lag == {0: 17}
    service._on_stats("not json")
    assert service.state.stats.lag == {0: 17}


def test_book_route_reads_the_state_best_first() -> None:
    state = ConsumerState(Pipeline(FeatureSettings()))
    market = Market(spec_for(BTC), seed=4)
    start_all(state.pipeline)
    feed(state.pipeline, book_records(market, 50))
    change_id, bids, asks = market.true_book()

    status, body, ctype = book_route(state, {"instrument": BTC, "depth": "3"})
    doc = orjson.loads(body)
    assert (status, ctype) == (200, "application/json")
    assert doc["change_id"] == change_id
    assert doc["bids"] == [list(level) for level in sorted(bids.items(), reverse=True)[:3]]
    assert doc["asks"] == [list(level) for level in sorted(asks.items())[:3]]
    assert book_route(state, {"instrument": "ETH-PERPETUAL"})[0] == 404
    assert book_route(state, {})[0] == 400
    assert book_route(state, {"instrument": BTC, "depth": "x"})[0] == 400
