"""The sans-I/O Deribit session, driven frame by frame with an explicit clock (no sockets)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lobstream.deribit.events import Connected, Disconnected, Maintenance, Received, Resync
from lobstream.deribit.protocol import MAX_FRAME_BYTES
from lobstream.deribit.session import Reply, Session, batch_channels, subscription_channels
from lobstream.settings import DeribitSettings

BTC = "book.BTC-PERPETUAL.100ms"
ETH = "book.ETH-PERPETUAL.100ms"


def make_settings(**overrides: Any) -> DeribitSettings:
    values: dict[str, Any] = {
        "instruments": ["BTC-PERPETUAL", "ETH-PERPETUAL"],
        "channels": ["book", "ticker"],
        "heartbeat_seconds": 10,
        "request_timeout_seconds": 5.0,
        "backoff_initial_seconds": 0.5,
        "backoff_max_seconds": 30.0,
        "backoff_rate_limited_seconds": 4.0,
    }
    values.update(overrides)
    return DeribitSettings(**values)


class Peer:
    """Plays the exchange's side: reads what the session sent, answers it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.requests: list[dict[str, Any]] = []

    def take(self) -> list[dict[str, Any]]:
        frames = [orjson.loads(frame) for frame in self.session.data_to_send()]
        self.requests.extend(frames)
        return frames

    def feed(self, doc: Any, now: float) -> bytes:
        raw = orjson.dumps(doc)
        self.session.receive(raw, now, 123)
        return raw

    def answer(self, request: dict[str, Any], result: Any, now: float) -> None:
        self.feed({"jsonrpc": "2.0", "id": request["id"], "result": result}, now)

    def fail(self, request: dict[str, Any], code: int, now: float) -> None:
        error = {"code": code, "message": "nope"}
        self.feed({"jsonrpc": "2.0", "id": request["id"], "error": error}, now)

    def answer_all(self, requests: list[dict[str, Any]], now: float) -> None:
        for request in requests:
            result = request["params"].get("channels", "ok")
            if request["method"] == "public/test":
                result = {"version": "1"}
            self.answer(request, result, now)

    def notify(self, channel: str, data: Any, now: float) -> bytes:
        doc = {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": channel, "data": data},
        }
        return self.feed(doc, now)


def book(
    kind: str, change_id: int, prev: int | None = None, name: str = "BTC-PERPETUAL"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": kind,
        "timestamp": 1,
        "instrument_name": name,
        "change_id": change_id,
        "bids": [["new", 100.0, 10.0]],
        "asks": [],
    }
    if prev is not None:
        data["prev_change_id"] = prev
    return data


def live(**overrides: Any) -> tuple[Session, Peer]:
    """A session whose handshake and subscriptions completed at t=0."""
    session = Session(make_settings(**overrides), rng=random.Random(7))
    peer = Peer(session)
    session.connection_made(0.0, "ws://x")
    peer.answer_all(peer.take(), 0.0)
    assert session.ready
    session.events()
    return session, peer


def by_method(requests: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [request for request in requests if request["method"] == method]


# --- handshake and subscriptions ------------------------------------------------------------------


def test_handshake_sends_hello_heartbeat_and_subscribes_everything() -> None:
    session = Session(make_settings(channels=["book", "grouped_book", "ticker", "trades"]))
    peer = Peer(session)
    session.connection_made(0.0, "ws://x")
    sent = peer.take()
    assert [r["method"] for r in sent[:2]] == ["public/hello", "public/set_heartbeat"]
    assert sent[1]["params"] == {"interval": 10}
    ids = [r["id"] for r in sent]
    assert len(set(ids)) == len(ids)
    subscribed = [c for r in by_method(sent, "public/subscribe") for c in r["params"]["channels"]]
    assert subscribed == [
        "book.BTC-PERPETUAL.100ms",
        "book.BTC-PERPETUAL.none.10.100ms",
        "ticker.BTC-PERPETUAL.100ms",
        "trades.BTC-PERPETUAL.100ms",
        "book.ETH-PERPETUAL.100ms",
        "book.ETH-PERPETUAL.none.10.100ms",
        "ticker.ETH-PERPETUAL.100ms",
        "trades.ETH-PERPETUAL.100ms",
        "platform_state",
    ]
    assert session.events() == [Connected("ws://x")]
    assert not session.ready
    peer.answer_all(sent, 0.1)
    assert session.ready
    assert session.subscribed == set(subscribed)


def test_batches_stay_under_the_limit_with_many_instruments() -> None:
    names = [f"INSTRUMENT-{i:05d}-29MAR30-100000-C" for i in range(3000)]
    session = Session(make_settings(instruments=names, channels=["book", "ticker", "trades"]))
    peer = Peer(session)
    session.connection_made(0.0)
    frames = session.data_to_send()
    subscribes = [f for f in frames if '"public/subscribe"' in f]
    assert len(subscribes) > 10
    for frame in subscribes:
        assert len(frame.encode()) <= 16_000 < MAX_FRAME_BYTES
    requested = [c for f in subscribes for c in orjson.loads(f)["params"]["channels"]]
    assert requested == subscription_channels(session.settings)
    del peer


def test_batch_channels_exact_limit() -> None:
    channels = [f"ticker.X{i}.100ms" for i in range(200)]
    for limit in (600, 1000, 4096):
        batches = batch_channels(channels, limit)
        assert [c for b in batches for c in b] == channels
        for number, batch in enumerate(batches):
            frame = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 10**15,
                    "method": "public/subscribe",
                    "params": {"channels": batch},
                }
            )
            assert len(frame) <= limit
            if number + 1 < len(batches):
                # Greedy: the next channel would not have fitted.
                longer = orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 10**15,
                        "method": "public/subscribe",
                        "params": {"channels": [*batch, batches[number + 1][0]]},
                    }
                )
                assert len(longer) > limit - 8


def test_subscribe_result_mismatch_is_counted_and_remembered() -> None:
    session = Session(make_settings())
    peer = Peer(session)
    session.connection_made(0.0)
    for request in peer.take():
        if request["method"] == "public/subscribe":
            asked = request["params"]["channels"]
            peer.answer(request, [c for c in asked if "ETH" not in c], 0.1)
        else:
            peer.answer(request, "ok", 0.1)
    assert session.ready
    assert session.refused == {ETH, "ticker.ETH-PERPETUAL.100ms"}
    assert session.stats.channels_refused == 2
    assert ETH not in session.subscribed


# --- heartbeat --------------------------------------------------------------------------------


def test_test_request_is_answered_with_public_test() -> None:
    session, peer = live()
    peer.feed({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}, 1.0)
    sent = peer.take()
    assert [r["method"] for r in sent] == ["public/test"]
    assert sent[0]["params"] == {}
    assert session.stats.test_requests == 1
    peer.answer(sent[0], {"version": "1.2.26"}, 1.1)
    assert session.events() == []


def test_silence_beyond_two_intervals_is_a_dead_peer() -> None:
    session, peer = live()
    for second in range(1, 60, 10):
        peer.feed(
            {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "heartbeat"}}, second
        )
        session.tick(second + 9.5)
    assert session.closing is None
    last = 51.0
    session.tick(last + 20.5)
    assert session.closing is None
    session.tick(last + 21.5)
    assert session.closing is not None
    assert "dead peer" in session.closing
    assert session.stats.dead_peer == 1
    session.connection_lost(session.closing)
    assert isinstance(session.events()[-1], Disconnected)


def test_back_pressure_pause_is_not_a_dead_peer() -> None:
    session, _ = live()
    request_id = session.call("public/get_time", None, 1.0)
    session.pause_liveness(2.0)
    session.tick(100.0)
    assert session.closing is None
    assert session.replies() == []  # the answer may be sitting in our own unread buffer
    session.resume_liveness(100.0)
    session.tick(103.5)
    assert session.replies() == []  # 1 s before the pause + 3.5 s after it < 5 s
    session.tick(104.5)
    assert [reply.request_id for reply in session.replies()] == [request_id]
    session.tick(115.0)
    assert session.closing is None
    session.tick(122.0)
    assert session.closing is not None


def test_user_call_times_out_with_timeout_error() -> None:
    session, peer = live()
    user = session.call("public/get_time", {}, 1.0)
    peer.take()
    session.tick(5.9)
    assert session.replies() == []
    session.tick(6.1)
    (reply,) = session.replies()
    assert reply.request_id == user
    assert isinstance(reply.error, TimeoutError)
    assert session.closing is None


def test_unanswered_subscribe_closes_the_connection() -> None:
    session = Session(make_settings())
    peer = Peer(session)
    session.connection_made(0.0)
    for request in peer.take():
        if request["method"] != "public/subscribe":
            peer.answer(request, "ok", 0.1)
    session.tick(5.5)
    assert session.closing is not None
    assert "public/subscribe" in session.closing
    assert session.stats.request_timeouts == 1


def test_user_call_result_and_error_come_back_as_replies() -> None:
    session, peer = live()
    first = session.call("public/get_time", None, 1.0)
    second = session.call("public/nope", {"a": 1}, 1.0)
    one, two = peer.take()
    assert (one["id"], two["id"]) == (first, second)
    peer.answer(one, 1700000000000, 1.1)
    peer.fail(two, -32601, 1.1)
    replies = session.replies()
    assert replies[0] == Reply(first, 1700000000000)
    assert replies[1].error is not None
    assert getattr(replies[1].error, "code", None) == -32601


def test_disconnect_fails_pending_user_calls() -> None:
    session, _peer = live()
    request_id = session.call("public/get_time", None, 1.0)
    session.connection_lost("drop")
    (reply,) = session.replies()
    assert reply.request_id == request_id
    assert isinstance(reply.error, ConnectionError)
    with pytest.raises(ConnectionError):
        session.call("public/get_time", None, 2.0)


# --- book continuity --------------------------------------------------------------------------


def test_gap_resyncs_only_that_instrument() -> None:
    session, peer = live()
    peer.notify(BTC, book("snapshot", 10), 1.0)
    peer.notify(ETH, book("snapshot", 500, name="ETH-PERPETUAL"), 1.0)
    peer.notify(BTC, book("change", 12, 10), 1.1)
    assert len(session.events()) == 3
    # 13 -> 15 skips what came in between.
    peer.notify(BTC, book("change", 15, 14), 1.2)
    events = session.events()
    assert isinstance(events[0], Received)
    assert events[0].data["change_id"] == 15
    assert events[1] == Resync("BTC-PERPETUAL", events[1].reason, BTC)  # type: ignore[union-attr]
    assert session.stats.gaps == 1
    assert session.stats.gaps_by_instrument == {"BTC-PERPETUAL": 1}
    sent = peer.take()
    assert [(r["method"], r["params"]["channels"]) for r in sent] == [
        ("public/unsubscribe", [BTC]),
        ("public/subscribe", [BTC]),
    ]
    # BTC changes are dropped until the new snapshot; ETH keeps flowing.
    peer.notify(BTC, book("change", 16, 15), 1.3)
    peer.notify(ETH, book("change", 501, 500, name="ETH-PERPETUAL"), 1.3)
    events = session.events()
    assert [e.channel for e in events if isinstance(e, Received)] == [ETH]
    assert session.stats.book_changes_dropped == 1
    peer.answer_all(sent, 1.4)
    peer.notify(BTC, book("snapshot", 20), 1.5)
    peer.notify(BTC, book("change", 21, 20), 1.6)
    assert [e.data["change_id"] for e in session.events() if isinstance(e, Received)] == [20, 21]
    assert session.stats.resyncs == 1
    assert session.stats.snapshots == 3


def test_second_gap_while_resyncing_does_not_resubscribe_twice() -> None:
    session, peer = live()
    peer.notify(BTC, book("snapshot", 10), 1.0)
    peer.notify(BTC, book("change", 15, 14), 1.1)
    assert len(by_method(peer.take(), "public/subscribe")) == 1
    peer.notify(BTC, book("snapshot", 20), 1.2)
    peer.notify(BTC, book("change", 25, 24), 1.3)
    assert peer.take() == []  # the first resubscribe is still unanswered
    assert session.stats.gaps == 2
    assert session.stats.resyncs == 1


def test_changes_before_the_first_snapshot_are_dropped() -> None:
    session, peer = live()
    peer.notify(BTC, book("change", 11, 10), 1.0)
    assert session.events() == []
    assert session.stats.book_changes_dropped == 1
    assert session.stats.gaps == 0


def test_received_carries_the_raw_bytes() -> None:
    session, peer = live()
    raw = peer.notify("ticker.BTC-PERPETUAL.100ms", {"mark_price": 1.5}, 1.0)
    (event,) = session.events()
    assert event == Received(
        "ticker.BTC-PERPETUAL.100ms", "ticker", "BTC-PERPETUAL", {"mark_price": 1.5}, raw, 123
    )


def test_reconnect_resets_continuity() -> None:
    session, peer = live()
    peer.notify(BTC, book("snapshot", 10), 1.0)
    session.connection_lost("drop")
    session.connection_made(2.0)
    peer.answer_all(peer.take(), 2.0)
    session.events()
    peer.notify(BTC, book("change", 11, 10), 2.1)  # old chain: not trusted after a reconnect
    assert session.events() == []
    peer.notify(BTC, book("snapshot", 30), 2.2)
    assert len(session.events()) == 1


def test_platform_state_maintenance() -> None:
    session, peer = live()
    peer.notify("platform_state", {"maintenance": True}, 1.0)
    peer.notify("platform_state", {"maintenance": False}, 2.0)
    events = session.events()
    assert [e for e in events if isinstance(e, Maintenance)] == [
        Maintenance(True),
        Maintenance(False),
    ]
    assert sum(isinstance(e, Received) for e in events) == 2


# --- errors and back-off ----------------------------------------------------------------------


def test_rate_limited_subscribe_is_retried_after_the_floor() -> None:
    session = Session(make_settings(), rng=random.Random(1))
    peer = Peer(session)
    session.connection_made(0.0)
    (subscribe,) = by_method(peer.take(), "public/subscribe")
    peer.fail(subscribe, 10028, 0.1)
    assert session.stats.rate_limited == 1
    session.tick(4.0)
    assert by_method(peer.take(), "public/subscribe") == []
    session.tick(0.1 + 4.0 + 0.5)
    (again,) = by_method(peer.take(), "public/subscribe")
    assert again["params"] == subscribe["params"]
    assert again["id"] != subscribe["id"]
    assert session.reconnect_delay() >= 4.0


def test_reconnect_delay_is_full_jitter_and_resets_on_success() -> None:
    session = Session(make_settings(backoff_rate_limited_seconds=0), rng=random.Random(3))
    delays = [session.reconnect_delay() for _ in range(12)]
    assert all(0 <= d <= 30.0 for d in delays)
    assert max(delays[:2]) <= 1.0
    session.connection_made(0.0)
    Peer(session).answer_all(Peer(session).take(), 0.0)
    assert session.ready
    assert session.reconnect_delay() <= 0.5


def test_non_retriable_handshake_error_is_fatal() -> None:
    session = Session(make_settings())
    peer = Peer(session)
    session.connection_made(0.0)
    (subscribe,) = by_method(peer.take(), "public/subscribe")
    peer.fail(subscribe, 13778, 0.1)
    assert session.fatal is not None
    assert session.fatal.code == 13778
    assert session.closing is not None


def test_bad_frames_are_counted_not_raised() -> None:
    session, peer = live()
    for frame in (b"", b"{", b"[1,2]", b'{"jsonrpc":"2.0","id":99999,"result":1}', b"\xff\xfe"):
        session.receive(frame, 1.0, 1)
    peer.notify(BTC, {"type": "snapshot"}, 1.0)
    peer.notify(BTC, [1, 2], 1.0)
    assert session.stats.bad_frames == 6
    assert session.stats.unmatched_responses == 1
    assert session.events() == []


_valid_frames = [
    orjson.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": BTC, "data": book("change", 3, 2)},
        }
    ),
    orjson.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": BTC, "data": book("snapshot", 2)},
        }
    ),
    orjson.dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}),
    orjson.dumps({"jsonrpc": "2.0", "id": 3, "result": [BTC]}),
    orjson.dumps({"jsonrpc": "2.0", "id": 4, "error": {"code": 10028, "message": "x"}}),
    orjson.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": "platform_state", "data": {"maintenance": 1}},
        }
    ),
]

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "method",
                    "params",
                    "result",
                    "error",
                    "channel",
                    "data",
                    "type",
                    "change_id",
                    "prev_change_id",
                    "code",
                    "jsonrpc",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.builds(lambda f, n: f[:n], st.sampled_from(_valid_frames), st.integers(0, 400)),
            _json.map(orjson.dumps),
            st.sampled_from(_valid_frames),
        ),
        max_size=30,
    )
)
def test_arbitrary_and_truncated_frames_never_crash(frames: list[bytes]) -> None:
    session, _ = live()
    before = session.stats.frames
    now = 1.0
    for frame in frames:
        now += 0.01
        session.receive(frame, now, 1)
        session.tick(now)
    session.data_to_send()
    for event in session.events():
        if isinstance(event, Received):
            assert event.raw in frames
    assert session.stats.frames - before == len(frames)
