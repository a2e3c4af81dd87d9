"""The producer packing as charts/lobstream/README.md states it, written out independently of the
template: the chart tests compare what helm renders with it."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import defaultdict
from typing import Any

from tests.chart.helm import RELEASE

DEFAULT_BUDGET = 24


def producer_name(unit: str, fullname: str = RELEASE) -> str:
    """``<fullname>-producer-<slug>``; a name over 63 characters is cut and given a hash."""
    slug = re.sub(r"[^a-z0-9-]", "-", unit.lower().replace("_", "-"))
    name = f"{fullname}-producer-{slug}"
    if len(name) > 63:
        name = name[:54].rstrip("-") + "-" + hashlib.sha256(unit.encode()).hexdigest()[:8]
    return name


def expected_producers(
    instruments: list[Any], budget: int = DEFAULT_BUDGET
) -> dict[str, list[str]]:
    """Deployment name -> its instruments (sorted), for a values list of instruments."""
    groups: dict[str, list[str]] = defaultdict(list)
    ungrouped: list[str] = []
    for entry in instruments:
        name = entry if isinstance(entry, str) else entry["name"]
        group = None if isinstance(entry, str) else entry.get("group")
        if group:
            groups[group].append(name)
        else:
            ungrouped.append(name)
    units: dict[str, list[str]] = {producer_name(g): sorted(n) for g, n in groups.items()}
    if len(groups) + len(ungrouped) <= budget:
        units.update({producer_name(name): [name] for name in ungrouped})
        return units
    buckets = budget - len(groups)
    packed: dict[str, list[str]] = defaultdict(list)
    for name in ungrouped:
        digest = hashlib.sha256(name.encode()).hexdigest().encode()
        packed[producer_name(f"bucket-{zlib.adler32(digest) % buckets:02d}")].append(name)
    units.update({unit: sorted(names) for unit, names in packed.items()})
    return units


def many(count: int) -> list[str]:
    """``count`` distinct instrument names shaped like Deribit's options."""
    strikes = range(10_000, 200_000, 1_000)
    expiries = [
        f"{day}{month}{year}"
        for year in (26, 27)
        for month in ("MAR", "JUN", "SEP", "DEC")
        for day in (27, 28)
    ]
    names = [f"BTC-{e}-{k}-{side}" for e in expiries for k in strikes for side in ("C", "P")]
    assert len(names) >= count
    return names[:count]
