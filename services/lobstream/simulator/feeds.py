"""One feed per subscribable channel: what it sends, and when. No I/O of its own.

A feed turns market events and interval ticks into notification frames and hands each frame, encoded
once, to every subscriber's bounded ``send``. Feeds with an interval publish from ``tick``; ``raw``
feeds publish from ``on_event``, once per book change.
"""

from __future__ import annotations

from typing import Any, Protocol

from lobstream.simulator.market import Market, MarketEvent
from lobstream.simulator.merge import ChangeMerger
from lobstream.simulator.rpc import notification


class Subscriber(Protocol):
    def send(self, text: str) -> None: ...


class Feed:
    """A channel and its subscribers; subclasses decide what to publish."""

    needs_auth = False
    per_event = False  # wants on_event for every market step

    def __init__(self, channel: str, interval_ms: int | None) -> None:
        self.channel = channel
        self.interval_ms = interval_ms  # None: raw, published per event
        self.subscribers: set[Subscriber] = set()
        self.needs_auth = interval_ms is None

    def add(self, subscriber: Subscriber, timestamp_ms: int) -> None:
        self.subscribers.add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def active(self) -> bool:
        """Has subscribers (or subscribers waiting for their first notification)."""
        return bool(self.subscribers)

    def idle(self) -> None:
        """The last subscriber left: drop whatever was accumulated for the next publication."""

    def on_event(self, event: MarketEvent, timestamp_ms: int) -> None:
        """Called for every market step while the feed has subscribers (if ``per_event``)."""

    def tick(self, timestamp_ms: int) -> None:
        """Called every ``interval_ms`` while the feed has subscribers."""

    def publish(self, data: Any) -> None:
        text = notification(self.channel, data)
        for subscriber in self.subscribers:
            subscriber.send(text)


class BookFeed(Feed):
    """``book.{instrument}.{interval}``: a snapshot on subscribe, then chained changes.

    ``raw`` sends every change as the market made it. ``100ms``/``agg2`` merge the changes of one
    interval per price level; a new subscriber's snapshot waits for the next flush, so that it
    carries exactly the ``change_id`` the next merged change will chain to.
    """

    per_event = True

    def __init__(self, channel: str, interval_ms: int | None, market: Market) -> None:
        super().__init__(channel, interval_ms)
        self.market = market
        self.merger = ChangeMerger()
        self.pending: set[Subscriber] = set()
        self.last_published = market.change_id
        self.skip_next = False  # a gap fault: lose the next change notification

    def add(self, subscriber: Subscriber, timestamp_ms: int) -> None:
        if self.interval_ms is None:
            subscriber.send(notification(self.channel, self.market.snapshot(timestamp_ms)))
            self.subscribers.add(subscriber)
        else:
            self.pending.add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self.pending.discard(subscriber)

    def active(self) -> bool:
        return bool(self.subscribers or self.pending)

    def on_event(self, event: MarketEvent, timestamp_ms: int) -> None:
        if self.interval_ms is not None:
            self.merger.add(event.change)
        elif self.skip_next:
            self.skip_next = False
        else:
            self.publish(event.change)

    def tick(self, timestamp_ms: int) -> None:
        if self.merger:
            data = self.merger.flush(self.last_published, self.market.name, timestamp_ms)
            self.last_published = data["change_id"]
            if self.skip_next:
                self.skip_next = False
            else:
                self.publish(data)
        if self.pending:
            text = notification(self.channel, self.market.snapshot(timestamp_ms))
            for subscriber in self.pending:
                subscriber.send(text)
            self.subscribers |= self.pending
            self.pending.clear()
            self.last_published = self.market.change_id

    def idle(self) -> None:
        self.merger.clear()
        self.last_published = self.market.change_id


class GroupedBookFeed(Feed):
    """``book.{instrument}.{group}.{depth}.{interval}``: the full top-``depth`` book each tick."""

    def __init__(
        self, channel: str, interval_ms: int, market: Market, group: str, depth: int
    ) -> None:
        super().__init__(channel, interval_ms)
        self.market = market
        self.group = group
        self.depth = depth

    def tick(self, timestamp_ms: int) -> None:
        self.publish(self.market.grouped(self.group, self.depth, timestamp_ms))


class TickerFeed(Feed):
    """``ticker.{instrument}.{interval}``: the ticker each tick, or after every change (raw)."""

    def __init__(self, channel: str, interval_ms: int | None, market: Market) -> None:
        super().__init__(channel, interval_ms)
        self.market = market
        self.per_event = interval_ms is None

    def on_event(self, event: MarketEvent, timestamp_ms: int) -> None:
        self.publish(self.market.ticker(timestamp_ms))

    def tick(self, timestamp_ms: int) -> None:
        self.publish(self.market.ticker(timestamp_ms))


class TradesFeed(Feed):
    """``trades.{instrument}.{interval}``: the trades of each interval (or each event), if any."""

    per_event = True

    def __init__(self, channel: str, interval_ms: int | None) -> None:
        super().__init__(channel, interval_ms)
        self.buffer: list[dict[str, Any]] = []

    def on_event(self, event: MarketEvent, timestamp_ms: int) -> None:
        if not event.trades:
            return
        if self.interval_ms is None:
            self.publish(event.trades)
        else:
            self.buffer.extend(event.trades)

    def tick(self, timestamp_ms: int) -> None:
        if self.buffer:
            self.publish(self.buffer)
            self.buffer = []

    def idle(self) -> None:
        self.buffer = []


class PlatformStateFeed(Feed):
    """``platform_state``: published only when maintenance is announced or lifted."""

    def __init__(self) -> None:
        super().__init__("platform_state", 0)
        self.needs_auth = False
