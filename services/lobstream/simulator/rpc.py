"""JSON-RPC framing on the server side: parsing requests, writing responses. No I/O."""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

from lobstream.deribit import protocol

TEST_VERSION: Final = "1.2.26"
ERROR_MESSAGES: Final = {
    protocol.PARSE_ERROR: "Parse error",
    protocol.REQUEST_TOO_LARGE: "request entity too large",
    protocol.METHOD_NOT_FOUND: "Method not found",
    protocol.INVALID_PARAMS: "Invalid params",
    protocol.TOO_MANY_REQUESTS: "too_many_requests",
    protocol.INVALID_CREDENTIALS: "invalid_credentials",
    protocol.UNAUTHORIZED: "unauthorized",
    protocol.RAW_SUBSCRIPTIONS_NOT_AVAILABLE: "raw_subscriptions_not_available_for_unauthorized",
    protocol.SYSTEM_MAINTENANCE: "system_maintenance",
}
INVALID_REQUEST: Final = -32600


class RpcError(Exception):
    """An error to answer a request with; ``request_id`` is known once the id was parsed."""

    def __init__(self, code: int, message: str | None = None, data: Any = None) -> None:
        message = message or ERROR_MESSAGES.get(code, "error")
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.data = data
        self.request_id: int | str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body


def bad_param(name: str, reason: str) -> RpcError:
    return RpcError(protocol.INVALID_PARAMS, data={"param": name, "reason": reason})


def now_us() -> int:
    return time.time_ns() // 1000


def parse_request(frame: str | bytes) -> tuple[int | str | None, str, dict[str, Any]]:
    """``(id, method, params)`` of a request frame; raises :class:`RpcError`."""
    if len(frame) > protocol.MAX_FRAME_BYTES // 4 and (
        len(frame.encode() if isinstance(frame, str) else frame) > protocol.MAX_FRAME_BYTES
    ):
        # Deribit answers an oversized frame without an id.
        raise RpcError(protocol.REQUEST_TOO_LARGE)
    try:
        doc = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise RpcError(protocol.PARSE_ERROR) from None
    if not isinstance(doc, dict):
        raise RpcError(INVALID_REQUEST, "Invalid Request")
    request_id = doc.get("id")
    if request_id is not None and (not isinstance(request_id, int | str) or request_id is True):
        raise RpcError(INVALID_REQUEST, "Invalid Request")
    method = doc.get("method")
    if not isinstance(method, str):
        error = RpcError(INVALID_REQUEST, "Invalid Request")
        error.request_id = request_id
        raise error
    params = doc.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        error = bad_param("params", "must be an object")
        error.request_id = request_id
        raise error
    return request_id, method, params


def response(request_id: int | str | None, result: Any, us_in: int, testnet: bool) -> str:
    us_out = now_us()
    return orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": result,
            "usIn": us_in,
            "usOut": us_out,
            "usDiff": us_out - us_in,
            "testnet": testnet,
        }
    ).decode()


def error_response(request_id: int | str | None, error: RpcError, us_in: int, testnet: bool) -> str:
    us_out = now_us()
    return orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": error.body(),
            "usIn": us_in,
            "usOut": us_out,
            "usDiff": us_out - us_in,
            "testnet": testnet,
        }
    ).decode()


def notification(channel: str, data: Any) -> str:
    """A subscription notification; channel names never need escaping (validated on subscribe)."""
    return (
        '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"'
        + channel
        + '","data":'
        + orjson.dumps(data).decode()
        + "}}"
    )


HEARTBEAT: Final = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}'
TEST_REQUEST: Final = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'
# A notification cut short: what a broken proxy or a bug upstream might deliver.
MALFORMED: Final = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.'
