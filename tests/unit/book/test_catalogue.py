"""The feature catalogue: one entry per snapshot field, and what each renderer makes of it."""

from __future__ import annotations

from dataclasses import fields

from lobstream.book.catalogue import CATALOGUE, Snapshot, columns, document, metric_families
from lobstream.book.features import Features
from lobstream.book.orderbook import OrderBook
from lobstream.settings import FeatureSettings
from tests.unit.book.book_data import NAME, snapshot

CONTRACT = {
    "consumer_best_bid_price": ("instrument",),
    "consumer_best_ask_price": ("instrument",),
    "consumer_best_bid_amount": ("instrument",),
    "consumer_best_ask_amount": ("instrument",),
    "consumer_mid_price": ("instrument",),
    "consumer_spread": ("instrument",),
    "consumer_imbalance": ("instrument",),
    "consumer_depth_imbalance": ("instrument", "depth"),
    "consumer_microprice": ("instrument",),
    "consumer_order_flow_imbalance": ("instrument", "window"),
    "consumer_mark_price": ("instrument",),
    "consumer_index_price": ("instrument",),
    "consumer_funding_rate": ("instrument", "horizon"),
}
"""The feature families of /tmp/lob/metrics-contract.md, with their labels."""


def features() -> Features:
    settings = FeatureSettings(imbalance_depths=[2, 5], ofi_windows_seconds=[0.5, 10])
    f = Features(OrderBook(NAME), settings)
    f.update(snapshot(7, [(100.0, 3), (99.5, 1)], [(100.5, 1), (101.0, 2)], ts=1_000))
    f.on_ticker(
        {"timestamp": 1_001, "mark_price": 100.2, "current_funding": 0.0, "funding_8h": 1e-4}
    )
    return f


def test_every_snapshot_field_has_exactly_one_entry() -> None:
    assert sorted(f.field for f in CATALOGUE) == sorted(f.name for f in fields(Snapshot))


def test_the_document_keeps_the_features_topic_keys_and_order() -> None:
    doc = document(features().snapshot())
    assert list(doc) == [
        "best_bid", "best_ask", "best_bid_amount", "best_ask_amount", "mid", "spread",
        "imbalance", "imbalance_2", "imbalance_5", "microprice", "ofi_500ms", "ofi_10s",
        "mark_price", "index_price", "current_funding", "funding_8h", "change_id", "stale",
        "timestamp",
    ]  # fmt: skip
    assert doc["imbalance_2"] == (4 - 3) / 7
    assert doc["index_price"] is None
    assert (doc["change_id"], doc["stale"], doc["timestamp"]) == (7, False, 1_001)


def test_metric_families_are_the_contracts() -> None:
    f = features()
    families = {fam.name: fam for fam in metric_families({NAME: f.snapshot()})}
    assert {name: fam.labels for name, fam in families.items()} == CONTRACT
    assert families["consumer_mid_price"].samples == {(NAME,): 100.25}
    assert families["consumer_depth_imbalance"].samples[(NAME, "5")] == f.imbalance_k(5)
    assert families["consumer_order_flow_imbalance"].samples == {
        (NAME, "500ms"): 0,
        (NAME, "10s"): 0,
    }
    assert families["consumer_funding_rate"].samples == {
        (NAME, "current"): 0.0,
        (NAME, "8h"): 1e-4,
    }
    # Undefined values (no index price yet) are left out, not exported as NaN.
    assert families["consumer_index_price"].samples == {}


def test_a_stale_book_exports_no_book_features() -> None:
    f = features()
    f.book.mark_stale()
    families = {fam.name: fam for fam in metric_families({NAME: f.snapshot()})}
    assert families["consumer_mid_price"].samples == {}
    assert families["consumer_depth_imbalance"].samples == {}
    assert families["consumer_mark_price"].samples == {(NAME,): 100.2}


def test_the_live_view_shows_mid_spread_imbalance_microprice_and_ofi() -> None:
    assert [f.field for f in columns()] == [
        "mid",
        "spread",
        "imbalance",
        "microprice",
        "order_flow_imbalance",
    ]
