"""The msgpack wire protocol between hub and clients (see docs/protocol.md).

Every frame is one binary websocket message holding a msgpack map whose ``t``
key names the frame type. The first frame a client sends is ``hello``, which
carries the protocol version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

from warroom.core.errors import Code, WarroomError
from warroom.core.events import NAME_MAX
from warroom.core.schema import Bool, Choice, Field, Int, Text, Time, type_name, validate

PROTOCOL_VERSION = 1
MAX_FRAME = 64 * 1024  # the largest frame the hub accepts from a client
MAX_ROOM_ID = 64


class Close(IntEnum):
    """Websocket close codes the hub uses, beyond the standard ones."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the hub is shutting down; reconnect later
    TOO_BIG = 1009  # a frame over MAX_FRAME
    UNAUTHORIZED = 4001  # the token was revoked or ran out; reconnecting will not help
    UNSUPPORTED_VERSION = 4002
    SLOW_CONSUMER = 4008  # the client's send queue overflowed; resume later


@dataclass(frozen=True)
class Rid(Field):
    """A request id: the client's own string or integer, echoed in the reply."""

    def check(self, value: Any) -> str | int:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(Code.WRONG_TYPE, f"expected a string or integer, got {type_name(value)}")
        if isinstance(value, str) and len(value) > 64:
            raise self.fail(Code.TOO_LONG, "the limit is 64 characters")
        return value


@dataclass(frozen=True)
class Uuid(Field):
    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(Code.WRONG_TYPE, f"expected a UUID string, got {type_name(value)}")
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise self.fail(Code.INVALID_VALUE, f"{value[:40]!r} is not a UUID") from None


@dataclass(frozen=True)
class Anything(Field):
    """Passed through as is; the event schema checks it afterwards."""

    def check(self, value: Any) -> Any:
        return value


def _room(required: bool = True) -> Text:
    return Text("room", required=required, max_len=MAX_ROOM_ID)


# What an admin token can do over the sync channel: tokens, the audit log and the hub's config.
ADMIN_OPS = ("token.create", "token.list", "token.revoke", "audit", "config.show", "config.reload")

# Frames a client may send, with their fields.
CLIENT_FRAMES: dict[str, tuple[Field, ...]] = {
    "hello": (
        Int("v", minimum=0, maximum=2**31),
        Text("name", max_len=NAME_MAX),
        Text("client", required=False, max_len=128),
    ),
    "join": (
        Rid("rid", required=False),
        _room(),
        Text("epoch", required=False, max_len=64),
        Int("after", required=False, default=0),
        Bool("observe", required=False, default=False),
    ),
    "leave": (Rid("rid", required=False), _room()),
    "cmd": (
        Rid("rid", required=False),
        Uuid("id"),
        _room(required=False),
        Text("type", max_len=64, strip=False),
        Anything("data", required=False),
    ),
    "list": (Rid("rid", required=False),),
    # The incident as it stood at a point of its log: seq, or the last event at or before a time.
    "state_at": (
        Rid("rid", required=False),
        _room(),
        Int("seq", required=False, minimum=1),
        Time("at", required=False),
    ),
    "admin": (Rid("rid", required=False), Choice("op", options=ADMIN_OPS), Anything("args", required=False)),
}


def encode(frame: dict[str, Any]) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)


def decode(raw: bytes | str) -> dict[str, Any]:
    """Unpack one frame into a map with a ``t`` key, or raise ``bad_frame``."""
    if isinstance(raw, str):
        raise WarroomError(Code.BAD_FRAME, "frames are binary msgpack, not text")
    try:
        frame = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise WarroomError(Code.BAD_FRAME, f"not a msgpack frame ({type(exc).__name__})") from None
    if not isinstance(frame, dict):
        raise WarroomError(Code.BAD_FRAME, f"a frame is a msgpack map, got {type_name(frame)}")
    if not isinstance(frame.get("t"), str):
        raise WarroomError(Code.BAD_FRAME, "a frame needs a string 't' naming its type", "t")
    return frame


def parse_client_frame(frame: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Validate a decoded client frame; returns its type and its clean fields."""
    body = dict(frame)
    kind = body.pop("t")
    fields = CLIENT_FRAMES.get(kind)
    if fields is None:
        raise WarroomError(Code.UNKNOWN_FRAME, f"unknown frame type {kind!r}", "t")
    return kind, validate(body, fields, where=kind)


def request_id(frame: dict[str, Any]) -> str | int | None:
    """The rid of a frame, if it has a usable one, so even a refusal can name it."""
    rid = frame.get("rid")
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        return None
    return rid if not isinstance(rid, str) or len(rid) <= 64 else None


def error_frame(err: WarroomError, rid: Any = None) -> dict[str, Any]:
    return {"t": "error", "rid": rid, **err.to_dict()}


def new_id() -> str:
    return str(uuid.uuid4())
