"""``lobstream simulate`` as a real process: it starts, serves, injects periodic faults, stops."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.plugins.simulator import RawClient

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def simulate() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    command = [
        *(sys.executable, "-m", "lobstream", "simulate"),
        *("--port", str(port), "--instruments", "BTC-PERPETUAL,SOL-PERPETUAL"),
        *("--instrument-spec", "SOL-PERPETUAL:0.01:1:150", "--rate", "100"),
        *("--fault-gap-every", "0.5"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process, f"ws://127.0.0.1:{port}/ws/api/v2"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


async def connect_when_up(url: str, process: subprocess.Popen[bytes]) -> RawClient:
    for _ in range(600):  # poll the port with a deadline
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return await RawClient.connect(url)
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("simulator did not come up within 30 s")


async def test_simulate_serves_the_instruments_with_periodic_gaps_and_stops_on_sigterm(
    simulate: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = simulate
    async with await connect_when_up(url, process) as client:
        instruments = await client.result("public/get_instruments", {"currency": "any"})
        assert {i["instrument_name"]: i["tick_size"] for i in instruments} == {
            "BTC-PERPETUAL": 0.5,
            "SOL-PERPETUAL": 0.01,
        }
        channel = "book.SOL-PERPETUAL.100ms"
        await client.result("public/subscribe", {"channels": [channel]})
        last = (await client.notification(channel))["change_id"]
        gaps = 0
        for _ in range(600):
            data = await client.notification(channel)
            gaps += data["prev_change_id"] != last
            last = data["change_id"]
            if gaps == 2:
                break
        assert gaps == 2
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_simulate_rejects_a_bad_argument() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lobstream", "simulate", "--instrument-spec", "X:1"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"NAME:TICK:LOT:PRICE" in result.stderr
