"""Incident routes: list, declare, read, and the commands a script sends into a room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.access import EVERY
from server.api_common import Api, command_id, identity, read_json
from server.tokens import Level
from warroom.core.errors import Code, WarroomError
from warroom.core.events import NAME_MAX, Command
from warroom.core.policy import assign_or_offer
from warroom.core.schema import Text, validate

_ACTOR = Text("actor", required=False, max_len=NAME_MAX)
_DECLARE_EXTRA = (_ACTOR,)
_ENTRY_EXTRA = (Text("author", required=False, max_len=NAME_MAX), _ACTOR)
_ROLE_VERBS = {
    "accept": "role.accepted",
    "decline": "role.declined",
    "release": "role.released",
    "take_over": "role.taken_over",
}


def _split(body: dict[str, Any], extra: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate the HTTP-only fields (who is acting) from the event data."""
    names = {f.name for f in extra}
    meta = validate({k: v for k, v in body.items() if k in names}, extra, where="body")
    return {k: v for k, v in body.items() if k not in names}, meta


def routes(api: Api) -> list[Route]:
    hub = api.hub

    async def list_incidents(request: Request) -> Response:
        return JSONResponse({"incidents": api.access.visible(identity(request), await hub.incidents())})

    async def declare(request: Request) -> Response:
        api.allow(request, Level.RESPONDER, EVERY, "declaring an incident")
        data, meta = _split(await read_json(request), _DECLARE_EXTRA)
        room = data.pop("id", None)
        if room is not None and not isinstance(room, str):
            raise WarroomError(Code.WRONG_TYPE, "id: expected a string", field="id")
        try:
            ack = await hub.execute(
                Command(command_id(request), "incident.declared", data, room),
                api.acting(request, meta, "api"),
            )
        except WarroomError as err:
            if err.field == "room":  # over HTTP the incident id travels as "id"
                raise WarroomError(err.code, err.message.replace("room", "id", 1), "id") from None
            raise
        status = 200 if ack.duplicate else 201
        return JSONResponse({"id": ack.room, "seq": ack.seq, "duplicate": ack.duplicate}, status)

    async def show(request: Request) -> Response:
        api.allow(request, Level.VIEWER, request.path_params["incident"], "reading an incident")
        state = await hub.settled_state(request.path_params["incident"])
        return JSONResponse(state.to_dict())

    async def run(request: Request, type_: str, data: dict[str, Any], room: str, actor: str) -> Response:
        api.allow(request, Level.RESPONDER, room, type_)
        ack = await hub.execute(Command(command_id(request), type_, data, room), actor)
        body = {"room": ack.room, "seq": ack.seq, "id": ack.id, "duplicate": ack.duplicate}
        return JSONResponse(body, 200 if ack.duplicate else 201)

    async def add_entry(request: Request) -> Response:
        room = request.path_params["incident"]
        data, meta = _split(await read_json(request), _ENTRY_EXTRA)
        return await run(request, "entry.added", data, room, api.acting(request, meta, "api"))

    def event_route(type_: str, path_field: str | None = None) -> Callable[[Request], Awaitable[Response]]:
        """A route whose JSON body is the event's data, plus who is acting."""

        async def handle(request: Request) -> Response:
            data, meta = _split(await read_json(request), _DECLARE_EXTRA)
            if path_field is not None:
                data[path_field] = request.path_params[path_field]
            room = request.path_params["incident"]
            return await run(request, type_, data, room, api.acting(request, meta, "api"))

        return handle

    async def role(request: Request) -> Response:
        """``{"name": N}`` gives the role (offered if held), or one of accept, decline, release, take_over."""
        room, role_name = request.path_params["incident"], request.path_params["role"]
        body, meta = _split(await read_json(request), _DECLARE_EXTRA)
        actor = api.acting(request, meta, "api")
        verbs = [v for v in _ROLE_VERBS if body.pop(v, False) is True]
        if len(verbs) > 1 or (verbs and body):
            raise WarroomError(
                Code.INVALID_VALUE, "send a name, or one of accept, decline, release, take_over"
            )
        if verbs:
            return await run(request, _ROLE_VERBS[verbs[0]], {"role": role_name}, room, actor)
        name = body.pop("name", None)
        if body:
            raise WarroomError(
                Code.UNKNOWN_FIELD, f"body: unknown field {next(iter(body))!r}", next(iter(body))
            )
        if not isinstance(name, str):
            raise WarroomError(Code.MISSING_FIELD, "body: name is required", "name")
        api.allow(request, Level.RESPONDER, room, "giving a role")
        type_, data = assign_or_offer(await hub.settled_state(room), role_name, name)
        return await run(request, type_, data, room, actor)

    base = "/api/v1/incidents/{incident}"
    return [
        Route("/api/v1/incidents", list_incidents, methods=["GET"]),
        Route("/api/v1/incidents", declare, methods=["POST"]),
        Route(base, show, methods=["GET"]),
        Route(f"{base}/entries", add_entry, methods=["POST"]),
        Route(f"{base}/status", event_route("incident.status_changed"), methods=["POST"]),
        Route(f"{base}/severity", event_route("incident.severity_changed"), methods=["POST"]),
        Route(f"{base}/broadcasts", event_route("status.broadcast"), methods=["POST"]),
        Route(
            f"{base}/milestones/{{milestone}}",
            event_route("incident.milestone_corrected", "milestone"),
            methods=["POST"],
        ),
        Route(f"{base}/roles/{{role}}", role, methods=["POST"]),
    ]
