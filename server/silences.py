"""Silences made where each alert came from: its Alertmanager, Grafana, or the room only.

Talking upstream happens before the command is sequenced (the hub's
preparers): if a silence cannot be made (or expired) there, the responder gets
a clear error and nothing is recorded as silenced that is not. A silence by
matcher makes one silence per origin among the alerts it covers, all or none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx

from server.hub import Hub
from server.sources import Sources, Upstream
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command
from warroom.core.matchers import Matcher, label_matchers, parse_matchers
from warroom.core.policy import check_upstream_silence
from warroom.core.reducer import covered
from warroom.core.schema import format_time
from warroom.core.state import Alert
from warroom.core.text import visible

log = logging.getLogger("warroom.silences")


async def alert_of(hub: Hub, command: Command) -> Alert:
    """The alert a command names by ``fingerprint``, in the command's room; refused if none."""
    if command.room is None:
        raise WarroomError(Code.MISSING_FIELD, "room is required", "room")
    state = (await hub.room(command.room)).state
    alert = state.alerts.get(command.data.get("fingerprint", ""))
    if alert is None:
        raise WarroomError(Code.UNKNOWN_REF, "no such alert in this room", "fingerprint")
    return alert


class Silencer:
    """Makes and expires silences in an Alertmanager API v2 (Grafana's included)."""

    def __init__(self, hub: Hub, sources: Callable[[], Sources], timeout: float = 5.0) -> None:
        self.hub = hub
        self.sources = sources
        self._http = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    def install(self) -> None:
        self.hub.preparers["alert.silenced"] = self._prepare_silence
        self.hub.preparers["alert.unsilenced"] = self._prepare_unsilence
        self.hub.preparers["alerts.silenced"] = self._prepare_group_silence

    async def create(
        self, upstream: Upstream, matchers: Sequence[Matcher], minutes: int, actor: str, comment: str
    ) -> str:
        now = self.hub._clock()
        body = {
            "matchers": [m.to_alertmanager() for m in matchers],
            "startsAt": format_time(now),
            "endsAt": format_time(now + timedelta(minutes=minutes)),
            "createdBy": actor,
            "comment": comment.strip(),
        }
        response = await self._call(upstream, "POST", "/api/v2/silences", body)
        try:
            return str(response.json()["silenceID"])
        except (ValueError, KeyError, TypeError):  # a 2xx that is not Alertmanager's (a proxy's page, say)
            raise WarroomError(
                Code.UPSTREAM_FAILED, f"{upstream.title} named no silence: {visible(response.text[:200])}"
            ) from None

    async def expire(self, upstream: Upstream, silence_id: str) -> None:
        await self._call(upstream, "DELETE", f"/api/v2/silence/{silence_id}", None, ok_missing=True)

    async def _call(
        self, upstream: Upstream, method: str, path: str, body: Any, ok_missing: bool = False
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, upstream.base + path, json=body, headers=dict(upstream.headers)
            )
        except httpx.HTTPError as exc:
            raise WarroomError(
                Code.UPSTREAM_FAILED, f"{upstream.title} did not answer: {type(exc).__name__}"
            ) from None
        if response.is_success or (ok_missing and response.status_code == 404):
            return response
        raise WarroomError(
            Code.UPSTREAM_FAILED,
            f"{upstream.title} refused: {response.status_code} {visible(response.text.strip()[:200])}",
        )

    # -- preparers ---------------------------------------------------------------------

    def _home(self, origin: str | None, source: str | None) -> Upstream | None:
        """Where an alert's silence lives; an alert (or silence) from before origins were kept,
        from Alertmanager, is taken to be the only Alertmanager's, as it was then."""
        sources = self.sources()
        if origin is None and source == "alertmanager" and len(sources.alertmanagers) == 1:
            origin = sources.alertmanagers[0].name
        return sources.upstream(origin)

    async def _prepare_silence(self, command: Command, actor: str, admin: bool) -> Command:
        """Silence one alert where it came from; an alert from nowhere silenceable, in the room only.

        The matchers are the labels intake received: no client can set those,
        and the hub's bounds on length and labels named hold for all but admins.
        """
        data = dict(command.data)
        alert = await alert_of(self.hub, command)
        upstream = self._home(alert.origin, alert.source) if data.pop("upstream", False) else None
        if upstream is None:  # "in this room only", as the timeline line says
            return Command(command.id, command.type, data, command.room)
        matchers = parse_matchers(label_matchers(alert.labels))
        if not admin:
            check_upstream_silence(self.hub.policy, int(data["minutes"]), matchers, "fingerprint")
        old = self._home(alert.silence_origin, "alertmanager") if alert.upstream_silence else None
        if old is not None and alert.silence_id and not await self._shared(command, alert.silence_id):
            await self.expire(old, alert.silence_id)  # replacing its own silence: else it lingers there
        reason = str(data.get("reason", ""))
        data["silence_id"] = await self.create(upstream, matchers, int(data["minutes"]), actor, reason)
        data["origin"] = upstream.origin
        data["upstream"] = True
        return Command(command.id, command.type, data, command.room)

    async def _shared(self, command: Command, silence_id: str) -> bool:
        """Whether other alerts of the room are under that silence too (a group's, or one made upstream)."""
        state = (await self.hub.room(str(command.room))).state
        return sum(a.silence_id == silence_id for a in state.alerts.values()) > 1

    async def _prepare_unsilence(self, command: Command, actor: str, admin: bool) -> Command:
        alert = await alert_of(self.hub, command)
        if alert.silence_id and alert.upstream_silence:
            upstream = self._home(alert.silence_origin, "alertmanager")
            if upstream is None:
                where = alert.silence_origin or "its origin"
                raise WarroomError(
                    Code.UPSTREAM_FAILED, f"this hub has no config for {where} to expire the silence in"
                )
            await self.expire(upstream, alert.silence_id)
        return command

    async def _prepare_group_silence(self, command: Command, actor: str, admin: bool) -> Command:
        """One silence per origin among the covered alerts, with the matchers as given; all or none."""
        data = dict(command.data)
        matchers = parse_matchers(data["matchers"])
        if not data.pop("upstream", False):
            return Command(command.id, command.type, data, command.room)
        state = (await self.hub.room(str(command.room))).state
        upstreams = {u.origin: u for a in covered(state, matchers) if (u := self._home(a.origin, a.source))}
        if not upstreams:
            return Command(command.id, command.type, data, command.room)
        if not admin:
            check_upstream_silence(self.hub.policy, int(data["minutes"]), matchers, "matchers")
        made: dict[str, str] = {}
        try:
            for origin, upstream in sorted(upstreams.items()):
                reason = str(data.get("reason", ""))
                made[origin] = await self.create(upstream, matchers, int(data["minutes"]), actor, reason)
        except WarroomError:
            await self._undo(made, upstreams)
            raise
        data["silences"] = made
        data["upstream"] = True
        return Command(command.id, command.type, data, command.room)

    async def _undo(self, made: dict[str, str], upstreams: dict[str, Upstream]) -> None:
        """Expire the silences one origin made when another refused: nothing is left half-done."""
        for origin, silence_id in made.items():
            try:
                await self.expire(upstreams[origin], silence_id)
            except WarroomError as exc:
                log.warning("silence %s in %s outlives a refused group silence: %s", silence_id, origin, exc)
