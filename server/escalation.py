"""The hub's escalation engine: pages the policy's levels until a paged person acknowledges.

Trigger (policy ``triggers = ["incident"]``, the default): an incident is
declared and its commander has not acknowledged. The commander acknowledges
by taking the role themselves (``role.assigned`` to themselves, ``role.accepted``
or ``role.taken_over``) when they are not the person who declared it; any
person already paged acknowledges with ``page.acked`` (``warroom page ack``).
Either stops every policy running in the room (``escalation.stopped``);
resolving the incident stops it silently. Drills are never paged for.

Nothing is kept here that the log does not hold: at start the engine folds
the relevant events of every room from the store, then follows committed
batches. What is due is worked out from the trigger's time and the hub's
clock (warroom.oncall.escalation.plan), so a restarted hub sends the levels
that came due while it was down, once each, and none again. Each page has
a command id derived from room, policy, level and round, so when two hubs
decide the same page the second is answered as a duplicate and sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server.config import Sink
from server.hub import Hub
from server.intake import INBOX, ONCALL
from server.lease import Lease
from server.paging import Pager
from server.writer import Ack
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command, Event
from warroom.core.matchers import matches_all, parse_matchers
from warroom.core.schema import parse_time
from warroom.oncall.bundle import Escalations, load_escalations
from warroom.oncall.escalation import Planned, Resolver, plan, resolve
from warroom.oncall.policies import EscalationPolicy, PolicyError

log = logging.getLogger("warroom.escalation")

ACTOR = "escalation"
NEVER = datetime.max.replace(tzinfo=UTC)
TICK = 1.0  # seconds between looks at the clock: a page is at most this late
IDS = uuid.UUID("0b6c1f2e-5d7a-4c1e-9a38-3f5e2d8c4a61")  # namespace of escalation's command ids
FOLLOWED = (
    "incident.declared",
    "status.broadcast",
    "incident.severity_changed",
    "incident.services_set",
    "incident.status_changed",
    "role.assigned",
    "role.accepted",
    "role.taken_over",
    "page.sent",
    "page.acked",
    "escalation.stopped",
    "alert.upserted",  # these four only in the alert inbox: an alert nobody claims
    "alert.acknowledged",
    "alerts.acknowledged",
    "alert.moved",
    "alert.resolved",
)
ALERT_EVENTS = FOLLOWED[-5:]


@dataclass
class Run:
    """One escalation in a room: what triggered it and when, and what it has paged."""

    trigger: str  # "incident", "broadcast" or "alert"
    key: str  # "incident", "broadcast/SEQ" (the broadcast that is overdue), "alert/FINGERPRINT"
    at: datetime
    severity: str | None = None  # an alert's own severity and service label; else the incident's
    services: set[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    next_check: datetime | None = None  # nothing is due before this; None: look at the next tick
    ack: str | None = None  # who answered first (a paged person, the commander, the next broadcast)
    paged: set[str] = field(default_factory=set)
    sent: set[tuple[str, int, int]] = field(default_factory=set)  # (policy, level, round)
    stopped: set[str] = field(default_factory=set)  # policies


@dataclass
class Track:
    """What escalation needs to know of one incident, folded from its events."""

    room: str
    declarer: str
    severity: str
    services: set[str]
    drill: bool
    open: bool = True
    seq: int = 0
    runs: dict[str, Run] = field(default_factory=dict)
    # The inbox: each alert's current run, by fingerprint; None once it resolved, so its next
    # firing starts a new run, while Alertmanager's refreshes of a firing alert start none.
    alerts: dict[str, str | None] = field(default_factory=dict)


def command_id(room: str, policy: str, run: str, what: str) -> str:
    """The same decision always gets the same id, on any hub, before or after a restart."""
    return str(uuid.uuid5(IDS, f"{room}/{policy}/{run}/{what}"))


class EscalationEngine:
    def __init__(
        self, hub: Hub, sinks: tuple[Sink, ...], path: Path | None, backoff: Callable[[int], float]
    ) -> None:
        self.hub = hub
        self.path = path
        self.loaded: Escalations | None = None
        self.pager = Pager(hub, sinks, backoff)
        # Resolves a target at page time; the on-call service (server/oncall.py) sets it, so a
        # schedule's overrides recorded through the hub count. Default: the file alone.
        self.resolver: Resolver | None = None
        self.tracks: dict[str, Track] = {}
        self.interval = TICK
        self.ticks = 0  # looks at the clock so far (by the lease's holder or not), for tests and status
        self._buffer: list[tuple[str, list[Event]]] | None = []  # batches committed while the log is read
        self._inflight: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.lease = Lease(hub.store, "escalation", hub.hub_id)  # one hub pages for all of them

    async def start(self) -> None:
        await self.reconfigure(self.path)

    async def reconfigure(self, path: Path | None) -> None:
        """Read the on-call file; the first time there is one, catch up with the log and start ticking.

        A hub with no policies never reads the log for them: its start stays as quick as it was.
        """
        self.configure(path)
        if path is None or self._task is not None:
            return
        self.hub.followers.append(self.on_events)  # before the scan: nothing committed meanwhile is lost
        for event in sorted(await self.hub.store.scan(FOLLOWED), key=lambda e: (e.room, e.seq)):
            self._fold(event)
        buffered, self._buffer = self._buffer or [], None
        for _room, events in buffered:
            for event in events:
                self._fold(event)
        self._task = asyncio.create_task(self._run(), name="warroom-escalation")

    def configure(self, path: Path | None) -> None:
        """The on-call file, read again (a config reload); a bad file keeps the last good one."""
        self.path = path
        if path is None:
            self.loaded = None
            return
        for track in self.tracks.values():
            for run in track.runs.values():
                run.next_check = None  # new policies: every plan is worked out again
        try:
            self.loaded = load_escalations(path)
        except PolicyError as exc:  # the config's own check refused it first; a file changed since
            log.error("escalation policies not reloaded: %s", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.lease.release()
        await self.pager.stop()

    # -- following the log -------------------------------------------------------------

    def on_events(self, events: list[Event]) -> None:
        if self._buffer is not None:
            self._buffer.append((events[0].room, events))
            return
        for event in events:
            if event.type in FOLLOWED:
                self._fold(event)

    def _fold(self, event: Event) -> None:
        d = event.data
        if event.type == "incident.declared":
            if event.room not in self.tracks and event.room != ONCALL:  # read twice during the start's scan
                inbox = event.room == INBOX  # the alert inbox: no incident, its alerts escalate
                new = Track(
                    event.room,
                    event.actor,
                    d["severity"],
                    set(d.get("services") or []),
                    bool(d.get("drill")),
                    seq=event.seq,
                )
                if not inbox:
                    new.runs["incident"] = Run("incident", "incident", parse_time(event.ts))
                self.tracks[event.room] = new
            return
        track = self.tracks.get(event.room)
        if track is None or event.seq <= track.seq:
            return  # a room declared before this engine knew it, or an event already folded
        track.seq = event.seq
        for run in track.runs.values():
            run.next_check = None  # a severity, a service, a page or an ack may change what is due
        incident = track.runs.get("incident")
        if event.type in ALERT_EVENTS:
            if event.room == INBOX:
                self._alert(track, event)
        elif event.type == "incident.severity_changed":
            track.severity = d["severity"]
        elif event.type == "incident.services_set":
            track.services = set(d["services"])
        elif event.type == "incident.status_changed":
            track.open = d["status"] != "resolved"
        elif event.type == "status.broadcast":
            self._broadcast(track, event)
        elif event.type in ("role.assigned", "role.accepted", "role.taken_over"):
            taker = d.get("name", event.actor) if event.type == "role.assigned" else event.actor
            commander = d["role"] == "commander" and taker == event.actor and taker != track.declarer
            if commander and incident is not None:
                incident.ack = incident.ack or taker
        elif event.type == "page.acked":
            for run in track.runs.values():
                if event.actor in run.paged:
                    run.ack = run.ack or event.actor
        elif event.type in ("page.sent", "escalation.stopped"):
            answered = track.runs.get(d.get("trigger", "incident"))
            if answered is None:
                return
            if event.type == "page.sent":
                answered.sent.add((d["policy"], d["level"], d.get("round", 0)))
                answered.paged.update(d.get("notify") or [])
            else:
                answered.stopped.add(d["policy"])

    @staticmethod
    def _alert(track: Track, event: Event) -> None:
        """An inbox alert firing starts an escalation; acking it, moving it to an incident
        (claiming it) or its resolving answers it."""
        d = event.data
        if event.type == "alerts.acknowledged":
            try:
                matchers = parse_matchers(d["matchers"])
            except WarroomError:
                return
            runs = [
                r
                for r in track.runs.values()
                if r.trigger == "alert" and r.ack is None and matches_all(matchers, r.labels)
            ]
        else:
            fingerprint = d["fingerprint"]
            current = track.alerts.get(fingerprint)
            if event.type == "alert.upserted" and d.get("status", "firing") == "firing":
                if current is None:
                    labels = dict(d.get("labels") or {})
                    service = labels.get("service")
                    key = f"alert/{fingerprint}/{event.seq}"
                    track.alerts[fingerprint] = key
                    track.runs[key] = Run(
                        "alert",
                        key,
                        parse_time(event.ts),
                        severity=d.get("severity") or "",
                        services={service} if service else set(),
                        labels={**labels, "alertname": d["alertname"]},
                    )
                return
            if event.type in ("alert.resolved", "alert.upserted"):  # resolved: a later firing is new
                track.alerts[fingerprint] = None
            runs = [track.runs[current]] if current in track.runs else []
        for run in runs:
            if run.sent:
                run.ack = run.ack or event.actor  # it paged people: its stop goes on the record
            elif run.ack is None:
                del track.runs[run.key]

    @staticmethod
    def _broadcast(track: Track, event: Event) -> None:
        """A broadcast answers the one before it and starts the clock on the next."""
        for key, run in list(track.runs.items()):
            if run.trigger == "broadcast":
                if run.sent:
                    run.ack = run.ack or event.actor  # it paged people: its stop goes on the record
                else:
                    del track.runs[key]
        minutes = event.data.get("next_update_in")
        if minutes:
            key = f"broadcast/{event.seq}"
            track.runs[key] = Run("broadcast", key, parse_time(event.ts) + timedelta(minutes=minutes))

    # -- the timer ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if await self.lease.held():
                    self.tick()
                self.ticks += 1
            except WarroomError as exc:
                if exc.code == Code.SHUTTING_DOWN:
                    return
                log.exception("escalation tick failed")
            except Exception:  # pages must keep going out: a bug in one room must not stop the rest
                log.exception("escalation tick failed")
            await asyncio.sleep(self.interval)  # the clock's period, not a wait for an event

    def policies(self, trigger: str, severity: str, services: set[str]) -> list[EscalationPolicy]:
        if self.loaded is None:
            return []
        return [p for p in self.loaded.policies.values() if p.covers(trigger, severity, services)]

    def tick(self) -> None:
        """Queue every page now due and every stop now owed, in time order."""
        now = self.hub._clock()
        for track in list(self.tracks.values()):
            if not track.open or track.drill:
                continue
            for run in list(track.runs.values()):
                if run.ack is None and run.next_check is not None and now < run.next_check:
                    continue  # nothing comes due before then, unless an event changes the room
                self._visit(track, run, now)

    def _visit(self, track: Track, run: Run, now: datetime) -> None:
        severity = track.severity if run.severity is None else run.severity
        services = track.services if run.services is None else run.services
        owed, upcoming = False, NEVER
        for policy in self.policies(run.trigger, severity, services):
            if policy.name in run.stopped:
                continue
            if run.ack is not None:
                self._stop(track, run, policy.name, run.ack)
                continue
            for planned in plan(policy, run.at, severity):
                if (policy.name, planned.level, planned.round) in run.sent:
                    continue
                if planned.at > now:
                    upcoming = min(upcoming, planned.at)
                    break
                owed = True  # queued now; looked at again next tick until its page is folded
                self._page(track, run, policy, planned, now)
        run.next_check = None if owed else upcoming

    def _page(
        self, track: Track, run: Run, policy: EscalationPolicy, planned: Planned, now: datetime
    ) -> None:
        assert self.loaded is not None
        cid = command_id(track.room, policy.name, run.key, f"{planned.level}/{planned.round}")
        if cid in self._inflight:
            return
        resolver = self.resolver or self.loaded.resolver
        notify = resolve(planned.targets, now, resolver)  # schedules: who is on call now
        data: dict[str, Any] = {
            "policy": policy.name,
            "level": planned.level,
            "round": planned.round,
            "targets": list(planned.targets),
            "trigger": run.key,
        }
        if notify:
            data["notify"] = list(notify)
        future = self._submit(Command(cid, "page.sent", data, track.room))
        if future is None:
            return
        page = {**data, "notify": list(notify)}
        task = asyncio.ensure_future(self._sent(future, cid, track, run, page, policy.sinks))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _stop(self, track: Track, run: Run, policy: str, by: str) -> None:
        cid = command_id(track.room, policy, run.key, "stop")
        if cid in self._inflight:
            return
        data = {"policy": policy, "by": by, "trigger": run.key}
        future = self._submit(Command(cid, "escalation.stopped", data, track.room))
        if future is not None:
            task = asyncio.ensure_future(self._stopped(future, cid, run, policy))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _stopped(self, future: asyncio.Future[Ack], cid: str, run: Run, policy: str) -> None:
        if await self._settled(future, cid) is not None:
            run.stopped.add(policy)  # folded already, unless another hub wrote it

    def _submit(self, command: Command) -> asyncio.Future[Ack] | None:
        try:
            future = self.hub.submit(command, ACTOR, internal=True, fixed_id=True)
        except WarroomError as exc:
            if exc.code == Code.SHUTTING_DOWN:
                raise
            log.warning("escalation event %s refused: %s", command.type, exc.message)
            return None
        self._inflight.add(command.id)
        return future

    async def _settled(self, future: asyncio.Future[Ack], cid: str) -> Ack | None:
        try:
            return await future
        except WarroomError as exc:
            log.info("escalation event not written: %s", exc.message)
            return None
        finally:
            self._inflight.discard(cid)

    async def _sent(
        self,
        future: asyncio.Future[Ack],
        cid: str,
        track: Track,
        run: Run,
        page: dict[str, Any],
        sinks: tuple[str, ...],
    ) -> None:
        ack = await self._settled(future, cid)
        if ack is None:
            return
        if ack.duplicate:  # decided before: by this hub before a restart, or by another hub
            run.sent.add((page["policy"], page["level"], page["round"]))
            return
        room = await self.hub.room(track.room)
        incident = {
            "id": track.room,
            "title": run.labels.get("alertname", "") if run.trigger == "alert" else room.state.title,
            "severity": run.severity or room.state.severity,
            "status": room.state.status,
        }
        self.pager.send({"event": "page.sent", "incident": incident, **page}, cid, sinks)
