"""``lobstream record OUT``: write a live or simulated session to a file ``lobstream replay`` reads.

Connects with :class:`~lobstream.deribit.client.DeribitClient` (settings from the environment,
``LOBSTREAM_DERIBIT__*``; ``--url``/``--instruments`` override them) and writes every
subscription notification's frame exactly as received, one per line. ``OUT`` may be ``-``
(standard output) or end in ``.gz``. Stops after ``--duration`` seconds, or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import IO

from lobstream.deribit.client import DeribitClient
from lobstream.deribit.events import Disconnected, Received, Resync
from lobstream.deribit.protocol import DeribitError
from lobstream.offline.files import open_messages
from lobstream.settings import DeribitSettings, load, override

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="file to write; - for stdout; .gz compresses")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    parser.add_argument("--url", help="override LOBSTREAM_DERIBIT__URL")
    parser.add_argument("--instruments", help="override LOBSTREAM_DERIBIT__INSTRUMENTS (A,B)")


def deribit_settings(args: argparse.Namespace) -> DeribitSettings:
    """The environment's Deribit settings with the command line's overrides applied."""
    return override("deribit", load().deribit, url=args.url, instruments=args.instruments)


class Recorder:
    """Writes each received frame as one line; ``written`` counts them."""

    def __init__(self, settings: DeribitSettings, out: IO[bytes]) -> None:
        self.settings = settings
        self.out = out
        self.written = 0

    async def run(self, duration: float | None) -> None:
        """Record until ``duration`` seconds pass (or until cancelled)."""
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        async with DeribitClient(self.settings) as client:
            try:
                async with asyncio.timeout_at(deadline):
                    async for event in client:
                        if isinstance(event, Received):
                            self.out.write(event.raw)
                            self.out.write(b"\n")
                            self.written += 1
                        elif isinstance(event, Resync | Disconnected):
                            # The file holds the exchange's frames only; replay sees gaps itself.
                            log.warning("recording goes on across %s", event)
            except TimeoutError:
                pass


def run(args: argparse.Namespace) -> int:
    if args.duration is not None and args.duration <= 0:
        print("lobstream record: --duration must be > 0", file=sys.stderr)
        return 2
    settings = deribit_settings(args)
    started = time.monotonic()
    written = 0
    try:
        with open_messages(args.out, "wb") as out:
            recorder = Recorder(settings, out)
            try:
                asyncio.run(recorder.run(args.duration))
            finally:
                written = recorder.written
    except OSError as exc:
        print(f"lobstream record: {args.out}: {exc}", file=sys.stderr)
        return 1
    except DeribitError as exc:
        # Raised by the client only for what reconnecting cannot fix (credentials, raw books).
        print(f"lobstream record: the exchange refused the session: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # Ctrl-C is how an open-ended recording ends; the file is closed above.
    seconds = time.monotonic() - started
    log.info("recorded %d frames in %.1f s to %s", written, seconds, args.out)
    return 0
