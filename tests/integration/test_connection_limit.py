"""Deribit's 32 connections per address, on one address (loopback) against the simulator's limit.

40 instruments through two budgeted producers (20 each, one connection each) reach the consumer
as the true books with no 429. The same 40 with one connection each: the 33rd and later are
refused with HTTP 429, and a refused producer says so (metric, log line, /readyz) while backing
off, then subscribes once a connection is free. The first 38 one-connection sessions are real
DeribitClients on one event loop (the session a one-instrument producer runs, without its Kafka
half) so the test does not need 40 processes on 2 cores; the last two are producer processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from lobstream.deribit.client import DeribitClient
from lobstream.settings import DeribitSettings, KafkaSettings
from tests.plugins.consumer import ConsumerFactory
from tests.plugins.kafka import kafka_env
from tests.plugins.producer import ProducerFactory
from tests.plugins.service import ServiceProcess
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

INSTRUMENTS = [f"BTC-{day}DEC26" for day in range(1, 41)]
PER_ADDRESS = 32  # Deribit's limit, the simulator's default
LIMITED = "lobstream_producer_exchange_connections_limited_total"
RATE_LIMITED_FLOOR = 3.0  # seconds: the producers' back-off floor after a 429


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    # A low rate: the point is 40 books over few connections, not throughput.
    with start_in_thread(instruments=INSTRUMENTS, seed=5, rate=10.0) as sim:
        assert sim.sim.max_connections == PER_ADDRESS
        yield sim


def producer_env(
    sim: RunningSimulator, kafka: KafkaSettings, instruments: list[str]
) -> dict[str, str]:
    return {
        **kafka_env(kafka),
        "LOBSTREAM_DERIBIT__URL": sim.url,
        "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(instruments),
        "LOBSTREAM_DERIBIT__CHANNELS": "book",
        "LOBSTREAM_DERIBIT__BACKOFF_INITIAL_SECONDS": "0.1",
        # The back-off's cap also caps the floor (Backoff.next_delay), so it sits above it here.
        "LOBSTREAM_DERIBIT__BACKOFF_MAX_SECONDS": str(RATE_LIMITED_FLOOR + 1),
        "LOBSTREAM_DERIBIT__BACKOFF_RATE_LIMITED_SECONDS": str(RATE_LIMITED_FLOOR),
        "LOBSTREAM_PRODUCER__SNAPSHOT_INTERVAL_SECONDS": "5",
    }


def test_forty_instruments_on_two_connections_equal_the_truth_without_429(
    simulator: RunningSimulator,
    kafka_settings: KafkaSettings,
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    halves = [INSTRUMENTS[:20], INSTRUMENTS[20:]]
    producers = [producer_factory(producer_env(simulator, kafka_settings, half)) for half in halves]
    for producer in producers:
        producer.wait_until(producer.ready, 90, "the producer subscribed to its 20 instruments")
    consumer = consumer_factory(kafka_env(kafka_settings))
    consumer.wait_until(consumer.ready, 90, "the consumer ready")
    simulator.pause()
    try:
        for name in INSTRUMENTS:
            truth = simulator.true_book(name)
            book = consumer.wait_book(name, lambda name=name: simulator.true_book(name))
            assert book == truth, f"{name}: the consumer's book differs from the truth"
    finally:
        simulator.resume()
    assert simulator.stats()["connections_refused"] == 0
    for producer in producers:
        assert producer.metric(LIMITED) == 0
        assert producer.metric("lobstream_producer_connects_total") == 1


class Sessions:
    """One-instrument DeribitClients on their own event loop in a thread, each draining its
    events as a producer would."""

    def __init__(self, sim: RunningSimulator, instruments: list[str]) -> None:
        self._loop = asyncio.new_event_loop()
        self.clients = [
            DeribitClient(
                DeribitSettings(
                    url=sim.url,
                    instruments=[name],
                    channels=["book"],
                    backoff_initial_seconds=0.1,
                    backoff_max_seconds=1.0,
                    backoff_rate_limited_seconds=RATE_LIMITED_FLOOR,
                )
            )
            for name in instruments
        ]
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._start())

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _start(self) -> None:
        for client in self.clients:
            client.start()
            asyncio.get_running_loop().create_task(self._drain(client))

    @staticmethod
    async def _drain(client: DeribitClient) -> None:
        async for _ in client:
            pass

    def ready(self) -> int:
        return sum(client.ready for client in self.clients)

    def limited(self) -> int:
        return sum(client.stats.rate_limited > 0 for client in self.clients)

    def close(self, clients: list[DeribitClient]) -> None:
        async def close() -> None:
            await asyncio.gather(*(c.close() for c in clients))

        self._run(close())

    def stop(self) -> None:
        self.close(self.clients)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def refused(producer: ServiceProcess) -> float:
    return producer.metric(LIMITED) or 0.0


def test_forty_one_connection_producers_are_refused_beyond_32_and_say_so(
    simulator: RunningSimulator, kafka_settings: KafkaSettings, producer_factory: ProducerFactory
) -> None:
    sessions = Sessions(simulator, INSTRUMENTS[:38])
    try:
        deadline = time.monotonic() + 60
        while not (sessions.ready() == PER_ADDRESS and sessions.limited() == 38 - PER_ADDRESS):
            assert time.monotonic() < deadline, (
                f"32 sessions subscribed and 6 refused, saw {sessions.ready()} and "
                f"{sessions.limited()}"
            )
            time.sleep(0.2)
        producers = [
            producer_factory(producer_env(simulator, kafka_settings, [name]))
            for name in INSTRUMENTS[38:]
        ]
        for producer in producers:
            producer.wait_until(lambda p=producer: refused(p) >= 2, 60, "two refusals with 429")
            assert producer.get("/readyz")[0] == 503
            assert producer.metric("lobstream_producer_ready") == 0
            assert producer.metric("lobstream_producer_connects_total") == 0
        # Backing off, not spinning: over a window of three floors, at most four attempts. The
        # sleep is the measurement window itself, not a wait for something to happen.
        before = [refused(p) for p in producers]
        window = 3 * RATE_LIMITED_FLOOR
        time.sleep(window)
        for producer, seen in zip(producers, before, strict=True):
            assert refused(producer) - seen <= window / RATE_LIMITED_FLOOR + 1
            log = producer.log_path.read_text()
            assert "refused the connection with HTTP 429: too many connections" in log
            assert log.count("HTTP 429") == 1, "one line per burst, not one per attempt"
        # The refused sessions give up and two subscribed ones close: the two producers get the
        # free connections and subscribe.
        waiting = [c for c in sessions.clients if not c.ready]
        sessions.close(waiting + [c for c in sessions.clients if c.ready][:2])
        for producer in producers:
            producer.wait_until(producer.ready, 60, "the producer subscribed once a slot freed")
            assert producer.metric("lobstream_producer_connects_total") == 1
    finally:
        sessions.stop()
