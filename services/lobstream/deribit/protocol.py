"""Deribit JSON-RPC 2.0 framing, channel names and message classification. No I/O.

Everything here is shared by the client, the simulator, the producer and the consumer, so it is
kept free of state and cheap enough for the per-message path: one ``orjson.loads`` and a few
dictionary look-ups per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

JSONRPC: Final = "2.0"

# Deribit error codes the session reacts to (see docs/deribit-protocol.md).
TOO_MANY_REQUESTS: Final = 10028
RETRY: Final = 10040
SETTLEMENT_IN_PROGRESS: Final = 10041
MATCHING_ENGINE_QUEUE_FULL: Final = 10047
TOO_MANY_CONCURRENT_REQUESTS: Final = 10066
BAD_REQUEST: Final = 11050
SYSTEM_MAINTENANCE: Final = 11051
SUBSCRIBE_ERROR_UNSUBSCRIBED: Final = 11052
INVALID_CREDENTIALS: Final = 13004
UNAUTHORIZED: Final = 13009
TEMPORARILY_UNAVAILABLE: Final = 13028
RAW_SUBSCRIPTIONS_NOT_AVAILABLE: Final = 13778
TIMED_OUT: Final = 13888
REQUEST_TOO_LARGE: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
PARSE_ERROR: Final = -32700

RETRIABLE_CODES: Final = frozenset(
    {
        TOO_MANY_REQUESTS,
        RETRY,
        SETTLEMENT_IN_PROGRESS,
        MATCHING_ENGINE_QUEUE_FULL,
        TOO_MANY_CONCURRENT_REQUESTS,
        SYSTEM_MAINTENANCE,
        TEMPORARILY_UNAVAILABLE,
        TIMED_OUT,
    }
)

MAX_FRAME_BYTES: Final = 32 * 1024


class ProtocolError(ValueError):
    """A frame that is not valid JSON-RPC as Deribit speaks it."""


class DeribitError(Exception):
    """An ``error`` object returned by the exchange, with its numeric ``code``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE_CODES


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to a request: ``result`` or ``error``, matched by ``id``."""

    id: int | str | None
    result: Any = None
    error: DeribitError | None = None
    us_in: int | None = None
    us_out: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A ``subscription`` notification: one channel's data."""

    channel: str
    data: Any


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A ``heartbeat`` notification; ``type`` is ``heartbeat`` or ``test_request``."""

    type: str


@dataclass(frozen=True, slots=True)
class Request:
    """A request from a client (what the simulator receives)."""

    id: int | str | None
    method: str
    params: dict[str, Any] = field(default_factory=dict)


Message = Response | Notification | Heartbeat | Request


SUBSCRIPTION: Final = "subscription"


class NotNotification(ValueError):
    """A frame that is not a subscription notification; ``malformed`` if not even well-formed."""

    def __init__(self, malformed: bool) -> None:
        super().__init__("malformed frame" if malformed else "not a subscription notification")
        self.malformed = malformed


def subscription(doc: Any) -> tuple[str, Any]:
    """``(channel, data)`` of a decoded ``subscription`` notification.

    Raises :class:`NotNotification`: not ``malformed`` for any other method or a message without
    one (heartbeats, requests, call results); ``malformed`` for a document that is not an object
    and for a subscription without params, data or a string channel.
    """
    try:
        method = doc["method"]
    except KeyError:
        raise NotNotification(malformed=False) from None
    except TypeError:  # not an object
        raise NotNotification(malformed=True) from None
    if method != SUBSCRIPTION:
        raise NotNotification(malformed=False)
    try:
        params = doc["params"]
        channel = params["channel"]
        data = params["data"]
    except (KeyError, TypeError):
        raise NotNotification(malformed=True) from None
    if type(channel) is not str:
        raise NotNotification(malformed=True)
    return channel, data


def encode(obj: Any) -> str:
    """Serialise one JSON document as a text frame."""
    return orjson.dumps(obj).decode()


def encode_request(request_id: int | str, method: str, params: dict[str, Any] | None = None) -> str:
    """A JSON-RPC 2.0 request frame with named parameters."""
    return encode({"jsonrpc": JSONRPC, "id": request_id, "method": method, "params": params or {}})


def parse(frame: str | bytes) -> Message:
    """Classify one frame; raises :class:`ProtocolError` for anything malformed."""
    try:
        doc = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    return classify(doc)


def classify(doc: Any) -> Message:
    """Classify an already decoded JSON document."""
    if not isinstance(doc, dict):
        raise ProtocolError("a frame must be a JSON object")
    method = doc.get("method")
    if "id" in doc and method is None:
        return _response(doc)
    if not isinstance(method, str):
        raise ProtocolError("neither a response nor a method call")
    params = doc.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("params must be an object")
    if "id" in doc:
        request_id = doc["id"]
        if request_id is not None and not isinstance(request_id, int | str):
            raise ProtocolError("id must be a number or a string")
        return Request(request_id, method, params)
    if method == SUBSCRIPTION:
        try:
            return Notification(*subscription(doc))
        except NotNotification:
            raise ProtocolError("subscription without channel or data") from None
    if method == "heartbeat":
        kind = params.get("type")
        if not isinstance(kind, str):
            raise ProtocolError("heartbeat without type")
        return Heartbeat(kind)
    return Request(None, method, params)


def _response(doc: dict[str, Any]) -> Response:
    request_id = doc["id"]
    if request_id is not None and not isinstance(request_id, int | str):
        raise ProtocolError("id must be a number or a string")
    error = doc.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            raise ProtocolError("error must be an object with an integer code")
        exc = DeribitError(error["code"], str(error.get("message", "")), error.get("data"))
        return Response(request_id, error=exc, us_in=doc.get("usIn"), us_out=doc.get("usOut"))
    if "result" not in doc:
        raise ProtocolError("response without result or error")
    return Response(request_id, doc["result"], us_in=doc.get("usIn"), us_out=doc.get("usOut"))


# --- channels -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name.

    ``kind`` is ``book`` (incremental), ``grouped_book``, ``ticker``, ``trades``, ``quote``,
    ``perpetual``, ``platform_state`` or ``other``.
    """

    name: str
    kind: str
    instrument: str | None = None
    interval: str | None = None
    group: str | None = None
    depth: int | None = None


def book_channel(instrument: str, interval: str = "100ms") -> str:
    return f"book.{instrument}.{interval}"


def grouped_book_channel(instrument: str, group: str, depth: int, interval: str = "100ms") -> str:
    return f"book.{instrument}.{group}.{depth}.{interval}"


def ticker_channel(instrument: str, interval: str = "100ms") -> str:
    return f"ticker.{instrument}.{interval}"


def trades_channel(instrument: str, interval: str = "100ms") -> str:
    return f"trades.{instrument}.{interval}"


_CHANNEL_CACHE: dict[str, Channel] = {}


def parse_channel(name: str) -> Channel:
    """Parse a channel name; memoised because a session sees few distinct names."""
    cached = _CHANNEL_CACHE.get(name)
    if cached is not None:
        return cached
    channel = _parse_channel(name)
    if len(_CHANNEL_CACHE) < 10_000:
        _CHANNEL_CACHE[name] = channel
    return channel


def _parse_channel(name: str) -> Channel:
    parts = name.split(".")
    head = parts[0]
    if head == "book" and len(parts) == 3:
        return Channel(name, "book", parts[1], interval=parts[2])
    if head == "book" and len(parts) == 5 and parts[3].isdigit():
        return Channel(
            name, "grouped_book", parts[1], interval=parts[4], group=parts[2], depth=int(parts[3])
        )
    if head in ("ticker", "trades", "perpetual") and len(parts) == 3:
        return Channel(name, head, parts[1], interval=parts[2])
    if head == "quote" and len(parts) == 2:
        return Channel(name, "quote", parts[1])
    if name == "platform_state":
        return Channel(name, "platform_state")
    return Channel(name, "other")
