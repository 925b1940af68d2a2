"""``GET /metrics``: the hub's Prometheus metrics (server/metrics.py).

Outside the token middleware, because a scraper may be let in by its address
alone (``metrics_from`` in the hub's config). Anyone else needs a token scoped
to ``metrics``, or an admin token over every incident; the answer to anyone
else is the API's JSON error body (401 without a good token, 403 with one that
may not read metrics).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.access import Access
from server.api_common import refused
from server.metrics import HubMetrics
from server.tokens import bearer
from warroom.core.errors import Code, WarroomError

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def routes(metrics: HubMetrics, access: Access, allowed: Callable[[], Networks]) -> list[Route]:
    async def scrape(request: Request) -> Response:
        remote = request.client.host if request.client else None
        if not _from(remote, allowed()):
            sent = request.headers.getlist("authorization")
            try:
                if len(sent) > 1:
                    raise WarroomError(Code.UNAUTHORIZED, "send one Authorization header, not several")
                who = access.authenticate(bearer(sent[0]) if sent else None, via="http", remote=remote)
            except WarroomError as err:
                response = refused(err)
                if err.code == Code.UNAUTHORIZED:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="warroom"'
                return response
            request.state.identity = who  # a refusal below goes to the audit log as this token's
            if not who.reads_metrics:
                raise WarroomError(
                    Code.FORBIDDEN, "reading metrics needs a token scoped to metrics, or an admin's"
                )
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", scrape, methods=["GET"])]


def _from(remote: str | None, networks: Networks) -> bool:
    if remote is None or not networks:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in networks)
