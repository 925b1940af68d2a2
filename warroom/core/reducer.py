"""The one reducer: folds events into incident state, on the hub and on every client.

``check`` is what the hub asks before it sequences a command (does the entry it
names exist, does it change anything); ``apply`` folds an accepted event in.
Both read only their arguments, so replaying a log always gives the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import EVENT_TYPES, ROLE_TITLES, Event
from warroom.core.schema import format_time, parse_time
from warroom.core.state import (
    Alert,
    Broadcast,
    ChecklistItem,
    Entry,
    IncidentState,
    Offer,
    Revision,
    RoleHolder,
)

Handler = Callable[[IncidentState, Event], None]
HANDLERS: dict[str, Handler] = {}


def handles(type_name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[type_name] = fn
        return fn

    return register


def check(state: IncidentState, type_name: str, data: dict[str, Any]) -> None:
    """Refuse a validated command that does not fit the current state."""
    if type_name == "incident.declared":
        if state.declared:
            raise WarroomError(Code.ROOM_EXISTS, f"{state.room} is already declared")
        return
    if not state.declared:
        raise unknown_room(state.room)
    for f in EVENT_TYPES[type_name].fields:
        if f.ref is not None and f.name in data:
            collection: dict[Any, Any] = getattr(state, f.ref)
            if data[f.name] not in collection:
                raise WarroomError(
                    Code.UNKNOWN_REF, f"{f.name} {data[f.name]!r} does not exist", field=f.name
                )
    if type_name == "incident.severity_changed" and data["severity"] == state.severity:
        raise WarroomError(Code.NO_CHANGE, f"severity is already {state.severity}", "severity")
    if type_name == "incident.status_changed" and data["status"] == state.status:
        raise WarroomError(Code.NO_CHANGE, f"status is already {state.status}", "status")
    if type_name == "role.released" and data["role"] not in state.roles:
        raise WarroomError(Code.NO_CHANGE, f"nobody holds {data['role']}", "role")
    holder = state.roles.get(data.get("role", ""))
    if type_name == "role.assigned" and holder is not None and holder.name == data["name"]:
        raise WarroomError(Code.NO_CHANGE, f"{data['name']} already holds {data['role']}", "name")
    if type_name == "role.offered" and holder is not None and holder.name == data["to"]:
        raise WarroomError(Code.NO_CHANGE, f"{data['to']} already holds {data['role']}", "to")
    if (
        type_name in ("role.accepted", "role.declined", "role.offer_expired")
        and data["role"] not in state.offers
    ):
        raise WarroomError(Code.UNKNOWN_REF, f"no open offer of {data['role']}", "role")
    if type_name == "alert.unsilenced" and state.alerts[data["fingerprint"]].silenced_until is None:
        raise WarroomError(Code.NO_CHANGE, "that alert is not silenced", "fingerprint")
    if type_name == "responder.joined" and data["name"] in state.responders:
        raise WarroomError(Code.NO_CHANGE, f"{data['name']} already joined", "name")


def apply(state: IncidentState, event: Event) -> IncidentState:
    """Fold ``event`` into ``state`` in place and return it.

    In place because copying a 100,000-entry timeline per event would make
    replay quadratic; callers that need the old state keep a snapshot.
    """
    if event.seq != state.seq + 1:
        raise ValueError(f"{state.room}: event seq {event.seq} does not follow {state.seq}")
    HANDLERS[event.type](state, event)
    state.seq = event.seq
    state.updated_at = event.ts
    return state


def _system(state: IncidentState, event: Event, text: str) -> None:
    """A timeline line the hub writes for a change of state, so the story reads whole."""
    state.entries[event.seq] = Entry(id=event.seq, kind="system", text=text, author=event.actor, ts=event.ts)


@handles("incident.declared")
def _declared(state: IncidentState, event: Event) -> None:
    d = event.data
    state.title = d["title"]
    state.severity = d["severity"]
    state.status = d.get("status", "investigating")
    state.summary = d.get("summary")
    state.declared_by = event.actor
    state.declared_at = event.ts
    state.public = d.get("public", False)
    state.drill = d.get("drill", False)
    state.milestones["declared"] = event.ts
    state.resolved_at = event.ts if state.status == "resolved" else None
    if state.resolved_at:
        state.milestones["resolved"] = event.ts
    if state.status in ("monitoring", "resolved"):
        state.milestones["mitigated"] = event.ts
    drill = "drill " if state.drill else ""
    _system(state, event, f"declared {drill}{state.severity}: {state.title}")
    commander = d.get("commander") or event.actor
    state.roles["commander"] = RoleHolder(name=commander, since=event.ts, assigned_by=event.actor)


@handles("incident.severity_changed")
def _severity(state: IncidentState, event: Event) -> None:
    old, state.severity = state.severity, event.data["severity"]
    reason = event.data.get("reason")
    _system(state, event, f"severity {old} → {state.severity}" + (f": {reason}" if reason else ""))


@handles("incident.status_changed")
def _status(state: IncidentState, event: Event) -> None:
    old, state.status = state.status, event.data["status"]
    verb = "status"
    if state.status == "resolved":
        state.resolved_at = state.milestones["resolved"] = event.ts
    elif old == "resolved":
        state.reopen_count += 1
        state.resolved_at = None
        state.milestones.pop("resolved", None)
        verb = "reopened:"
    if state.status in ("monitoring", "resolved"):
        state.milestones.setdefault("mitigated", event.ts)
    reason = event.data.get("reason")
    text = f"{verb} {old} → {state.status}" + (f": {reason}" if reason else "")
    _system(state, event, text)


@handles("entry.added")
def _entry_added(state: IncidentState, event: Event) -> None:
    d = event.data
    state.entries[event.seq] = Entry(
        id=event.seq,
        kind=d.get("kind", "note"),
        text=d["text"],
        author=event.actor,
        ts=event.ts,
        happened_at=d.get("happened_at"),
    )


@handles("entry.edited")
def _entry_edited(state: IncidentState, event: Event) -> None:
    entry = state.entries[event.data["entry"]]
    earlier = Revision(text=entry.text, actor=entry.edited_by or entry.author, ts=entry.edited_at or entry.ts)
    entry.history = (*entry.history, earlier)
    entry.text = event.data["text"]
    entry.edited_by = event.actor
    entry.edited_at = event.ts


@handles("entry.struck")
def _entry_struck(state: IncidentState, event: Event) -> None:
    entry = state.entries[event.data["entry"]]
    entry.struck_by = event.actor
    entry.struck_at = event.ts
    entry.strike_reason = event.data.get("reason")


@handles("entry.pinned")
def _entry_pinned(state: IncidentState, event: Event) -> None:
    state.entries[event.data["entry"]].pinned = True


@handles("entry.unpinned")
def _entry_unpinned(state: IncidentState, event: Event) -> None:
    state.entries[event.data["entry"]].pinned = False


@handles("role.assigned")
def _role_assigned(state: IncidentState, event: Event) -> None:
    role, name = event.data["role"], event.data["name"]
    state.roles[role] = RoleHolder(name=name, since=event.ts, assigned_by=event.actor)
    state.offers.pop(role, None)
    _system(state, event, f"{name} is {ROLE_TITLES[role]}")


@handles("role.offered")
def _role_offered(state: IncidentState, event: Event) -> None:
    role, to = event.data["role"], event.data["to"]
    state.offers[role] = Offer(to=to, by=event.actor, at=event.ts)
    _system(state, event, f"{event.actor} offered {ROLE_TITLES[role]} to {to}")


@handles("role.accepted")
def _role_accepted(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    offer = state.offers.pop(role)
    previous = state.roles.get(role)
    state.roles[role] = RoleHolder(name=event.actor, since=event.ts, assigned_by=offer.by)
    handover = f" from {previous.name}" if previous else ""
    _system(state, event, f"{event.actor} accepted {ROLE_TITLES[role]}{handover}")


@handles("role.declined")
def _role_declined(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    state.offers.pop(role)
    _system(state, event, f"{event.actor} declined {ROLE_TITLES[role]}")


@handles("role.offer_expired")
def _role_offer_expired(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    offer = state.offers.pop(role)
    _system(state, event, f"offer of {ROLE_TITLES[role]} to {offer.to} expired unanswered")


@handles("role.taken_over")
def _role_taken_over(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    previous = state.roles.get(role)
    state.roles[role] = RoleHolder(name=event.actor, since=event.ts, assigned_by=event.actor)
    state.offers.pop(role, None)
    reason = event.data.get("reason")
    who = previous.name if previous else "nobody"
    absent = event.data.get("absent_for")  # logs from before the hub filled it in lack it
    gone = f"not seen for {absent} s" if absent is not None else "disconnected"
    text = f"{event.actor} took over {ROLE_TITLES[role]} from {who} ({gone})"
    _system(state, event, text + (f": {reason}" if reason else ""))


@handles("responder.joined")
def _responder_joined(state: IncidentState, event: Event) -> None:
    name = event.data["name"]
    state.responders[name] = event.ts
    state.milestones.setdefault("acknowledged", event.ts)
    _system(state, event, f"{name} joined")


@handles("incident.milestone_corrected")
def _milestone_corrected(state: IncidentState, event: Event) -> None:
    milestone, at = event.data["milestone"], event.data["at"]
    old = state.milestones.get(milestone)
    state.milestones[milestone] = at
    reason = event.data.get("reason")
    text = f"milestone {milestone} corrected: {old or 'unset'} → {at}" + (f": {reason}" if reason else "")
    _system(state, event, text)


@handles("notification.failed")
def _notification_failed(state: IncidentState, event: Event) -> None:
    d = event.data
    then = "gave up" if d.get("final") else "retrying"
    _system(
        state, event, f"notification to {d['sink']} failed: {d['error']}, {then} (attempt {d['attempt']})"
    )


@handles("role.released")
def _role_released(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    holder = state.roles.pop(role, None)
    who = holder.name if holder else "nobody"
    _system(state, event, f"{who} released {ROLE_TITLES[role]}")


@handles("checklist.item_added")
def _item_added(state: IncidentState, event: Event) -> None:
    state.checklist[event.seq] = ChecklistItem(
        id=event.seq,
        text=event.data["text"],
        runbook=event.data.get("runbook"),
        added_by=event.actor,
        added_at=event.ts,
    )


@handles("checklist.item_checked")
def _item_checked(state: IncidentState, event: Event) -> None:
    item = state.checklist[event.data["item"]]
    item.checked = event.data.get("checked", True)
    item.checked_by = event.actor if item.checked else None
    item.checked_at = event.ts if item.checked else None


@handles("alert.upserted")
def _alert_upserted(state: IncidentState, event: Event) -> None:
    d = event.data
    if d.get("status", "firing") == "firing":  # detection: the earliest firing alert
        seen = d.get("starts_at") or event.ts
        state.milestones["detected"] = min(seen, state.milestones.get("detected", seen))
    alert = state.alerts.get(d["fingerprint"])
    if alert is None:
        alert = Alert(
            fingerprint=d["fingerprint"],
            alertname=d["alertname"],
            status="firing",
            first_seen=event.ts,
            last_seen=event.ts,
            count=0,
        )
        state.alerts[alert.fingerprint] = alert
    elif alert.status == "resolved" and d.get("status", "firing") == "firing":
        # A trigger after a resolve is a new occurrence: its acknowledgement starts over.
        alert.acked_by = alert.acked_at = None
        alert.ends_at = None
        alert.occurrence += 1
    alert.alertname = d["alertname"]
    alert.status = d.get("status", "firing")
    alert.count += 1
    alert.last_seen = event.ts
    for key in ("severity", "starts_at", "ends_at", "source", "url"):
        if key in d:
            setattr(alert, key, d[key])
    if "labels" in d:
        alert.labels = d["labels"]
    if "annotations" in d:
        alert.annotations = d["annotations"]


@handles("alert.acknowledged")
def _alert_acked(state: IncidentState, event: Event) -> None:
    alert = state.alerts[event.data["fingerprint"]]
    alert.acked_by = event.actor
    alert.acked_at = event.ts
    state.milestones.setdefault("acknowledged", event.ts)


@handles("alert.resolved")
def _alert_resolved(state: IncidentState, event: Event) -> None:
    alert = state.alerts[event.data["fingerprint"]]
    alert.status = "resolved"
    alert.ends_at = event.data.get("ends_at", event.ts)
    alert.last_seen = event.ts


@handles("alert.silenced")
def _alert_silenced(state: IncidentState, event: Event) -> None:
    d = event.data
    alert = state.alerts[d["fingerprint"]]
    alert.silenced_until = format_time(parse_time(event.ts) + timedelta(minutes=d["minutes"]))
    alert.silenced_by = event.actor
    alert.silence_reason = d["reason"]
    alert.silence_id = d.get("silence_id")
    where = " and in Alertmanager" if alert.silence_id else ""
    _system(state, event, f"silenced {alert.alertname} for {d['minutes']}m{where}: {d['reason']}")


@handles("alert.unsilenced")
def _alert_unsilenced(state: IncidentState, event: Event) -> None:
    alert = state.alerts[event.data["fingerprint"]]
    alert.silenced_until = alert.silenced_by = alert.silence_reason = alert.silence_id = None
    _system(state, event, f"silence on {alert.alertname} ended")


@handles("alert.moved")
def _alert_moved(state: IncidentState, event: Event) -> None:
    alert = state.alerts.pop(event.data["fingerprint"])
    _system(state, event, f"{alert.alertname} moved to {event.data['to']}")


@handles("status.broadcast")
def _broadcast(state: IncidentState, event: Event) -> None:
    d = event.data
    due = None
    if "next_update_in" in d:
        due = format_time(parse_time(event.ts) + timedelta(minutes=d["next_update_in"]))
    state.broadcasts.append(
        Broadcast(
            message=d["message"],
            impact=d.get("impact"),
            doing=d.get("doing"),
            actor=event.actor,
            ts=event.ts,
            next_update_due=due,
        )
    )
    _system(state, event, f"broadcast: {d['message']}")


def fold(room: str, events: list[Event], state: IncidentState | None = None) -> IncidentState:
    """Replay ``events`` onto ``state`` (or an empty incident)."""
    current = state if state is not None else IncidentState(room=room)
    for event in events:
        apply(current, event)
    return current
