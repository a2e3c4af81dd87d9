"""``lobstream consumer`` as a real subprocess; a writer of raw-topic records with a known truth.

- ``consumer_factory(env)``: a :class:`~tests.plugins.service.ServiceProcess` running
  ``lobstream consumer`` with fast commits and publishing.
- :class:`RawWriter`: writes the simulator's seeded markets into the raw topic exactly as the
  producer does (same record format, headers, keys), so a test knows the true book of every
  instrument at every moment without a WebSocket in the way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from lobstream import kafka
from lobstream.consumer.service import ensure_pipeline_topics
from lobstream.records import exchange_headers, snapshot_record
from lobstream.settings import KafkaSettings
from lobstream.simulator.market import Market, spec_for
from tests.plugins.kafka import kafka_env
from tests.plugins.service import Book, ServiceFactory, ServiceProcess

ConsumerFactory = Callable[[Mapping[str, str]], ServiceProcess]

FAST_CONSUMER_ENV = {
    "LOBSTREAM_CONSUMER__COMMIT_INTERVAL_SECONDS": "0.2",
    "LOBSTREAM_FEATURES__PUBLISH_INTERVAL_SECONDS": "0.5",
}


@pytest.fixture
def consumer_factory(service_factory: ServiceFactory) -> ConsumerFactory:
    """``factory(env) -> ServiceProcess`` running ``lobstream consumer`` (fast commits)."""
    return lambda env: service_factory("consumer", {**FAST_CONSUMER_ENV, **env})


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
