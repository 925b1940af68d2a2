"""What a late joiner sees without scrolling, from 80x24 to 200 columns."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, wait_for
from warroom.app.app import WarroomApp
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets.panels import RolesPanel
from warroom.client import HubClient
from warroom.core.events import Command
from warroom.core.protocol import new_id


async def busy_room(hub: HubServer) -> str:
    """An incident an hour in: many entries, two pinned, roles, a broadcast, a runbook, acked alerts."""

    async def run(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> int:
        internal = type_ == "alert.upserted"  # as alert intake sends it: clients cannot
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)).seq

    await run("incident.declared", {"title": "Checkout API returning 502s", "severity": "SEV1"})
    room = "INC-1"
    await run("role.assigned", {"role": "comms", "name": "priya"}, room)
    decision = await run(
        "entry.added", {"text": "Roll back checkout to 2026.11.28-1", "kind": "decision"}, room
    )
    impact = await run("entry.added", {"text": "8% of EU card payments fail", "kind": "finding"}, room, "sam")
    for n in range(40):
        await run("entry.added", {"text": f"chatter {n}"}, room, "sam")
    await run("entry.pinned", {"entry": decision}, room)
    await run("entry.pinned", {"entry": impact}, room)
    await run("incident.status_changed", {"status": "identified"}, room)
    await run(
        "status.broadcast", {"message": "EU checkout failing; rolling back", "next_update_in": 30}, room
    )
    items = [await run("checklist.item_added", {"text": f"runbook step {n}"}, room) for n in range(8)]
    for item in items[:3]:
        await run("checklist.item_checked", {"item": item}, room)
    labels = {"instance": "checkout-api-7f9c4d8b6-x2x9k.eu-west-1.internal:8080", "region": "eu-west-1"}
    for n in range(2):
        await run(
            "alert.upserted",
            {"fingerprint": f"fp{n}", "alertname": "HighErrorRate", "severity": "critical", "labels": labels},
            room,
            "alertmanager",
        )
    await run("alert.acknowledged", {"fingerprint": "fp0"}, room, "bob")
    await run("alert.silenced", {"fingerprint": "fp1", "minutes": 60, "reason": "rollback running"}, room)
    return room


@pytest.mark.parametrize(("size", "side"), [((80, 24), 30), ((120, 40), 43), ((200, 50), 64)])
async def test_a_late_joiner_sees_the_key_facts_without_scrolling(
    hub: HubServer, size: tuple[int, int], side: int
) -> None:
    room = await busy_room(hub)
    app = WarroomApp(HubClient(hub.url, TOKEN, "late"), room, load_themes(shipped_dir()))
    async with app.run_test(size=size) as pilot:
        await wait_for(lambda: room in app.client.rooms and "late" in app.client.rooms[room].state.responders)
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, IncidentScreen)
        assert screen.query_one("#side").size.width == side  # a share of the width, within bounds
        facts = (
            "SEV1",
            "identified",
            "IC      maria" if size[0] < 110 else "incident commander   maria",
            "priya",
            "EU checkout failing; rolling back",
            "Pinned 2",
            "8% of EU card payments fail",
            "Roll back checkout",
            "Runbook 3/8",
            "Alerts 2 firing",
            "✓ack bob",
            "⏸silenced",
        )

        def screen_text() -> str:
            return "\n".join(strip.text for strip in screen._compositor.render_strips())

        with contextlib.suppress(AssertionError):  # what the join brought is drawn within a frame or so
            await wait_for(lambda: all(f in screen_text() for f in facts), timeout=5, what="the key facts")
        shown = screen_text()
        for fact in facts:
            assert fact in shown, f"{fact!r} is not on the {size[0]}x{size[1]} screen:\n{shown}"
        # newest pinned first
        assert shown.index("8% of EU card payments fail") < shown.index("Roll back checkout")
        # the theme's colours still apply to text built from plain pieces
        roles = screen.query_one(RolesPanel)
        segments = [seg for strip in roles.render_lines(roles.region.reset_offset) for seg in strip]
        title = next(seg for seg in segments if seg.text.strip() in ("IC", "incident commander"))
        assert title.style is not None and title.style.color is not None
        assert title.style.color.triplet is not None
        assert title.style.color.triplet.hex.upper() == app.theme_variables["role-commander"].upper()


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_side_panels_stay_on_screen(hub: HubServer, size: tuple[int, int]) -> None:
    """Roles, two runbooks, action items and alerts: every side panel ends inside the room's area.
    At 80x24 the runbook panel was pushed down and the alerts (and a second runbook) ended below it."""
    from tests.test_app import incident, joined, make_app, seeded, settle
    from tests.test_runbook_app import attach, snapshot
    from warroom.app.widgets.actions_panel import ActionsPanel
    from warroom.app.widgets.alert_feed import AlertFeed
    from warroom.app.widgets.panels import ChecklistPanel

    room = await seeded(hub)
    await attach(hub, room)
    await attach(hub, room, snapshot("database-failover"))
    for n in range(3):
        await hub.hub.execute(Command(new_id(), "action.added", {"text": f"follow-up {n}"}, room), "maria")
    app = make_app(hub.url, "alice", room)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, joined(app, room), "join")
        screen = incident(app)
        await settle(pilot, lambda: screen.query_one(ActionsPanel).display, "the action items")
        await pilot.pause()
        area = screen.query_one("#main").region
        for panel in (RolesPanel, ChecklistPanel, ActionsPanel, AlertFeed):
            region = screen.query_one(panel).region
            assert region.height >= 3 and area.contains_region(region), (panel.__name__, region, area)
