"""The hub's on-call log: overrides recorded through the hub, and the chain of handoffs.

It all lives in the event log, in the hub's own room ``oncall`` (``ONCALL``):
``oncall.override_added`` and ``oncall.override_removed``, and a chain of
``oncall.handoff`` events, one for each change of who is on call for each
schedule. Every hub sharing the store reads that room again once a second, so
an override recorded through one hub counts on all of them, for ``schedule:``
pages (this service is the escalation engine's resolver), handoffs
(server/handoffs.py) and pages asked for by hand (server/oncall_pages.py).
Its once-a-second tick runs those two as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from server.escalation import EscalationEngine
from server.handoffs import Handoffs, command_id, zulu
from server.hub import Hub
from server.intake import ONCALL
from server.oncall_pages import page_requested
from server.room import Room
from server.writer import Ack
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command, Event
from warroom.core.schema import format_time, parse_time
from warroom.oncall.bundle import Escalations
from warroom.oncall.escalation import file_resolver
from warroom.oncall.model import FIRST_YEAR, LAST_YEAR, Override, Schedule, local_instant
from warroom.oncall.policies import known_names
from warroom.oncall.resolve import who_is_on_call

log = logging.getLogger("warroom.oncall")

ACTOR = "oncall"
TICK = 1.0  # seconds between looks at the clock and the on-call log
RECENT = timedelta(hours=1)  # page requests a starting hub still answers, if nobody did
KEPT = 48  # a schedule's last handoffs kept in memory: an incident that missed some writes each
ROOM_EVENTS = (
    "incident.declared",
    "incident.services_set",
    "incident.severity_changed",
    "incident.status_changed",
)
TITLE = "On-call log: overrides and handoffs"


@dataclass(frozen=True)
class HubOverride:
    """An override recorded through the hub; ``id`` is its seq in the on-call log."""

    id: int
    schedule: str
    user: str
    start: datetime
    end: datetime
    reason: str | None
    by: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schedule": self.schedule,
            "user": self.user,
            "from": zulu(self.start),
            "to": zulu(self.end),
            "reason": self.reason,
            "by": self.by,
            "at": self.at,
        }


@dataclass(frozen=True)
class Link:
    """The last handoff of a schedule in the log: from when, to whom, and why."""

    at: datetime
    user: str | None
    why: str


class OncallService:
    def __init__(self, hub: Hub, escalation: EscalationEngine) -> None:
        self.hub = hub
        self.escalation = escalation  # owns the on-call file and the pager
        self.overrides: dict[int, HubOverride] = {}  # by id, in the order recorded: a later one wins
        self.chain: dict[str, Link] = {}
        self.recent: dict[str, deque[Link]] = {}  # schedule -> its last KEPT handoffs, oldest first
        self.touched: dict[str, datetime] = {}  # schedule -> when an override of it was last added or removed
        self.seq = 0  # the on-call log is folded up to here
        self.interval = TICK
        self.ticks = 0
        self._caught_up = False
        self._room_made = False
        self._due: set[str] = set()  # incident rooms whose on-call lines need a look
        self.handoffs = Handoffs(self)
        self._file_seen: Escalations | None = None
        self._requests: list[Event] = []  # page.requested not answered yet
        self._task: asyncio.Task[None] | None = None
        escalation.resolver = self.resolve_target

    @property
    def file(self) -> Escalations | None:
        return self.escalation.loaded

    async def start(self) -> None:
        self.hub.listeners.append(self.on_events)
        self._task = asyncio.create_task(self._run(), name="warroom-oncall")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- the on-call log ---------------------------------------------------------------

    async def refresh(self) -> None:
        """Fold what any hub added to the on-call log since the last look."""
        while True:
            page = await self.hub.store.read(ONCALL, self.seq, 1000)
            for event in page:
                self._fold(event)
            if len(page) < 1000:
                return

    def on_events(self, room: Room, events: list[Event]) -> None:
        if room.id == ONCALL:
            for event in events:
                if event.seq == self.seq + 1:  # a gap (another hub wrote) is filled by refresh
                    self._fold(event)
            return
        if self.file is None:  # no on-call file: nothing to keep up to date, nobody to page
            return
        for event in events:
            if event.type in ROOM_EVENTS:
                self._due.add(room.id)
            elif event.type == "page.requested":
                self._requests.append(event)

    def _fold(self, event: Event) -> None:
        if event.seq <= self.seq:
            return
        self.seq = event.seq
        d = event.data
        if event.type == "oncall.override_added":
            start, end = parse_time(d["from"]), parse_time(d["to"])
            found = HubOverride(
                event.seq, d["schedule"], d["user"], start, end, d.get("reason"), event.actor, event.ts
            )
            self.overrides[event.seq] = found
            self.touched[d["schedule"]] = parse_time(event.ts)
        elif event.type == "oncall.override_removed":
            self.overrides.pop(d["override"], None)
            self.touched[d["schedule"]] = parse_time(event.ts)
        if event.type.startswith("oncall."):
            self.handoffs.quiet_until.pop(d.get("schedule", ""), None)
        if event.type == "oncall.handoff":
            at, last = parse_time(d["at"]), self.chain.get(d["schedule"])
            if last is None or at >= last.at:
                link = self.chain[d["schedule"]] = Link(at, d.get("to"), d["why"])
                self.recent.setdefault(d["schedule"], deque(maxlen=KEPT)).append(link)
            self._due.update(d.get("incidents") or [])

    # -- who is on call ----------------------------------------------------------------

    def schedule(self, name: str) -> Schedule | None:
        """The file's schedule with the hub's overrides after its own: they win, a later one first."""
        if self.file is None or name not in self.file.oncall.schedules:
            return None
        base = self.file.oncall.schedules[name]
        extra = tuple(Override(o.user, o.start, o.end) for o in self.overrides.values() if o.schedule == name)
        return replace(base, overrides=base.overrides + extra) if extra else base

    def on_call(self, name: str, at: datetime) -> str | None:
        schedule = self.schedule(name)
        return who_is_on_call(schedule, at).user if schedule is not None else None

    def resolve_target(self, target: str, at: datetime) -> list[str]:
        """Escalation's resolver: a ``schedule:`` target counts the hub's overrides."""
        raw = self.file.oncall.raw if self.file is not None else {}
        return file_resolver(raw, self.on_call)(target, at)

    def schedules_for(self, severity: str, services: list[str] | set[str]) -> list[str]:
        """The schedules an incident's policies page (``schedule:`` targets of levels that apply)."""
        names: dict[str, None] = {}
        for policy in self.file.policies.values() if self.file is not None else ():
            if not policy.covers("incident", severity, services):
                continue
            for level in policy.levels:
                if level.severities and severity not in level.severities:
                    continue
                for target in level.notify:
                    kind, _, name = target.partition(":")
                    if kind == "schedule":
                        names.setdefault(name, None)
        return list(names)

    def sinks(self, schedules: list[str]) -> tuple[str, ...]:
        """The sinks of the policies naming these schedules; every sink if one of them names none."""
        named: dict[str, None] = {}
        for policy in self.file.policies.values() if self.file is not None else ():
            if any(f"schedule:{s}" in level.notify for level in policy.levels for s in schedules):
                if not policy.sinks:
                    return ()
                named.update(dict.fromkeys(policy.sinks))
        return tuple(named)

    # -- overrides through the hub -----------------------------------------------------

    def _loaded(self) -> Escalations:
        if self.file is None:
            raise WarroomError(
                Code.NOT_FOUND, 'this hub has no on-call file (schedules = "FILE" in its config)'
            )
        return self.file

    def _named(self, name: Any) -> Schedule:
        file = self._loaded()
        if not isinstance(name, str):
            raise WarroomError(Code.MISSING_FIELD, "schedule: the schedule's name is required", "schedule")
        if name not in file.oncall.schedules:
            known = ", ".join(sorted(file.oncall.schedules)) or "none"
            raise WarroomError(Code.NOT_FOUND, f"no schedule {name!r} (schedules: {known})", "schedule")
        return file.oncall.schedules[name]

    async def overrides_of(self, schedule: str | None) -> list[HubOverride]:
        if schedule is not None:
            self._named(schedule)
        await self.refresh()
        return [o for o in self.overrides.values() if schedule is None or o.schedule == schedule]

    async def add_override(self, body: dict[str, Any], actor: str, cid: str) -> tuple[HubOverride, bool]:
        """Record an override; returns it and whether this request was a resend of one recorded."""
        unknown = sorted(set(body) - {"schedule", "user", "from", "to", "reason"})
        if unknown:
            raise WarroomError(Code.UNKNOWN_FIELD, f"body: unknown field {unknown[0]!r}", unknown[0])
        schedule = self._named(body.get("schedule"))
        user = body.get("user")
        users = known_names(self._loaded().oncall.raw)[0]
        if not isinstance(user, str) or user not in users:
            raise WarroomError(
                Code.INVALID_VALUE,
                f"unknown user {user!r}: named in no team, layer or override of the on-call file",
                "user",
            )
        now = self.hub._clock()
        start, end = (
            _when(body.get("from"), schedule, "from", now),
            _when(body.get("to"), schedule, "to", now),
        )
        if end <= start:
            raise WarroomError(Code.INVALID_VALUE, "to must come after from", "to")
        data = {"schedule": schedule.name, "user": user, "from": format_time(start), "to": format_time(end)}
        if body.get("reason") is not None:
            data["reason"] = body["reason"]
        await self.ensure_room()
        ack = await self.hub.execute(
            Command(cid, "oncall.override_added", data, ONCALL), actor, internal=True
        )
        await self.refresh()
        made = self.overrides.get(ack.seq) or HubOverride(
            ack.seq,
            schedule.name,
            user,
            start,
            end,
            data.get("reason"),
            actor,
            format_time(self.hub._clock()),
        )  # a resend of an override removed since: as it was asked for
        return made, ack.duplicate

    async def remove_override(self, override_id: int, actor: str, cid: str) -> HubOverride:
        self._loaded()
        await self.refresh()
        found = self.overrides.get(override_id)
        if found is None:
            raise WarroomError(Code.NOT_FOUND, f"no override #{override_id}: removed already, or never made")
        data = {"override": override_id, "schedule": found.schedule}
        await self.hub.execute(Command(cid, "oncall.override_removed", data, ONCALL), actor, internal=True)
        await self.refresh()
        return found

    async def ensure_room(self) -> None:
        """The on-call log's room, declared on first use (by whichever hub comes first)."""
        if self._room_made or await self.hub.store.room(ONCALL) is not None:
            self._room_made = True
            return
        data = {"title": TITLE, "severity": "SEV4"}
        try:
            await self.hub.execute(
                Command(command_id("room"), "incident.declared", data, ONCALL), ACTOR, internal=True
            )
        except WarroomError as exc:
            if exc.code != Code.ROOM_EXISTS:
                raise
        self._room_made = True

    # -- the clock ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except WarroomError as exc:
                if exc.code == Code.SHUTTING_DOWN:
                    return
                log.exception("on-call tick failed")
            except Exception:  # handoffs must keep being recorded: a bug in one must not stop the rest
                log.exception("on-call tick failed")
            await asyncio.sleep(self.interval)  # the clock's period, not a wait for an event

    async def tick(self) -> None:
        """Record each handoff now due, bring open incidents' on-call lines up to date, answer page asks."""
        self.ticks += 1
        if self.file is None:
            return
        await self.refresh()
        if not self._caught_up:  # at start: a fan-out or a page request a stop cut off is finished
            self._caught_up = True
            self._due.update(i["id"] for i in await self.hub.incidents() if i.get("status") != "resolved")
            since = format_time(self.hub._clock() - RECENT)
            self._requests += [e for e in await self.hub.store.scan(["page.requested"]) if e.ts >= since]
        now = self.hub._clock()
        if self.file is not self._file_seen:  # read again (a config reload): work everything out again
            self._file_seen = self.file
            self.handoffs.quiet_until.clear()
        # One schedule's handoffs follow each other; different schedules' commit together.
        await asyncio.gather(*(self.handoffs.follow(name, now) for name in list(self.file.oncall.schedules)))
        due, self._due = self._due, set()
        for room in sorted(due):
            await self.handoffs.sync_room(room)
        requests, self._requests = self._requests, []
        for request in requests:
            await page_requested(self, request)

    async def submit(self, command: Command) -> Ack | None:
        try:
            future = self.hub.submit(command, ACTOR, internal=True, fixed_id=True)
            return await future
        except WarroomError as exc:
            if exc.code == Code.SHUTTING_DOWN:
                raise
            if exc.code == Code.NO_CHANGE and command.room is not None and command.room != ONCALL:
                # Decided from a view of the room another hub had moved past: look again next tick.
                self._due.add(command.room)
                log.info("on-call line for %s decided again: %s", command.room, exc.message)
                return None
            log.warning("on-call event %s for %s not written: %s", command.type, command.room, exc.message)
            return None


def _when(value: Any, schedule: Schedule, field: str, now: datetime) -> datetime:
    """An override's time: ISO 8601, or ``now``; without an offset, the schedule's wall clock."""
    if not isinstance(value, str):
        code = Code.MISSING_FIELD if value is None else Code.WRONG_TYPE
        raise WarroomError(code, f"{field}: expected a time like 2026-12-01T09:00", field)
    if value.strip() == "now":
        return now
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise WarroomError(
            Code.INVALID_VALUE, f"{field}: {value[:40]!r} is not a time like 2026-12-01T09:00", field
        ) from None
    if not FIRST_YEAR < moment.year < LAST_YEAR:
        raise WarroomError(Code.INVALID_VALUE, f"{field}: {value[:40]!r} is out of range", field)
    return local_instant(moment, schedule.zone)
