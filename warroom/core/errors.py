"""Error codes shared by the websocket protocol, the HTTP API and the CLI.

One table, so that every transport reports the same failure the same way and
``docs/protocol.md`` can list them once.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    BAD_FRAME = "bad_frame"
    BAD_JSON = "bad_json"
    UNKNOWN_FRAME = "unknown_frame"
    HELLO_REQUIRED = "hello_required"
    UNSUPPORTED_VERSION = "unsupported_version"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    TOO_LONG = "too_long"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_REF = "unknown_ref"
    UNKNOWN_ROOM = "unknown_room"
    NOT_JOINED = "not_joined"
    ROOM_EXISTS = "room_exists"
    NO_CHANGE = "no_change"
    ID_REUSED = "id_reused"
    FORBIDDEN = "forbidden"
    UPSTREAM_FAILED = "upstream_failed"
    RATE_LIMITED = "rate_limited"
    LIMIT_REACHED = "limit_reached"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "too_large"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"


# HTTP status for each code, used by the HTTP API so a script can branch on it.
HTTP_STATUS: dict[Code, int] = {
    Code.BAD_FRAME: 400,
    Code.BAD_JSON: 400,
    Code.UNKNOWN_FRAME: 400,
    Code.HELLO_REQUIRED: 400,
    Code.UNSUPPORTED_VERSION: 400,
    Code.MISSING_FIELD: 422,
    Code.WRONG_TYPE: 422,
    Code.INVALID_VALUE: 422,
    Code.TOO_LONG: 422,
    Code.UNKNOWN_TYPE: 422,
    Code.UNKNOWN_FIELD: 422,
    Code.UNKNOWN_REF: 422,
    Code.UNKNOWN_ROOM: 404,
    Code.NOT_JOINED: 409,
    Code.ROOM_EXISTS: 409,
    Code.NO_CHANGE: 409,
    Code.ID_REUSED: 409,
    Code.FORBIDDEN: 403,
    Code.UPSTREAM_FAILED: 502,
    Code.RATE_LIMITED: 429,
    Code.LIMIT_REACHED: 409,
    Code.UNAUTHORIZED: 401,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.TOO_LARGE: 413,
    Code.STORAGE_UNAVAILABLE: 503,
    Code.SHUTTING_DOWN: 503,
    Code.INTERNAL: 500,
}


class WarroomError(Exception):
    """A refusal with a code, a human message and, where it applies, the field at fault."""

    def __init__(
        self, code: Code, message: str, field: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, for refusals that pass with time

    def to_dict(self) -> dict[str, str | float]:
        out: dict[str, str | float] = {"code": str(self.code), "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


def unknown_room(room: object, field: str = "room") -> WarroomError:
    """The one answer for an incident that is not there, or not there for this caller's token.

    A scoped token is told the same about a room outside its scope, so its
    errors never reveal which incidents exist.
    """
    return WarroomError(Code.UNKNOWN_ROOM, f"no incident {room!r}", field=field)
