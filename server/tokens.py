"""Personal tokens: signed claims the hub can check without a lookup.

A token is ``wr1.<claims>.<signature>``: the claims are compact JSON in
base64url, and the signature is HMAC-SHA256 over ``wr1.<claims>`` with the
hub's secret. Any hub holding the same secret can check a token by itself; only
revocation needs the shared store. The token string is shown once and never
stored, so the store holds nothing that lets anyone act.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.schema import format_time, parse_time

PREFIX = "wr1"
HUB_TOKEN_ID = "hub"  # the id the hub's own token appears under in the audit log
METRICS = "metrics"  # a scope entry that is no incident: the token may read /metrics


class Level(IntEnum):
    """What a token may do; each level can do everything the ones below it can."""

    VIEWER = 1  # reads rooms, sends nothing
    RESPONDER = 2  # acts in rooms, within the incident role rules
    ADMIN = 3  # also manages tokens and reads the audit log

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls[text.upper()]
        except KeyError:
            raise WarroomError(
                Code.INVALID_VALUE, f"level must be one of {', '.join(m.label for m in cls)}", "level"
            ) from None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is on the other end of a connection or request, as the token says."""

    token_id: str
    name: str | None  # bound by the token; None for the hub token, whose users name themselves
    level: Level
    scope: frozenset[str] | None = None  # incident ids; None covers every incident
    expires_at: str | None = None

    @property
    def is_hub_token(self) -> bool:
        return self.token_id == HUB_TOKEN_ID

    def covers(self, room: str | None) -> bool:
        return self.scope is None or (room is not None and room != METRICS and room in self.scope)

    @property
    def reads_metrics(self) -> bool:
        """A token scoped to ``metrics``, or an admin of every incident."""
        every = self.scope is None and self.level >= Level.ADMIN
        return every or (self.scope is not None and METRICS in self.scope)

    def describe(self) -> dict[str, Any]:
        return {
            "token": self.token_id,
            "level": self.level.label,
            "scope": sorted(self.scope) if self.scope is not None else "all",
            "expires_at": self.expires_at,
        }


HUB_IDENTITY = Identity(HUB_TOKEN_ID, None, Level.ADMIN)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, signed: str) -> str:
    return _b64(hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest())


def new_token() -> str:
    """A hub token, when ``warroom serve`` was given none."""
    return secrets.token_urlsafe(24)


def bearer(header: str | None) -> str | None:
    """The token in an ``Authorization: Bearer`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def new_token_id() -> str:
    return "t" + secrets.token_hex(5)


def sign(secret: bytes, identity: Identity, issued_at: str) -> str:
    claims = {
        "id": identity.token_id,
        "name": identity.name,
        "level": identity.level.label,
        "scope": sorted(identity.scope) if identity.scope is not None else None,
        "iat": issued_at,
        "exp": identity.expires_at,
    }
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{PREFIX}.{body}"
    return f"{signed}.{_signature(secret, signed)}"


class BadToken(Exception):
    """Not a token this hub signed; the message says which check failed, for the audit log."""


def verify(secret: bytes, token: str) -> Identity:
    """The identity a token carries, once its signature checks out. Expiry is the caller's."""
    parts = token.split(".")
    if not token.isascii() or len(parts) != 3 or parts[0] != PREFIX:
        raise BadToken("malformed")
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_signature(secret, signed), parts[2]):
        raise BadToken("bad signature")
    try:
        claims = json.loads(_unb64(parts[1]))
        scope = claims["scope"]
        return Identity(
            token_id=str(claims["id"]),
            name=str(claims["name"]),
            level=Level.parse(str(claims["level"])),
            scope=frozenset(str(s) for s in scope) if scope is not None else None,
            expires_at=claims["exp"],
        )
    except (ValueError, KeyError, TypeError, WarroomError):  # signed but unreadable: another version
        raise BadToken("unreadable claims") from None


def expired(identity: Identity, now: datetime) -> bool:
    return identity.expires_at is not None and parse_time(identity.expires_at) <= now


_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration(text: str, field: str) -> int:
    """Seconds in ``90m``, ``12h``, ``30d`` or ``2w``."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise WarroomError(Code.INVALID_VALUE, f"{field}: {text!r} is not a duration like 30d or 12h", field)
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > 10 * 365 * 86400:
        raise WarroomError(Code.INVALID_VALUE, f"{field}: at most ten years", field)
    return seconds


def expiry(text: str, now: datetime) -> str | None:
    """When a token made now with ``--expires text`` runs out; ``never`` is None."""
    if text == "never":
        return None
    return format_time(now + timedelta(seconds=duration(text, "expires")))


class SecretError(Exception):
    """The secret file cannot be used; the message names the file and what to do."""


def load_secret(path: Path) -> bytes:
    """The hub's signing secret: made on first start, readable by its owner only.

    A file others can read is refused, as ssh refuses a loose private key:
    anyone holding the secret can mint an admin token.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SecretError(f"{path}: cannot create the hub secret: {exc.strerror or exc}") from None
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretError(f"{path}: the hub secret is readable by others (mode {mode:04o}); chmod 600 it")
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: cannot read the hub secret: {exc}") from None
    if not re.fullmatch(r"(?:[0-9a-f]{2}){32,}", text):
        raise SecretError(f"{path}: not a hub secret (expected 64 or more hex digits)")
    return bytes.fromhex(text)
