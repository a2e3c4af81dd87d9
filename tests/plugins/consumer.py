"""``lobstream consumer`` as a real subprocess; a writer of raw-topic records with a known truth.

- :class:`ConsumerProcess`: start it with settings as environment variables, read ``/book``,
  ``/metrics``, ``/readyz``; signal it; read its log. ``consumer_factory`` starts them for a test
  and kills whatever still runs afterwards.
- :class:`RawWriter`: writes the simulator's seeded markets into the raw topic exactly as the
  producer does (same record format, headers, keys), so a test knows the true book of every
  instrument at every moment without a WebSocket in the way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from lobstream import kafka
from lobstream.consumer.service import ensure_pipeline_topics
from lobstream.records import exchange_headers, snapshot_record
from lobstream.settings import KafkaSettings
from lobstream.simulator.market import Market, spec_for

# Imported before pytest loads it as a plugin: keep its asserts rewritten.
pytest.register_assert_rewrite("tests.plugins.producer")
from tests.plugins.producer import ProducerProcess, kafka_env  # noqa: E402

Book = tuple[int | None, dict[float, float], dict[float, float]]
ConsumerFactory = Callable[..., "ConsumerProcess"]

FAST_CONSUMER_ENV = {
    "LOBSTREAM_CONSUMER__COMMIT_INTERVAL_SECONDS": "0.2",
    "LOBSTREAM_FEATURES__PUBLISH_INTERVAL_SECONDS": "0.5",
}


class ConsumerProcess(ProducerProcess):
    """One ``python -m lobstream consumer`` (the producer's helper, with another command)."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        super().__init__({**FAST_CONSUMER_ENV, **env}, log_path, command="consumer")

    def book(self, instrument: str) -> dict[str, Any] | None:
        """The consumer's ``/book`` of ``instrument``; None if it does not hold it."""
        status, body = self.get(f"/book?instrument={instrument}")
        if status != 200:
            return None
        doc: dict[str, Any] = orjson.loads(body)
        return doc

    def book_state(self, instrument: str) -> Book | None:
        doc = self.book(instrument)
        if doc is None:
            return None
        return (
            doc["change_id"],
            {price: amount for price, amount in doc["bids"]},
            {price: amount for price, amount in doc["asks"]},
        )

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def wait_book(self, instrument: str, truth: Callable[[], Book], timeout: float = 90.0) -> Book:
        """Wait until the consumer's book has the truth's change_id; returns both for comparing."""
        seen: list[Book | None] = [None]

        def reached() -> bool:
            seen[0] = self.book_state(instrument)
            return seen[0] is not None and seen[0][0] == truth()[0]

        self.wait_until(reached, timeout, f"{instrument} at change_id {truth()[0]}")
        book = seen[0]
        assert book is not None
        return book


@pytest.fixture
def consumer_factory(tmp_path: Path) -> Iterator[ConsumerFactory]:
    """``factory(env) -> ConsumerProcess``; every consumer is killed after the test."""
    started: list[ConsumerProcess] = []

    def factory(env: Mapping[str, str]) -> ConsumerProcess:
        process = ConsumerProcess(env, tmp_path / f"consumer-{len(started)}.log")
        started.append(process)
        return process

    yield factory
    for process in started:
        process.close()


def frame(channel: str, data: Any) -> bytes:
    """A subscription notification frame as the exchange sends it."""
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    )


class RawWriter:
    """Writes seeded simulator markets into the raw topic; ``truth(name)`` is the true book."""

    def __init__(self, settings: KafkaSettings, instruments: list[str], seed: int = 1) -> None:
        self.settings = settings
        self.topic = settings.raw_topic
        ensure_pipeline_topics(settings)
        self.markets = {name: Market(spec_for(name), seed) for name in instruments}
        self.producer = Producer(kafka.producer_config(settings))
        self.clock_ms = int(time.time() * 1000)
        self.written = 0

    def _produce(self, key: bytes | None, value: bytes | None, headers: Any = None) -> None:
        self.producer.produce(self.topic, value, key, headers=headers)
        self.written += 1
        if self.written % 5000 == 0:
            self.producer.poll(0)

    def exchange_snapshots(self) -> None:
        """Each instrument's subscription snapshot, as the exchange sends it first."""
        for name, market in self.markets.items():
            channel = f"book.{name}.100ms"
            value = frame(channel, market.snapshot(self._tick()))
            self._produce(name.encode(), value, exchange_headers(channel, time.time_ns()))

    def producer_snapshot(self, name: str) -> None:
        """A snapshot record written by the producer (source header ``snapshot``)."""
        channel = f"book.{name}.100ms"
        value, headers = snapshot_record(
            channel, self.markets[name].snapshot(self._tick()), time.time_ns()
        )
        self._produce(name.encode(), value, headers)

    def changes(self, steps: int, *, tickers_every: int = 50) -> None:
        """``steps`` book changes per instrument, interleaved, with a ticker now and then."""
        for step in range(steps):
            now = self._tick()
            for name, market in self.markets.items():
                channel = f"book.{name}.100ms"
                value = frame(channel, market.step(now).change)
                self._produce(name.encode(), value, exchange_headers(channel, time.time_ns()))
                if tickers_every and step % tickers_every == 0:
                    channel = f"ticker.{name}.100ms"
                    value = frame(channel, market.ticker(now))
                    self._produce(name.encode(), value, exchange_headers(channel, time.time_ns()))

    def raw(self, key: bytes | None, value: bytes | None) -> None:
        """Any record at all (bad ones included), without headers."""
        self._produce(key, value)

    def flush(self) -> None:
        remaining = self.producer.flush(30)
        assert remaining == 0, f"{remaining} records not delivered"

    def truth(self, name: str) -> Book:
        return self.markets[name].true_book()

    def _tick(self) -> int:
        self.clock_ms += 1
        return self.clock_ms


@pytest.fixture
def consumer_env(kafka_settings: KafkaSettings) -> dict[str, str]:
    """The environment a consumer of ``kafka_settings``' topics and group needs."""
    return kafka_env(kafka_settings)
