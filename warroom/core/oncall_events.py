"""On-call events folded like everything else: overrides in the hub's on-call log, and handoffs.

A handoff line lands in the on-call log and in each open incident that
inherits it, so the room's state knows who is on call for it now
(``IncidentState.oncall``) and its timeline says when that changed.
Kept apart from ``reducer.py``, which imports this module to register these handlers.
"""

from __future__ import annotations

from warroom.core.events import Event
from warroom.core.handlers import handles, system_line
from warroom.core.state import IncidentState


@handles("oncall.override_added")
def _override_added(state: IncidentState, event: Event) -> None:
    d = event.data
    why = f": {d['reason']}" if d.get("reason") else ""
    who = f"override #{event.seq}: {d['user']} on call for {d['schedule']}"
    system_line(state, event, f"{who} from {d['from']} to {d['to']}{why}")


@handles("oncall.override_removed")
def _override_removed(state: IncidentState, event: Event) -> None:
    d = event.data
    system_line(state, event, f"override #{d['override']} for {d['schedule']} removed by {event.actor}")


@handles("oncall.handoff")
def _handoff(state: IncidentState, event: Event) -> None:
    d = event.data
    schedule, to = d["schedule"], d.get("to")
    if to and d["why"] != "left":
        state.oncall[schedule] = to
    else:
        state.oncall.pop(schedule, None)
    after = to or "nobody"
    if d["why"] == "left":
        text = f"on call for {schedule}: no longer paged for this incident"
    elif d["why"] in ("start", "joined"):
        text = f"on call for {schedule}: {after}"
    else:
        text = f"on call for {schedule}: {d.get('from') or 'nobody'} → {after}"
        if d["why"] == "override":
            text += " (override)"
    if d.get("incidents"):
        text += f"; open incidents: {', '.join(d['incidents'])}"
    system_line(state, event, text)


@handles("page.requested")
def _page_requested(state: IncidentState, event: Event) -> None:
    system_line(state, event, f"{event.actor} asked to page whoever is on call")
