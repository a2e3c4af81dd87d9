"""The demo's terminal view: the consumer's feature metrics as a refreshing table.

It reads what Prometheus would read (the consumer's ``/metrics``), so what the table shows is
what the metrics endpoint serves. Parsing and rendering are pure functions; :func:`fetch` is the
only I/O.
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

PREFIX = "lobstream_"


@dataclass(slots=True)
class Row:
    """One instrument's line of the table."""

    instrument: str
    mid: float | None = None
    spread: float | None = None
    imbalance: float | None = None
    microprice: float | None = None
    ofi: dict[str, float] = field(default_factory=dict)
    stale: bool | None = None
    change_id: int | None = None


@dataclass(slots=True)
class View:
    """Everything the table shows, parsed from one scrape."""

    rows: dict[str, Row] = field(default_factory=dict)
    consumed: float = 0.0
    bad: float = 0.0
    latency_p99_bucket: float | None = None


_FIELDS = {
    "mid_price": "mid",
    "spread": "spread",
    "imbalance": "imbalance",
    "microprice": "microprice",
}


def parse(text: str, prefix: str = PREFIX) -> View:
    """Read the consumer's exposition text into a :class:`View`."""
    view = View()
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removeprefix(prefix)
            labels = sample.labels
            if name == "records_consumed_total":
                view.consumed += sample.value
            elif name == "records_bad_total":
                view.bad += sample.value
            elif name == "e2e_latency_seconds_bucket":
                buckets.append((float(labels["le"]), sample.value))
            instrument = labels.get("instrument")
            if instrument is None:
                continue
            row = view.rows.get(instrument)
            if name in _FIELDS:
                row = row or view.rows.setdefault(instrument, Row(instrument))
                setattr(row, _FIELDS[name], sample.value)
            elif name == "ofi" and "window" in labels:
                row = row or view.rows.setdefault(instrument, Row(instrument))
                row.ofi[labels["window"]] = sample.value
            elif name == "book_stale":
                row = row or view.rows.setdefault(instrument, Row(instrument))
                row.stale = sample.value != 0
            elif name == "book_change_id":
                row = row or view.rows.setdefault(instrument, Row(instrument))
                row.change_id = int(sample.value)
    view.latency_p99_bucket = _quantile_bucket(buckets, 0.99)
    return view


def _quantile_bucket(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile ``q``."""
    if not buckets:
        return None
    buckets.sort()
    total = buckets[-1][1]
    if total <= 0:
        return None
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return math.inf


def _num(value: float | None, width: int, digits: int) -> str:
    if value is None or math.isnan(value):
        return "-".rjust(width)
    return f"{value:{width}.{digits}f}"


def render(view: View, *, title: str = "") -> str:
    """The table as text, one instrument a line, instruments in name order."""
    windows = sorted({w for row in view.rows.values() for w in row.ofi}, key=_window_key)
    head = f"{'instrument':<18}{'mid':>14}{'spread':>10}{'imbalance':>11}{'microprice':>14}"
    head += "".join(f"{'ofi ' + w:>12}" for w in windows) + f"{'stale':>7}"
    lines = [title, head] if title else [head]
    for name in sorted(view.rows):
        row = view.rows[name]
        line = f"{name:<18}{_num(row.mid, 14, 2)}{_num(row.spread, 10, 2)}"
        line += f"{_num(row.imbalance, 11, 3)}{_num(row.microprice, 14, 2)}"
        line += "".join(_num(row.ofi.get(w), 12, 0) for w in windows)
        stale = "-" if row.stale is None else ("yes" if row.stale else "no")
        lines.append(line + f"{stale:>7}")
    if not view.rows:
        lines.append("(waiting for the first book)")
    p99 = view.latency_p99_bucket
    p99_text = "-" if p99 is None else f"<= {p99 * 1000:g} ms"
    lines.append(
        f"records consumed {view.consumed:.0f}   bad {view.bad:.0f}   e2e latency p99 {p99_text}"
    )
    return "\n".join(lines)


def _window_key(window: str) -> float:
    try:
        return float(window.rstrip("s"))
    except ValueError:
        return math.inf


def fetch(url: str, timeout: float = 2.0) -> str:
    """One scrape of ``url``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()
