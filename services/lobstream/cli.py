"""The ``lobstream`` command: one entry point, one subcommand per service.

Each subcommand lives in its own module, which exposes ``configure(parser)`` to add its
arguments and ``run(args) -> int`` to run. Modules are imported only when their subcommand is
chosen, so ``lobstream replay`` does not pay for Kafka or WebSockets.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from lobstream import __version__, logs
from lobstream.settings import SettingsError

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("lobstream.simulator.command", "serve a Deribit-protocol exchange"),
    "producer": ("lobstream.producer.service", "stream Deribit notifications into Kafka"),
    "consumer": ("lobstream.consumer.service", "Kafka -> book -> features -> Prometheus metrics"),
    "replay": (
        "lobstream.offline.replay",
        "run a file of Deribit messages through book and features",
    ),
    "record": ("lobstream.offline.record", "write a live or simulated session to a file"),
    "demo": ("lobstream.devtools.demo", "run simulator, broker, producer and consumer locally"),
}

EXIT_BAD_SETTING = 2


class Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> Command:
    return cast(Command, importlib.import_module(COMMANDS[name][0]))


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lobstream", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lobstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for name, (_, summary) in COMMANDS.items():
        child = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            _load(name).configure(child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    logs.install()
    try:
        return _load(args.command).run(args)
    except SettingsError as exc:
        print(f"lobstream: invalid setting {exc.setting}: {exc.reason}", file=sys.stderr)
        return EXIT_BAD_SETTING
    except KeyboardInterrupt:
        return 130
