"""Deribit ``public/auth``: request parameters, signatures, and when to refresh the token.

Secrets stay in :class:`pydantic.SecretStr` until the moment a request frame is built; tokens are
kept as ``SecretStr`` too, so neither shows up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from lobstream.settings import DeribitSettings

# Refresh this long before expiry, but never earlier than at 80% of the token's lifetime.
REFRESH_LEAD_SECONDS = 60.0
REFRESH_LEAD_FRACTION = 0.2


def signature(secret: str, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """``hex(HMAC-SHA256(secret, f"{timestamp}\\n{nonce}\\n{data}"))`` as Deribit defines it."""
    message = f"{timestamp_ms}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A fresh random nonce for ``client_signature``."""
    return secrets.token_urlsafe(12)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Token:
    """A granted token and the monotonic times at which to refresh it and when it expires."""

    access_token: SecretStr
    refresh_token: SecretStr
    scope: str
    expires_at: float
    refresh_at: float

    @classmethod
    def from_result(cls, result: Any, now: float) -> Token:
        """Read a ``public/auth`` result; raises ``ValueError`` if it is not one."""
        if not isinstance(result, dict):
            raise ValueError("auth result is not an object")
        try:
            access = str(result["access_token"])
            refresh = str(result["refresh_token"])
            expires_in = float(result["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"auth result lacks {exc}") from None
        if expires_in <= 0:
            raise ValueError("auth result has a non-positive expires_in")
        lead = min(REFRESH_LEAD_SECONDS, expires_in * REFRESH_LEAD_FRACTION)
        return cls(
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            scope=str(result.get("scope", "")),
            expires_at=now + expires_in,
            refresh_at=now + expires_in - lead,
        )

    def valid(self, now: float) -> bool:
        return now < self.expires_at


class Authenticator:
    """Builds ``public/auth`` parameters from settings and remembers the current token."""

    def __init__(
        self,
        settings: DeribitSettings,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        nonce: Callable[[], str] = new_nonce,
    ) -> None:
        if settings.client_id is None or settings.client_secret is None:
            raise ValueError("authentication needs client_id and client_secret")
        self._client_id = settings.client_id
        self._secret = settings.client_secret
        self._grant = settings.auth_grant
        self._scope = f"session:{settings.auth_session_name}" if settings.auth_session_name else ""
        self._clock_ms = clock_ms
        self._nonce = nonce
        self.token: Token | None = None

    def credentials_params(self) -> dict[str, Any]:
        """Parameters of a full authentication with the configured grant."""
        params: dict[str, Any] = {"grant_type": self._grant, "client_id": self._client_id}
        if self._grant == "client_signature":
            timestamp = self._clock_ms()
            nonce = self._nonce()
            params["timestamp"] = timestamp
            params["nonce"] = nonce
            params["data"] = ""
            params["signature"] = signature(self._secret.get_secret_value(), timestamp, nonce)
        else:
            params["client_secret"] = self._secret.get_secret_value()
        if self._scope:
            params["scope"] = self._scope
        return params

    def refresh_params(self) -> dict[str, Any] | None:
        """Parameters of a ``refresh_token`` grant, or None without a token."""
        if self.token is None:
            return None
        return {
            "grant_type": "refresh_token",
            "refresh_token": self.token.refresh_token.get_secret_value(),
        }

    def params(self, now: float) -> dict[str, Any]:
        """What to send now: a refresh while the token lives (same session), else a login."""
        if self.token is not None and self.token.valid(now):
            refresh = self.refresh_params()
            if refresh is not None:
                return refresh
        return self.credentials_params()

    def granted(self, result: Any, now: float) -> Token:
        """Store the token from a successful ``public/auth`` result."""
        self.token = Token.from_result(result, now)
        return self.token

    def forget(self) -> None:
        """Drop the token (it was rejected); the next ``params`` is a full login."""
        self.token = None

    def refresh_due(self, now: float) -> bool:
        return self.token is not None and now >= self.token.refresh_at

    def __repr__(self) -> str:
        return f"Authenticator(client_id={self._client_id!r}, grant={self._grant!r})"
