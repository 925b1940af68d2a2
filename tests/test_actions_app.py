"""Overdue action items in the app, through a real hub: the picker's count and the room's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from textual.widgets import OptionList

from server.runner import HubServer
from tests.test_app import first_row, incident, joined, make_app, running, seeded, settle
from warroom.app.widgets.panels import IncidentHeader
from warroom.core.events import Command
from warroom.core.protocol import new_id

LATER = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)  # the app's clock: after every due day below


async def act(hub: HubServer, type_: str, data: dict[str, Any], room: str | None) -> str:
    return (await hub.hub.execute(Command(new_id(), type_, data, room), "maria")).room


async def test_the_picker_and_the_room_count_overdue_action_items(hub: HubServer) -> None:
    room = await seeded(hub)
    for due in ("2026-12-01", "2026-12-02", "2026-12-30"):  # two past due on the 20th, one not
        await act(hub, "action.added", {"text": f"due {due}", "due": due}, room)
    app = make_app(hub.url, "alice", None, clock=lambda: LATER)
    async with running(app) as pilot:
        await settle(pilot, lambda: room in first_row(app), "the incident in the picker")
        assert "2 ACTIONS LATE Checkout 502s" in first_row(app)
    app = make_app(hub.url, "alice", room, clock=lambda: LATER)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        header = incident(app).query_one(IncidentHeader).query_one("#elapsed")
        await settle(pilot, lambda: "2 ACTIONS LATE" in str(header.render()), "the room's count")
        await act(hub, "action.updated", {"action": "A-1", "status": "done"}, room)
        await settle(pilot, lambda: "1 ACTION LATE" in str(header.render()), "one fewer")


async def test_the_picker_counts_those_of_resolved_incidents_it_leaves_out(hub: HubServer) -> None:
    room = await act(hub, "incident.declared", {"title": "Old one", "severity": "SEV3"}, None)
    await act(hub, "action.added", {"text": "Fix the alert", "due": "2026-12-01"}, room)
    await act(hub, "incident.status_changed", {"status": "resolved"}, room)
    app = make_app(hub.url, "alice", None, clock=lambda: LATER)
    async with running(app) as pilot:
        options = app.screen.query_one(OptionList)
        await settle(pilot, lambda: options.option_count == 2, "the list")
        last = str(options.get_option_at_index(1).prompt)
        assert last == "1 overdue action item on resolved incidents: warroom actions --overdue"
        assert options.get_option_at_index(1).disabled


async def test_the_report_screen_shows_the_numbers_and_charts(hub: HubServer) -> None:
    from textual.widgets import Label, Static

    from warroom.app.picker import PickerScreen
    from warroom.app.report_screen import ReportScreen

    room = await seeded(hub)
    await act(hub, "incident.status_changed", {"status": "resolved"}, room)
    app = make_app(hub.url, "alice", None)
    async with running(app) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, PickerScreen), "the picker")
        await pilot.press("m")
        await settle(pilot, lambda: isinstance(app.screen, ReportScreen), "the report")
        text = app.screen.query_one("#report-text", Static)
        await settle(pilot, lambda: "1 counted" in str(text.render()), "the numbers")
        shown = str(text.render())
        assert "Incidents per week" in shown and "MTTR per week (minutes)" in shown
        await pilot.press("w")
        span = app.screen.query_one("#report-span", Label)
        await settle(pilot, lambda: "the last 90 days" in str(span.render()), "a wider span")
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, PickerScreen), "back to the picker")
