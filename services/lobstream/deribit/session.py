"""The Deribit session as a sans-I/O state machine.

A :class:`Session` is fed what happens (a connection opened, a frame arrived, time passed, the
connection was lost) and answers with frames to send (:meth:`Session.data_to_send`), events for
the user (:meth:`Session.events`) and replies to user calls (:meth:`Session.replies`). Time is
always passed in (``now``: monotonic seconds), so every hard case - gaps, dead peers, token
refresh, retries - is a plain unit test. :mod:`lobstream.deribit.client` is the asyncio layer.

Policies (see docs/client.md):

- Per connection: ``public/hello``, ``public/set_heartbeat``, ``public/auth`` when credentials
  are set, then ``public/subscribe`` in batches of at most ``subscribe_batch_bytes``.
- A ``test_request`` is answered with ``public/test`` at once. No frame for
  ``2 * heartbeat + 1`` seconds means the peer is dead: the session asks to close.
- Incremental book continuity per channel: a change whose ``prev_change_id`` is not the last
  ``change_id`` is a gap. That change is still passed on (a downstream book sees the break
  itself), a :class:`Resync` follows, and only that channel is unsubscribed and subscribed again.
  Until its new snapshot arrives, the channel's changes are dropped and counted: they cannot be
  applied to anything. Changes before a channel's first snapshot are dropped the same way.
- A retriable error (10028 and friends) on an internal request retries it after a back-off with a
  floor of ``backoff_rate_limited_seconds``; the next reconnect waits at least as long too.
  A non-retriable error on the handshake (bad credentials, raw book without auth, bad params) is
  fatal: reconnecting cannot fix configuration, so it is surfaced to the user.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from lobstream.deribit.auth import Authenticator
from lobstream.deribit.backoff import Backoff
from lobstream.deribit.events import (
    Connected,
    Disconnected,
    Event,
    Maintenance,
    Received,
    Resync,
)
from lobstream.deribit.protocol import (
    TOO_MANY_REQUESTS,
    Channel,
    DeribitError,
    Heartbeat,
    Notification,
    ProtocolError,
    Request,
    Response,
    book_channel,
    classify,
    encode,
    encode_request,
    grouped_book_channel,
    parse_channel,
    ticker_channel,
    trades_channel,
)
from lobstream.logs import BurstLog
from lobstream.settings import DeribitSettings

log = logging.getLogger(__name__)

CLIENT_NAME: Final = "lobstream"
CLIENT_VERSION: Final = "0.1.0"
PLATFORM_STATE: Final = "platform_state"
DEAD_PEER_INTERVALS: Final = 2.0
DEAD_PEER_SLACK_SECONDS: Final = 1.0
SUBSCRIBE: Final = "public/subscribe"
UNSUBSCRIBE: Final = "public/unsubscribe"


# --- subscriptions ------------------------------------------------------------------------------


_CHANNEL_BUILDERS: Final[dict[str, Callable[[DeribitSettings, str], str]]] = {
    "book": lambda s, i: book_channel(i, s.effective_book_interval),
    "grouped_book": lambda s, i: grouped_book_channel(
        i, s.grouped_group, s.grouped_depth, s.grouped_interval
    ),
    "ticker": lambda s, i: ticker_channel(i, s.ticker_interval),
    "trades": lambda s, i: trades_channel(i, s.trades_interval),
}


def subscription_channels(settings: DeribitSettings) -> list[str]:
    """Every channel the settings ask for, per instrument, plus ``platform_state``."""
    channels = [
        _CHANNEL_BUILDERS[kind](settings, instrument)
        for instrument in settings.instruments
        for kind in settings.channels
    ]
    channels.append(PLATFORM_STATE)
    return channels


def batch_channels(
    channels: list[str], limit_bytes: int, method: str = SUBSCRIBE
) -> list[list[str]]:
    """Split ``channels`` so each request frame stays within ``limit_bytes``.

    The size is computed exactly for the frame :func:`encode_request` builds with the largest id
    a session can plausibly use, so the real frames are never larger. A single channel longer
    than the limit still goes out alone (the exchange will refuse it, and that is counted).
    """
    overhead = len(encode_request(2**53, method, {"channels": []}))
    batches: list[list[str]] = []
    current: list[str] = []
    size = overhead
    for name in channels:
        cost = len(encode(name)) + (1 if current else 0)
        if current and size + cost > limit_bytes:
            batches.append(current)
            current, size = [], overhead
            cost = len(encode(name))
        current.append(name)
        size += cost
    if current:
        batches.append(current)
    return batches


# --- bookkeeping --------------------------------------------------------------------------------


@dataclass
class SessionStats:
    """Plain counters; the metrics module reads them at scrape time."""

    frames: int = 0
    bytes: int = 0
    notifications: int = 0
    bad_frames: int = 0
    requests_sent: int = 0
    call_errors: int = 0
    retriable_errors: int = 0
    rate_limited: int = 0
    request_timeouts: int = 0
    unmatched_responses: int = 0
    test_requests: int = 0
    heartbeats: int = 0
    dead_peer: int = 0
    connects: int = 0
    connect_failures: int = 0
    connections_limited: int = 0
    """Connection attempts refused with HTTP 429: too many connections from this address."""
    disconnects: int = 0
    snapshots: int = 0
    gaps: int = 0
    resyncs: int = 0
    book_changes_dropped: int = 0
    channels_subscribed: int = 0
    channels_refused: int = 0
    auth_grants: int = 0
    auth_refreshes: int = 0
    auth_failures: int = 0
    maintenance: int = 0
    queue_full_waits: int = 0
    gaps_by_instrument: dict[str, int] = field(default_factory=dict)
    errors_by_code: dict[int, int] = field(default_factory=dict)
    """JSON-RPC error codes the exchange answered to our requests (``call_errors`` in detail)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of a user call: ``result``, or ``error`` (DeribitError, TimeoutError,
    ConnectionError)."""

    request_id: int
    result: Any = None
    error: BaseException | None = None


ResultHandler = Callable[[Any, float], None]
ErrorHandler = Callable[[DeribitError, float], None]


@dataclass(slots=True)
class _Pending:
    method: str
    deadline: float
    on_result: ResultHandler | None  # None: a user call, answered through a Reply
    on_error: ErrorHandler | None


@dataclass(slots=True)
class _Book:
    """Continuity state of one incremental book channel."""

    instrument: str
    last_change_id: int | None = None
    awaiting_snapshot: bool = True
    resync_in_flight: bool = False


def _ignore(result: Any, now: float) -> None:
    del result, now


# --- the session --------------------------------------------------------------------------------


class Session:
    """One logical Deribit session that survives reconnects (see the module docstring)."""

    def __init__(
        self,
        settings: DeribitSettings,
        *,
        rng: random.Random | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.stats = SessionStats()
        self.channels = subscription_channels(settings)
        self.batches = batch_channels(self.channels, settings.subscribe_batch_bytes)
        if authenticator is None and settings.authenticated:
            authenticator = Authenticator(settings)
        self.auth = authenticator
        rng = rng or random.Random()
        self._reconnect_backoff = Backoff(
            settings.backoff_initial_seconds, settings.backoff_max_seconds, rng
        )
        self._retry_backoff = Backoff(
            settings.backoff_initial_seconds, settings.backoff_max_seconds, rng
        )
        self._timeout = settings.request_timeout_seconds
        self._dead_after = (
            DEAD_PEER_INTERVALS * settings.heartbeat_seconds + DEAD_PEER_SLACK_SECONDS
        )
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._scheduled: list[tuple[float, Callable[[float], None]]] = []
        self._out: list[str] = []
        self._events: list[Event] = []
        self._replies: list[Reply] = []
        self._books: dict[str, _Book] = {
            name: _Book(channel.instrument)
            for name in self.channels
            if (channel := parse_channel(name)).kind == "book" and channel.instrument is not None
        }
        self.subscribed: set[str] = set()
        self.refused: set[str] = set()
        self.connected = False
        self.ready = False
        self.closing: str | None = None
        self.fatal: DeribitError | None = None
        self._last_heard = 0.0
        self._liveness_paused = False
        self._paused_at = 0.0
        self._batches_left = 0
        self._auth_in_flight = False
        self._authenticated = False
        self._rate_limited = False
        self._resync: Resync | None = None
        self._bad_log = BurstLog(log)
        self._gap_log = BurstLog(log)
        self._refused_log = BurstLog(log)
        self._error_log = BurstLog(log)
        self._handlers: dict[type, Callable[[Any, bytes | str, float, int], None]] = {
            Notification: self._on_notification,
            Response: self._on_response,
            Heartbeat: self._on_heartbeat,
            Request: self._on_request,
        }
        self._kind_handlers: dict[str, Callable[[Channel, Any, float], bool]] = {
            "book": self._on_book,
            "platform_state": self._on_platform_state,
        }

    # --- outputs ------------------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        """Text frames to send, in order; the list is handed over and cleared."""
        out, self._out = self._out, []
        return out

    def events(self) -> list[Event]:
        """Events for the user, in order; the list is handed over and cleared."""
        events, self._events = self._events, []
        return events

    def replies(self) -> list[Reply]:
        """Outcomes of user calls; the list is handed over and cleared."""
        replies, self._replies = self._replies, []
        return replies

    # --- connection lifecycle -----------------------------------------------------------------

    def connection_made(self, now: float, url: str = "") -> None:
        """A WebSocket is open: start the handshake and the subscriptions."""
        self._reset_connection()
        self.connected = True
        self._last_heard = now
        self.stats.connects += 1
        self._events.append(Connected(url))
        self._request(
            "public/hello",
            {"client_name": CLIENT_NAME, "client_version": CLIENT_VERSION},
            now,
            _ignore,
            self._on_hello_error,
        )
        self._send_set_heartbeat(now)
        if self.auth is not None:
            self._send_auth(now)
        else:
            self._subscribe_all(now)

    def connection_lost(self, reason: str) -> None:
        """The WebSocket is gone; pending user calls fail with ``ConnectionError``."""
        if not self.connected:
            return
        self.connected = False
        self.stats.disconnects += 1
        self._reset_connection()
        self._events.append(Disconnected(reason))

    def connect_failed(self, *, rate_limited: bool = False) -> None:
        """A connection attempt failed before the WebSocket opened (HTTP 429: ``rate_limited``)."""
        self.stats.connect_failures += 1
        if rate_limited:
            self.stats.rate_limited += 1
            self.stats.connections_limited += 1
            self._rate_limited = True

    def reconnect_delay(self) -> float:
        """How long to wait before the next connection attempt (full jitter, bounded)."""
        floor = self.settings.backoff_rate_limited_seconds if self._rate_limited else 0.0
        return self._reconnect_backoff.next_delay(floor)

    def _reset_connection(self) -> None:
        for request_id, pending in self._pending.items():
            if pending.on_result is None:
                self._replies.append(Reply(request_id, error=ConnectionError("disconnected")))
        self._pending.clear()
        self._scheduled.clear()
        for book in self._books.values():
            book.last_change_id = None
            book.awaiting_snapshot = True
            book.resync_in_flight = False
        self.subscribed.clear()
        self.refused.clear()
        self.ready = False
        self.closing = None
        self._liveness_paused = False
        self._batches_left = 0
        self._auth_in_flight = False
        self._authenticated = False

    # --- time ---------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Let time pass: dead-peer check, request timeouts, due retries, token refresh."""
        if not self.connected or self.closing is not None:
            return
        if self._liveness_paused:
            return
        silence = now - self._last_heard
        if silence > self._dead_after:
            self.stats.dead_peer += 1
            self._close(f"dead peer: no frame for {silence:.1f}s", now)
            return
        self._expire(now)
        if self._scheduled:
            due = [action for when, action in self._scheduled if when <= now]
            self._scheduled = [(when, action) for when, action in self._scheduled if when > now]
            for action in due:
                action(now)
        if (
            self.auth is not None
            and self._authenticated
            and not self._auth_in_flight
            and self.auth.refresh_due(now)
        ):
            self._send_auth(now)

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`tick` has something to do, if any."""
        if not self.connected:
            return None
        times = [pending.deadline for pending in self._pending.values()]
        times.extend(when for when, _ in self._scheduled)
        if not self._liveness_paused:
            times.append(self._last_heard + self._dead_after)
        if self.auth is not None and self.auth.token is not None:
            times.append(self.auth.token.refresh_at)
        return min(times) if times else None

    def pause_liveness(self, now: float) -> None:
        """The user is not reading (back-pressure): silence is ours, not the peer's.

        The dead-peer check and request timeouts stop until :meth:`resume_liveness`, since the
        frames that would satisfy them may be waiting, unread, in our own buffers.
        """
        if not self._liveness_paused:
            self._liveness_paused = True
            self._paused_at = now

    def resume_liveness(self, now: float) -> None:
        """Reading again; the silence clock restarts and request deadlines move by the pause."""
        if not self._liveness_paused:
            return
        self._liveness_paused = False
        self._last_heard = now
        paused = now - self._paused_at
        for pending in self._pending.values():
            pending.deadline += paused

    def _expire(self, now: float) -> None:
        expired = [rid for rid, pending in self._pending.items() if pending.deadline <= now]
        for request_id in expired:
            pending = self._pending.pop(request_id)
            self.stats.request_timeouts += 1
            if pending.on_result is None:
                self._replies.append(Reply(request_id, error=TimeoutError(pending.method)))
            else:
                self._close(f"no answer to {pending.method} within {self._timeout}s", now)
                return

    def _close(self, reason: str, now: float) -> None:
        if self.closing is None:
            self.closing = reason
            self._error_log.log(now, logging.WARNING, "closing the connection: %s", reason)

    # --- user calls ---------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None, now: float) -> int:
        """Send a request for the user; its outcome comes back as a :class:`Reply`."""
        if not self.connected:
            raise ConnectionError("not connected")
        return self._request(method, params or {}, now, None, None)

    def forget(self, request_id: int) -> None:
        """The user gave up on a call; a late answer is then counted as unmatched."""
        self._pending.pop(request_id, None)

    def _request(
        self,
        method: str,
        params: dict[str, Any],
        now: float,
        on_result: ResultHandler | None,
        on_error: ErrorHandler | None,
    ) -> int:
        request_id = next(self._ids)
        self._pending[request_id] = _Pending(method, now + self._timeout, on_result, on_error)
        self._out.append(encode_request(request_id, method, params))
        self.stats.requests_sent += 1
        return request_id

    def _retry_later(self, action: Callable[[float], None], now: float) -> None:
        floor = self.settings.backoff_rate_limited_seconds if self._rate_limited else 0.0
        self._scheduled.append((now + self._retry_backoff.next_delay(floor), action))

    # --- frames in ----------------------------------------------------------------------------

    def receive(self, frame: bytes | str, now: float, received_ns: int) -> None:
        """Feed one frame as received. Malformed frames are counted and logged, never raised."""
        self.stats.frames += 1
        self.stats.bytes += len(frame)
        self._last_heard = now
        try:
            message = classify(orjson.loads(frame))
        except (orjson.JSONDecodeError, ProtocolError) as exc:
            self._bad_frame(now, str(exc), len(frame))
            return
        self._handlers[type(message)](message, frame, now, received_ns)

    def _bad_frame(self, now: float, why: str, size: int) -> None:
        # The frame itself is not logged: it could carry a token.
        self.stats.bad_frames += 1
        self._bad_log.log(now, logging.WARNING, "bad frame (%d bytes): %s", size, why)

    def _on_notification(
        self, message: Notification, frame: bytes | str, now: float, received_ns: int
    ) -> None:
        self.stats.notifications += 1
        channel = parse_channel(message.channel)
        special = self._kind_handlers.get(channel.kind)
        if special is not None and not special(channel, message.data, now):
            return
        raw = frame if isinstance(frame, bytes) else frame.encode()
        self._events.append(
            Received(channel.name, channel.kind, channel.instrument, message.data, raw, received_ns)
        )
        if self._resync is not None:
            # The change that broke the chain goes first, then the Resync it caused.
            self._events.append(self._resync)
            self._resync = None

    def _on_book(self, channel: Channel, data: Any, now: float) -> bool:
        """Check the change_id chain; False drops the notification."""
        book = self._books.get(channel.name)
        if book is None:
            return True
        if not isinstance(data, dict):
            self._bad_frame(now, f"{channel.name}: data is not an object", 0)
            return False
        change_id = data.get("change_id")
        if not isinstance(change_id, int):
            self._bad_frame(now, f"{channel.name}: change_id is not an integer", 0)
            return False
        kind = data.get("type")
        if kind == "snapshot":
            book.last_change_id = change_id
            book.awaiting_snapshot = False
            self.stats.snapshots += 1
            return True
        if kind != "change":
            self._bad_frame(now, f"{channel.name}: unknown book data type {kind!r}", 0)
            return False
        if book.awaiting_snapshot:
            self.stats.book_changes_dropped += 1
            return False
        prev = data.get("prev_change_id")
        if prev == book.last_change_id and not isinstance(prev, bool):
            book.last_change_id = change_id
            return True
        self._gap(channel.name, book, f"prev_change_id {prev} != last {book.last_change_id}", now)
        return True

    def _on_platform_state(self, channel: Channel, data: Any, now: float) -> bool:
        if isinstance(data, dict) and "maintenance" in data:
            active = bool(data["maintenance"])
            self.stats.maintenance += active
            self._events.append(Maintenance(active))
            log.warning("platform_state: maintenance %s", "started" if active else "ended")
        return True

    def _on_heartbeat(
        self, message: Heartbeat, frame: bytes | str, now: float, received_ns: int
    ) -> None:
        if message.type == "test_request":
            self.stats.test_requests += 1
            self._request("public/test", {}, now, _ignore, self._on_test_error)
        else:
            self.stats.heartbeats += 1

    def _on_request(
        self, message: Request, frame: bytes | str, now: float, received_ns: int
    ) -> None:
        self._bad_frame(now, f"unexpected method {message.method!r} from the exchange", len(frame))

    def _on_response(
        self, message: Response, frame: bytes | str, now: float, received_ns: int
    ) -> None:
        request_id = message.id
        if not isinstance(request_id, int) or request_id not in self._pending:
            self.stats.unmatched_responses += 1
            if message.error is not None:
                # -32600 (frame too large) comes back without an id.
                self._error_log.log(
                    now, logging.ERROR, "exchange error without a request: %s", message.error
                )
            return
        pending = self._pending.pop(request_id)
        if message.error is None:
            if pending.on_result is None:
                self._replies.append(Reply(request_id, message.result))
            else:
                pending.on_result(message.result, now)
            return
        error = message.error
        self.stats.call_errors += 1
        codes = self.stats.errors_by_code
        codes[error.code] = codes.get(error.code, 0) + 1
        if error.retriable:
            self.stats.retriable_errors += 1
            self._rate_limited = True
            self.stats.rate_limited += error.code == TOO_MANY_REQUESTS
        if pending.on_error is None:
            self._replies.append(Reply(request_id, error=error))
        else:
            pending.on_error(error, now)

    # --- handshake ----------------------------------------------------------------------------

    def _send_set_heartbeat(self, now: float) -> None:
        self._request(
            "public/set_heartbeat",
            {"interval": self.settings.heartbeat_seconds},
            now,
            _ignore,
            self._handshake_error("public/set_heartbeat", self._send_set_heartbeat),
        )

    def _handshake_error(self, what: str, again: Callable[[float], None]) -> ErrorHandler:
        """Retriable: try ``again`` after a back-off. Otherwise the session cannot work: fatal."""

        def handle(error: DeribitError, now: float) -> None:
            if error.retriable:
                self._error_log.log(now, logging.WARNING, "%s: %s; retrying", what, error)
                self._retry_later(again, now)
            else:
                self._fail(error, what, now)

        return handle

    def _on_hello_error(self, error: DeribitError, now: float) -> None:
        self._error_log.log(now, logging.WARNING, "public/hello: %s (ignored)", error)

    def _on_test_error(self, error: DeribitError, now: float) -> None:
        self._error_log.log(now, logging.WARNING, "public/test: %s", error)

    def _fail(self, error: DeribitError, what: str, now: float) -> None:
        self.fatal = error
        log.error("%s failed with a non-retriable error: %s", what, error)
        self._close(f"{what}: {error}", now)

    def _send_auth(self, now: float) -> None:
        assert self.auth is not None
        params = self.auth.params(now)
        refreshing = params["grant_type"] == "refresh_token"
        self._auth_in_flight = True
        self._request(
            "public/auth",
            params,
            now,
            lambda result, t: self._on_auth(result, t, refreshing),
            lambda error, t: self._on_auth_error(error, t, refreshing),
        )

    def _on_auth(self, result: Any, now: float, refreshing: bool) -> None:
        assert self.auth is not None
        self._auth_in_flight = False
        try:
            token = self.auth.granted(result, now)
        except ValueError as exc:
            self.stats.auth_failures += 1
            self._close(f"public/auth: {exc}", now)
            return
        if refreshing:
            self.stats.auth_refreshes += 1
        else:
            self.stats.auth_grants += 1
        log.info(
            "authenticated (%s, scope %r, refresh in %.0fs)",
            "refresh_token" if refreshing else self.settings.auth_grant,
            token.scope,
            token.refresh_at - now,
        )
        if not self._authenticated:
            self._authenticated = True
            self._subscribe_all(now)

    def _on_auth_error(self, error: DeribitError, now: float, refreshing: bool) -> None:
        assert self.auth is not None
        self._auth_in_flight = False
        self.stats.auth_failures += 1
        if refreshing and not error.retriable:
            # An expired or revoked refresh token: log in afresh with the credentials.
            log.warning("token refresh refused (%s); logging in again", error)
            self.auth.forget()
            self._send_auth(now)
        elif error.retriable:
            self._error_log.log(now, logging.WARNING, "public/auth: %s; retrying", error)
            self._retry_later(self._send_auth, now)
        else:
            self._fail(error, "public/auth", now)

    # --- subscriptions ------------------------------------------------------------------------

    def _subscribe_all(self, now: float) -> None:
        self._batches_left = len(self.batches)
        for batch in self.batches:
            self._subscribe(batch, now, initial=True)

    def _subscribe(self, channels: list[str], now: float, *, initial: bool) -> None:
        def again(t: float) -> None:
            self._subscribe(channels, t, initial=initial)

        self._request(
            SUBSCRIBE,
            {"channels": channels},
            now,
            lambda result, t: self._on_subscribed(channels, result, t, initial),
            self._handshake_error(SUBSCRIBE, again) if initial else self._resync_error(again),
        )

    def _on_subscribed(self, asked: list[str], result: Any, now: float, initial: bool) -> None:
        granted = (
            {name for name in result if isinstance(name, str)}
            if isinstance(result, list)
            else set()
        )
        refused = [name for name in asked if name not in granted]
        for name in asked:
            if name in granted:
                self.subscribed.add(name)
            book = self._books.get(name)
            if book is not None:
                book.resync_in_flight = False
        self.stats.channels_subscribed += len(asked) - len(refused)
        if refused:
            self.stats.channels_refused += len(refused)
            self.refused.update(refused)
            self._refused_log.log(
                now,
                logging.WARNING,
                "the exchange refused %d of %d channels: %s",
                len(refused),
                len(asked),
                ", ".join(refused[:10]) + (" ..." if len(refused) > 10 else ""),
            )
        if initial:
            self._batches_left -= 1
            if self._batches_left == 0:
                self.ready = True
                self._reconnect_backoff.reset()
                self._retry_backoff.reset()
                self._rate_limited = False
                log.info(
                    "subscribed to %d of %d channels", len(self.subscribed), len(self.channels)
                )

    # --- resync -------------------------------------------------------------------------------

    def _gap(self, name: str, book: _Book, reason: str, now: float) -> None:
        self.stats.gaps += 1
        gaps = self.stats.gaps_by_instrument
        gaps[book.instrument] = gaps.get(book.instrument, 0) + 1
        book.awaiting_snapshot = True
        book.last_change_id = None
        self._resync = Resync(book.instrument, reason, name)
        self._gap_log.log(now, logging.WARNING, "%s: gap (%s); resubscribing it", name, reason)
        if book.resync_in_flight:
            return
        book.resync_in_flight = True
        self.stats.resyncs += 1
        # Deribit has no resync call: a new subscription starts with a snapshot.
        self._request(UNSUBSCRIBE, {"channels": [name]}, now, _ignore, self._on_unsubscribe_error)
        self._subscribe([name], now, initial=False)

    def _on_unsubscribe_error(self, error: DeribitError, now: float) -> None:
        self._error_log.log(now, logging.WARNING, "%s: %s", UNSUBSCRIBE, error)

    def _resync_error(self, again: Callable[[float], None]) -> ErrorHandler:
        def handle(error: DeribitError, now: float) -> None:
            if error.retriable:
                self._retry_later(again, now)
            else:
                # A channel that subscribed before fails now: start over on a new connection.
                self._close(f"resubscribe: {error}", now)

        return handle
