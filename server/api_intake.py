"""Alert intake routes: Alertmanager, a generic webhook, PagerDuty's Events API.

A storm's body can be megabytes: parsing and checking it is pure work, done in
a thread, so the event loop keeps serving everyone else while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import api_common
from server.access import EVERY
from server.alerts import checked
from server.api_common import Api, parse_json, read_body
from server.intake import AlertIn, parse_alertmanager, parse_generic, parse_pagerduty
from server.sources import GRAFANA, Sources
from server.tokens import Level
from warroom.core.errors import HTTP_STATUS, Code, WarroomError


def _refusal(err: WarroomError) -> JSONResponse:
    """Intake answers a bad body with 400 (413 when too large), as senders expect of a webhook."""
    status = 413 if err.code == Code.TOO_LARGE else 400 if HTTP_STATUS.get(err.code, 400) < 500 else 503
    return JSONResponse({"error": err.to_dict()}, status_code=status)


def _parse_batch(
    body: bytes, parse: Callable[[Any], list[AlertIn]]
) -> tuple[list[AlertIn], list[dict[str, Any]], Any]:
    raw = parse_json(body)
    alerts = parse(raw)
    return alerts, checked(alerts), raw


def _mark_origin(data: list[dict[str, Any]], sources: Sources, named: str | None, raw: Any) -> None:
    """Which Alertmanager (or Grafana) sent the batch: what its silences and reconciliation go to."""
    origin = None
    if any(item.get("source") == "alertmanager" for item in data):
        external = raw.get("externalURL") if isinstance(raw, dict) else None
        origin = sources.origin_of_batch(named, external)
    for item in data:
        mark = GRAFANA if item.get("source") == GRAFANA else origin
        if mark is not None:
            item["origin"] = mark


def routes(api: Api) -> list[Route]:
    async def intake(request: Request, parse: Callable[[Any], list[AlertIn]], actor: str) -> Response:
        api.allow(request, Level.RESPONDER, EVERY, "alert intake")
        actor = api.acting(request, {}, actor)
        named = request.query_params.get("alertmanager") if parse is parse_alertmanager else None
        try:
            if named is not None:
                api.alerts.sources.origin_of_batch(named, None)  # an unknown name: refused before the body
            body = await read_body(request, api_common.MAX_INTAKE)
            alerts, data, raw = await asyncio.to_thread(_parse_batch, body, parse)
            if parse is parse_alertmanager:
                _mark_origin(data, api.alerts.sources, named, raw)
            routed = await api.alerts.ingest(alerts, request.query_params.get("incident"), actor, data)
        except WarroomError as err:
            return _refusal(err)
        return JSONResponse({"accepted": len(alerts), "routed": routed}, status_code=202)

    async def alertmanager_intake(request: Request) -> Response:
        return await intake(request, parse_alertmanager, "alertmanager")

    async def generic_intake(request: Request) -> Response:
        return await intake(request, parse_generic, "webhook")

    async def pagerduty_intake(request: Request) -> Response:
        api.allow(request, Level.RESPONDER, EVERY, "alert intake")
        try:
            event = parse_pagerduty(parse_json(await read_body(request, api_common.MAX_INTAKE)))
            await api.alerts.pagerduty(
                event, request.query_params.get("incident"), api.acting(request, {}, "pagerduty")
            )
        except WarroomError as err:
            return _refusal(err)
        body = {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key}
        return JSONResponse(body, status_code=202)

    return [
        Route("/api/v1/alerts", generic_intake, methods=["POST"]),
        Route("/api/v1/alerts/alertmanager", alertmanager_intake, methods=["POST"]),
        Route("/api/v1/alerts/pagerduty", pagerduty_intake, methods=["POST"]),
    ]
