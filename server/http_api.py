"""The HTTP API for the outside world: scripts, CI pipelines, webhooks (docs/api.md).

It is a thin edge over the same ``Hub.submit`` path the websocket uses, so a
command gets the same validation, sequencing and durability either way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from server.access import EVERY, Access
from server.alerts import AlertService
from server.hub import Hub
from server.intake import AlertIn, parse_alertmanager, parse_generic, parse_pagerduty
from server.limits import RateLimiter
from server.status_page import public_view, render_html
from server.tokens import Identity, Level, bearer
from warroom.core.errors import HTTP_STATUS, Code, WarroomError
from warroom.core.events import NAME_MAX, Command
from warroom.core.policy import assign_or_offer
from warroom.core.schema import Text, validate

MAX_BODY = 64 * 1024
MAX_INTAKE = 16 * 1024 * 1024  # a storm batch: 5,000 real Alertmanager alerts are about 2.7 MB
PUBLIC_PATHS = {"/healthz", "/status", "/status.json"}


def refused(err: WarroomError) -> JSONResponse:
    """Every HTTP error body: ``{"error": {"code", "message", "field"?}}``, status from the code."""
    return JSONResponse({"error": err.to_dict()}, status_code=HTTP_STATUS.get(err.code, 400))


class TokenAuth:
    """Finds who is calling on every non-public path, before any body is read.

    The identity goes into the request's state for the routes to check scope
    and level against; writes are rate-limited per token.
    """

    def __init__(self, app: ASGIApp, access: Access, rate: RateLimiter) -> None:
        self.app = app
        self.access = access
        self.rate = rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            token = bearer(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"))
            if token is None and scope["path"].startswith("/api/v1/alerts"):
                # Alertmanager's webhook config sets headers awkwardly, so intake also takes ?token=
                token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
            client = scope.get("client")
            remote = client[0] if client else None
            try:
                identity = self.access.authenticate(token, via="http", remote=remote)
                if scope["method"] == "POST":
                    self.rate.check(identity.token_id)
            except WarroomError as err:
                response = refused(err)
                if err.code == Code.UNAUTHORIZED:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="warroom"'
                if err.retry_after is not None:
                    response.headers["Retry-After"] = str(max(1, round(err.retry_after)))
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)


async def read_json(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object, refusing more than ``limit`` bytes without reading them all."""
    length = request.headers.get("content-length")
    too_large = WarroomError(Code.TOO_LARGE, f"the body is over {limit} bytes")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WarroomError(Code.BAD_JSON, f"the body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise WarroomError(Code.WRONG_TYPE, "the body must be a JSON object")
    return parsed


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


_ACTOR = Text("actor", required=False, max_len=NAME_MAX)
_DECLARE_EXTRA = (_ACTOR,)
_ENTRY_EXTRA = (Text("author", required=False, max_len=NAME_MAX), _ACTOR)


def _split(body: dict[str, Any], extra: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate the HTTP-only fields (who is acting) from the event data."""
    names = {f.name for f in extra}
    meta = validate({k: v for k, v in body.items() if k in names}, extra, where="body")
    return {k: v for k, v in body.items() if k not in names}, meta


def _intake_refusal(err: WarroomError) -> JSONResponse:
    """Intake answers a bad body with 400 (413 when too large), as senders expect of a webhook."""
    status = 413 if err.code == Code.TOO_LARGE else 400 if HTTP_STATUS.get(err.code, 400) < 500 else 503
    return JSONResponse({"error": err.to_dict()}, status_code=status)


def identity(request: Request) -> Identity:
    found: Identity = request.state.identity
    return found


def build_api(hub: Hub, access: Access, alerts: AlertService) -> Starlette:
    def allow(request: Request, level: Level, room: str | None = None, doing: str = "") -> Identity:
        who = identity(request)
        access.require(who, level, room, doing=doing or f"{request.method} {request.url.path}")
        return who

    def acting(request: Request, meta: dict[str, Any], default: str) -> str:
        """Who acts: a personal token's own name; only the hub token's callers may name themselves."""
        who = identity(request)
        # A personal token's name wins: any author or actor in the body is ignored.
        request.state.actor = who.name or str(meta.get("author") or meta.get("actor") or default)
        return str(request.state.actor)

    async def intake(request: Request, parse: Callable[[Any], list[AlertIn]], actor: str) -> Response:
        allow(request, Level.RESPONDER, EVERY, "alert intake")
        actor = acting(request, {}, actor)
        try:
            parsed = parse(await read_json(request, MAX_INTAKE))
            routed = await alerts.ingest(parsed, request.query_params.get("incident"), actor)
        except WarroomError as err:
            return _intake_refusal(err)
        return JSONResponse({"accepted": len(parsed), "routed": routed}, status_code=202)

    async def alertmanager_intake(request: Request) -> Response:
        return await intake(request, parse_alertmanager, "alertmanager")

    async def generic_intake(request: Request) -> Response:
        return await intake(request, parse_generic, "webhook")

    async def pagerduty_intake(request: Request) -> Response:
        allow(request, Level.RESPONDER, EVERY, "alert intake")
        try:
            event = parse_pagerduty(await read_json(request, MAX_INTAKE))
            await alerts.pagerduty(
                event, request.query_params.get("incident"), acting(request, {}, "pagerduty")
            )
        except WarroomError as err:
            return _intake_refusal(err)
        body = {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key}
        return JSONResponse(body, status_code=202)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "hub": hub.hub_id, "closing": hub.closing})

    async def list_incidents(request: Request) -> Response:
        return JSONResponse({"incidents": access.visible(identity(request), await hub.incidents())})

    async def declare(request: Request) -> Response:
        allow(request, Level.RESPONDER, EVERY, "declaring an incident")
        data, meta = _split(await read_json(request), _DECLARE_EXTRA)
        room = data.pop("id", None)
        if room is not None and not isinstance(room, str):
            raise WarroomError(Code.WRONG_TYPE, "id: expected a string", field="id")
        try:
            ack = await hub.execute(
                Command(command_id(request), "incident.declared", data, room), acting(request, meta, "api")
            )
        except WarroomError as err:
            if err.field == "room":  # over HTTP the incident id travels as "id"
                raise WarroomError(err.code, err.message.replace("room", "id", 1), "id") from None
            raise
        status = 200 if ack.duplicate else 201
        return JSONResponse({"id": ack.room, "seq": ack.seq, "duplicate": ack.duplicate}, status)

    async def show(request: Request) -> Response:
        allow(request, Level.VIEWER, request.path_params["incident"], "reading an incident")
        state = await hub.settled_state(request.path_params["incident"])
        return JSONResponse(state.to_dict())

    async def add_entry(request: Request) -> Response:
        room = request.path_params["incident"]
        data, meta = _split(await read_json(request), _ENTRY_EXTRA)
        return await _run(request, "entry.added", data, room, acting(request, meta, "api"))

    async def _run(request: Request, type_: str, data: dict[str, Any], room: str, actor: str) -> Response:
        allow(request, Level.RESPONDER, room, type_)
        ack = await hub.execute(Command(command_id(request), type_, data, room), actor)
        body = {"room": ack.room, "seq": ack.seq, "id": ack.id, "duplicate": ack.duplicate}
        return JSONResponse(body, 200 if ack.duplicate else 201)

    def event_route(type_: str, path_field: str | None = None) -> Callable[[Request], Awaitable[Response]]:
        """A route whose JSON body is the event's data, plus who is acting."""

        async def handle(request: Request) -> Response:
            data, meta = _split(await read_json(request), _DECLARE_EXTRA)
            if path_field is not None:
                data[path_field] = request.path_params[path_field]
            room = request.path_params["incident"]
            return await _run(request, type_, data, room, acting(request, meta, "api"))

        return handle

    async def role(request: Request) -> Response:
        """``{"name": N}`` gives the role (offered if held), or one of accept, decline, release, take_over."""
        room, role_name = request.path_params["incident"], request.path_params["role"]
        body, meta = _split(await read_json(request), _DECLARE_EXTRA)
        actor = acting(request, meta, "api")
        verbs = [v for v in ("accept", "decline", "release", "take_over") if body.pop(v, False) is True]
        if len(verbs) > 1 or (verbs and body):
            raise WarroomError(
                Code.INVALID_VALUE, "send a name, or one of accept, decline, release, take_over"
            )
        if verbs:
            type_ = {
                "accept": "role.accepted",
                "decline": "role.declined",
                "release": "role.released",
                "take_over": "role.taken_over",
            }[verbs[0]]
            return await _run(request, type_, {"role": role_name}, room, actor)
        name = body.pop("name", None)
        if body:
            raise WarroomError(
                Code.UNKNOWN_FIELD, f"body: unknown field {next(iter(body))!r}", next(iter(body))
            )
        if not isinstance(name, str):
            raise WarroomError(Code.MISSING_FIELD, "body: name is required", "name")
        allow(request, Level.RESPONDER, room, "giving a role")
        type_, data = assign_or_offer(await hub.settled_state(room), role_name, name)
        return await _run(request, type_, data, room, actor)

    async def admin(request: Request, op: str, args: dict[str, Any]) -> Response:
        who = identity(request)
        remote = request.client.host if request.client else None
        data = await access.admin(who, acting(request, {}, "api"), op, args, via="http", remote=remote)
        return JSONResponse(
            {"tokens": data} if op == "token.list" else {"audit": data} if op == "audit" else data,
            status_code=201 if op == "token.create" else 200,
        )

    async def list_tokens(request: Request) -> Response:
        return await admin(request, "token.list", {})

    async def create_token(request: Request) -> Response:
        return await admin(request, "token.create", await read_json(request))

    async def revoke_token(request: Request) -> Response:
        return await admin(request, "token.revoke", {"id": request.path_params["token"]})

    async def show_config(request: Request) -> Response:
        return await admin(request, "config.show", {})

    async def reload_config(request: Request) -> Response:
        return await admin(request, "config.reload", {})

    async def read_audit(request: Request) -> Response:
        args: dict[str, Any] = dict(request.query_params)
        if "limit" in args:
            if not args["limit"].isdigit():
                raise WarroomError(Code.WRONG_TYPE, "limit: expected an integer", "limit")
            args["limit"] = int(args["limit"])
        return await admin(request, "audit", args)

    async def status_json(request: Request) -> Response:
        view = public_view(await hub.incidents(), hub._clock())
        return JSONResponse(view, headers={"Cache-Control": "max-age=15"})

    async def status_html(request: Request) -> Response:
        view = public_view(await hub.incidents(), hub._clock())
        return HTMLResponse(render_html(view), headers={"Cache-Control": "max-age=15"})

    async def on_warroom_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WarroomError)
        who = getattr(request.state, "identity", None)
        if who is not None:
            remote = request.client.host if request.client else None
            actor = getattr(request.state, "actor", who.name)
            access.refused(
                who, actor, exc, via="http", remote=remote, doing=f"{request.method} {request.url.path}"
            )
        return refused(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.TOO_LARGE}
        return refused(WarroomError(codes.get(exc.status_code, Code.INVALID_VALUE), exc.detail))

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/incidents", list_incidents, methods=["GET"]),
        Route("/api/v1/incidents", declare, methods=["POST"]),
        Route("/api/v1/incidents/{incident}", show, methods=["GET"]),
        Route("/api/v1/incidents/{incident}/entries", add_entry, methods=["POST"]),
        Route(
            "/api/v1/incidents/{incident}/status", event_route("incident.status_changed"), methods=["POST"]
        ),
        Route(
            "/api/v1/incidents/{incident}/severity",
            event_route("incident.severity_changed"),
            methods=["POST"],
        ),
        Route("/api/v1/incidents/{incident}/broadcasts", event_route("status.broadcast"), methods=["POST"]),
        Route(
            "/api/v1/incidents/{incident}/milestones/{milestone}",
            event_route("incident.milestone_corrected", "milestone"),
            methods=["POST"],
        ),
        Route("/api/v1/incidents/{incident}/roles/{role}", role, methods=["POST"]),
        Route("/api/v1/alerts", generic_intake, methods=["POST"]),
        Route("/api/v1/alerts/alertmanager", alertmanager_intake, methods=["POST"]),
        Route("/api/v1/alerts/pagerduty", pagerduty_intake, methods=["POST"]),
        Route("/api/v1/tokens", list_tokens, methods=["GET"]),
        Route("/api/v1/tokens", create_token, methods=["POST"]),
        Route("/api/v1/tokens/{token}", revoke_token, methods=["DELETE"]),
        Route("/api/v1/audit", read_audit, methods=["GET"]),
        Route("/api/v1/config", show_config, methods=["GET"]),
        Route("/api/v1/config/reload", reload_config, methods=["POST"]),
        Route("/status", status_html, methods=["GET"]),
        Route("/status.json", status_json, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        WarroomError: on_warroom_error,
        HTTPException: on_http_error,
    }
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                TokenAuth,
                access=access,
                rate=hub.http_rate,
            )
        ],
        exception_handlers=handlers,
    )
