"""Handoffs: each change of who is on call for a schedule, recorded once, told, and written into incidents.

Worked out from the last handoff in the on-call log (``OncallService.chain``)
and the clock, over the resolved shifts (the file's layers and overrides, and
the hub's overrides after them): a restarted hub records, late and in order,
the handoffs that fell due while it was down, and none twice. Each one's
command id is derived from schedule, instant and people, so several hubs
record it once, and only the hub whose write it was tells the outgoing and
incoming people through the sinks, naming the open incidents they inherit.
Each open incident the schedule covers gets the handoff as a timeline line of
its own (its id derived the same way), so its state says who is on call for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from server.intake import HUB_ROOMS, ONCALL
from server.paging import Outgoing
from warroom.core.errors import WarroomError
from warroom.core.events import Command
from warroom.core.schema import format_time
from warroom.oncall.model import Schedule
from warroom.oncall.resolve import shifts, who_is_on_call

if TYPE_CHECKING:
    from server.oncall import Link, OncallService

IDS = uuid.UUID("5f0d7c3a-2b61-4e8f-9d14-7a2c6b1e0f93")  # namespace of the on-call log's command ids


def command_id(*parts: str) -> str:
    """The same decision gets the same id, on any hub, before or after a restart."""
    return str(uuid.uuid5(IDS, "/".join(parts)))


def zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handoffs:
    def __init__(self, service: OncallService) -> None:
        self.service = service
        # schedule -> nothing changes before this; forgotten when its overrides, its chain or the file change
        self.quiet_until: dict[str, datetime] = {}

    async def follow(self, name: str, now: datetime) -> None:
        schedule = self.service.schedule(name)
        assert schedule is not None
        link = self.service.chain.get(name)
        if link is None:  # the hub starts following it: who is on call now, nobody told
            await self.record(name, now, None, who_is_on_call(schedule, now).user, "start")
            return
        quiet = self.quiet_until.get(name)
        if quiet is not None and now < quiet:
            return
        change = self.next_change(name, schedule, link, now)
        if change is None:
            handoff = who_is_on_call(schedule, now).handoff
            self.quiet_until[name] = handoff if handoff is not None else datetime.max.replace(tzinfo=UTC)
            return
        at, user, why = change
        await self.record(name, at, link.user, user, why)

    def next_change(
        self, name: str, schedule: Schedule, link: Link, now: datetime
    ) -> tuple[datetime, str | None, str] | None:
        """The first change of who is on call after the last recorded one, up to now."""
        pieces = shifts(schedule, link.at, now + timedelta(milliseconds=1))
        for point in sorted({p.start for p in pieces} | {p.end for p in pieces}):
            if not link.at < point <= now:
                continue
            user = next((p.user for p in pieces if p.start <= point < p.end), None)
            if user != link.user:
                return point, user, "handoff"
        current = who_is_on_call(schedule, now).user
        if current == link.user:
            return None
        # Not at a shift's edge: an override added or removed since changed who it is now.
        touched = self.service.touched.get(name)
        return (touched if touched is not None and link.at < touched <= now else now), current, "override"

    async def record(self, name: str, at: datetime, before: str | None, after: str | None, why: str) -> None:
        cid = (
            command_id(name, "start")
            if why == "start"
            else command_id(name, zulu(at), before or "", after or "")
        )
        incidents = await self.inheritors(name)
        data: dict[str, Any] = {"schedule": name, "at": format_time(at), "why": why}
        if before:
            data["from"] = before
        if after:
            data["to"] = after
        if incidents:
            data["incidents"] = [i["id"] for i in incidents]
        await self.service.ensure_room()
        ack = await self.service.submit(Command(cid, "oncall.handoff", data, ONCALL))
        await self.service.refresh()
        if ack is not None and not ack.duplicate and why != "start":
            self.tell(name, data, incidents, cid)

    async def inheritors(self, name: str) -> list[dict[str, Any]]:
        """Open incidents (drills aside) whose policies page this schedule: they change hands with it."""
        out = []
        for item in await self.service.hub.incidents():
            if item.get("status") == "resolved" or item.get("drill"):
                continue
            if name in self.service.schedules_for(
                str(item.get("severity") or ""), item.get("services") or []
            ):
                out.append(item)
        return out[:100]

    def tell(self, name: str, data: dict[str, Any], incidents: list[dict[str, Any]], cid: str) -> None:
        """Notify the outgoing and incoming people through the sinks, naming what they inherit."""
        before, after = data.get("from"), data.get("to")
        summary = f"on call for {name}: {before or 'nobody'} → {after or 'nobody'} at {data['at']}"
        if incidents:
            named = ", ".join(f"{i['id']} ({i.get('severity')} {i.get('title')})" for i in incidents)
            summary += f"; open incidents you inherit: {named}"
        listed = [{k: i.get(k) for k in ("id", "title", "severity", "status")} for i in incidents]
        body = {"event": "oncall.handoff", **data, "incidents": listed, "summary": summary}
        people = tuple(p for p in (before, after) if p)
        keys = {"schedule": name, "at": data["at"]}
        self.service.escalation.pager.deliver(
            Outgoing("oncall.handoff", body, people, ONCALL, keys), cid, self.service.sinks([name])
        )

    async def sync_room(self, room_id: str) -> None:
        """Bring an open incident's on-call lines up to date: each schedule its policies page, as now,
        and a line for each one they no longer page."""
        if room_id in HUB_ROOMS:
            return
        try:
            room = await self.service.hub.room(room_id)
        except WarroomError:
            return
        state = room.state
        if not state.declared or state.status == "resolved" or state.drill:
            return
        wanted = self.service.schedules_for(state.severity, state.services)
        for name in sorted(set(state.oncall) - set(wanted)):  # its services or severity moved away
            at = format_time(self.service.hub._clock())
            gone = {"schedule": name, "at": at, "why": "left", "from": state.oncall[name]}
            cid = command_id(room_id, name, "left", str(state.seq))
            await self.service.submit(Command(cid, "oncall.handoff", gone, room_id))
        for name in wanted:
            listed, current = name in state.oncall, state.oncall.get(name)
            for link in self.missed(name, listed, current):
                why = link.why if listed and link.why != "start" else "joined"
                data: dict[str, Any] = {"schedule": name, "at": format_time(link.at), "why": why}
                if current:
                    data["from"] = current
                if link.user:
                    data["to"] = link.user
                cid = command_id(room_id, name, zulu(link.at), link.user or "")
                if await self.service.submit(Command(cid, "oncall.handoff", data, room_id)) is None:
                    break  # refused: the room is looked at again on the next tick
                listed, current = link.user is not None, link.user

    def missed(self, name: str, listed: bool, current: str | None) -> list[Link]:
        """The handoffs an incident has not had a line for, oldest first.

        Each one it missed (a hub was down, or decided from a view another hub had moved
        past), not only the newest: its timeline says who was on call when. One that has
        never had a line for the schedule joins at the newest.
        """
        recent = self.service.recent.get(name)
        link = self.service.chain.get(name)
        if link is None or current == link.user:
            return []
        if not listed or not recent or recent[-1] is not link:
            return [link]
        after = next((n for n in range(len(recent) - 1, -1, -1) if recent[n].user == current), None)
        return [link] if after is None else list(recent)[after + 1 :]
