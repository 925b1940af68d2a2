"""Alerts in the war room: intake into rooms, moving them, and silences in Alertmanager.

Talking to Alertmanager happens before the command is sequenced: if the
silence cannot be made (or expired) there, the responder gets a clear error
and nothing is recorded as silenced that is not.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import httpx

from server.hub import Hub, Room
from server.intake import INBOX, AlertIn, PagerDutyEvent, Route, route
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import Command, Event, validate_command
from warroom.core.policy import check_upstream_silence
from warroom.core.protocol import new_id
from warroom.core.schema import format_time

log = logging.getLogger("warroom.alerts")

INGEST_CHUNK = 256


class AlertService:
    def __init__(self, hub: Hub, routes: tuple[Route, ...] = (), alertmanager: str | None = None) -> None:
        self.hub = hub
        self.configure(routes, alertmanager)
        self.located: dict[str, str] = {}  # fingerprint -> the room it lives in now
        self._http = httpx.AsyncClient(timeout=5.0)

    def configure(self, routes: tuple[Route, ...], alertmanager: str | None) -> None:
        self.routes = routes
        self.alertmanager = alertmanager.rstrip("/") if alertmanager else None
        self.hub.has_alertmanager = self.alertmanager is not None

    async def start(self) -> None:
        """Learn from the log where each alert lives, then follow every batch from here on."""
        for event in await self.hub.store.scan(("alert.upserted", "alert.moved")):
            self._locate(event)
        self.hub.listeners.append(self._track)
        self.hub.preparers["alert.silenced"] = self._prepare_silence
        self.hub.preparers["alert.unsilenced"] = self._prepare_unsilence
        self.hub.preparers["alert.moved"] = self._prepare_move

    async def stop(self) -> None:
        await self._http.aclose()

    def _track(self, room: Room, events: list[Event]) -> None:
        for event in events:
            self._locate(event)

    def _locate(self, event: Event) -> None:
        """Where a fingerprint lives: where intake routed it, or where someone with both rooms moved it."""
        if event.type == "alert.upserted":
            self.located[event.data["fingerprint"]] = event.room
        elif event.type == "alert.moved" and self.located.get(event.data["fingerprint"]) == event.room:
            self.located[event.data["fingerprint"]] = event.data["to"]

    # -- intake ----------------------------------------------------------------------

    async def _room_for(self, alert: AlertIn, hint: str | None) -> str:
        target = self.located.get(alert.fingerprint) or route(alert, self.routes, hint)
        if target != INBOX and await self.hub.store.room(target) is not None:
            return target
        if await self.hub.store.room(INBOX) is None:
            data = {"title": "Alert inbox: alerts no rule routed", "severity": "SEV4"}
            try:
                await self.hub.submit(
                    Command(new_id(), "incident.declared", data, INBOX), "warroom", internal=True
                )
            except WarroomError as exc:
                if exc.code != Code.ROOM_EXISTS:  # another batch made it first
                    raise
        return INBOX

    async def ingest(self, alerts: list[AlertIn], hint: str | None, actor: str) -> dict[str, int]:
        """Store every alert in its room; returns how many went where. All are checked first."""
        for n, alert in enumerate(alerts):
            try:
                validate_command("alert.upserted", alert.to_event_data(), from_client=False)
            except WarroomError as exc:
                where = f"alerts[{n}].{exc.field}"
                raise WarroomError(exc.code, f"alerts[{n}]: {exc.message}", where) from None
        routed: dict[str, int] = {}
        for start in range(0, len(alerts), INGEST_CHUNK):
            futures = []
            for alert in alerts[start : start + INGEST_CHUNK]:
                room = await self._room_for(alert, hint)
                routed[room] = routed.get(room, 0) + 1
                command = Command(new_id(), "alert.upserted", alert.to_event_data(), room)
                futures.append(self.hub.submit(command, actor, internal=True))
            # One chunk at a time: a line a responder types during a storm waits for one
            # group commit, not behind all 5,000 alerts.
            await asyncio.gather(*futures)
        return routed

    async def pagerduty(
        self, event: PagerDutyEvent, hint: str | None, actor: str = "pagerduty"
    ) -> str | None:
        """Apply a PagerDuty event; returns the room it touched, if any."""
        if event.alert is not None:
            routed = await self.ingest([event.alert], hint, actor)
            return next(iter(routed))
        fingerprint = f"pd:{event.dedup_key}"
        room = self.located.get(fingerprint)
        if room is None:
            return None  # PagerDuty answers success for keys it no longer knows; so do we
        type_ = "alert.acknowledged" if event.action == "acknowledge" else "alert.resolved"
        await self.hub.execute(
            Command(new_id(), type_, {"fingerprint": fingerprint}, room), actor, internal=True
        )
        return room

    # -- actions that reach Alertmanager first -----------------------------------------

    async def _alert(self, command: Command) -> Any:
        if command.room is None:
            raise WarroomError(Code.MISSING_FIELD, "room is required", "room")
        state = (await self.hub.room(command.room)).state
        alert = state.alerts.get(command.data.get("fingerprint", ""))
        if alert is None:
            raise WarroomError(Code.UNKNOWN_REF, "no such alert in this room", "fingerprint")
        return alert

    async def _prepare_silence(self, command: Command, actor: str, admin: bool) -> Command:
        """Make the silence in Alertmanager, matching the labels intake received for the alert.

        No client can set those labels (only intake sends alerts), and the hub's
        bounds on length and on the labels named hold for all but admins.
        """
        data = {k: v for k, v in command.data.items() if k != "silence_id"}  # only the hub sets it
        if not data.get("upstream"):
            return Command(command.id, command.type, data, command.room)
        if self.alertmanager is None:
            raise WarroomError(
                Code.UPSTREAM_FAILED, "this hub has no Alertmanager (alertmanager = URL in its config)"
            )
        alert = await self._alert(command)
        if not admin:
            check_upstream_silence(self.hub.policy, int(data["minutes"]), alert.labels)
        if alert.silence_id:  # replacing a silence: expire the old one, or it lingers there
            await self._call("DELETE", f"/api/v2/silence/{alert.silence_id}", None, ok_missing=True)
        now = self.hub._clock()
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in alert.labels.items()
            ],
            "startsAt": format_time(now),
            "endsAt": format_time(now + timedelta(minutes=int(data["minutes"]))),
            "createdBy": actor,
            "comment": str(data.get("reason", "")).strip(),
        }
        response = await self._call("POST", "/api/v2/silences", body)
        data["silence_id"] = response.json()["silenceID"]
        return Command(command.id, command.type, data, command.room)

    async def _prepare_unsilence(self, command: Command, actor: str, admin: bool) -> Command:
        alert = await self._alert(command)
        if alert.silence_id:
            if self.alertmanager is None:
                raise WarroomError(
                    Code.UPSTREAM_FAILED, "this hub has no Alertmanager configured to expire it in"
                )
            await self._call("DELETE", f"/api/v2/silence/{alert.silence_id}", None, ok_missing=True)
        return command

    async def _call(self, method: str, path: str, body: Any, ok_missing: bool = False) -> httpx.Response:
        url = f"{self.alertmanager}{path}"
        try:
            response = await self._http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            raise WarroomError(
                Code.UPSTREAM_FAILED,
                f"Alertmanager at {self.alertmanager} did not answer: {type(exc).__name__}",
            ) from None
        if response.is_success or (ok_missing and response.status_code == 404):
            return response
        raise WarroomError(
            Code.UPSTREAM_FAILED,
            f"Alertmanager refused: {response.status_code} {response.text.strip()[:200]}",
        )

    async def _prepare_move(self, command: Command, actor: str, admin: bool) -> Command:
        """Copy the alert into its new incident first; the move is recorded only once that holds.

        The sync channel has checked that the mover's token covers both rooms.
        The copy is the hub's own upsert, carrying what intake received.
        """
        alert = await self._alert(command)
        target = str(command.data.get("to", ""))
        if target == command.room:
            raise WarroomError(Code.INVALID_VALUE, "to: the alert is in that incident already", "to")
        if await self.hub.store.room(target) is None:
            raise unknown_room(target, "to")
        data = {
            "fingerprint": alert.fingerprint,
            "alertname": alert.alertname,
            "status": alert.status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "source": alert.source or "webhook",
        }
        for key in ("severity", "starts_at", "ends_at", "url"):
            if getattr(alert, key) is not None:
                data[key] = getattr(alert, key)
        await self.hub.execute(Command(new_id(), "alert.upserted", data, target), actor, internal=True)
        return command
