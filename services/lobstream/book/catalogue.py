"""The consumer's read side of features: metric values and the features-topic JSON document.

Both are built from :meth:`lobstream.book.features.Features.values`, once per scrape or publish,
never per message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lobstream.book.features import window_label

if TYPE_CHECKING:
    from lobstream.consumer.pipeline import InstrumentState

SCALARS = {
    "mid": "mid_price",
    "spread": "spread",
    "best_bid": "best_bid_price",
    "best_ask": "best_ask_price",
    "best_bid_amount": "best_bid_amount",
    "best_ask_amount": "best_ask_amount",
    "imbalance": "imbalance",
    "microprice": "microprice",
    "mark_price": "mark_price",
    "index_price": "index_price",
    "current_funding": "funding_current",
    "funding_8h": "funding_8h",
}
"""Feature name -> metric name (without prefix) of the single-valued features."""


@dataclass(slots=True)
class FeatureValues:
    """One instrument's features as numbers; undefined ones are absent."""

    scalars: dict[str, float] = field(default_factory=dict)
    imbalance: dict[str, float] = field(default_factory=dict)
    """Depth (as text) -> imbalance over that many levels."""
    ofi: dict[str, float] = field(default_factory=dict)
    """Window label (``1s``, ``500ms``) -> order flow imbalance over it."""


def _number(value: Any) -> float | None:
    if type(value) is float or type(value) is int:
        return float(value)
    return None


def feature_values(state: InstrumentState) -> FeatureValues:
    """The numbers the metrics export for one instrument."""
    features = state.features
    values = features.values()
    out = FeatureValues()
    for name, metric in SCALARS.items():
        number = _number(values.get(name))
        if number is not None:
            out.scalars[metric] = number
    for depth in features.depths:
        number = _number(values.get(f"imbalance_{depth}"))
        if number is not None:
            out.imbalance[str(depth)] = number
    for seconds in features.ofi_windows:
        label = window_label(seconds)
        number = _number(values.get(f"ofi_{label}"))
        if number is not None:
            out.ofi[label] = number
    return out


def feature_document(state: InstrumentState) -> dict[str, Any]:
    """The features-topic record of one instrument (JSON-ready; undefined values are null)."""
    doc: dict[str, Any] = {"instrument": state.name}
    doc.update(state.features.values())
    doc["published_ms"] = time.time_ns() // 1_000_000
    return doc
