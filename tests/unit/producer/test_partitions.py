"""The producer chooses each record's partition, and moves an instrument when the raw topic
grows: a moved record closes the old partition, a snapshot of its book opens the new one."""

from __future__ import annotations

import zlib

import orjson

from lobstream.producer.core import ProducerCore, Record
from lobstream.records import MOVED_CHANNEL, partition_for
from tests.plugins.logcheck import LogRecord, check_chains
from tests.unit.producer.test_core import BTC, SECOND, Exchange, Log, notification

# BTC-PERPETUAL is on partition 1 of 2 and on partition 2 of 3.
BEFORE, AFTER = 2, 3


class PartitionedLog(Log):
    """The topic as one list per partition."""

    def __init__(self, core: ProducerCore) -> None:
        super().__init__(core)
        self.partitions: dict[int, list[LogRecord]] = {}

    def write(self, records: list[Record]) -> None:
        for record in records:
            partition = record.lane.partition if record.partition is None else record.partition
            self.core.enqueued(record, self.now)
            entry = LogRecord(record.lane.key, record.value, record.headers)
            self.partitions.setdefault(partition, []).append(entry)


def channel_of(record: LogRecord) -> str:
    channel: str = orjson.loads(record.value)["params"]["channel"]
    return channel


def make() -> tuple[ProducerCore, PartitionedLog, Exchange]:
    core = ProducerCore([BTC], 30 * SECOND)
    log = PartitionedLog(core)
    core.repartition(BEFORE, 1)
    return core, log, Exchange()


def test_the_partition_is_crc32_of_the_key_as_librdkafka_places_keyed_records() -> None:
    assert partition_for(BTC.encode(), 12) == zlib.crc32(BTC.encode()) % 12
    assert (partition_for(BTC.encode(), BEFORE), partition_for(BTC.encode(), AFTER)) == (1, 2)


def test_growing_moves_the_instrument_with_a_snapshot_before_its_next_change() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    for _ in range(20):
        log.feed(exchange.change())
    assert set(log.partitions) == {1}
    moving = core.repartition(AFTER, 1)
    log.write(moving)
    for _ in range(20):
        log.feed(exchange.change())
    old, new = log.partitions[1], log.partitions[2]
    # The old partition ends with the marker naming the new one; the new one starts whole.
    assert channel_of(old[-1]) == MOVED_CHANNEL
    assert orjson.loads(old[-1].value)["params"]["data"] == {"instrument_name": BTC, "partition": 2}
    first = orjson.loads(new[0].value)["params"]["data"]
    assert first["type"] == "snapshot"
    assert first["change_id"] == orjson.loads(old[-2].value)["params"]["data"]["change_id"]
    report = check_chains(new)[BTC]
    report.assert_complete()
    assert report.changes == 20
    assert core.stats.partition_moves == 1
    assert core.lanes[BTC].partition == 2


def test_a_stale_book_moves_once_whole_again() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    core.resync(BTC)
    assert core.repartition(AFTER, 1) == []
    log.feed(exchange.change())  # still the old partition: nothing whole to open the new one
    assert core.lanes[BTC].partition == 1
    log.feed(exchange.snapshot())
    log.tick(0.1)
    assert core.lanes[BTC].partition == 2
    report = check_chains(log.partitions[2])[BTC]
    report.assert_complete()


def test_a_refused_move_is_tried_again_at_the_next_tick() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    core.repartition(AFTER, 1)  # Kafka's buffer was full: nothing taken
    log.feed(exchange.change())
    assert core.lanes[BTC].partition == 1
    due = log.tick(0.1)
    assert [r.partition for r in due] == [1, 2]
    assert core.lanes[BTC].partition == 2
    assert log.tick(0.1) == []


def test_an_instrument_without_a_book_channel_moves_with_the_marker() -> None:
    core, log, _ = make()
    ticker = notification(f"ticker.{BTC}.100ms", {"instrument_name": BTC}, kind="ticker")
    log.feed(ticker)
    core.repartition(AFTER, 1)  # Kafka's buffer was full: the marker is written at the tick
    log.feed(ticker)
    log.tick(0.1)
    assert log.tick(0.1) == []
    log.feed(ticker)
    assert [channel_of(r) for r in log.partitions[1]] == [
        f"ticker.{BTC}.100ms",
        f"ticker.{BTC}.100ms",
        MOVED_CHANNEL,
    ]
    assert [channel_of(r) for r in log.partitions[2]] == [f"ticker.{BTC}.100ms"]
