"""What comes after the fix, folded like everything else: the review, action items, and impact.

Kept apart from ``reducer.py`` so the incident's live events and its aftermath
each read on their own; the reducer imports this module (which registers its
handlers) and calls ``check_followup`` for these types.
"""

from __future__ import annotations

from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.events import Event
from warroom.core.handlers import handles, system_line
from warroom.core.state import ActionItem, IncidentState, ReviewItem, Why

TYPES = (
    "incident.services_set",
    "incident.impact_set",
    "review.updated",
    "review.why_set",
    "review.why_cleared",
    "review.item_added",
    "review.item_removed",
    "action.added",
    "action.updated",
)
_ACTION_FIELDS = ("status", "owner", "due", "text")


def _no_change(message: str, field: str) -> WarroomError:
    return WarroomError(Code.NO_CHANGE, message, field)


def check_followup(state: IncidentState, type_name: str, data: dict[str, Any]) -> None:
    """Refuse what does not fit: a gap in the whys, a missing item, a change that changes nothing."""
    review = state.review
    if type_name == "incident.services_set" and data["services"] == state.services:
        raise _no_change("the services are already those", "services")
    elif type_name == "incident.impact_set" and data["fraction"] == state.impact_fraction:
        raise _no_change(f"the impact is already {state.impact_fraction:g}", "fraction")
    elif type_name == "review.updated" and data.get("text") == review.fields.get(data["field"]):
        raise _no_change(f"{data['field']} already says that", "text")
    elif type_name == "review.why_set" and data["level"] > len(review.whys) + 1:
        raise WarroomError(
            Code.INVALID_VALUE, f"level {data['level']}: fill level {len(review.whys) + 1} first", "level"
        )
    elif type_name == "review.why_cleared" and data["level"] > len(review.whys):
        raise _no_change(f"level {data['level']} is empty", "level")
    elif type_name == "review.item_removed" and not any(
        item.id == data["item"] for item in review.lists.get(data["section"], ())
    ):
        raise WarroomError(Code.UNKNOWN_REF, f"{data['section']} has no item {data['item']}", "item")
    elif type_name == "action.updated":
        _check_action(state.actions[data["action"]], data)


def _check_action(action: ActionItem, data: dict[str, Any]) -> None:
    status = data.get("status")
    if "at" in data and status != "done":
        raise WarroomError(Code.INVALID_VALUE, "at: only a move to done takes a time", "at")
    if status == "wont_do" and not data.get("reason"):
        raise WarroomError(Code.MISSING_FIELD, "reason: say why it will not be done", "reason")
    if all(data.get(name) in (None, getattr(action, name)) for name in _ACTION_FIELDS):
        raise _no_change(f"{action.id} already is as asked", "action")


@handles("incident.services_set")
def _services_set(state: IncidentState, event: Event) -> None:
    state.services = list(dict.fromkeys(event.data["services"]))
    system_line(state, event, f"services: {', '.join(state.services)}")


def add_service(state: IncidentState, labels: dict[str, str]) -> None:
    """An attached alert's ``service`` label joins the incident's services."""
    service = labels.get("service")
    if service and service not in state.services:
        state.services.append(service)


@handles("incident.impact_set")
def _impact_set(state: IncidentState, event: Event) -> None:
    state.impact_fraction = event.data["fraction"]
    reason = event.data.get("reason")
    text = f"impact set to {state.impact_fraction:.0%} of users"
    system_line(state, event, text + (f": {reason}" if reason else ""))


def _touch(state: IncidentState, event: Event) -> None:
    state.review.updated_by, state.review.updated_at = event.actor, event.ts


@handles("review.updated")
def _review_updated(state: IncidentState, event: Event) -> None:
    text = event.data.get("text")
    if text is None:
        state.review.fields.pop(event.data["field"], None)
    else:
        state.review.fields[event.data["field"]] = text
    _touch(state, event)


@handles("review.why_set")
def _why_set(state: IncidentState, event: Event) -> None:
    d = event.data
    why = Why(d["why"], d["because"], event.actor, event.ts)
    whys = state.review.whys
    if d["level"] <= len(whys):
        whys[d["level"] - 1] = why
    else:
        whys.append(why)
    _touch(state, event)


@handles("review.why_cleared")
def _why_cleared(state: IncidentState, event: Event) -> None:
    del state.review.whys[event.data["level"] - 1 :]
    _touch(state, event)


@handles("review.item_added")
def _item_added(state: IncidentState, event: Event) -> None:
    item = ReviewItem(event.seq, event.data["text"], event.actor, event.ts)
    state.review.lists.setdefault(event.data["section"], []).append(item)
    _touch(state, event)


@handles("review.item_removed")
def _item_removed(state: IncidentState, event: Event) -> None:
    section = event.data["section"]
    kept = [item for item in state.review.lists[section] if item.id != event.data["item"]]
    if kept:
        state.review.lists[section] = kept
    else:
        del state.review.lists[section]
    _touch(state, event)


def _action_terms(action: ActionItem) -> str:
    terms = [f"owner {action.owner}" if action.owner else "", f"due {action.due}" if action.due else ""]
    return ", ".join(t for t in terms if t)


@handles("action.added")
def _action_added(state: IncidentState, event: Event) -> None:
    d = event.data
    action = ActionItem(
        id=f"A-{len(state.actions) + 1}",
        text=d["text"],
        created_by=event.actor,
        created_at=event.ts,
        owner=d.get("owner"),
        due=d.get("due"),
    )
    state.actions[action.id] = action
    terms = _action_terms(action)
    system_line(state, event, f"action {action.id}: {action.text}" + (f" ({terms})" if terms else ""))


@handles("action.updated")
def _action_updated(state: IncidentState, event: Event) -> None:
    d = event.data
    action = state.actions[d["action"]]
    changes = []
    if "status" in d and d["status"] != action.status:
        changes.append(f"{action.status} → {d['status']}")
        action.status = d["status"]
        action.done_at = d.get("at", event.ts) if action.status == "done" else None
        action.reason = d.get("reason")
    for name in ("owner", "due", "text"):
        if name in d and d[name] != getattr(action, name):
            setattr(action, name, d[name])
            changes.append(f"{name} {d[name]}")
    action.updated_by, action.updated_at = event.actor, event.ts
    reason = d.get("reason")
    system_line(state, event, f"action {action.id}: {'; '.join(changes)}" + (f": {reason}" if reason else ""))
