"""What the consumer's loop shares with the threads that read it: metrics scrapes and ``/book``.

The Kafka loop writes the pipeline and the counters under :attr:`ConsumerState.lock`; the
collector in :mod:`lobstream.consumer.metrics` and the ``/book`` route read them under the same
lock. Nothing here knows about Kafka, so the metrics can be tested on a pipeline alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lobstream.consumer.latency import LatencyHistogram
from lobstream.consumer.pipeline import Pipeline


class ConsumerStats:
    """Plain counters of the loop; exposed at scrape time."""

    __slots__ = (
        "assignments",
        "commit_errors",
        "commits",
        "kafka_errors",
        "lag",
        "publish_errors",
        "published",
        "revocations",
    )

    def __init__(self) -> None:
        self.commits = 0
        self.commit_errors = 0
        self.published = 0
        self.publish_errors = 0
        self.kafka_errors = 0
        self.assignments = 0
        self.revocations = 0
        self.lag: dict[int, int] = {}


@dataclass(slots=True, eq=False)
class ConsumerState:
    """The pipeline, the loop's counters and the latency histogram, behind one lock."""

    pipeline: Pipeline
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    lock: threading.Lock = field(default_factory=threading.Lock)
    assigned: bool = False
    """The group has assigned this member its partitions at least once."""

    def ready(self) -> bool:
        """Assigned by the group and done replaying every assigned partition."""
        with self.lock:
            return self.assigned and self.pipeline.caught_up
