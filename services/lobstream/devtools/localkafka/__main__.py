"""``python -m lobstream.devtools.localkafka fetch|start``: cache Kafka's jars, or run a broker."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from lobstream.devtools.localkafka.broker import BrokerError, LocalKafka
from lobstream.devtools.localkafka.jars import KAFKA_VERSION, ToolError, cache_dir, fetch

EXIT_TOOL = 3
EXIT_BROKER = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lobstream.devtools.localkafka", description=__doc__
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help=f"cache Kafka {KAFKA_VERSION}'s jars (Maven Central)")
    start = sub.add_parser("start", help="run a single-node broker until Ctrl-C or SIGTERM")
    start.add_argument("--secure", action="store_true", help="add a SASL_SSL SCRAM listener")
    start.add_argument("--heap-mb", type=int, default=384, help="JVM heap (default 384)")
    return parser


def _fetch() -> int:
    began = time.monotonic()
    jars = fetch()
    took = time.monotonic() - began
    print(f"Kafka {KAFKA_VERSION}: {len(jars)} jars in {cache_dir()} ({took:.1f}s)")
    return 0


def _start(secure: bool, heap_mb: int) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with LocalKafka(secure=secure, heap_mb=heap_mb) as kafka:
        print(f"bootstrap servers: {kafka.bootstrap_servers}")
        if secure:
            print(f"SASL_SSL (SCRAM-SHA-512) bootstrap servers: {kafka.secure_bootstrap_servers}")
            print(f"CA file: {kafka.ca_file}")
            for name, password in kafka.users.items():
                print(f"user: {name} password: {password}")
        print(f"broker pid: {kafka.pid}; log: {kafka.log_file}")
        print(f"started in {kafka.startup_seconds:.1f}s; Ctrl-C stops", flush=True)
        while not stop.wait(1.0):
            if not kafka.running:
                print("the broker exited:\n" + kafka.log_tail(), file=sys.stderr)
                return EXIT_BROKER
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "fetch":
            return _fetch()
        return _start(args.secure, args.heap_mb)
    except ToolError as exc:
        print(f"lobstream.devtools.localkafka: {exc}", file=sys.stderr)
        return EXIT_TOOL
    except BrokerError as exc:
        print(f"lobstream.devtools.localkafka: {exc}", file=sys.stderr)
        return EXIT_BROKER


if __name__ == "__main__":
    sys.exit(main())
