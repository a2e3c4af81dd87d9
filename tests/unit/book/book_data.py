"""Deribit book notification ``data`` for the book and feature tests."""

from __future__ import annotations

from typing import Any

NAME = "BTC-PERPETUAL"


def snapshot(change_id: int, bids: list[Any], asks: list[Any], ts: int = 0) -> dict[str, Any]:
    """An incremental-channel snapshot from ``(price, amount)`` pairs."""
    return {
        "type": "snapshot",
        "timestamp": ts,
        "instrument_name": NAME,
        "change_id": change_id,
        "bids": [["new", p, a] for p, a in bids],
        "asks": [["new", p, a] for p, a in asks],
    }
