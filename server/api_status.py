"""Public routes: the health probe and the status page.

The status page is built once per change to the incidents (the hub's listing
version) and at most every ``MAX_AGE`` seconds for the times on it, so a crowd
refreshing it costs the same with 30 incidents as with 30,000.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from server.api_common import Api
from server.hub import Hub
from server.status_page import public_view, render_html

MAX_AGE = 15  # seconds: the page's Cache-Control, and how stale its times may be


class StatusCache:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._key: tuple[int, float] | None = None
        self._view: dict[str, Any] = {}
        self._html = ""

    async def get(self) -> tuple[dict[str, Any], str]:
        now = time.monotonic()
        if self._key is None or self._key[0] != self.hub.listing_version or now - self._key[1] >= MAX_AGE:
            self._view = public_view(await self.hub.incidents(), self.hub._clock())
            self._html = render_html(self._view)
            self._key = (self.hub.listing_version, now)
        return self._view, self._html


def routes(api: Api) -> list[Route]:
    hub = api.hub
    cache = StatusCache(hub)
    headers = {"Cache-Control": f"max-age={MAX_AGE}"}

    async def healthz(request: Request) -> Response:
        if hub.log_error is not None:  # reads still work, but nothing can be saved: take it out
            # No token is needed here, so the store's own words (hosts, paths) stay in the hub's log.
            body = {"status": "log_unavailable", "hub": hub.hub_id, "closing": hub.closing}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "hub": hub.hub_id, "closing": hub.closing})

    async def status_json(request: Request) -> Response:
        return JSONResponse((await cache.get())[0], headers=headers)

    async def status_html(request: Request) -> Response:
        return HTMLResponse((await cache.get())[1], headers=headers)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/status", status_html, methods=["GET"]),
        Route("/status.json", status_json, methods=["GET"]),
    ]
