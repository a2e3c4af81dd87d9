"""public/auth over the wire: both grants, refresh, expiry, connection vs session scope."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.plugins.simulator import RawClient
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

CLIENT_ID, SECRET = "test-key", "test-secret"
RAW = "book.BTC-PERPETUAL.raw"


@pytest.fixture
def auth_sim() -> Iterator[RunningSimulator]:
    with start_in_thread(
        instruments=["BTC-PERPETUAL"],
        rate=50.0,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        token_ttl=1.0,
    ) as running:
        yield running


def credentials(**extra: Any) -> dict[str, Any]:
    return {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        **extra,
    }


def signed(timestamp: int, nonce: str, secret: str = SECRET) -> dict[str, Any]:
    # Written from Deribit's documentation, independently of the simulator's own code.
    message = f"{timestamp}\n{nonce}\n".encode()
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "grant_type": "client_signature",
        "client_id": CLIENT_ID,
        "timestamp": timestamp,
        "nonce": nonce,
        "data": "",
        "signature": signature,
    }


def test_the_documented_signature_recipe_gives_the_published_vector() -> None:
    message = b"1576074319000\n1iqt2wls\n"
    digest = hmac.new(b"AMANDASECRECT", message, hashlib.sha256).hexdigest()
    assert digest == "56590594f97921b09b18f166befe0d1319b198bbcdad7ca73382de2f88fe9aa1"


async def test_client_credentials_grant_and_wrong_secret(auth_sim: RunningSimulator) -> None:
    async with await RawClient.connect(auth_sim.url) as client:
        wrong = await client.call("public/auth", {**credentials(), "client_secret": "nope"})
        assert wrong["error"]["code"] == 13004
        result = await client.result("public/auth", credentials())
        assert result["token_type"] == "bearer"
        assert result["scope"].split()[0] == "connection"
        assert result["expires_in"] == 1
        assert result["access_token"] != result["refresh_token"]
        assert await client.result("public/subscribe", {"channels": [RAW]}) == [RAW]


async def test_client_signature_grant_checks_hmac_time_and_nonce(
    auth_sim: RunningSimulator,
) -> None:
    async with await RawClient.connect(auth_sim.url) as client:
        now = int(time.time() * 1000)
        assert (await client.call("public/auth", signed(now, "n1", "bad")))["error"][
            "code"
        ] == 13004
        stale = await client.call("public/auth", signed(1576074319000, "1iqt2wls"))
        assert stale["error"]["code"] == 13004
        assert (await client.result("public/auth", signed(now, "n2")))["access_token"]
        replay = await client.call("public/auth", signed(now, "n2"))
        assert replay["error"]["code"] == 13004
        assert await client.result("private/subscribe", {"channels": [RAW]}) == [RAW]


async def test_tokens_expire_and_refresh_rotates_them(auth_sim: RunningSimulator) -> None:
    async with await RawClient.connect(auth_sim.url) as client:
        unauthorized = await client.call("private/subscribe", {"channels": [RAW]})
        assert unauthorized["error"]["code"] == 13009
        first = await client.result("public/auth", credentials())
        assert await client.result("private/unsubscribe_all") == "ok"  # authorised, for now
        expired: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # token_ttl is 1 s: wait for expiry by asking
            expired = await client.call("private/subscribe", {"channels": [RAW]})
            if "error" in expired:
                break
            await client.result("public/unsubscribe_all")
        assert expired["error"]["code"] == 13009
        params = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        fresh = await client.result("public/auth", params)
        assert fresh["access_token"] != first["access_token"]
        assert await client.result("private/subscribe", {"channels": [RAW]}) == [RAW]
        reused = await client.call("public/auth", params)
        assert reused["error"]["code"] == 13004


async def test_session_scope_survives_a_reconnect_connection_scope_does_not(
    auth_sim: RunningSimulator,
) -> None:
    async with await RawClient.connect(auth_sim.url) as first:
        session = await first.result("public/auth", credentials(scope="session:bot"))
        connection = await first.result("public/auth", credentials())
    assert session["scope"].startswith("session:bot")
    async with await RawClient.connect(auth_sim.url) as second:
        lost = await second.call(
            "public/auth",
            {"grant_type": "refresh_token", "refresh_token": connection["refresh_token"]},
        )
        assert lost["error"]["code"] == 13004
        kept = await second.result(
            "public/auth",
            {"grant_type": "refresh_token", "refresh_token": session["refresh_token"]},
        )
        assert kept["scope"].startswith("session:bot")
    async with await RawClient.connect(auth_sim.url) as third:
        params = {"channels": [RAW], "access_token": kept["access_token"]}
        assert await third.result("private/subscribe", params) == [RAW]
