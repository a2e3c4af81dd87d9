"""The demo's terminal view: the consumer's feature metrics as a refreshing table.

Its columns are the feature catalogue's (:func:`lobstream.book.catalogue.columns`).

It reads what Prometheus would read (the consumer's ``/metrics``), so what the table shows is
what the metrics endpoint serves. Parsing and rendering are pure functions; :func:`fetch` is the
only I/O.
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from lobstream.book.catalogue import Column, column_of, columns

PREFIX = "lobstream_"
# Refused notifications that are not wrong: a re-delivery or a producer's periodic snapshot of a
# state already applied (duplicate), or a change that arrived while the book awaited a snapshot
# (stale). The alert rules leave them out too (LobstreamBadMessages).
HARMLESS_REASONS = frozenset({"duplicate", "stale"})


@dataclass(slots=True)
class Row:
    """One instrument's line of the table."""

    instrument: str
    values: dict[str, float] = field(default_factory=dict)
    """Column header (``mid``, ``ofi 1s``) -> value, for the catalogue's shown features."""
    stale: bool | None = None
    change_id: int | None = None


@dataclass(slots=True)
class View:
    """Everything the table shows, parsed from one scrape."""

    rows: dict[str, Row] = field(default_factory=dict)
    consumed: float = 0.0
    bad: float = 0.0
    """What is wrong, as the LobstreamBad* alerts count it: records, notifications (other than
    the harmless reasons) and book entries the consumer refused."""
    already_applied: float = 0.0
    """Notifications of a state the book already had: re-deliveries and periodic snapshots."""
    latency_p99_bucket: float | None = None


def parse(text: str, prefix: str = PREFIX) -> View:
    """Read the consumer's exposition text into a :class:`View`."""
    view = View()
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        shown = column_of(family.name.removeprefix(prefix))
        for sample in family.samples:
            name = sample.name.removeprefix(prefix)
            labels = sample.labels
            if name == "consumer_records_applied_total":
                view.consumed += sample.value
            elif name == "consumer_messages_rejected_total":
                if labels.get("reason") == "duplicate":
                    view.already_applied += sample.value
                elif labels.get("reason") not in HARMLESS_REASONS:
                    view.bad += sample.value
            elif name in (
                "consumer_records_rejected_total",
                "consumer_book_entries_rejected_total",
            ):
                view.bad += sample.value
            elif name == "consumer_e2e_latency_seconds_bucket":
                buckets.append((float(labels["le"]), sample.value))
            instrument = labels.get("instrument")
            if instrument is None:
                continue
            if shown is not None and shown.column is not None:
                key = labels.get(shown.key_label or "", "")
                header = shown.column.header.format(key=key)
                _row(view, instrument).values[header] = sample.value
            elif name == "consumer_book_stale":
                _row(view, instrument).stale = sample.value != 0
            elif name == "consumer_book_change_id":
                _row(view, instrument).change_id = int(sample.value)
    view.latency_p99_bucket = _quantile_bucket(buckets, 0.99)
    return view


def _row(view: View, instrument: str) -> Row:
    row = view.rows.get(instrument)
    if row is None:
        row = view.rows[instrument] = Row(instrument)
    return row


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
    shown: list[tuple[str, Column]] = []
    for feature in columns():
        column = feature.column
        assert column is not None
        if feature.key_label is None:
            shown.append((column.header, column))
        else:
            keys = {h for row in view.rows.values() for h in row.values if _keyed(column, h)}
            shown.extend((h, column) for h in sorted(keys, key=_window_key))
    head = f"{'instrument':<18}" + "".join(f"{h:>{c.width}}" for h, c in shown) + f"{'stale':>7}"
    lines = [title, head] if title else [head]
    for name in sorted(view.rows):
        row = view.rows[name]
        line = f"{name:<18}"
        line += "".join(_num(row.values.get(h), c.width, c.digits) for h, c in shown)
        stale = "-" if row.stale is None else ("yes" if row.stale else "no")
        lines.append(line + f"{stale:>7}")
    if not view.rows:
        lines.append("(waiting for the first book)")
    p99 = view.latency_p99_bucket
    p99_text = "-" if p99 is None else f"<= {p99 * 1000:g} ms"
    lines.append(
        f"records consumed {view.consumed:.0f}   bad {view.bad:.0f}   "
        f"already applied {view.already_applied:.0f}   e2e latency p99 {p99_text}"
    )
    return "\n".join(lines)


def _keyed(column: Column, header: str) -> bool:
    before, _, after = column.header.partition("{key}")
    return header.startswith(before) and header.endswith(after)


def _window_key(header: str) -> float:
    window = header.rsplit(" ", 1)[-1]
    try:
        return float(window.rstrip("s"))
    except ValueError:
        return math.inf


def fetch(url: str, timeout: float = 2.0) -> str:
    """One scrape of ``url``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()
