"""``lobstream replay`` on recorded-style files: mixed frames, a gap and its resync, bad lines."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lobstream import cli
from lobstream.simulator.market import Market, spec_for

BTC = "book.BTC-PERPETUAL.100ms"
ETH = "book.ETH-PERPETUAL.100ms"


def note(channel: str, data: Any) -> str:
    doc = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    return json.dumps(doc)


def book(
    kind: str, name: str, ts: int, change_id: int, bids: Any, asks: Any, prev: Any = None
) -> str:
    data = {"type": kind, "timestamp": ts, "instrument_name": name, "change_id": change_id,
            "bids": bids, "asks": asks}  # fmt: skip
    if kind == "change":
        data["prev_change_id"] = prev
    return note(f"book.{name}.100ms", data)


SESSION = [
    '{"jsonrpc":"2.0","id":1,"result":"ok","usIn":1,"usOut":2,"usDiff":1,"testnet":false}',
    json.dumps({"jsonrpc": "2.0", "id": 2, "result": [BTC, ETH]}),
    book("snapshot", "BTC-PERPETUAL", 900, 100,
         [["new", 60000.0, 100.0], ["new", 59999.5, 50.0]],
         [["new", 60000.5, 80.0], ["new", 60001.0, 20.0]]),
    '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}',
    book("snapshot", "ETH-PERPETUAL", 900, 500, [["new", 3000.0, 10.0]], [["new", 3000.05, 30.0]]),
    book("change", "BTC-PERPETUAL", 1000, 101, [["change", 60000.0, 120.0]], [], prev=100),
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":',
    "",
    note("ticker.BTC-PERPETUAL.100ms", {"timestamp": 1200, "mark_price": 60000.3,
         "index_price": 59990.1, "current_funding": 0.0001, "funding_8h": 0.0002}),
    # ETH skips a change: a gap; the next change is ignored; then the resync snapshot.
    book("change", "ETH-PERPETUAL", 1000, 502, [["change", 3000.0, 11.0]], [], prev=501),
    book("change", "ETH-PERPETUAL", 1100, 503, [["change", 3000.0, 12.0]], [], prev=502),
    "[1, 2, 3]",
    book("snapshot", "ETH-PERPETUAL", 1300, 600, [["new", 2999.95, 5.0]], [["new", 3000.0, 7.0]]),
    book("change", "ETH-PERPETUAL", 1400, 601, [], [["new", 3000.05, 3.0]], prev=600),
    book("change", "BTC-PERPETUAL", 1500, 102, [], [["delete", 60000.5, 0.0]], prev=101),
    note("trades.BTC-PERPETUAL.100ms", [{"price": 60000.5, "amount": 80.0}]),
]  # fmt: skip


def check_session(doc: dict[str, Any]) -> None:
    assert doc["messages"] == 15
    assert doc["book_messages"] == 8
    assert doc["ticker_messages"] == 1
    assert doc["skipped"] == 3
    assert doc["malformed"] == 2
    assert doc["ignored"] == 1
    assert doc["gaps"] == 1
    assert doc["seconds"] >= 0
    btc = doc["instruments"]["BTC-PERPETUAL"]
    assert btc["best_bid"] == 60000.0
    assert btc["best_bid_amount"] == 120.0
    assert btc["best_ask"] == 60001.0
    assert btc["best_ask_amount"] == 20.0
    assert btc["mid"] == 60000.5
    assert btc["spread"] == 1.0
    assert btc["imbalance"] == pytest.approx(100 / 140)
    assert btc["imbalance_5"] == pytest.approx(150 / 190)
    assert btc["imbalance_10"] == pytest.approx(150 / 190)
    assert btc["microprice"] == pytest.approx(60000 + 120 / 140)
    # +20 (bid queue grew at 60000) and +80 (the best ask at 60000.5 went away)
    assert btc["ofi_1s"] == 100
    assert btc["ofi_10s"] == 100
    assert btc["mark_price"] == 60000.3
    assert btc["funding_8h"] == 0.0002
    assert btc["change_id"] == 102
    assert btc["stale"] is False
    eth = doc["instruments"]["ETH-PERPETUAL"]
    assert eth["best_bid"] == 2999.95
    assert eth["best_ask"] == 3000.0
    assert eth["imbalance"] == pytest.approx(-2 / 12)
    assert eth["microprice"] == pytest.approx((2999.95 * 7 + 3000.0 * 5) / 12)
    assert eth["ofi_10s"] == 0  # the resync jump is not order flow
    assert eth["change_id"] == 601
    assert eth["stale"] is False
    assert eth["mark_price"] is None


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    path = tmp_path / "session.jsonl"
    path.write_text("\n".join(SESSION) + "\n")
    return path


@pytest.mark.integration
def test_replay_command_prints_the_final_state(session_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lobstream", "replay", str(session_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check_session(json.loads(done.stdout))


@pytest.mark.integration
def test_replay_reads_standard_input(session_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lobstream", "replay", "-"],
        input=session_file.read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check_session(json.loads(done.stdout))


def test_replay_gzip_with_every(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "session.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write("\n".join(SESSION) + "\n")
    assert cli.main(["replay", str(path), "--every", "5"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["messages"] for d in docs[:-1]] == [5, 10, 15]
    # After 5 messages (two results, a heartbeat) both books hold only their snapshots.
    assert docs[0]["instruments"]["BTC-PERPETUAL"]["best_bid_amount"] == 100.0
    assert docs[0]["instruments"]["ETH-PERPETUAL"]["best_ask_amount"] == 30.0
    # After 10 messages ETH is stale (the gap), so it claims nothing.
    assert docs[1]["instruments"]["ETH-PERPETUAL"]["stale"] is True
    assert docs[1]["instruments"]["ETH-PERPETUAL"]["mid"] is None
    check_session(docs[-1])


def test_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_replay_of_a_simulated_stream_matches_the_true_book(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markets = [Market(spec_for(name), seed=11) for name in ("BTC-PERPETUAL", "ETH-PERPETUAL")]
    lines = [note(f"book.{m.name}.raw", m.snapshot(0)) for m in markets]
    for step in range(1, 3001):
        market = markets[step % 2]
        lines.append(note(f"book.{market.name}.raw", market.step(step).change))
    path = tmp_path / "sim.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert cli.main(["replay", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gaps"] == 0
    for market in markets:
        change_id, bids, asks = market.true_book()
        values = doc["instruments"][market.name]
        assert values["change_id"] == change_id
        assert values["best_bid"] == max(bids)
        assert values["best_bid_amount"] == bids[max(bids)]
        assert values["best_ask"] == min(asks)
        assert values["best_ask_amount"] == asks[min(asks)]
