"""Exchange frame received (producer) to features updated (consumer): the latency histogram.

:meth:`LatencyHistogram.observe` is the only metrics code on the consumer's loop (a bisect over a
dozen bucket bounds, once per batch); :meth:`LatencyHistogram.family` runs at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from prometheus_client.metrics_core import HistogramMetricFamily

from lobstream.records import HEADER_RECEIVED_NS
from lobstream.telemetry import Family

LATENCY_BOUNDS_SECONDS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BOUNDS_NS = [int(bound * 1e9) for bound in LATENCY_BOUNDS_SECONDS]


class LatencyHistogram:
    """Receive-to-features-updated latency, in fixed buckets."""

    __slots__ = ("buckets", "count", "sum_ns")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_BOUNDS_NS) + 1)
        self.count = 0
        self.sum_ns = 0

    def observe(self, latency_ns: int) -> None:
        if latency_ns < 0:
            latency_ns = 0  # clocks of two processes on one host; never negative in a bucket
        self.buckets[bisect_left(_BOUNDS_NS, latency_ns)] += 1
        self.count += 1
        self.sum_ns += latency_ns

    def observe_header(self, headers: list[tuple[str, Any]] | None, done_ns: int) -> None:
        """Observe ``done_ns`` minus a record's receive-time header (if it has one)."""
        for name, value in headers or ():
            if name == HEADER_RECEIVED_NS and type(value) is bytes:
                try:
                    self.observe(done_ns - int(value))
                except ValueError:
                    return
                return

    def family(self, spec: Family) -> HistogramMetricFamily:
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(LATENCY_BOUNDS_SECONDS, self.buckets, strict=False):
            running += n
            cumulative.append((_le(bound), running))
        cumulative.append(("+Inf", self.count))
        return spec.histogram(cumulative, self.sum_ns / 1e9)


def _le(bound: float) -> str:
    return repr(float(bound))
