"""Authentication: the signature test vector, grant parameters and refresh scheduling."""

from __future__ import annotations

import logging
import random
from typing import Any

import orjson
import pytest

from lobstream.deribit.auth import Authenticator, Token, signature
from lobstream.deribit.backoff import Backoff
from lobstream.deribit.session import Session
from lobstream.settings import DeribitSettings

SECRET = "s3cr3t-never-logged"


def make_settings(**overrides: Any) -> DeribitSettings:
    values: dict[str, Any] = {
        "instruments": ["BTC-PERPETUAL"],
        "channels": ["book"],
        "client_id": "my-id",
        "client_secret": SECRET,
        "auth_session_name": "lobstream",
    }
    values.update(overrides)
    return DeribitSettings(**values)


def test_signature_matches_the_published_vector() -> None:
    assert (
        signature("AMANDASECRECT", 1576074319000, "1iqt2wls", "")
        == "56590594f97921b09b18f166befe0d1319b198bbcdad7ca73382de2f88fe9aa1"
    )


def test_client_credentials_params_carry_the_session_scope() -> None:
    auth = Authenticator(make_settings())
    assert auth.credentials_params() == {
        "grant_type": "client_credentials",
        "client_id": "my-id",
        "client_secret": SECRET,
        "scope": "session:lobstream",
    }
    assert SECRET not in repr(auth)


def test_client_signature_params() -> None:
    auth = Authenticator(
        make_settings(client_secret="AMANDASECRECT", auth_grant="client_signature"),
        clock_ms=lambda: 1576074319000,
        nonce=lambda: "1iqt2wls",
    )
    params = auth.credentials_params()
    assert params == {
        "grant_type": "client_signature",
        "client_id": "my-id",
        "timestamp": 1576074319000,
        "nonce": "1iqt2wls",
        "data": "",
        "signature": "56590594f97921b09b18f166befe0d1319b198bbcdad7ca73382de2f88fe9aa1",
        "scope": "session:lobstream",
    }


def test_token_refresh_time_is_before_expiry() -> None:
    result = {"access_token": "a", "refresh_token": "r", "expires_in": 900, "scope": "x"}
    token = Token.from_result(result, 100.0)
    assert token.expires_at == 1000.0
    assert token.refresh_at == 940.0
    short = Token.from_result({**result, "expires_in": 2}, 100.0)
    assert 101.0 < short.refresh_at < 102.0
    assert "a" not in repr(token.access_token)
    with pytest.raises(ValueError, match="expires_in"):
        Token.from_result({"access_token": "a", "refresh_token": "r"}, 0.0)


class Exchange:
    def __init__(self, session: Session) -> None:
        self.session = session

    def take(self) -> list[dict[str, Any]]:
        return [orjson.loads(frame) for frame in self.session.data_to_send()]

    def answer(self, request: dict[str, Any], result: Any, now: float) -> None:
        frame = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        self.session.receive(orjson.dumps(frame), now, 0)

    def tick(self, now: float) -> None:
        """A heartbeat arrives just before ``now`` so the peer is alive; then time passes."""
        heartbeat = {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "heartbeat"}}
        self.session.receive(orjson.dumps(heartbeat), now - 0.01, 0)
        self.session.tick(now)

    def fail(self, request: dict[str, Any], code: int, now: float) -> None:
        frame = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": code, "message": "x"}}
        self.session.receive(orjson.dumps(frame), now, 0)


def grant(expires_in: float, token: str = "t1") -> dict[str, Any]:
    return {
        "access_token": f"access-{token}",
        "refresh_token": f"refresh-{token}",
        "expires_in": expires_in,
        "scope": "session:lobstream",
        "token_type": "bearer",
    }


def authed_session(caplog: pytest.LogCaptureFixture) -> tuple[Session, Exchange]:
    session = Session(make_settings(), rng=random.Random(0))
    exchange = Exchange(session)
    session.connection_made(0.0)
    sent = exchange.take()
    methods = [r["method"] for r in sent]
    # Subscribing waits for auth: a raw book needs an authenticated connection.
    assert methods == ["public/hello", "public/set_heartbeat", "public/auth"]
    exchange.answer(sent[0], {"version": "1"}, 0.1)
    exchange.answer(sent[1], "ok", 0.1)
    exchange.answer(sent[2], grant(100), 0.2)
    (subscribe,) = exchange.take()
    assert subscribe["params"]["channels"] == ["book.BTC-PERPETUAL.raw", "platform_state"]
    exchange.answer(subscribe, subscribe["params"]["channels"], 0.3)
    assert session.ready
    return session, exchange


def test_refresh_is_sent_before_expiry_and_secrets_stay_out_of_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    session, exchange = authed_session(caplog)
    exchange.tick(79.0)
    assert exchange.take() == []
    exchange.tick(80.5)  # 100 s token, refreshed 20 s before expiry
    (refresh,) = exchange.take()
    assert refresh["method"] == "public/auth"
    assert refresh["params"] == {"grant_type": "refresh_token", "refresh_token": "refresh-t1"}
    exchange.tick(81.0)
    assert exchange.take() == []  # one refresh in flight, not one per tick
    exchange.answer(refresh, grant(100, "t2"), 81.0)
    assert session.stats.auth_refreshes == 1
    assert session.auth is not None
    assert session.auth.token is not None
    assert session.auth.token.refresh_at == pytest.approx(161.0)
    assert exchange.take() == []  # a refresh does not resubscribe
    for secret in (SECRET, "access-t1", "refresh-t1", "access-t2", "refresh-t2"):
        assert secret not in caplog.text


def test_rejected_refresh_falls_back_to_the_credentials(caplog: pytest.LogCaptureFixture) -> None:
    session, exchange = authed_session(caplog)
    exchange.tick(81.0)
    (refresh,) = exchange.take()
    exchange.fail(refresh, 13009, 81.1)
    (login,) = exchange.take()
    assert login["params"]["grant_type"] == "client_credentials"
    assert login["params"]["scope"] == "session:lobstream"
    exchange.answer(login, grant(100, "t3"), 81.2)
    assert session.fatal is None
    assert session.closing is None


def test_reconnect_reuses_the_session_token(caplog: pytest.LogCaptureFixture) -> None:
    session, exchange = authed_session(caplog)
    session.connection_lost("drop")
    session.connection_made(10.0)
    auth = [r for r in exchange.take() if r["method"] == "public/auth"]
    assert auth[0]["params"]["grant_type"] == "refresh_token"


def test_reconnect_after_expiry_logs_in_again(caplog: pytest.LogCaptureFixture) -> None:
    session, exchange = authed_session(caplog)
    session.connection_lost("drop")
    session.connection_made(200.0)
    auth = [r for r in exchange.take() if r["method"] == "public/auth"]
    assert auth[0]["params"]["grant_type"] == "client_credentials"


def test_invalid_credentials_are_fatal() -> None:
    session = Session(make_settings())
    exchange = Exchange(session)
    session.connection_made(0.0)
    auth = [r for r in exchange.take() if r["method"] == "public/auth"]
    exchange.fail(auth[0], 13004, 0.1)
    assert session.fatal is not None
    assert session.fatal.code == 13004
    assert session.closing is not None


def test_backoff_is_bounded_full_jitter_with_a_floor() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(5))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert delays[0] <= 0.5
    assert delays[1] <= 1.0
    assert max(delays[10:]) > 4.0  # the ceiling grew to the cap
    assert min(delays[10:]) < 2.0  # full jitter: small delays stay possible
    floored = [backoff.next_delay(floor=3.0) for _ in range(50)]
    assert all(3.0 <= d <= 8.0 for d in floored)
    backoff.reset()
    assert backoff.next_delay() <= 0.5
    with pytest.raises(ValueError, match="initial"):
        Backoff(2.0, 1.0)
