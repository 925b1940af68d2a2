"""The review document over HTTP: ``GET /api/v1/incidents/{id}/postmortem.md`` and ``.json``.

The same bytes ``warroom postmortem`` prints (docs/postmortem.md): built from
the committed state by the pure ``warroom.review`` modules. Read like the
incident itself: a viewer token whose scope covers the incident.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api_common import Api
from server.tokens import Level
from warroom.core.errors import Code, WarroomError
from warroom.core.schema import format_time, parse_time
from warroom.core.text import json_safe
from warroom.review.postmortem import build, render_markdown

_FLAGS = {"1": True, "true": True, "0": False, "false": False}


def _query(request: Request) -> tuple[bool, str | None]:
    """``?all=1`` (or true, 0, false) and ``?now=TIME``; anything else is a 400 naming the parameter."""
    unknown = sorted(set(request.query_params) - {"all", "now"})
    if unknown:
        raise WarroomError(Code.UNKNOWN_FIELD, f"unknown query parameter {unknown[0]!r}", unknown[0])
    every = request.query_params.get("all", "0").lower()
    if every not in _FLAGS:
        raise WarroomError(Code.INVALID_VALUE, "all: expected 1 or 0", "all")
    now = request.query_params.get("now")
    if now is not None:
        try:
            now = format_time(parse_time(now))
        except ValueError:
            raise WarroomError(
                Code.INVALID_VALUE, "now: expected a time such as 2026-12-01T09:00:00Z", "now"
            ) from None
    return _FLAGS[every], now


def routes(api: Api) -> list[Route]:
    async def review(request: Request, as_json: bool) -> Response:
        room = request.path_params["incident"]
        api.allow(request, Level.VIEWER, room, "reading an incident")
        every, now = _query(request)
        doc = build(await api.hub.settled_state(room), all_entries=every, now=now)
        if as_json:  # json_safe: the JSON parses the same, and a terminal shown it obeys nothing in it
            return Response(json_safe(orjson.dumps(doc)), media_type="application/json")
        return Response(render_markdown(doc), media_type="text/markdown; charset=utf-8")

    async def as_markdown(request: Request) -> Response:
        return await review(request, as_json=False)

    async def as_json(request: Request) -> Response:
        return await review(request, as_json=True)

    base = "/api/v1/incidents/{incident}/postmortem"
    return [
        Route(f"{base}.md", as_markdown, methods=["GET"]),
        Route(f"{base}.json", as_json, methods=["GET"]),
    ]
