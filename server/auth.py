"""The shared-token check used by both the sync port and the HTTP API."""

from __future__ import annotations

import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(24)


def bearer_ok(header: str | None, token: str) -> bool:
    """True when an ``Authorization`` header carries ``Bearer <token>``, compared in constant time."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())
