"""On-call overrides through the hub: list, add, remove (server/oncall.py keeps them in the log).

Adding or removing one needs a responder token for every incident (it changes
who is paged for all of them); reading them, any token. Each change is an
audit line too, with who made it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.access import EVERY
from server.api_common import Api, command_id, json_object, parse_json, read_body, read_json
from server.oncall import OncallService
from server.tokens import Level
from warroom.core.errors import Code, WarroomError


def routes(api: Api) -> list[Route]:
    def service() -> OncallService:
        if api.oncall is None:
            raise WarroomError(Code.NOT_FOUND, "this hub keeps no on-call overrides")
        return api.oncall

    def audit(request: Request, kind: str, actor: str, detail: dict[str, object]) -> None:
        remote = request.client.host if request.client else None
        api.access.record(kind, request.state.identity, "http", remote, detail, actor=actor)

    async def list_overrides(request: Request) -> Response:
        api.allow(request, Level.VIEWER, None, "reading on-call overrides")
        unknown = [name for name in request.query_params if name != "schedule"]
        if unknown:
            raise WarroomError(Code.UNKNOWN_FIELD, f"unknown parameter {unknown[0]!r}", unknown[0])
        found = await service().overrides_of(request.query_params.get("schedule"))
        return JSONResponse({"overrides": [o.to_json() for o in found]})

    async def add_override(request: Request) -> Response:
        api.allow(request, Level.RESPONDER, EVERY, "adding an on-call override")
        body = await read_json(request)
        actor = api.acting(request, {"actor": body.pop("actor", None)}, "api")
        made, duplicate = await service().add_override(body, actor, command_id(request))
        if not duplicate:
            audit(request, "oncall.override_added", actor, made.to_json())
        return JSONResponse({"override": made.to_json(), "duplicate": duplicate}, 200 if duplicate else 201)

    async def remove_override(request: Request) -> Response:
        api.allow(request, Level.RESPONDER, EVERY, "removing an on-call override")
        text = request.path_params["override"]
        if not text.isdigit() or not 0 < int(text) < 2**63:
            raise WarroomError(
                Code.INVALID_VALUE, f"{text[:40]!r} is not an override id (a number)", "override"
            )
        raw = await read_body(request)  # optional: {"actor": NAME}, with the hub token
        meta = json_object(parse_json(raw)) if raw.strip() else {}
        unknown = sorted(set(meta) - {"actor"})
        if unknown:
            raise WarroomError(Code.UNKNOWN_FIELD, f"body: unknown field {unknown[0]!r}", unknown[0])
        actor = api.acting(request, meta, "api")
        removed = await service().remove_override(int(text), actor, command_id(request))
        audit(request, "oncall.override_removed", actor, removed.to_json())
        return JSONResponse({"removed": removed.to_json()})

    return [
        Route("/api/v1/oncall/overrides", list_overrides, methods=["GET"]),
        Route("/api/v1/oncall/overrides", add_override, methods=["POST"]),
        Route("/api/v1/oncall/overrides/{override}", remove_override, methods=["DELETE"]),
    ]
