"""The simulator's side of ``public/auth``: credentials, signatures and tokens. No I/O.

Tokens with scope ``connection`` die with their connection; ``session:NAME`` tokens survive it,
so a client that reconnects can refresh or present them. Expiry is checked against the clock
passed in, so tests can use a short ``expires_in``.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from lobstream.deribit import protocol
from lobstream.deribit.auth import signature as client_signature
from lobstream.simulator.rpc import RpcError, bad_param

SIGNATURE_WINDOW_MS = 60_000
GRANTED = "account:read trade:read wallet:read"


@dataclass
class Token:
    """One grant: an access token, its refresh token and what they are bound to."""

    access_token: str
    refresh_token: str
    scope: str  # "connection" or "session:NAME"
    expires_at: float
    refresh_expires_at: float
    connection_id: int

    @property
    def session(self) -> str | None:
        return self.scope[len("session:") :] if self.scope.startswith("session:") else None


class Accounts:
    """One configured API key and the tokens granted for it."""

    def __init__(self, client_id: str, client_secret: str, expires_in: float = 900.0) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.expires_in = expires_in
        self._access: dict[str, Token] = {}
        self._refresh: dict[str, Token] = {}
        self._nonces: dict[tuple[int, str], float] = {}

    def grant(self, params: dict[str, Any], now: float, connection_id: int) -> Token:
        """Authenticate per ``params`` (any of the three grant types) at time ``now`` (s)."""
        grant_type = params.get("grant_type")
        scope = _scope(params.get("scope"))
        if grant_type == "client_credentials":
            self._check_id(params)
            secret = params.get("client_secret")
            if not isinstance(secret, str) or not hmac.compare_digest(secret, self._secret):
                raise RpcError(protocol.INVALID_CREDENTIALS)
        elif grant_type == "client_signature":
            self._check_signature(params, now)
        elif grant_type == "refresh_token":
            old = self._refresh.get(str(params.get("refresh_token")))
            if old is None or old.refresh_expires_at <= now:
                raise RpcError(protocol.INVALID_CREDENTIALS)
            if old.session is None and old.connection_id != connection_id:
                raise RpcError(protocol.INVALID_CREDENTIALS)
            self._revoke(old)
            scope = old.scope
        else:
            raise bad_param(
                "grant_type", "must be client_credentials, client_signature or refresh_token"
            )
        return self._issue(scope, now, connection_id)

    def check(self, access_token: str, now: float) -> Token | None:
        """The live token for ``access_token``, or None if unknown or expired."""
        token = self._access.get(access_token)
        return token if token is not None and token.expires_at > now else None

    def connection_closed(self, connection_id: int) -> None:
        """Revoke every connection-scoped token of a connection that went away."""
        for token in [t for t in self._access.values() if t.connection_id == connection_id]:
            if token.session is None:
                self._revoke(token)

    def result(self, token: Token, now: float) -> dict[str, Any]:
        return {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_in": max(0, round(token.expires_at - now)),
            "scope": f"{token.scope} {GRANTED}",
            "token_type": "bearer",
        }

    def _check_id(self, params: dict[str, Any]) -> None:
        client_id = params.get("client_id")
        if not isinstance(client_id, str):
            raise bad_param("client_id", "required")
        if not hmac.compare_digest(client_id, self.client_id):
            raise RpcError(protocol.INVALID_CREDENTIALS)

    def _check_signature(self, params: dict[str, Any], now: float) -> None:
        self._check_id(params)
        timestamp, nonce = params.get("timestamp"), params.get("nonce")
        signature, data = params.get("signature"), params.get("data", "")
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise bad_param("timestamp", "must be an integer (ms)")
        if (
            not isinstance(nonce, str)
            or not isinstance(signature, str)
            or not isinstance(data, str)
        ):
            raise bad_param("signature", "nonce, signature and data must be strings")
        if abs(now * 1000 - timestamp) > SIGNATURE_WINDOW_MS:
            raise RpcError(protocol.INVALID_CREDENTIALS, data={"reason": "stale timestamp"})
        expected = client_signature(self._secret, timestamp, nonce, data)
        if not hmac.compare_digest(signature.lower(), expected):
            raise RpcError(protocol.INVALID_CREDENTIALS)
        self._nonces = {k: v for k, v in self._nonces.items() if v > now}
        if (timestamp, nonce) in self._nonces:
            raise RpcError(protocol.INVALID_CREDENTIALS, data={"reason": "nonce reused"})
        self._nonces[(timestamp, nonce)] = now + 2 * SIGNATURE_WINDOW_MS / 1000

    def _issue(self, scope: str, now: float, connection_id: int) -> Token:
        for stale in [t for t in self._refresh.values() if t.refresh_expires_at <= now]:
            self._revoke(stale)  # keeps the token tables bounded by the live grants
        token = Token(
            access_token=secrets.token_hex(16),
            refresh_token=secrets.token_hex(16),
            scope=scope,
            expires_at=now + self.expires_in,
            refresh_expires_at=now + max(10 * self.expires_in, 3_600.0),
            connection_id=connection_id,
        )
        self._access[token.access_token] = token
        self._refresh[token.refresh_token] = token
        return token

    def _revoke(self, token: Token) -> None:
        self._access.pop(token.access_token, None)
        self._refresh.pop(token.refresh_token, None)


def _scope(value: Any) -> str:
    if value is None:
        return "connection"
    if not isinstance(value, str):
        raise bad_param("scope", "must be a string")
    for part in value.split():
        if part == "connection" or (part.startswith("session:") and len(part) > len("session:")):
            return part
    return "connection"
