"""End-to-end benchmark through a real Kafka broker: exchange frame received -> features updated.

Two measurements, both with the consumer's real loop
(:class:`lobstream.consumer.service.ConsumerService`, ``consume()`` batches, book, features,
commits) running in this process:

- throughput: the raw topic is preloaded with a cached stream of distinct raw book changes and
  tickers (``benchmarks/stream.py``, profile ``raw``), then one consumer reads it all; the rate is
  records applied per second between its first and its last batch. Target >= 200,000/s.
- latency: ``lobstream simulate`` (subprocess) at ``--latency-rate`` raw book changes per second
  in total, the real ``lobstream producer`` (subprocess, raw subscription) and the consumer here.
  Each record's latency is the consumer's "features updated" time minus the producer's
  ``lobstream.received_ns`` header (the moment the WebSocket frame was received), so it covers
  the producer, librdkafka's linger, the broker and the consumer's fetch and apply. The first
  seconds (subscription, group join) are left out. Target p99 < 10 ms at 2,000 msgs/s.

A broker named by LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS is used; otherwise a LocalKafka is started.
Prints one JSON document (``--json``) or a short report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from lobstream import kafka
from lobstream.consumer.service import ConsumerService, ensure_pipeline_topics
from lobstream.devtools.localkafka import LocalKafka, free_ports, port_open
from lobstream.records import HEADER_RECEIVED_NS, exchange_headers
from lobstream.settings import Settings, load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks import e2e_problems
from stream import INSTRUMENTS, ensure_stream, load_lines

SIM_CLIENT_ID = "lobstream-sim"
SIM_CLIENT_SECRET = "lobstream-sim-secret"


@contextlib.contextmanager
def broker() -> Iterator[str]:
    configured = os.environ.get("LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with LocalKafka() as local:
        yield local.bootstrap_servers


def settings_for(bootstrap: str, **consumer: Any) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return load(
        kafka={
            "bootstrap_servers": bootstrap,
            "raw_topic": f"bench.raw.{suffix}",
            "features_topic": f"bench.features.{suffix}",
            "group_id": f"bench-{suffix}",
            "raw_topic_partitions": 2,
        },
        consumer=consumer,
    )


class Timed:
    """Runs a ConsumerService in a thread and notes when its batches were applied.

    With ``sample_latency`` it also keeps every record's receive-to-applied latency (ns) in
    ``samples``, for exact quantiles; the service itself samples one record a batch.
    """

    def __init__(self, service: ConsumerService, *, sample_latency: bool = False) -> None:
        self.service = service
        self.first: float | None = None
        self.first_batch = 0
        self.last = 0.0
        self.target = 0
        self.reached = threading.Event()
        self.stop = threading.Event()
        self.samples = array("q")
        apply_batch = service._apply_batch
        pipeline = service.state.pipeline

        def timed(messages: list[Any]) -> None:
            if self.first is None:
                self.first = time.perf_counter()
                self.first_batch = len(messages)
            apply_batch(messages)
            self.last = time.perf_counter()
            if sample_latency:
                self._sample(messages, time.time_ns())
            if self.target and pipeline.records >= self.target:
                self.reached.set()

        service._apply_batch = timed  # type: ignore[method-assign]
        self.thread = threading.Thread(target=service.run, args=(self.stop,), daemon=True)

    def _sample(self, messages: list[Any], done_ns: int) -> None:
        for message in messages:
            for name, value in message.headers() or ():
                if name == HEADER_RECEIVED_NS:
                    self.samples.append(max(done_ns - int(value), 0))
                    break

    def __enter__(self) -> Timed:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def commit_start(settings: Settings) -> None:
    """Commit offset 0 for the group, so the consumer reads everything as new records."""
    config = kafka.consumer_config(settings.kafka)
    consumer = Consumer(config)
    try:
        topic = settings.kafka.raw_topic
        parts = [TopicPartition(topic, p, 0) for p in range(settings.kafka.raw_topic_partitions)]
        consumer.commit(offsets=parts, asynchronous=False)
    finally:
        consumer.close()


def throughput(bootstrap: str, stream: Path) -> dict[str, Any]:
    lines = load_lines(stream)
    settings = settings_for(bootstrap, batch_size=10_000)
    ensure_pipeline_topics(settings.kafka)
    producer = Producer(kafka.producer_config(settings.kafka, **{"linger.ms": 50}))
    written = 0
    for line in lines:
        doc = orjson.loads(line)
        if doc.get("method") != "subscription":
            continue
        channel = doc["params"]["channel"]
        key = channel.split(".")[1].encode()
        while True:
            try:
                producer.produce(
                    settings.kafka.raw_topic,
                    line,
                    key,
                    headers=exchange_headers(channel, time.time_ns()),
                )
                break
            except BufferError:
                producer.poll(0.1)
        written += 1
    assert producer.flush(120) == 0, "preload not delivered"
    commit_start(settings)
    service = ConsumerService(settings)
    with Timed(service) as timed:
        timed.target = written
        if not timed.reached.wait(600):
            raise RuntimeError(
                f"only {service.state.pipeline.records} of {written} records applied"
            )
    assert timed.first is not None
    seconds = timed.last - timed.first
    counted = written - timed.first_batch
    return {
        "records": written,
        "applied": service.state.pipeline.records,
        "seconds": round(seconds, 3),
        "rate": round(counted / seconds),
        "target_rate": 200_000,
        **soundness(service),
    }


def soundness(service: ConsumerService) -> dict[str, int]:
    """Book gaps and refused records: both 0 on a sound run (checked by checks.e2e_problems)."""
    pipeline = service.state.pipeline
    return {
        "gaps": sum(state.book.stats.gaps for state in pipeline.instruments.values()),
        "bad": sum(pipeline.bad.total.values()),
    }


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lobstream", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def start_simulator(
    port: int, instruments: list[str], rate: float, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """``lobstream simulate`` on ``port`` at ``rate`` changes/s per instrument, once it listens."""
    simulator = _spawn(
        [
            "simulate",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--instruments",
            ",".join(instruments),
            "--rate",
            str(rate),
        ],
        env,
        log,
    )
    deadline = time.monotonic() + 60
    while not port_open(port):
        if time.monotonic() > deadline or simulator.poll() is not None:
            _stop(simulator)
            raise RuntimeError(f"simulator did not start; see {log}")
        time.sleep(0.1)
    return simulator


def latency(
    bootstrap: str, rate: float, seconds: float, warmup: float, logs: Path
) -> dict[str, Any]:
    settings = settings_for(bootstrap, batch_size=1_000, poll_timeout_seconds=0.1)
    ensure_pipeline_topics(settings.kafka)
    sim_port, producer_port = free_ports(2)
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOBSTREAM_")}
    per_instrument = rate / len(INSTRUMENTS)
    simulator = start_simulator(sim_port, INSTRUMENTS, per_instrument, base, logs / "simulator.log")
    producer: subprocess.Popen[bytes] | None = None
    service = ConsumerService(settings)
    try:
        env = {
            **base,
            "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "LOBSTREAM_KAFKA__RAW_TOPIC": settings.kafka.raw_topic,
            "LOBSTREAM_KAFKA__RAW_TOPIC_PARTITIONS": "2",
            "LOBSTREAM_KAFKA__LINGER_MS": "1",
            "LOBSTREAM_DERIBIT__URL": f"ws://127.0.0.1:{sim_port}/ws/api/v2",
            "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(INSTRUMENTS),
            "LOBSTREAM_DERIBIT__CLIENT_ID": SIM_CLIENT_ID,
            "LOBSTREAM_DERIBIT__CLIENT_SECRET": SIM_CLIENT_SECRET,
            "LOBSTREAM_DERIBIT__BOOK_INTERVAL": "raw",
            "LOBSTREAM_METRICS__HOST": "127.0.0.1",
            "LOBSTREAM_METRICS__PORT": str(producer_port),
        }
        with Timed(service, sample_latency=True) as timed:
            producer = _spawn(["producer"], env, logs / "producer.log")
            deadline = time.monotonic() + 90
            while timed.first is None:
                if time.monotonic() > deadline or producer.poll() is not None:
                    raise RuntimeError(f"no records reached the consumer; see {logs}")
                time.sleep(0.1)
            time.sleep(warmup)
            skip = len(timed.samples)
            records_before = service.state.pipeline.records
            began = time.perf_counter()
            time.sleep(seconds)
            samples = list(timed.samples[skip:])
            measured = time.perf_counter() - began
            records = service.state.pipeline.records - records_before
    finally:
        if producer is not None:
            _stop(producer)
        _stop(simulator)
    if not samples:
        raise RuntimeError("no latency samples")
    samples.sort()

    def pct(q: float) -> float:
        return round(samples[min(len(samples) - 1, int(q * len(samples)))] / 1e6, 3)

    return {
        "rate_asked": rate,
        "rate_seen": round(records / measured),
        "seconds": round(measured, 3),
        "samples": len(samples),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(samples[-1] / 1e6, 3),
        "mean_ms": round(statistics.fmean(samples) / 1e6, 3),
        "target_p99_ms": 10.0,
        **soundness(service),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000, help="throughput stream size")
    parser.add_argument("--stream", type=Path, default=None, help="a cached raw stream to use")
    parser.add_argument("--latency-rate", type=float, default=2_000.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--skip", choices=("throughput", "latency"), action="append", default=[])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--logs", type=Path, default=None, help="directory for subprocess logs")
    args = parser.parse_args(argv)
    logs = args.logs or Path(os.environ.get("TMPDIR", "/tmp")) / f"lobstream-e2e-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"suite": "e2e"}
    with broker() as bootstrap:
        if "throughput" not in args.skip:
            stream = args.stream or ensure_stream(args.messages, 7, "raw")
            result["throughput"] = throughput(bootstrap, stream)
        if "latency" not in args.skip:
            result["latency"] = latency(
                bootstrap, args.latency_rate, args.latency_seconds, args.warmup, logs
            )
    result["problems"] = e2e_problems(result)
    if args.json:
        print(json.dumps(result))
    else:
        print(report(result))
    for problem in result["problems"]:
        print(f"wrong answer: {problem}", file=sys.stderr)
    return 1 if result["problems"] else 0


def report(result: dict[str, Any]) -> str:
    lines = ["end to end (exchange frame received -> features updated, real Kafka broker)"]
    if "throughput" in result:
        t = result["throughput"]
        lines.append(
            f"  throughput through one consumer: {t['rate']:,} records/s "
            f"({t['records']:,} records in {t['seconds']} s; target >= 200,000/s)"
        )
    if "latency" in result:
        lat = result["latency"]
        lines.append(
            f"  latency at {lat['rate_seen']:,} msgs/s: p50 {lat['p50_ms']} ms, "
            f"p90 {lat['p90_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms "
            f"({lat['samples']:,} records; target p99 < 10 ms)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
