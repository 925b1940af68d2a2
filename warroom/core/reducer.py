"""The one reducer: folds events into incident state, on the hub and on every client.

``check`` is what the hub asks before it sequences a command (does the entry it
names exist, does it change anything); ``apply`` folds an accepted event in.
Both read only their arguments, so replaying a log always gives the same state.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from warroom.core import oncall_events  # noqa: F401  its handlers register on import
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import EVENT_TYPES, ROLE_TITLES, Event
from warroom.core.followup import TYPES as FOLLOWUP_TYPES
from warroom.core.followup import add_service, check_followup  # its handlers register on import
from warroom.core.handlers import HANDLERS, handles, system_line
from warroom.core.matchers import Matcher, format_matcher, label_matchers, matches_all, parse_matchers
from warroom.core.schema import format_time, parse_time
from warroom.core.state import (
    ROOM_SILENCE,
    Alert,
    AttachedRunbook,
    Broadcast,
    ChecklistItem,
    Entry,
    IncidentState,
    Offer,
    Revision,
    RoleHolder,
    RoleTerm,
    RunbookStep,
    Silence,
    StepNote,
    origin_title,
)


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
    if type_name == "oncall.handoff" and data.get("from") != state.oncall.get(data["schedule"]):
        # Decided from a view of the room another hub has moved past: the hub that saw it writes it.
        now = state.oncall.get(data["schedule"]) or "nobody"
        raise WarroomError(Code.NO_CHANGE, f"on call for {data['schedule']} is {now} here", "from")
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
    if type_name in ("alerts.acknowledged", "alerts.silenced"):
        ackable = type_name == "alerts.acknowledged"
        if not covered(state, parse_matchers(data["matchers"]), ackable=ackable):
            what = "firing, unacknowledged alert" if ackable else "alert"
            raise WarroomError(
                Code.NO_CHANGE, f"the matchers cover no {what} in this room: nothing done", "matchers"
            )
    if type_name == "runbook.attached" or type_name.startswith("step."):
        _check_runbook(state, type_name, data)
    if type_name in FOLLOWUP_TYPES:
        check_followup(state, type_name, data)
    if type_name == "responder.joined" and data["name"] in state.responders:
        raise WarroomError(Code.NO_CHANGE, f"{data['name']} already joined", "name")


def _check_runbook(state: IncidentState, type_name: str, data: dict[str, Any]) -> None:
    runbook = data["runbook"]
    if type_name == "runbook.attached":
        if runbook in state.runbooks:
            raise WarroomError(Code.NO_CHANGE, f"{runbook} is attached already", "runbook")
        if "snapshot" not in data:  # the hub fills it from its library; without one, there is none
            raise WarroomError(Code.UNKNOWN_REF, f"no runbook {runbook!r} in this hub's library", "runbook")
        return
    attached = state.runbooks.get(runbook)
    if attached is None:
        raise WarroomError(Code.UNKNOWN_REF, f"runbook {runbook!r} is not attached here", "runbook")
    step = attached.steps.get(data["step"])
    if step is None:
        raise WarroomError(Code.UNKNOWN_REF, f"{runbook} has no step {data['step']!r}", "step")
    wanted = "done" if data.get("checked", True) else "open"  # unchecking reopens a skipped step too
    if type_name == "step.checked" and step.state == wanted:
        raise WarroomError(Code.NO_CHANGE, f"that step is {step.state} already", "step")


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


def _hold(state: IncidentState, role: str, name: str, event: Event, by: str) -> None:
    state.roles[role] = RoleHolder(name=name, since=event.ts, assigned_by=by)
    state.role_terms.append(RoleTerm(role, name, event.ts, by))


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
    system_line(state, event, f"declared {drill}{state.severity}: {state.title}")
    state.services = list(dict.fromkeys(d.get("services", ())))
    commander = d.get("commander") or event.actor
    _hold(state, "commander", commander, event, event.actor)


@handles("incident.severity_changed")
def _severity(state: IncidentState, event: Event) -> None:
    old, state.severity = state.severity, event.data["severity"]
    reason = event.data.get("reason")
    system_line(state, event, f"severity {old} → {state.severity}" + (f": {reason}" if reason else ""))


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
    system_line(state, event, text)


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
    _hold(state, role, name, event, event.actor)
    state.offers.pop(role, None)
    system_line(state, event, f"{name} is {ROLE_TITLES[role]}")


@handles("role.offered")
def _role_offered(state: IncidentState, event: Event) -> None:
    role, to = event.data["role"], event.data["to"]
    state.offers[role] = Offer(to=to, by=event.actor, at=event.ts)
    system_line(state, event, f"{event.actor} offered {ROLE_TITLES[role]} to {to}")


@handles("role.accepted")
def _role_accepted(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    offer = state.offers.pop(role)
    previous = state.roles.get(role)
    _hold(state, role, event.actor, event, offer.by)
    handover = f" from {previous.name}" if previous else ""
    system_line(state, event, f"{event.actor} accepted {ROLE_TITLES[role]}{handover}")


@handles("role.declined")
def _role_declined(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    state.offers.pop(role)
    system_line(state, event, f"{event.actor} declined {ROLE_TITLES[role]}")


@handles("role.offer_expired")
def _role_offer_expired(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    offer = state.offers.pop(role)
    system_line(state, event, f"offer of {ROLE_TITLES[role]} to {offer.to} expired unanswered")


@handles("role.taken_over")
def _role_taken_over(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    previous = state.roles.get(role)
    _hold(state, role, event.actor, event, event.actor)
    state.offers.pop(role, None)
    reason = event.data.get("reason")
    who = previous.name if previous else "nobody"
    absent = event.data.get("absent_for")  # logs from before the hub filled it in lack it
    gone = f"not seen for {absent} s" if absent is not None else "disconnected"
    text = f"{event.actor} took over {ROLE_TITLES[role]} from {who} ({gone})"
    system_line(state, event, text + (f": {reason}" if reason else ""))


@handles("responder.joined")
def _responder_joined(state: IncidentState, event: Event) -> None:
    name = event.data["name"]
    state.responders[name] = event.ts
    state.milestones.setdefault("acknowledged", event.ts)
    system_line(state, event, f"{name} joined")


@handles("incident.milestone_corrected")
def _milestone_corrected(state: IncidentState, event: Event) -> None:
    milestone, at = event.data["milestone"], event.data["at"]
    old = state.milestones.get(milestone)
    state.milestones[milestone] = at
    reason = event.data.get("reason")
    text = f"milestone {milestone} corrected: {old or 'unset'} → {at}" + (f": {reason}" if reason else "")
    system_line(state, event, text)


@handles("notification.failed")
def _notification_failed(state: IncidentState, event: Event) -> None:
    d = event.data
    then = "gave up" if d.get("final") else "retrying"
    system_line(
        state, event, f"notification to {d['sink']} failed: {d['error']}, {then} (attempt {d['attempt']})"
    )


@handles("page.sent")
def _page_sent(state: IncidentState, event: Event) -> None:
    d = event.data
    people = ", ".join(d.get("notify") or []) or "nobody"
    again = f", repeat {d['round']}" if d.get("round") else ""
    targets = " ".join(d["targets"])
    if d.get("by"):
        system_line(state, event, f"{d['by']} paged {people} (on call: {targets})")
        return
    system_line(state, event, f"paged {people} ({d['policy']} level {d['level']}{again}: {targets})")


@handles("page.delivered")
def _page_delivered(state: IncidentState, event: Event) -> None:
    d = event.data
    if d["ok"]:
        text = f"page (level {d['level']}) delivered by {d['sink']}"
    else:
        why = d.get("error", "")
        text = f"page (level {d['level']}) to {d['sink']} failed: {why} (attempt {d['attempt']})"
    system_line(state, event, text)


@handles("page.acked")
def _page_acked(state: IncidentState, event: Event) -> None:
    system_line(state, event, f"{event.actor} acknowledged the page")


@handles("escalation.stopped")
def _escalation_stopped(state: IncidentState, event: Event) -> None:
    system_line(state, event, f"escalation {event.data['policy']} stopped by {event.data['by']}")


@handles("role.released")
def _role_released(state: IncidentState, event: Event) -> None:
    role = event.data["role"]
    holder = state.roles.pop(role, None)
    who = holder.name if holder else "nobody"
    system_line(state, event, f"{who} released {ROLE_TITLES[role]}")


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


# The last few answers of ``covered``: a command by matchers is checked by the hub, its
# preparer and its writer, then applied, all at one seq. Keyed on the alerts map itself
# (held, so its id is never reused) and the seq, which changes with every event.
_COVERED: list[tuple[dict[str, Alert], int, tuple[Matcher, ...], bool, list[Alert]]] = []


def covered(state: IncidentState, matchers: tuple[Matcher, ...], ackable: bool = False) -> list[Alert]:
    """The room's alerts the matchers cover; ``ackable``: only those firing and not yet acknowledged."""
    for alerts, seq, key, ack, found in _COVERED:
        if alerts is state.alerts and seq == state.seq and key == matchers and ack == ackable:
            return found
    found = [
        alert
        for alert in state.alerts.values()
        if (not ackable or (alert.status == "firing" and alert.acked_by is None))
        and matches_all(matchers, alert.labels)
    ]
    _COVERED.insert(0, (state.alerts, state.seq, matchers, ackable, found))
    del _COVERED[4:]
    return found


def _parsed(texts: list[str]) -> tuple[Matcher, ...] | None:
    """Matchers the log holds; None if they do not parse, for a handler must never raise."""
    try:
        return parse_matchers(texts)
    except WarroomError:
        return None


def _silence_alert(alert: Alert, silence: Silence) -> None:
    alert.silenced_until = silence.ends_at
    alert.silenced_by = silence.created_by
    alert.silence_reason = silence.comment
    alert.silence_id = silence.id
    alert.silence_origin = silence.origin


def _unsilence_alert(alert: Alert) -> None:
    alert.silenced_until = alert.silenced_by = alert.silence_reason = None
    alert.silence_id = alert.silence_origin = None


def _alerts(count: int) -> str:
    return "1 alert" if count == 1 else f"{count} alerts"


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
        if "labels" in d:
            _silence_if_covered(state, alert, d["labels"], d.get("origin"), event.ts)
            add_service(state, d["labels"])
    elif alert.status == "resolved" and d.get("status", "firing") == "firing":
        # A trigger after a resolve is a new occurrence: its acknowledgement starts over.
        alert.acked_by = alert.acked_at = None
        alert.ends_at = None
        alert.occurrence += 1
    alert.alertname = d["alertname"]
    alert.status = d.get("status", "firing")
    alert.count += 1
    alert.last_seen = event.ts
    alert.stale_since = None
    for key in ("severity", "starts_at", "ends_at", "source", "url", "origin", "runbook_url", "value"):
        if key in d:
            setattr(alert, key, d[key])
    for key in ("labels", "annotations", "links", "values"):
        if key in d:
            setattr(alert, key, d[key])


def _silence_if_covered(
    state: IncidentState, alert: Alert, labels: dict[str, str], origin: str | None, now: str
) -> None:
    """A new alert under a silence the room knows of is silenced from its first sight."""
    for silence in state.silences.values():
        if silence.state == "active" and silence.ends_at > now and silence.origin in (None, origin):
            matchers = _parsed(silence.matchers)
            if matchers is not None and matches_all(matchers, labels):
                _silence_alert(alert, silence)
                return


@handles("change.recorded")
def _change_recorded(state: IncidentState, event: Event) -> None:
    """A deploy or config change beside the alerts it may have caused, at the time it happened."""
    d = event.data
    text = d["summary"] + (f" ({d['source']})" if d.get("source") else "")
    text += "".join(f" · {name}: {href}" for name, href in d.get("links", {}).items())
    when = d.get("timestamp")
    state.entries[event.seq] = Entry(event.seq, "change", text, event.actor, event.ts, happened_at=when)


@handles("alert.acknowledged")
def _alert_acked(state: IncidentState, event: Event) -> None:
    alert = state.alerts[event.data["fingerprint"]]
    alert.acked_by = event.actor
    alert.acked_at = event.ts
    state.milestones.setdefault("acknowledged", event.ts)


@handles("alerts.acknowledged")
def _alerts_acked(state: IncidentState, event: Event) -> None:
    matchers = event.data["matchers"]
    parsed = _parsed(matchers)
    alerts = [] if parsed is None else covered(state, parsed, ackable=True)
    for alert in alerts:
        alert.acked_by = event.actor
        alert.acked_at = event.ts
    state.milestones.setdefault("acknowledged", event.ts)
    system_line(state, event, f"acknowledged {_alerts(len(alerts))} matching {', '.join(matchers)}")


@handles("alert.resolved")
def _alert_resolved(state: IncidentState, event: Event) -> None:
    alert = state.alerts[event.data["fingerprint"]]
    alert.status = "resolved"
    alert.ends_at = event.data.get("ends_at", event.ts)
    alert.last_seen = event.ts
    alert.stale_since = None
    if reason := event.data.get("reason"):
        system_line(state, event, f"{alert.label} resolved: {reason}")


@handles("alert.stale")
def _alert_stale(state: IncidentState, event: Event) -> None:
    alert = state.alerts[event.data["fingerprint"]]
    alert.stale_since = event.ts
    system_line(state, event, f"{alert.label} is stale: {event.data['reason']}")


def _until(ends_at: str) -> str:
    return f"{ends_at[:10]} {ends_at[11:16]}"


def _keep(state: IncidentState, silence: Silence, event: Event) -> Silence:
    silence.updated_at = event.ts
    state.silences[silence.id] = silence
    return silence


@handles("alert.silenced")
def _alert_silenced(state: IncidentState, event: Event) -> None:
    """Silences one alert: upstream when the hub made a silence there (``silence_id``), else in the room."""
    d = event.data
    alert = state.alerts[d["fingerprint"]]
    ends_at = format_time(parse_time(event.ts) + timedelta(minutes=d["minutes"]))
    upstream = d.get("silence_id")
    origin = d.get("origin") if upstream else None
    matchers = label_matchers(alert.labels) or [format_matcher("alertname", "=", alert.alertname)]
    silence = Silence(
        upstream or f"{ROOM_SILENCE}{event.seq}", matchers, ends_at, event.actor, d["reason"], origin
    )
    _silence_alert(alert, _keep(state, silence, event))
    system_line(
        state, event, f"silenced {alert.label} for {d['minutes']}m in {origin_title(origin)}: {d['reason']}"
    )


@handles("alerts.silenced")
def _alerts_silenced(state: IncidentState, event: Event) -> None:
    """Silences what the matchers cover: in each source the hub made a silence in, the rest in the room."""
    d = event.data
    ends_at = format_time(parse_time(event.ts) + timedelta(minutes=d["minutes"]))
    upstream: dict[str, str] = d.get("silences", {})

    def made(silence_id: str, origin: str | None) -> Silence:
        return Silence(silence_id, d["matchers"], ends_at, event.actor, d["reason"], origin)

    by_origin = {origin: made(silence_id, origin) for origin, silence_id in upstream.items()}
    room_only: Silence | None = None
    parsed = _parsed(d["matchers"])
    alerts = [] if parsed is None else covered(state, parsed)
    for alert in alerts:
        silence = by_origin.get(alert.origin) if alert.origin is not None else None
        if silence is None:
            room_only = room_only or made(f"{ROOM_SILENCE}{event.seq}", None)
            silence = room_only
        _silence_alert(alert, silence)
    for silence in [*by_origin.values(), *([room_only] if room_only else [])] or [
        made(f"{ROOM_SILENCE}{event.seq}", None)
    ]:
        _keep(state, silence, event)
    where = ", ".join(origin_title(origin) for origin in upstream) or origin_title(None)
    if upstream and room_only is not None:
        where += f", and {origin_title(None)} for the rest"
    text = (
        f"silenced {_alerts(len(alerts))} matching {', '.join(d['matchers'])} for {d['minutes']}m in {where}"
    )
    system_line(state, event, f"{text}: {d['reason']}")


@handles("alert.unsilenced")
def _alert_unsilenced(state: IncidentState, event: Event) -> None:
    """Ends the alert's silence, for every alert it covered: upstream it is one silence, expired there."""
    alert = state.alerts[event.data["fingerprint"]]
    silence_id = alert.silence_id
    others = [
        a for a in state.alerts.values() if silence_id and a.silence_id == silence_id and a is not alert
    ]
    for each in (alert, *others):
        _unsilence_alert(each)
    if silence_id in state.silences:
        ended = state.silences[silence_id]
        ended.state = "expired"
        _keep(state, ended, event)
    more = f" (and on {_alerts(len(others))} more it covered)" if others else ""
    system_line(state, event, f"silence on {alert.label} ended{more}")


@handles("silence.synced")
def _silence_synced(state: IncidentState, event: Event) -> None:
    """A silence as its Alertmanager has it: made or changed there, or expired."""
    d = event.data
    before = state.silences.get(d["id"])
    silence = Silence(
        d["id"],
        d["matchers"],
        d["ends_at"],
        d.get("created_by") or "someone",
        d.get("comment", ""),
        d["origin"],
        d["state"],
    )
    _keep(state, silence, event)
    where = origin_title(silence.origin)
    if silence.state == "active":
        matchers = _parsed(silence.matchers)
        alerts = [
            a
            for a in state.alerts.values()
            if a.origin == silence.origin and matchers is not None and matches_all(matchers, a.labels)
        ]
        for alert in alerts:
            _silence_alert(alert, silence)
        verb = "silenced" if before is None or before.state != "active" else "changed the silence on"
        text = (
            f"{silence.created_by} {verb} {_alerts(len(alerts))} in {where} until {_until(silence.ends_at)}"
        )
        system_line(state, event, f"{text}: {silence.comment}" if silence.comment else text)
        return
    alerts = [a for a in state.alerts.values() if a.silence_id == silence.id]
    for alert in alerts:
        _unsilence_alert(alert)
    if silence.state == "expired":
        system_line(
            state, event, f"the silence by {silence.created_by} on {_alerts(len(alerts))} expired in {where}"
        )


@handles("source.checked")
def _source_checked(state: IncidentState, event: Event) -> None:
    origin, error = event.data["origin"], event.data.get("error")
    where = origin_title(origin)
    if error:
        state.source_errors[origin] = error
        system_line(state, event, f"{where} is not answering ({error}); its alerts here may be out of date")
    else:
        state.source_errors.pop(origin, None)
        system_line(state, event, f"{where} answers again; its alerts here are reconciled")


@handles("alert.moved")
def _alert_moved(state: IncidentState, event: Event) -> None:
    alert = state.alerts.pop(event.data["fingerprint"])
    system_line(state, event, f"{alert.label} moved to {event.data['to']}")


def _runbook_steps(
    snapshot: dict[str, Any], attached_at: str, state: IncidentState
) -> dict[str, RunbookStep]:
    """The file's steps, flattened in order; due times from now, roles given to their holders now."""
    out: dict[str, RunbookStep] = {}

    def add(raw: dict[str, Any], section: str, depth: int) -> None:
        minutes = raw.get("due_minutes")
        due = format_time(parse_time(attached_at) + timedelta(minutes=minutes)) if minutes else None
        holder = state.roles.get(raw.get("role") or "")
        out[raw["id"]] = RunbookStep(
            id=raw["id"],
            text=raw["text"],
            section=section,
            depth=depth,
            role=raw.get("role"),
            due_at=due,
            command=raw.get("command") is not None,
            assignee=holder.name if holder else None,
        )
        for sub in raw.get("steps", ()):
            add(sub, section, depth + 1)

    for section in snapshot.get("sections", ()):
        for raw in section.get("steps", ()):
            add(raw, section.get("heading", ""), 0)
    return out


@handles("runbook.attached")
def _runbook_attached(state: IncidentState, event: Event) -> None:
    d = event.data
    snapshot = d["snapshot"]
    attached = AttachedRunbook(
        id=d["runbook"],
        title=str(snapshot.get("title", d["runbook"])),
        why=d.get("why", "attached by hand"),
        by=event.actor,
        at=event.ts,
        path=str(snapshot.get("path", "")),
        owner=snapshot.get("owner"),
        alert=d.get("alert"),
        steps=_runbook_steps(snapshot, event.ts, state),
    )
    state.runbooks[attached.id] = attached
    system_line(
        state,
        event,
        f"attached runbook {attached.title} ({attached.id}), {len(attached.steps)} steps: {attached.why}",
    )


def _step(state: IncidentState, event: Event) -> tuple[AttachedRunbook, RunbookStep]:
    attached = state.runbooks[event.data["runbook"]]
    return attached, attached.steps[event.data["step"]]


@handles("step.checked")
def _step_checked(state: IncidentState, event: Event) -> None:
    _, step = _step(state, event)
    done = event.data.get("checked", True)
    step.state = "done" if done else "open"
    step.by, step.at = (event.actor, event.ts) if done else (None, None)
    step.reason = None


@handles("step.skipped")
def _step_skipped(state: IncidentState, event: Event) -> None:
    attached, step = _step(state, event)
    step.state, step.by, step.at, step.reason = "skipped", event.actor, event.ts, event.data["reason"]
    system_line(state, event, f"skipped '{step.text}' ({attached.id}): {step.reason}")


@handles("step.assigned")
def _step_assigned(state: IncidentState, event: Event) -> None:
    attached, step = _step(state, event)
    step.assignee = event.data["to"]
    system_line(state, event, f"gave '{step.text}' ({attached.id}) to {step.assignee}")


@handles("step.noted")
def _step_noted(state: IncidentState, event: Event) -> None:
    _, step = _step(state, event)
    step.notes = (*step.notes, StepNote(event.data["text"], event.actor, event.ts))


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
    system_line(state, event, f"broadcast: {d['message']}")


def fold(room: str, events: list[Event], state: IncidentState | None = None) -> IncidentState:
    """Replay ``events`` onto ``state`` (or an empty incident)."""
    current = state if state is not None else IncidentState(room=room)
    for event in events:
        apply(current, event)
    return current
