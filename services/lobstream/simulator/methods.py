"""The JSON-RPC methods the simulator answers: a table from method name to handler.

A handler takes the simulator, the calling connection and the params, and returns the ``result``
or raises :class:`RpcError`. Work that must follow the answer on the wire (a ``raw`` book's
snapshot) goes to ``connection.deferred``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from lobstream.deribit import protocol
from lobstream.simulator.rpc import TEST_VERSION, RpcError, bad_param

if TYPE_CHECKING:
    from lobstream.simulator.connection import Connection
    from lobstream.simulator.server import Simulator

Handler = Callable[["Simulator", "Connection", dict[str, Any]], Any]

ORDER_BOOK_DEPTHS = (1, 5, 10, 20, 50, 100, 1000, 10000)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def hello(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    return {"version": TEST_VERSION}


def test(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    conn.awaiting_test = False
    return {"version": TEST_VERSION}


def get_time(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    return _now_ms()


def set_heartbeat(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    interval = params.get("interval")
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise bad_param("interval", "required number of seconds")
    if interval < sim.min_heartbeat:
        raise bad_param("interval", f"must be >= {sim.min_heartbeat:g}")
    conn.start_heartbeat(float(interval), sim.gate)
    return "ok"


def disable_heartbeat(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    conn.stop_heartbeat()
    return "ok"


def auth(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    now = time.time()
    token = sim.accounts.grant(params, now, conn.id)
    conn.token = token
    return sim.accounts.result(token, now)


def _authorize(sim: Simulator, conn: Connection, params: dict[str, Any], now: float) -> None:
    """Private methods: the connection's token, or an ``access_token`` param, must be live."""
    access_token = params.get("access_token")
    if isinstance(access_token, str):
        token = sim.accounts.check(access_token, now)
        if token is None:
            raise RpcError(protocol.UNAUTHORIZED)
        conn.token = token
    if not conn.authenticated(now):
        raise RpcError(protocol.UNAUTHORIZED)


def _channels(params: dict[str, Any]) -> list[str]:
    channels = params.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise bad_param("channels", "must be a list of channel names")
    return channels


def subscribe(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    return _subscribe(sim, conn, params, time.time())


def _subscribe(sim: Simulator, conn: Connection, params: dict[str, Any], now: float) -> Any:
    feeds = [feed for feed in map(sim.feed_for, _channels(params)) if feed is not None]
    if any(feed.needs_auth for feed in feeds) and not conn.authenticated(now):
        raise RpcError(protocol.RAW_SUBSCRIPTIONS_NOT_AVAILABLE)
    result = []
    for feed in feeds:
        if feed.channel not in conn.subscriptions:
            conn.subscriptions[feed.channel] = feed
            conn.deferred.append(partial(feed.add, conn, _now_ms()))
        result.append(feed.channel)
    return result


def private_subscribe(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    now = time.time()  # one clock reading: a token expiring in between must not change the error
    _authorize(sim, conn, params, now)
    return _subscribe(sim, conn, params, now)


def unsubscribe(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    result = []
    for channel in _channels(params):
        feed = conn.subscriptions.pop(channel, None)
        if feed is not None:
            sim.unsubscribe(conn, feed)
            result.append(channel)
    return result


def private_unsubscribe(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    _authorize(sim, conn, params, time.time())
    return unsubscribe(sim, conn, params)


def private_unsubscribe_all(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    _authorize(sim, conn, params, time.time())
    return unsubscribe_all(sim, conn, params)


def unsubscribe_all(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    for feed in conn.subscriptions.values():
        sim.unsubscribe(conn, feed)
    conn.subscriptions.clear()
    return "ok"


def get_instruments(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    currency = params.get("currency")
    if not isinstance(currency, str):
        raise bad_param("currency", "required: BTC, ETH, USDC, USDT or any")
    kind = params.get("kind", "future")
    return [
        sim.instrument_info(name)
        for name, market in sim.markets.items()
        if currency in ("any", market.spec.base_currency) and kind in (None, market.spec.kind)
    ]


def _market(sim: Simulator, params: dict[str, Any]) -> Any:
    name = params.get("instrument_name")
    market = sim.markets.get(name) if isinstance(name, str) else None
    if market is None:
        raise bad_param("instrument_name", "instrument not found")
    return market


def get_order_book(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    market = _market(sim, params)
    depth = params.get("depth", 20)
    if depth not in ORDER_BOOK_DEPTHS or isinstance(depth, bool):
        raise bad_param("depth", f"must be one of {ORDER_BOOK_DEPTHS}")
    now = _now_ms()
    bids, asks = market.top(depth)
    result = market.ticker(now)
    result.update(change_id=market.change_id, bids=bids, asks=asks)
    return result


def ticker(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    return _market(sim, params).ticker(_now_ms())


# --- simulator-only methods -------------------------------------------------------------------


def fault(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    kind = params.get("kind")
    if not isinstance(kind, str):
        raise bad_param("kind", "required")
    return sim.faults.inject(kind, params, caller=conn)


def true_book(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    market = _market(sim, params)
    change_id, bids, asks = market.true_book()
    return {
        "change_id": change_id,
        "bids": sorted(([p, a] for p, a in bids.items()), reverse=True),
        "asks": sorted([p, a] for p, a in asks.items()),
    }


def _one_or_all(sim: Simulator, params: dict[str, Any]) -> str | None:
    """``instrument_name`` when given (it must exist); None means every market."""
    if "instrument_name" not in params:
        return None
    name: str = _market(sim, params).spec.name
    return name


def pause(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    sim.pause(_one_or_all(sim, params))
    return "ok"


def resume(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    sim.resume(_one_or_all(sim, params))
    return "ok"


def step(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    count = params.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 1_000_000:
        raise bad_param("count", "must be an integer in [1, 1000000]")
    sim.advance(count)
    return {name: market.change_id for name, market in sim.markets.items()}


def stats(sim: Simulator, conn: Connection, params: dict[str, Any]) -> Any:
    return sim.stats.as_dict()


HANDLERS: dict[str, Handler] = {
    "public/hello": hello,
    "public/test": test,
    "public/get_time": get_time,
    "public/set_heartbeat": set_heartbeat,
    "public/disable_heartbeat": disable_heartbeat,
    "public/auth": auth,
    "public/subscribe": subscribe,
    "private/subscribe": private_subscribe,
    "public/unsubscribe": unsubscribe,
    "private/unsubscribe": private_unsubscribe,
    "public/unsubscribe_all": unsubscribe_all,
    "private/unsubscribe_all": private_unsubscribe_all,
    "public/get_instruments": get_instruments,
    "public/get_order_book": get_order_book,
    "public/ticker": ticker,
    "simulator/fault": fault,
    "simulator/true_book": true_book,
    "simulator/pause": pause,
    "simulator/resume": resume,
    "simulator/step": step,
    "simulator/stats": stats,
}
