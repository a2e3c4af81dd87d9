"""What one producer connection costs: CPU and memory of ``lobstream producer`` with N instruments
on one WebSocket, at the public feed's ceiling (``book.<name>.100ms`` and ``ticker.<name>.100ms``,
10 notifications a second each per instrument), against ``lobstream simulate`` and a real broker.

For each N (default 1 and 50): the simulator (its own process, not measured) at ``--rate`` changes
per second per instrument, enough that nearly every 100 ms window has a change; the producer as a
subprocess; after a warm-up, the producer's CPU seconds (utime + stime from /proc) over the
window divided by its length, its resident memory at the end and its peak, and the frames and
records per second from its own /metrics. Writes benchmarks/results/producer-load.json (which
docs/capacity.md quotes) and prints it.

Run it alone: ``flock /tmp/lobstream-bench.lock .venv/bin/python benchmarks/producer_load.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from lobstream.devtools.localkafka import free_ports

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import _spawn, _stop, broker, start_simulator
from run import stamp

RESULTS = Path(__file__).resolve().parent / "results" / "producer-load.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) in KiB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {key: int(status[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def metric_sum(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def names(count: int) -> list[str]:
    return [f"BTC-{day}{month}27" for month in ("MAR", "JUN") for day in range(1, 29)][:count]


def measure(
    bootstrap: str, count: int, rate: float, warmup: float, seconds: float, logs: Path
) -> dict[str, Any]:
    instruments = names(count)
    sim_port, producer_port = free_ports(2)
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOBSTREAM_")}
    simulator = start_simulator(sim_port, instruments, rate, base, logs / f"sim-{count}.log")
    producer = None
    try:
        env = {
            **base,
            "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "LOBSTREAM_KAFKA__RAW_TOPIC": f"bench.load.{uuid.uuid4().hex[:8]}",
            "LOBSTREAM_DERIBIT__URL": f"ws://127.0.0.1:{sim_port}/ws/api/v2",
            "LOBSTREAM_DERIBIT__INSTRUMENTS": ",".join(instruments),
            "LOBSTREAM_DERIBIT__CHANNELS": "book,ticker",
            "LOBSTREAM_METRICS__HOST": "127.0.0.1",
            "LOBSTREAM_METRICS__PORT": str(producer_port),
        }
        producer = _spawn(["producer"], env, logs / f"producer-{count}.log")
        time.sleep(warmup)
        if producer.poll() is not None:
            raise RuntimeError(f"the producer exited; see {logs}")
        frames0 = metric_sum(producer_port, "lobstream_producer_exchange_frames_total")
        records0 = metric_sum(producer_port, "lobstream_producer_records_produced_total")
        cpu0, began = cpu_seconds(producer.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, ended = cpu_seconds(producer.pid), time.monotonic()
        frames1 = metric_sum(producer_port, "lobstream_producer_exchange_frames_total")
        records1 = metric_sum(producer_port, "lobstream_producer_records_produced_total")
        memory = memory_kib(producer.pid)
    finally:
        if producer is not None:
            _stop(producer)
        _stop(simulator)
    wall = ended - began
    return {
        "instruments": count,
        "seconds": round(wall, 1),
        "cpu_share_of_one_core": round((cpu1 - cpu0) / wall, 4),
        "rss_mib": round(memory["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(memory["VmHWM"] / 1024, 1),
        "frames_per_second": round((frames1 - frames0) / wall, 1),
        "records_per_second": round((records1 - records0) / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", default="1,50", help="comma-separated counts")
    parser.add_argument("--rate", type=float, default=50.0, help="changes/s per instrument")
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--logs", type=Path, default=Path("/tmp/lobstream-producer-load"))
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    results = []
    with broker() as bootstrap:
        for count in (int(n) for n in args.instruments.split(",")):
            results.append(
                measure(bootstrap, count, args.rate, args.warmup, args.seconds, args.logs)
            )
    doc = {
        **stamp(args.note),
        "load_average": os.getloadavg(),
        "rate_per_instrument": args.rate,
        "seconds": args.seconds,
        "results": results,
    }
    # One result document per run, quoted by docs/capacity.md (benchmarks/figures.py).
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
