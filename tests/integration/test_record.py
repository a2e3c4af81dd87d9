"""``lobstream record`` against the project's simulator, then ``lobstream replay`` of the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

INSTRUMENT = "BTC-PERPETUAL"
BOOK_CHANNEL = f"book.{INSTRUMENT}.100ms"


def _book_subscribers(sim: RunningSimulator) -> int:
    feed = sim.call(lambda: sim.sim.feeds.get(BOOK_CHANNEL))
    return 0 if feed is None else len(feed.subscribers)


@pytest.mark.integration
def test_record_then_replay_rebuilds_the_simulators_book(tmp_path: Path) -> None:
    out = tmp_path / "session.jsonl.gz"
    with start_in_thread(instruments=[INSTRUMENT], seed=5, rate=200.0) as sim:
        env = dict(os.environ, LOBSTREAM_DERIBIT__URL=sim.url)
        recorder = subprocess.Popen(
            [sys.executable, "-m", "lobstream", "record", str(out), "--duration", "8",
             "--instruments", INSTRUMENT],
            env=env,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            # The recorder is a subprocess that takes a while to start: wait until the simulator
            # has it subscribed to the book, let some changes through, then freeze the market so
            # the recording's last state is the simulator's truth.
            deadline = time.monotonic() + 30
            while not _book_subscribers(sim):
                assert time.monotonic() < deadline, "the recorder never subscribed"
                assert recorder.poll() is None, "the recorder exited early"
                time.sleep(0.05)
            changed = sim.true_book(INSTRUMENT)[0]
            while sim.true_book(INSTRUMENT)[0] < changed + 50:
                assert time.monotonic() < deadline, "the simulator's market did not move"
                time.sleep(0.05)
            sim.pause()
            truth = sim.true_book(INSTRUMENT)
            _, stderr = recorder.communicate(timeout=60)
        finally:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait()
    assert recorder.returncode == 0, stderr.decode()
    assert b"recorded" in stderr
    done = subprocess.run(
        [sys.executable, "-m", "lobstream", "replay", str(out)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    doc = json.loads(done.stdout)
    assert doc["malformed"] == 0
    assert doc["gaps"] == 0
    assert doc["book_messages"] > 1
    values = doc["instruments"][INSTRUMENT]
    change_id, bids, asks = truth
    assert values["change_id"] == change_id
    assert values["best_bid"] == max(bids)
    assert values["best_bid_amount"] == bids[max(bids)]
    assert values["best_ask"] == min(asks)
    assert values["stale"] is False


def test_bad_duration_is_refused() -> None:
    from lobstream import cli

    assert cli.main(["record", "-", "--duration", "0"]) == 2
