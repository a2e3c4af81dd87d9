"""``lobstream simulate``: serve the Deribit protocol from seeded synthetic markets."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from lobstream.simulator.market import InstrumentSpec
from lobstream.simulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Simulator,
)

log = logging.getLogger("lobstream.simulator")


def _instruments(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("at least one instrument")
    return names


def _spec(text: str) -> InstrumentSpec:
    try:
        name, tick, lot, price = text.split(":")
        return InstrumentSpec(
            name, float(tick), float(lot), float(price), name.split("-", 1)[0] or "USD"
        )
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:TICK:LOT:PRICE") from None


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--instruments", type=_instruments, default=["BTC-PERPETUAL", "ETH-PERPETUAL"]
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rate", type=float, default=50.0, help="book changes per second per instrument"
    )
    parser.add_argument("--levels", type=int, default=300, help="price levels per side")
    parser.add_argument(
        "--instrument-spec",
        type=_spec,
        action="append",
        default=[],
        metavar="NAME:TICK:LOT:PRICE",
        help="tick size, contract size and initial price of an instrument (repeatable)",
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--token-ttl", type=_positive, default=900.0, help="expires_in seconds")
    parser.add_argument(
        "--min-heartbeat",
        type=_positive,
        default=10.0,
        help="smallest public/set_heartbeat interval accepted (TEST ONLY: Deribit's is 10)",
    )
    parser.add_argument("--max-queue", type=int, default=10_000, help="frames per connection")
    parser.add_argument("--max-connections", type=int, default=32, help="per client IP")
    parser.add_argument("--agg2-ms", type=int, default=1_000, help="agg2 interval, ms")
    faults = parser.add_argument_group("periodic faults (seconds between injections)")
    faults.add_argument("--fault-drop-every", type=_positive, metavar="S")
    faults.add_argument("--fault-gap-every", type=_positive, metavar="S", help="each instrument")
    faults.add_argument("--fault-stall-every", type=_positive, metavar="S")
    faults.add_argument("--fault-stall-seconds", type=_positive, default=5.0, metavar="S")
    faults.add_argument("--fault-malformed-every", type=_positive, metavar="S")
    faults.add_argument("--fault-reject-every", type=_positive, metavar="S")
    faults.add_argument("--fault-reject-method", default="public/subscribe")
    faults.add_argument("--fault-maintenance-every", type=_positive, metavar="S")


def run(args: argparse.Namespace) -> int:
    asyncio.run(_serve(args))
    return 0


def _periodic(args: argparse.Namespace, instruments: list[str]) -> list[tuple[str, float, Any]]:
    plans: list[tuple[str, float, Any]] = []
    if args.fault_drop_every:
        plans.append(("drop", args.fault_drop_every, {}))
    if args.fault_gap_every:
        for name in instruments:
            plans.append(("gap", args.fault_gap_every, {"instrument_name": name}))
    if args.fault_stall_every:
        plans.append(("stall", args.fault_stall_every, {"seconds": args.fault_stall_seconds}))
    if args.fault_malformed_every:
        plans.append(("malformed", args.fault_malformed_every, {}))
    if args.fault_reject_every:
        plans.append(("reject", args.fault_reject_every, {"method": args.fault_reject_method}))
    if args.fault_maintenance_every:
        plans.append(("maintenance", args.fault_maintenance_every, {"active": True}))
    return plans


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        args.instruments,
        seed=args.seed,
        rate=args.rate,
        levels=args.levels,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_ttl=args.token_ttl,
        min_heartbeat=args.min_heartbeat,
        max_queue=args.max_queue,
        max_connections=args.max_connections,
        agg2_ms=args.agg2_ms,
        specs={spec.name: spec for spec in args.instrument_spec},
    )
    await sim.start(args.host, args.port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = [
        loop.create_task(sim.faults.periodic(kind, every, params))
        for kind, every, params in _periodic(args, args.instruments)
    ]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await sim.stop()
