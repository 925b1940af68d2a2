"""What every HTTP route shares: the error body, reading a JSON body, and who is calling.

A body is read with a size limit and parsed with every way JSON can fail
(nesting deep enough to exhaust the parser's recursion included) turned into a
400 with the API's error body, never a 500.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from server.access import Access
from server.alerts import AlertService
from server.hub import Hub
from server.oncall import OncallService
from server.tokens import Identity, Level
from warroom.core.errors import HTTP_STATUS, Code, WarroomError

MAX_BODY = 64 * 1024
MAX_INTAKE = 16 * 1024 * 1024  # a storm batch: 5,000 real Alertmanager alerts are about 2.7 MB


def refused(err: WarroomError) -> JSONResponse:
    """Every HTTP error body: ``{"error": {"code", "message", "field"?}}``, status from the code."""
    response = JSONResponse({"error": err.to_dict()}, status_code=HTTP_STATUS.get(err.code, 400))
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(err.retry_after)))
    return response


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body's bytes, refusing more than ``limit`` without reading them all."""
    length = request.headers.get("content-length")
    too_large = WarroomError(Code.TOO_LARGE, f"the body is over {limit} bytes")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect:  # cut off mid-body (its deadline passed): nobody is left to answer
        raise WarroomError(Code.BAD_JSON, "the body did not arrive in time") from None
    return bytes(body)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WarroomError(Code.BAD_JSON, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise WarroomError(Code.BAD_JSON, "the body is not valid JSON: nested too deeply") from None


def json_object(parsed: Any) -> dict[str, Any]:
    if not isinstance(parsed, dict):
        raise WarroomError(Code.WRONG_TYPE, "the body must be a JSON object")
    return parsed


async def read_json(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object."""
    return json_object(parse_json(await read_body(request, limit)))


def command_id(request: Request) -> str:
    """The Idempotency-Key header if the caller sent one, so a retried POST lands once."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(key))
    except ValueError:
        raise WarroomError(
            Code.INVALID_VALUE, "Idempotency-Key must be a UUID", field="Idempotency-Key"
        ) from None


def identity(request: Request) -> Identity:
    found: Identity = request.state.identity
    return found


@dataclass(frozen=True)
class Api:
    """The hub's parts a route needs, and the two questions every route asks."""

    hub: Hub
    access: Access
    alerts: AlertService
    oncall: OncallService | None = None  # overrides through the hub (server/oncall.py)

    def allow(self, request: Request, level: Level, room: str | None = None, doing: str = "") -> Identity:
        who = identity(request)
        self.access.require(who, level, room, doing=doing or f"{request.method} {request.url.path}")
        return who

    def acting(self, request: Request, meta: dict[str, Any], default: str) -> str:
        """Who acts: a personal token's own name; only the hub token's callers may name themselves."""
        who = identity(request)
        # A personal token's name wins: any author or actor in the body is ignored.
        request.state.actor = who.name or str(meta.get("author") or meta.get("actor") or default)
        return str(request.state.actor)
