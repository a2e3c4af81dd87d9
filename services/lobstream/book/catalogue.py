"""Every feature once: its typed value, its JSON key, its metric family and its live-view column.

:class:`Snapshot` is one instrument's features at one moment, typed (keyed features are dicts by
depth or window, not names like ``imbalance_5``). :data:`CATALOGUE` says, per feature, how it is
rendered; three renderers read it:

- :func:`document`: the JSON of the features topic and of ``lobstream replay``;
- :func:`metric_families`: the consumer's feature gauges (``lobstream_consumer_*``);
- :func:`columns` and :func:`column_of`: the demo's terminal view (``devtools/liveview.py``).

Adding a feature: a field on :class:`Snapshot`, filled by
:meth:`lobstream.book.features.Features.snapshot`, and one :class:`Feature` here. Nothing here
runs per message and nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

Number = float | int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One instrument's features; None where a one-sided, empty or stale book defines none."""

    best_bid: float | None
    best_ask: float | None
    best_bid_amount: float | None
    best_ask_amount: float | None
    mid: float | None
    spread: float | None
    imbalance: float | None
    depth_imbalance: dict[int, float | None]
    """Levels per side -> imbalance over that many."""
    microprice: float | None
    order_flow_imbalance: dict[str, float | None]
    """Window label (``1s``, ``500ms``) -> OFI summed over it."""
    mark_price: Any
    index_price: Any
    current_funding: Any
    funding_8h: Any
    """The ticker's fields as the exchange sent them (None until a ticker arrives)."""
    change_id: int | None
    stale: bool
    timestamp: int | None
    """The latest exchange time seen (ms), book or ticker."""


@dataclass(frozen=True, slots=True)
class Column:
    """A live-view column: ``header`` (``{key}`` for a keyed feature), width, decimals."""

    header: str
    width: int
    digits: int


@dataclass(frozen=True, slots=True)
class Feature:
    """How one :class:`Snapshot` field is rendered."""

    field: str
    json: str
    """The JSON key; a keyed feature's has ``{key}`` (``imbalance_{key}`` -> ``imbalance_5``)."""
    metric: str | None
    """The gauge family's name after the ``lobstream_`` prefix; None: not a feature metric."""
    help: str
    key_label: str | None = None
    """For a keyed feature: the metric label holding the key (``depth``, ``window``)."""
    labels: tuple[tuple[str, str], ...] = ()
    """Fixed labels, for features sharing one family (the funding rate's ``horizon``)."""
    column: Column | None = None


CATALOGUE: Final[tuple[Feature, ...]] = (
    Feature("best_bid", "best_bid", "consumer_best_bid_price", "Best bid price."),
    Feature("best_ask", "best_ask", "consumer_best_ask_price", "Best ask price."),
    Feature(
        "best_bid_amount", "best_bid_amount", "consumer_best_bid_amount", "Amount at the best bid."
    ),
    Feature(
        "best_ask_amount", "best_ask_amount", "consumer_best_ask_amount", "Amount at the best ask."
    ),
    Feature(
        "mid",
        "mid",
        "consumer_mid_price",
        "Mid price: (best bid + best ask) / 2.",
        column=Column("mid", 14, 2),
    ),
    Feature(
        "spread",
        "spread",
        "consumer_spread",
        "Best ask minus best bid.",
        column=Column("spread", 10, 2),
    ),
    Feature(
        "imbalance",
        "imbalance",
        "consumer_imbalance",
        "Order book imbalance at the best level, in [-1, 1].",
        column=Column("imbalance", 11, 3),
    ),
    Feature(
        "depth_imbalance",
        "imbalance_{key}",
        "consumer_depth_imbalance",
        "Order book imbalance over the best `depth` levels of each side, in [-1, 1].",
        key_label="depth",
    ),
    Feature(
        "microprice",
        "microprice",
        "consumer_microprice",
        "Size-weighted mid price of the best level.",
        column=Column("microprice", 14, 2),
    ),
    Feature(
        "order_flow_imbalance",
        "ofi_{key}",
        "consumer_order_flow_imbalance",
        "Order flow imbalance summed over the trailing window (amount units).",
        key_label="window",
        column=Column("ofi {key}", 12, 0),
    ),
    Feature("mark_price", "mark_price", "consumer_mark_price", "Mark price from the ticker."),
    Feature("index_price", "index_price", "consumer_index_price", "Index price from the ticker."),
    Feature(
        "current_funding",
        "current_funding",
        "consumer_funding_rate",
        "Funding rate from the ticker: instantaneous (horizon current) and over 8 hours.",
        labels=(("horizon", "current"),),
    ),
    Feature(
        "funding_8h",
        "funding_8h",
        "consumer_funding_rate",
        "Funding rate from the ticker: instantaneous (horizon current) and over 8 hours.",
        labels=(("horizon", "8h"),),
    ),
    Feature("change_id", "change_id", None, "change_id of the last book update applied."),
    Feature("stale", "stale", None, "True while the book waits for a snapshot."),
    Feature("timestamp", "timestamp", None, "The latest exchange time seen, ms."),
)


def _entries(feature: Feature, snapshot: Snapshot) -> Iterator[tuple[str | None, Any]]:
    """(key, value) of a keyed feature's entries, or (None, value) of a plain one."""
    value = getattr(snapshot, feature.field)
    if feature.key_label is None:
        yield None, value
    else:
        for key, entry in value.items():
            yield str(key), entry


# --- the features topic --------------------------------------------------------------------


def document(snapshot: Snapshot) -> dict[str, Any]:
    """The features as one flat JSON-ready object (undefined values are null)."""
    out: dict[str, Any] = {}
    for feature in CATALOGUE:
        for key, value in _entries(feature, snapshot):
            out[feature.json if key is None else feature.json.format(key=key)] = value
    return out


def record(instrument: str, snapshot: Snapshot, published_ms: int) -> dict[str, Any]:
    """One features-topic record: the instrument, its features, when it was published."""
    return {"instrument": instrument, **document(snapshot), "published_ms": published_ms}


# --- metrics -------------------------------------------------------------------------------


@dataclass(slots=True)
class Family:
    """One gauge family's samples: label values (instrument first) -> value."""

    name: str
    help: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], float] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    if type(value) is float or type(value) is int:
        return float(value)
    return None


def metric_families(snapshots: Mapping[str, Snapshot]) -> list[Family]:
    """The feature gauges of every instrument; undefined values are left out."""
    families: dict[str, Family] = {}
    for feature in CATALOGUE:
        if feature.metric is None:
            continue
        names = ("instrument", *(name for name, _ in feature.labels))
        if feature.key_label is not None:
            names += (feature.key_label,)
        family = families.get(feature.metric)
        if family is None:
            family = families[feature.metric] = Family(feature.metric, feature.help, names)
        fixed = tuple(value for _, value in feature.labels)
        for instrument, snapshot in snapshots.items():
            for key, value in _entries(feature, snapshot):
                number = _number(value)
                if number is not None:
                    labels = (instrument, *fixed) if key is None else (instrument, *fixed, key)
                    family.samples[labels] = number
    return list(families.values())


# --- the live view -------------------------------------------------------------------------


def columns() -> list[Feature]:
    """The features the live view shows, in order."""
    return [feature for feature in CATALOGUE if feature.column is not None]


def column_of(family: str) -> Feature | None:
    """The shown feature exported as gauge family ``family`` (without the prefix)."""
    return next((f for f in CATALOGUE if f.column is not None and f.metric == family), None)
