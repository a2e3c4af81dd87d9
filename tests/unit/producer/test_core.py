"""The producer's decisions, without I/O: what goes into the log, and how a lost record is repaired.

A list stands in for the topic; the chain checker of tests/plugins/logcheck.py judges it, so these
tests also pin down the checker's verdicts.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from lobstream.deribit.events import Received
from lobstream.producer.core import ProducerCore, Record
from tests.plugins.logcheck import LogRecord, check_chains
from tests.plugins.records import read_headers

BTC = "BTC-PERPETUAL"
CHANNEL = f"book.{BTC}.100ms"
SECOND = 1_000_000_000


Event = Received


def notification(channel: str, data: Any, kind: str = "book", received_ns: int = 1) -> Event:
    raw = orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    )
    instrument = data.get("instrument_name") if isinstance(data, dict) else None
    return Event(channel, kind, instrument, data, raw, received_ns)


class Exchange:
    """A tiny random book stream for one instrument: a snapshot, then chained changes."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.change_id = 1000
        self.bids = {100.0 - i: 10.0 * (i + 1) for i in range(5)}
        self.asks = {101.0 + i: 10.0 * (i + 1) for i in range(5)}

    def snapshot(self) -> Event:
        self.change_id += 3
        data = {
            "type": "snapshot",
            "timestamp": self.change_id,
            "instrument_name": BTC,
            "change_id": self.change_id,
            "bids": [["new", p, a] for p, a in sorted(self.bids.items(), reverse=True)],
            "asks": [["new", p, a] for p, a in sorted(self.asks.items())],
        }
        return notification(CHANNEL, data)

    def change(self, skip: bool = False) -> Event:
        prev = self.change_id
        self.change_id += self.rng.randint(1, 4)
        if skip:
            prev -= 1
        side, levels = self.rng.choice([("bids", self.bids), ("asks", self.asks)])
        price = self.rng.choice(list(levels))
        amount = float(self.rng.randint(1, 50) * 10)
        levels[price] = amount
        data = {
            "type": "change",
            "timestamp": self.change_id,
            "instrument_name": BTC,
            "change_id": self.change_id,
            "prev_change_id": prev,
            "bids": [["change", price, amount]] if side == "bids" else [],
            "asks": [["change", price, amount]] if side == "asks" else [],
        }
        return notification(CHANNEL, data)


class Log:
    """The topic as a list, and a clock."""

    def __init__(self, core: ProducerCore) -> None:
        self.core = core
        self.records: list[LogRecord] = []
        self.now = 0

    def write(self, records: list[Record]) -> None:
        for record in records:
            self.core.enqueued(record, self.now)
            self.records.append(LogRecord(record.lane.key, record.value, record.headers))

    def feed(self, event: Event) -> list[Record]:
        records = self.core.received(event, self.now)
        self.write(records)
        return records

    def tick(self, seconds: float) -> list[Record]:
        self.now += int(seconds * SECOND)
        due = self.core.snapshots_due(self.now, 1)
        self.write(due)
        return due


def make(interval: float = 30.0) -> tuple[ProducerCore, Log, Exchange]:
    core = ProducerCore([BTC], int(interval * SECOND))
    return core, Log(core), Exchange()


def test_exchange_frames_go_to_the_log_byte_for_byte_keyed_by_instrument() -> None:
    core, log, exchange = make()
    events = [exchange.snapshot()] + [exchange.change() for _ in range(50)]
    for event in events:
        log.feed(event)
    assert [r.value for r in log.records] == [e.raw for e in events]
    assert {r.key for r in log.records} == {BTC.encode()}
    meta = read_headers(log.records[0].headers)
    assert (meta.channel, meta.source, meta.received_ns) == (CHANNEL, b"exchange", 1)
    report = check_chains(log.records)[BTC]
    report.assert_complete()
    assert report.changes == 50
    assert core.stats.instruments[BTC].produced == 51
    assert core.stats.instruments[BTC].received == {"book": 51}


def test_periodic_snapshot_equals_the_book_replayed_from_the_log() -> None:
    core, log, exchange = make(interval=10)
    log.feed(exchange.snapshot())
    assert log.tick(5) == []  # the exchange snapshot restarted the interval
    for _ in range(30):
        log.feed(exchange.change())
    written = log.tick(5)
    assert len(written) == 1
    assert written[0].written
    assert log.tick(9) == []
    assert len(log.tick(1)) == 1
    report = check_chains(log.records)[BTC]
    report.assert_complete()
    assert report.producer_snapshots == 2
    data = orjson.loads(written[0].value)["params"]["data"]
    assert data["change_id"] == exchange.change_id
    assert {p: a for _, p, a in data["bids"]} == exchange.bids
    assert {p: a for _, p, a in data["asks"]} == exchange.asks
    assert core.stats.instruments[BTC].snapshots_written == 2


def test_a_dropped_change_is_repaired_by_a_snapshot_before_the_next_change() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    for _ in range(10):
        log.feed(exchange.change())
    lost = core.received(exchange.change(), log.now)
    assert len(lost) == 1
    core.dropped(lost[0])
    after = log.feed(exchange.change())
    assert [r.written for r in after] == [True, False]
    for _ in range(10):
        log.feed(exchange.change())
    report = check_chains(log.records)[BTC]
    report.assert_sound()
    # The repair snapshot jumps over the dropped change: a break, repaired where it happened.
    assert [(b.index, b.repaired_by) for b in report.breaks] == [(11, 11)]
    assert report.book is not None
    assert report.book.levels() == (exchange.bids, exchange.asks)
    stats = core.stats.instruments[BTC]
    assert (stats.dropped, stats.repairs, stats.snapshots_written) == (1, 1, 1)


def test_a_failed_delivery_breaks_the_chain_and_a_repair_snapshot_follows() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    log.feed(exchange.change())
    lost = core.received(exchange.change(), log.now)
    for record in lost:
        core.enqueued(record, log.now)  # handed to Kafka, then lost
    for _ in range(3):
        log.feed(exchange.change())
    core.delivery_failed(BTC.encode())
    report = check_chains(log.records)[BTC]
    assert len(report.unrepaired) == 1
    assert len(log.tick(0.1)) == 1  # the repair does not wait for the next notification
    for _ in range(3):
        log.feed(exchange.change())
    report = check_chains(log.records)[BTC]
    report.assert_sound()
    assert len(report.breaks) == 1
    assert report.book is not None
    assert report.book.levels() == (exchange.bids, exchange.asks)
    assert core.stats.instruments[BTC].delivery_failures == 1


def test_a_dropped_ticker_needs_no_repair_but_any_failed_delivery_gets_one() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    ticker = notification(f"ticker.{BTC}.100ms", {"instrument_name": BTC}, kind="ticker")
    core.dropped(core.received(ticker, log.now)[0])
    assert log.tick(0.1) == []  # not part of the book chain
    # Delivery reports carry no headers: a failure may have been a book record.
    core.delivery_failed(BTC.encode())
    assert [r.repair for r in log.tick(0.1)] == [True]
    stats = core.stats.instruments[BTC]
    assert (stats.dropped, stats.delivery_failures, stats.repairs) == (1, 1, 1)
    assert stats.received == {"book": 1, "ticker": 1}


def test_a_stale_book_writes_no_snapshot_until_the_exchange_resends_one() -> None:
    core, log, exchange = make(interval=1)
    log.feed(exchange.snapshot())
    log.feed(exchange.change())
    log.feed(exchange.change(skip=True))  # the exchange skipped an update
    log.feed(exchange.change())
    assert log.tick(5) == []  # our book is stale: a snapshot of it would be a lie
    assert core.stats.instruments[BTC].gaps == 1
    log.feed(exchange.snapshot())  # what the client's resync brings
    log.feed(exchange.change())
    report = check_chains(log.records)[BTC]
    report.assert_sound()
    assert [b.index for b in report.breaks] == [2]
    assert report.breaks[0].repaired_by == 4
    assert report.exchange_snapshots == 2


def test_notifications_without_instrument_are_keyed_by_channel() -> None:
    _, log, _ = make()
    records = log.feed(notification("platform_state", {"maintenance": True}, kind="other"))
    assert records[0].lane.key == b"platform_state"
    assert records[0].lane.book is None
    assert log.tick(60) == []


def test_subscribed_once_every_instrument_spoke_since_the_last_connect() -> None:
    core, log, exchange = make()
    core.connected()
    assert not core.subscribed
    log.feed(exchange.snapshot())
    assert core.subscribed
    core.disconnected()
    assert not core.subscribed
    core.connected()
    log.feed(exchange.snapshot())
    assert core.subscribed
    assert (core.stats.connects, core.stats.disconnects) == (2, 1)


def test_a_delivery_acknowledged_without_an_offset_is_repaired_and_counted() -> None:
    core, log, exchange = make()
    log.feed(exchange.snapshot())
    log.feed(exchange.change())
    # Acknowledged implicitly: the report said success, but the record never reached the log.
    for record in core.received(exchange.change(), log.now):
        core.enqueued(record, log.now)
    core.unconfirmed(BTC.encode())
    for _ in range(3):
        log.feed(exchange.change())
    report = check_chains(log.records)[BTC]
    report.assert_sound()
    assert len(report.breaks) == 1
    assert report.breaks[0].repaired_by is not None
    assert report.book is not None
    assert report.book.levels() == (exchange.bids, exchange.asks)
    stats = core.stats.instruments[BTC]
    assert (stats.unconfirmed, stats.delivered, stats.delivery_failures) == (1, 0, 0)
    assert (stats.repairs, stats.snapshots_written) == (1, 1)
