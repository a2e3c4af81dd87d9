"""Merging raw book changes into one change per interval (the ``100ms`` and ``agg2`` feeds).

Only the last amount of each touched level survives, and the action is recomputed from whether
the level existed before the interval began: a level created and removed inside one interval
disappears from the merged change altogether.
"""

from __future__ import annotations

from typing import Any


class ChangeMerger:
    """Accumulates raw change ``data`` and emits the net change since the last flush."""

    __slots__ = ("_asks", "_bids", "change_id")

    def __init__(self) -> None:
        # price -> [existed before the interval, latest amount]
        self._bids: dict[float, list[Any]] = {}
        self._asks: dict[float, list[Any]] = {}
        self.change_id: int | None = None

    def __bool__(self) -> bool:
        return self.change_id is not None

    def add(self, change: dict[str, Any]) -> None:
        _merge(self._bids, change["bids"])
        _merge(self._asks, change["asks"])
        self.change_id = change["change_id"]

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self.change_id = None

    def flush(self, prev_change_id: int, instrument: str, timestamp_ms: int) -> dict[str, Any]:
        """The merged change ``data`` chained to ``prev_change_id``; empties the merger."""
        if self.change_id is None:
            raise ValueError("nothing to flush")
        data = {
            "type": "change",
            "timestamp": timestamp_ms,
            "instrument_name": instrument,
            "change_id": self.change_id,
            "prev_change_id": prev_change_id,
            "bids": _net(self._bids),
            "asks": _net(self._asks),
        }
        self.clear()
        return data


def _merge(levels: dict[float, list[Any]], entries: list[list[Any]]) -> None:
    for action, price, amount in entries:
        level = levels.get(price)
        if level is None:
            levels[price] = [action != "new", amount]
        else:
            level[1] = amount


def _net(levels: dict[float, list[Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for price, (existed, amount) in levels.items():
        if amount:
            out.append(["change" if existed else "new", price, amount])
        elif existed:
            out.append(["delete", price, 0.0])
    return out
