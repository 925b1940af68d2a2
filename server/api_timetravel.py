"""``GET /api/v1/incidents/{id}/state?seq=N|at=TIME``: an incident as it stood at a point of its log."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.api_common import Api
from server.store import StorageError
from server.tokens import Level
from warroom.core.errors import Code, WarroomError
from warroom.core.schema import Int, Time, validate

_PARAMS = (Int("seq", required=False, minimum=1), Time("at", required=False))
_DIGITS = re.compile(r"[0-9]{1,16}")


def _query(request: Request) -> dict[str, Any]:
    """The query as typed fields: seq a whole number, at an ISO-8601 time; nothing else, nothing twice."""
    raw: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in raw:
            raise WarroomError(Code.INVALID_VALUE, f"query: {key} given more than once", key)
        raw[key] = int(value) if key == "seq" and _DIGITS.fullmatch(value) else value
    return validate(raw, _PARAMS, where="query")


def routes(api: Api) -> list[Route]:
    hub = api.hub

    async def state_at(request: Request) -> Response:
        room = request.path_params["incident"]
        api.allow(request, Level.VIEWER, room, "reading an incident's past")
        query = _query(request)
        try:
            state = await hub.history.state_at(room, query.get("seq"), query.get("at"))
        except StorageError as exc:
            raise WarroomError(Code.STORAGE_UNAVAILABLE, f"the event log could not be read: {exc}") from None
        body = await asyncio.to_thread(state.to_dict)  # a long timeline takes a while to convert
        return JSONResponse(body)

    return [Route("/api/v1/incidents/{incident}/state", state_at, methods=["GET"])]
