"""A page asked for by hand (``page.requested``, F7 in the room): whoever is on call for the incident now.

The schedules are those the incident's escalation policies page, resolved at
that moment (the hub's overrides included); the page is a ``page.sent`` with
``by``, its command id derived from the request's, so it is recorded and sent
once, through those policies' sinks. A drill's page is recorded, not sent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from server.handoffs import command_id
from warroom.core.errors import WarroomError
from warroom.core.events import Command, Event
from warroom.oncall.escalation import resolve

if TYPE_CHECKING:
    from server.oncall import OncallService

log = logging.getLogger("warroom.oncall")
PAGE_POLICY = "on call"  # what a page asked for by hand says in its policy field


async def page_requested(service: OncallService, request: Event) -> None:
    """Page whoever is on call now for the incident (``page.requested``): a ``page.sent`` line."""
    try:
        room = await service.hub.room(request.room)
    except WarroomError:
        return
    state = room.state
    names = service.schedules_for(state.severity, state.services)
    if not names:
        log.warning("page asked for in %s, but no policy pages a schedule for it", request.room)
        return
    targets = [f"schedule:{n}" for n in names]
    notify = resolve(targets, service.hub._clock(), service.resolve_target)
    data: dict[str, Any] = {
        "policy": PAGE_POLICY,
        "level": 1,
        "round": 0,
        "targets": targets,
        "trigger": "incident",
        "by": request.actor,
    }
    if notify:
        data["notify"] = list(notify)
    cid = command_id(request.room, "page", request.id)
    ack = await service.submit(Command(cid, "page.sent", data, request.room))
    if ack is None or ack.duplicate or state.drill:  # drills never leave the hub
        return
    incident = {
        "id": state.room,
        "title": state.title,
        "severity": state.severity,
        "status": state.status,
    }
    page = {"event": "page.sent", "incident": incident, **data, "notify": list(notify)}
    service.escalation.pager.send(page, cid, service.sinks(names))
