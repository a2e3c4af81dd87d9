"""From a decoded exchange frame to the instrument's book and features. No I/O.

Two things live here once, for the consumer's pipeline, ``lobstream replay`` and the benchmark:

- :func:`subscription` (from :mod:`lobstream.deribit.protocol`, where the exchange client's
  classifier uses it too) reads the notification envelope: ``(channel, data)`` of a
  ``subscription`` frame, or :class:`NotNotification` saying whether the frame was another
  well-formed message (a heartbeat, a call result) or malformed;
- :class:`Router` holds one :class:`~lobstream.book.features.Features` per instrument and
  decides, once per channel name, where its data goes. The rule: the first book channel seen for
  an instrument (incremental or grouped) feeds its book; notifications of another book channel of
  that instrument are counted as ``ignored``, as are the instrument channels the features do not
  use (trades, quote, perpetual); ticker data goes to the instrument's features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from lobstream.book.features import Features, Value
from lobstream.book.orderbook import Applied, OrderBook
from lobstream.deribit.protocol import NotNotification, parse_channel, subscription
from lobstream.settings import FeatureSettings

MAX_ROUTES: Final = 10_000
"""Channel names remembered; a stream full of junk names must not grow memory without bound."""

# Route kinds.
BOOK: Final = "book"
TICKER: Final = "ticker"
IGNORED: Final = "ignored"
"""A known instrument channel whose data the features do not use (or a second book channel)."""
PLATFORM: Final = "platform_state"
UNKNOWN: Final = "unknown"
"""A channel name that names no instrument channel lobstream knows."""

__all__ = ["NotNotification", "Route", "Router", "subscription"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where one channel's data goes, worked out once per channel name."""

    kind: str
    """:data:`BOOK`, :data:`TICKER`, :data:`IGNORED`, :data:`PLATFORM` or :data:`UNKNOWN`."""
    instrument: str
    """The instrument the channel names ("" for platform_state and unknown channels)."""
    key: bytes
    """The raw-topic record key of the instrument's records."""
    apply: Callable[[Any], Applied | None]
    """Feeds the data on: the book (via the features), the ticker, or the ignored counter."""


class Router:
    """Books and features of every instrument seen, fed notification by notification."""

    def __init__(self, settings: FeatureSettings | None = None) -> None:
        self.settings = settings or FeatureSettings()
        self.features: dict[str, Features] = {}
        self.routes: dict[str, Route] = {}
        """Channel name -> its route; :meth:`route` fills it (bounded by :data:`MAX_ROUTES`)."""
        self.appliers: dict[str, Callable[[Any], Applied | None]] = {}
        """Channel name -> its route's ``apply``, once final (a book channel once claimed): for
        callers that only feed data on, one dict look-up and one call per notification."""
        self.ignored = 0
        self._book_channel: dict[str, str] = {}

    def route(self, channel: str) -> Route:
        """The route of ``channel`` (made and remembered on first use)."""
        route = self.routes.get(channel)
        if route is None:
            route = self._make(channel)
            self._remember(channel, route)
        return route

    def dispatch(self, channel: str, data: Any) -> Applied | None:
        """Route one notification's data; the book's result, or None if it fed no book."""
        apply = self.appliers.get(channel) or self.route(channel).apply
        return apply(data)

    def book(self, instrument: str) -> OrderBook | None:
        features = self.features.get(instrument)
        return None if features is None else features.book

    def drop(self, instrument: str) -> None:
        """Forget an instrument: its book, features, book channel and routes."""
        self.features.pop(instrument, None)
        self._book_channel.pop(instrument, None)
        for name in [n for n, r in self.routes.items() if r.instrument == instrument]:
            del self.routes[name]
            self.appliers.pop(name, None)

    def book_kind(self, instrument: str) -> str | None:
        """The kind (``book``, ``grouped_book``) of the channel feeding ``instrument``'s book."""
        channel = self._book_channel.get(instrument)
        return None if channel is None else parse_channel(channel).kind

    # --- totals -----------------------------------------------------------------------------

    @property
    def book_messages(self) -> int:
        return sum(features.book.stats.messages for features in self.features.values())

    @property
    def ticker_messages(self) -> int:
        return sum(features.ticker_messages for features in self.features.values())

    def gaps(self) -> int:
        return sum(features.book.stats.gaps for features in self.features.values())

    def values(self, now_ms: int | None = None) -> dict[str, dict[str, Value]]:
        return {name: features.values(now_ms) for name, features in sorted(self.features.items())}

    # --- internals --------------------------------------------------------------------------

    def _make(self, name: str) -> Route:
        channel = parse_channel(name)
        kind = channel.kind
        instrument = channel.instrument
        if instrument is None:
            return Route(PLATFORM if kind == PLATFORM else UNKNOWN, "", b"", self._ignore)
        key = instrument.encode()
        if kind == "book" or kind == "grouped_book":
            owner = self._book_channel.get(instrument)
            if owner is None:
                # Claimed by its first notification actually applied, not by the first seen: a
                # record the consumer refuses (a wrong key) must not decide which channel counts.
                return Route(BOOK, instrument, key, partial(self._first, name, instrument))
            if owner != name:
                # A second book channel for one instrument would fight over one book.
                return Route(IGNORED, instrument, key, self._ignore)
            return Route(BOOK, instrument, key, self.features_of(instrument).update)
        if kind == TICKER:
            features = self.features.get(instrument)
            if features is None:
                # Made by the first ticker applied: refused records must not allocate books.
                return Route(TICKER, instrument, key, partial(self._first, name, instrument))
            return Route(TICKER, instrument, key, features.on_ticker)
        return Route(IGNORED, instrument, key, self._ignore)

    def _first(self, name: str, instrument: str, data: Any) -> Applied | None:
        """The first notification applied on a channel not yet settled: settle it, then apply.

        A book channel claims the instrument's book (unless another did first); either kind
        makes the instrument's features.
        """
        if parse_channel(name).kind != TICKER:
            self._book_channel.setdefault(instrument, name)
        self.features_of(instrument)
        route = self._make(name)
        if name in self.routes:
            self._remember(name, route)
        return route.apply(data)

    def _remember(self, name: str, route: Route) -> None:
        if len(self.routes) >= MAX_ROUTES and name not in self.routes:
            return
        self.routes[name] = route
        if type(route.apply) is not partial:  # not a channel waiting for its first apply
            self.appliers[name] = route.apply

    def features_of(self, instrument: str) -> Features:
        """The instrument's features (and book), made on first use."""
        features = self.features.get(instrument)
        if features is None:
            features = Features(OrderBook(instrument), self.settings)
            self.features[instrument] = features
        return features

    def _ignore(self, data: Any) -> None:
        self.ignored += 1
