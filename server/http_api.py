"""The HTTP API for the outside world: scripts, CI pipelines, webhooks (docs/api.md).

It is a thin edge over the same ``Hub.submit`` path the websocket uses, so a
command gets the same validation, sequencing and durability either way. The
routes live by concern in ``api_incidents``, ``api_intake``, ``api_admin`` and
``api_status``; this module puts them behind the token check and the error
handlers, so every refusal is the same JSON body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from server import (
    api_actions,
    api_admin,
    api_incidents,
    api_intake,
    api_oncall,
    api_status,
    api_timetravel,
    api_transfer,
)
from server.access import Access
from server.alerts import AlertService
from server.api_common import MAX_BODY, MAX_INTAKE, Api, refused
from server.api_postmortem import routes as postmortem_routes
from server.hub import Hub
from server.limits import RateLimiter
from server.oncall import OncallService
from server.tokens import bearer
from warroom.core.errors import Code, WarroomError

log = logging.getLogger("warroom.http")

__all__ = ["MAX_BODY", "MAX_INTAKE", "PUBLIC_PATHS", "TokenAuth", "build_api"]
PUBLIC_PATHS = {"/healthz", "/status", "/status.json", "/metrics"}  # /metrics checks its own callers


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
            sent = [value for name, value in scope["headers"] if name == b"authorization"]
            token = bearer(sent[0].decode("latin-1")) if len(sent) == 1 else None
            if not sent and scope["path"].startswith("/api/v1/alerts"):
                # Alertmanager's webhook config sets headers awkwardly, so intake also takes ?token=
                token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
            client = scope.get("client")
            remote = client[0] if client else None
            try:
                if len(sent) > 1:
                    raise WarroomError(Code.UNAUTHORIZED, "send one Authorization header, not several")
                identity = self.access.authenticate(token, via="http", remote=remote)
                if scope["method"] == "POST":
                    self.rate.check(identity.token_id)
            except WarroomError as err:
                response = refused(err)
                if err.code == Code.UNAUTHORIZED:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="warroom"'
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)


def build_api(
    hub: Hub,
    access: Access,
    alerts: AlertService,
    oncall: OncallService | None = None,
    extra: Sequence[BaseRoute] = (),
) -> Starlette:
    """``extra``: routes the hub server adds beside the API (``/metrics``)."""
    api = Api(hub, access, alerts, oncall)

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

    async def on_bug(request: Request, exc: Exception) -> Response:
        """A bug still answers in the API's shape; the traceback goes to the log."""
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return refused(WarroomError(Code.INTERNAL, "the hub failed on this request"))

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        WarroomError: on_warroom_error,
        HTTPException: on_http_error,
        Exception: on_bug,
    }
    return Starlette(
        routes=[
            *api_status.routes(api),
            *api_incidents.routes(api),
            *api_actions.routes(api),
            *api_timetravel.routes(api),
            *api_intake.routes(api),
            *api_admin.routes(api),
            *api_transfer.routes(api),
            *postmortem_routes(api),
            *api_oncall.routes(api),
            *extra,
        ],
        middleware=[Middleware(TokenAuth, access=access, rate=hub.http_rate)],
        exception_handlers=handlers,
    )
