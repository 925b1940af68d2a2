"""Export and import routes: one incident's log out of a hub, and into another (server/transfer.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.access import EVERY
from server.api_common import Api, read_body
from server.tokens import Level
from server.transfer import MAX_IMPORT, export_lines, import_incident


def routes(api: Api) -> list[Route]:
    async def export(request: Request) -> Response:
        room = request.path_params["incident"]
        api.allow(request, Level.ADMIN, room, "exporting an incident")
        lines = export_lines(api.hub, room)
        first = await anext(lines)  # an unknown incident is refused before any of the body is sent
        return StreamingResponse(_prepend(first, lines), media_type="application/x-ndjson")

    async def imported(request: Request) -> Response:
        who = api.allow(request, Level.ADMIN, EVERY, "importing an incident")
        result = await import_incident(api.hub, await read_body(request, MAX_IMPORT))
        remote = request.client.host if request.client else None
        api.access.record(
            "incident.imported", who, "http", remote, result, actor=api.acting(request, {}, "api")
        )
        return JSONResponse(result, status_code=201)

    return [
        Route("/api/v1/incidents/{incident}/export", export, methods=["GET"]),
        Route("/api/v1/import", imported, methods=["POST"]),
    ]


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for line in rest:
        yield line
