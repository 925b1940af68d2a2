"""Alerts in the war room: intake into rooms, and moving them.

Silences are made where each alert came from (server/silences.py); the
sources that can be asked what is still true are reconciled (server/reconcile.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from server.hub import Hub
from server.intake import INBOX, AlertIn, ChangeIn, PagerDutyEvent, Route, route, route_labels
from server.reconcile import Reconciler
from server.silences import Silencer, alert_of
from server.sources import Sources
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import Command, Event, validate_command
from warroom.core.protocol import new_id

log = logging.getLogger("warroom.alerts")

INGEST_CHUNK = 256
LOCATED_MAX = 100_000  # fingerprints whose room is remembered; the least recently seen go first


def checked(alerts: list[AlertIn]) -> list[dict[str, Any]]:
    """Each alert's event data, validated; pure work, so a big batch runs it in a thread."""
    out = []
    for n, alert in enumerate(alerts):
        try:
            out.append(validate_command("alert.upserted", alert.to_event_data(), from_client=False))
        except WarroomError as exc:
            where = f"alerts[{n}].{exc.field}"
            raise WarroomError(exc.code, f"alerts[{n}]: {exc.message}", where) from None
    return out


class AlertService:
    def __init__(self, hub: Hub, routes: tuple[Route, ...] = (), sources: Sources | None = None) -> None:
        self.hub = hub
        # fingerprint -> the room it lives in now. Bounded: past LOCATED_MAX the alert seen
        # longest ago is forgotten, and if it fires again the routes place it afresh.
        # A plain dict kept in order of last sight: half the memory of an OrderedDict.
        self.located: dict[str, str] = {}
        # origin or source (default, grafana, webhook...) -> the rooms that ever held its alerts:
        # what reconciliation visits, so a poll never walks rooms with none of them.
        self.rooms_of: dict[str, set[str]] = {}
        self.sources = Sources()
        self.silencer = Silencer(hub, lambda: self.sources)
        self.reconciler = Reconciler(hub, self)
        self.configure(routes, sources or Sources())

    def configure(self, routes: tuple[Route, ...], sources: Sources) -> None:
        self.routes = routes
        changed = sources != self.sources
        self.sources = sources
        self.hub.has_alertmanager = bool(sources.alertmanagers) or sources.grafana is not None
        if changed:
            self.reconciler.restart()

    async def start(self) -> None:
        """Learn from the log where each alert lives, then follow every batch from here on."""
        for event in await self.hub.store.scan(("alert.upserted", "alert.moved")):
            self._locate(event)
        self.hub.followers.append(self._track)
        self.silencer.install()
        self.hub.preparers["alert.moved"] = self._prepare_move
        self.reconciler.start()

    async def stop(self) -> None:
        await self.reconciler.stop()
        await self.silencer.close()

    def _track(self, events: list[Event]) -> None:
        for event in events:
            self._locate(event)

    def _locate(self, event: Event) -> None:
        """Where a fingerprint lives: where intake routed it, or where someone with both rooms moved it."""
        fingerprint = str(event.data.get("fingerprint"))
        if event.type == "alert.upserted":
            room = event.room
            for key in (event.data.get("origin"), event.data.get("source")):
                if key:
                    self.rooms_of.setdefault(key, set()).add(room)
        elif event.type == "alert.moved" and self.located.get(fingerprint) == event.room:
            room = event.data["to"]
        else:
            return
        self.located.pop(fingerprint, None)  # re-inserted last: the most recently seen
        self.located[fingerprint] = room
        while len(self.located) > LOCATED_MAX:
            del self.located[next(iter(self.located))]

    # -- intake ----------------------------------------------------------------------

    async def _room_for(self, alert: AlertIn, hint: str | None, known: dict[str, bool]) -> str:
        """The room an alert goes to; ``known`` remembers, for one batch, which rooms exist."""
        target = self.located.get(alert.fingerprint) or route(alert, self.routes, hint)
        return await self._existing_or_inbox(target, known)

    async def _existing_or_inbox(self, target: str, known: dict[str, bool]) -> str:
        """``target`` if that room exists, else the inbox (made on first use)."""
        if target != INBOX:
            if target not in known:
                known[target] = await self.hub.store.room(target) is not None
            if known[target]:
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

    async def ingest(
        self,
        alerts: list[AlertIn],
        hint: str | None,
        actor: str,
        data: list[dict[str, Any]] | None = None,
    ) -> dict[str, int]:
        """Store every alert in its room; returns how many went where.

        All are checked first (``data``: what ``checked`` made of them, in a thread),
        and a batch that would take a room past ``limits.alerts_per_room`` is refused
        whole, before anything is stored.
        """
        data = checked(alerts) if data is None else data
        known: dict[str, bool] = {}
        rooms = []
        for n, alert in enumerate(alerts, 1):
            rooms.append(await self._room_for(alert, hint, known))
            if n % INGEST_CHUNK == 0:
                await asyncio.sleep(0)  # let the loop serve others between chunks of a big batch
        await self._check_room_caps(alerts, rooms)
        routed: dict[str, int] = {}
        if len(alerts) <= INGEST_CHUNK:
            await self._store_in_chunks(alerts, rooms, data, actor, routed)
            return routed
        try:
            await self._store_in_chunks(alerts, rooms, data, actor, routed, freeze=True)
        finally:
            gc.unfreeze()  # what the chunks froze is the collector's again
        return routed

    async def _store_in_chunks(
        self,
        alerts: list[AlertIn],
        rooms: list[str],
        data: list[dict[str, Any]],
        actor: str,
        routed: dict[str, int],
        freeze: bool = False,
    ) -> None:
        for start in range(0, len(alerts), INGEST_CHUNK):
            futures = []
            for room, item in zip(
                rooms[start : start + INGEST_CHUNK], data[start : start + INGEST_CHUNK], strict=True
            ):
                routed[room] = routed.get(room, 0) + 1
                futures.append(
                    self.hub.submit(Command(new_id(), "alert.upserted", item, room), actor, internal=True)
                )
            # One chunk at a time, awaiting its commit: a line a responder types during a
            # storm waits for one group commit, not behind all 50,000 alerts.
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            refused = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if refused is not None:  # every outcome is retrieved; the first refusal answers the batch
                raise refused
            if freeze:
                # Every alert stored grows what a full garbage collection walks: during a
                # storm of 50,000 that is ten pauses of up to a quarter second, each finding
                # nothing. Frozen objects are skipped by the collector (reference counting
                # still frees them); the ingest unfreezes them all when it ends.
                gc.freeze()

    async def _check_room_caps(self, alerts: list[AlertIn], rooms: list[str]) -> None:
        new: dict[str, set[str]] = {}
        for alert, room in zip(alerts, rooms, strict=True):
            new.setdefault(room, set()).add(alert.fingerprint)
        cap = self.hub.limits.alerts_per_room
        for room_id, fingerprints in new.items():
            if room_id == INBOX and await self.hub.store.room(INBOX) is None:
                held: set[str] | dict[str, Any] = set()
            else:
                held = (await self.hub.room(room_id)).state.alerts
            total = len(held) + sum(1 for f in fingerprints if f not in held)
            if total > cap:
                raise WarroomError(
                    Code.LIMIT_REACHED,
                    f"{room_id} would hold {total} alerts, past this hub's limit of {cap} "
                    "(limits.alerts_per_room); nothing from this batch was stored",
                    "alerts",
                )

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

    async def record_change(self, change: ChangeIn, hint: str | None, actor: str = "pagerduty") -> str:
        """A change event into the timeline of the room its labels route to; returns that room.

        Routed as an alert would be (the query parameter, an ``incident`` detail, the
        route rules against its source and string details, else the inbox).
        """
        target = route_labels(change.labels, change.labels.get("incident"), self.routes, hint)
        room = await self._existing_or_inbox(target, {})
        await self.hub.execute(
            Command(new_id(), "change.recorded", change.to_event_data(), room), actor, internal=True
        )
        return room

    # -- moving an alert ----------------------------------------------------------------

    async def _prepare_move(self, command: Command, actor: str, admin: bool) -> Command:
        """Copy the alert into its new incident first; the move is recorded only once that holds.

        The sync channel has checked that the mover's token covers both rooms.
        The copy is the hub's own upsert, carrying what intake received.
        """
        alert = await alert_of(self.hub, command)
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
        for key in ("severity", "starts_at", "ends_at", "url", "origin", "runbook_url", "value"):
            if getattr(alert, key) is not None:
                data[key] = getattr(alert, key)
        for key in ("links", "values"):  # the details travel with it
            if getattr(alert, key):
                data[key] = getattr(alert, key)
        await self.hub.execute(Command(new_id(), "alert.upserted", data, target), actor, internal=True)
        return command
