"""An instrument moving to another partition of a grown raw topic, as the producer writes it:
a moved record on the old partition, a snapshot opening the new one (in either reading order)."""

from __future__ import annotations

import orjson

from lobstream.consumer.pipeline import Pipeline
from lobstream.records import moved_record
from lobstream.settings import FeatureSettings
from lobstream.simulator.market import Market, spec_for
from tests.unit.consumer.test_consumer_unit import (
    BTC,
    ETH,
    T0,
    Record,
    book_of,
    book_records,
    feed,
    frame,
    start_all,
)

CHANNEL = f"book.{BTC}.100ms"


def moved(instrument: str, partition: int) -> Record:
    return (instrument.encode(), moved_record(instrument, partition, 1)[0])


def snapshot(market: Market, at: int) -> Record:
    return (market.name.encode(), frame(CHANNEL, market.snapshot(at)))


def changes(market: Market, count: int, first: int) -> list[Record]:
    return [
        (market.name.encode(), frame(CHANNEL, market.step(first + i).change)) for i in range(count)
    ]


def pipeline_of(*partitions: int) -> Pipeline:
    pipeline = Pipeline(FeatureSettings())
    for partition in partitions:
        start_all(pipeline, partition=partition)
    return pipeline


def test_the_new_partitions_snapshot_moves_the_book_and_older_records_are_skipped() -> None:
    market = Market(spec_for(BTC), seed=2)
    before = book_records(market, 40)
    # The producer's order: everything up to the move on partition 0, the marker, then the
    # snapshot and later changes on partition 3.
    after = [snapshot(market, T0 + 100), *changes(market, 30, T0 + 101)]
    pipeline = pipeline_of(0, 3)
    # Partition 3 is read first: its snapshot moves BTC while partition 0 still has records.
    feed(pipeline, before[:20], partition=0)
    feed(pipeline, after, partition=3)
    feed(pipeline, [*before[20:], moved(BTC, 3)], partition=0, first=20)
    assert book_of(pipeline, BTC) == market.true_book()
    assert pipeline.instruments[BTC].partition == 3
    assert not pipeline.instruments[BTC].book.stale
    assert pipeline.bad.total["wrong_key"] == 0
    assert pipeline.superseded == len(before) - 20
    assert pipeline.moves == 1
    assert pipeline.partitions[0].instruments == set()
    assert pipeline.partitions[3].instruments == {BTC}


def test_the_marker_read_first_keeps_the_book_until_the_snapshot_when_both_are_ours() -> None:
    market = Market(spec_for(BTC), seed=4)
    before = book_records(market, 30)
    pipeline = pipeline_of(0, 3)
    feed(pipeline, [*before, moved(BTC, 3)], partition=0)
    # Exact as of the move, and still served: no gap while partition 3 is being read.
    assert book_of(pipeline, BTC) == market.true_book()
    feed(pipeline, [snapshot(market, T0 + 100), *changes(market, 10, T0 + 101)], partition=3)
    assert book_of(pipeline, BTC) == market.true_book()
    assert pipeline.instruments[BTC].partition == 3
    assert pipeline.bad.total["wrong_key"] == 0


def test_a_marker_to_a_partition_of_another_member_drops_the_book() -> None:
    btc = book_records(Market(spec_for(BTC), seed=5), 10)
    eth = book_records(Market(spec_for(ETH), seed=5), 10)
    pipeline = pipeline_of(0)
    feed(pipeline, [*btc, *eth, moved(BTC, 7)], partition=0)
    assert set(pipeline.instruments) == {ETH}
    assert pipeline.moves == 1
    assert pipeline.bad.total == dict.fromkeys(pipeline.bad.total, 0)


def test_a_change_on_another_partition_is_still_a_foreign_writer() -> None:
    market = Market(spec_for(BTC), seed=6)
    pipeline = pipeline_of(0, 1)
    feed(pipeline, book_records(market, 5), partition=0)
    feed(pipeline, changes(market, 1, T0 + 50), partition=1)
    assert pipeline.bad.total["wrong_key"] == 1
    assert pipeline.instruments[BTC].partition == 0


def test_the_marker_is_a_notification_of_its_own_channel() -> None:
    value, headers = moved_record(BTC, 5, 42)
    params = orjson.loads(value)["params"]
    assert params == {
        "channel": "lobstream.moved",
        "data": {"instrument_name": BTC, "partition": 5},
    }
    assert dict(headers)["lobstream.source"] == b"moved"
