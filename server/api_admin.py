"""Admin routes: tokens, the audit log and the config; each is one ``Access.admin`` operation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.api_common import Api, identity, read_json
from warroom.core.errors import Code, WarroomError


def routes(api: Api) -> list[Route]:
    async def admin(request: Request, op: str, args: dict[str, Any]) -> Response:
        who = identity(request)
        remote = request.client.host if request.client else None
        actor = api.acting(request, {}, "api")
        data = await api.access.admin(who, actor, op, args, via="http", remote=remote)
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

    return [
        Route("/api/v1/tokens", list_tokens, methods=["GET"]),
        Route("/api/v1/tokens", create_token, methods=["POST"]),
        Route("/api/v1/tokens/{token}", revoke_token, methods=["DELETE"]),
        Route("/api/v1/audit", read_audit, methods=["GET"]),
        Route("/api/v1/config", show_config, methods=["GET"]),
        Route("/api/v1/config/reload", reload_config, methods=["POST"]),
    ]
