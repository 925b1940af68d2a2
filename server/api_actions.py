"""``GET /api/v1/actions``: action items across incidents, read from the incident summaries.

The same listing as ``warroom actions`` (``warroom.review.actions``), for
scripts and dashboards: no log is folded, whatever the incidents hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.api_common import Api, identity
from warroom.core.errors import Code, WarroomError
from warroom.review import actions

_PARAMS = ("owner", "overdue", "all", "now")
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name, "false").lower()
    if text not in _FLAGS:
        raise WarroomError(Code.INVALID_VALUE, f"{name}: expected true or false", name)
    return _FLAGS[text]


def _today(request: Request) -> date:
    text = request.query_params.get("now")
    if text is None:
        return datetime.now(UTC).date()
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WarroomError(Code.INVALID_VALUE, "now: expected a date like 2026-12-01", "now") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def routes(api: Api) -> list[Route]:
    async def list_actions(request: Request) -> Response:
        unknown = [name for name in request.query_params if name not in _PARAMS]
        if unknown:
            raise WarroomError(Code.UNKNOWN_FIELD, f"unknown parameter {unknown[0]!r}", unknown[0])
        today = _today(request)
        summaries = api.access.visible(identity(request), await api.hub.incidents())
        rows = actions.listing(
            summaries,
            today,
            owner=request.query_params.get("owner"),
            overdue=_flag(request, "overdue"),
            closed=_flag(request, "all"),
        )
        return JSONResponse({"actions": [row.to_dict(today) for row in rows]})

    return [Route("/api/v1/actions", list_actions, methods=["GET"])]
