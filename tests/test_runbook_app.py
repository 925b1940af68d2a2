"""Attached runbooks in the app, through a real hub: their sections, working their steps, the picker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from server.config import load_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN
from tests.hostile import HOSTILE, assert_safe
from tests.test_app import first_row, incident, joined, make_app, paste_line, running, seeded, settle
from tests.test_keys import hint_of
from warroom.app.app import WarroomApp
from warroom.app.dialogs import RunbookPicker, runbook_matches
from warroom.app.slash import Context, SlashError, parse
from warroom.app.widgets.panels import ChecklistPanel, IncidentHeader, step_row
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.state import RunbookStep
from warroom.runbooks.library import load_library, shipped_dir

RB = "high-error-rate"
TITLE = "Service returns a high rate of 5xx errors"


def snapshot(runbook_id: str = RB) -> dict[str, Any]:
    return load_library(shipped_dir()).runbooks[runbook_id].to_dict()


async def attach(hub: HubServer, room: str, snap: dict[str, Any] | None = None) -> None:
    """As the hub attaches one from its library: the snapshot is the hub's, never a client's."""
    snap = snap if snap is not None else snapshot()
    data = {"runbook": snap["id"], "snapshot": snap, "why": "by hand"}
    await hub.hub.execute(Command(new_id(), "runbook.attached", data, room), "runbooks", internal=True)


def prompts(app: WarroomApp) -> list[str]:
    return [str(o.prompt) for o in incident(app).query_one(ChecklistPanel).options]


async def on_step(pilot: Pilot[None], app: WarroomApp, step: str, runbook: str = RB) -> ChecklistPanel:
    """Focus the runbook panel with the cursor on a step's row."""
    panel = incident(app).query_one(ChecklistPanel)
    panel.focus()
    await pilot.pause()
    panel.highlighted = panel.get_option_index(f"step:{runbook}/{step}")
    await pilot.pause()
    return panel


async def test_a_runbook_is_its_own_section_and_x_checks_a_step(hub: HubServer) -> None:
    room = await seeded(hub)
    await attach(hub, room)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        steps = state.runbooks[RB].steps
        total = len(steps)
        shown = prompts(app)
        # The hand-typed items stay first, as they were; the runbook follows with its progress.
        assert shown[0].endswith("Confirm impact") and shown[1].endswith("Roll back")
        assert f"0/{total} {TITLE}" in shown[2]
        assert shown[3].strip() == "Diagnose"
        assert "Mitigate" in [p.strip() for p in shown]
        endpoints = next(p for p in shown if "Check which endpoints fail" in p)
        assert " $ Check" in endpoints and "☐ due " in endpoints  # it has a command, and a due time
        db = next(p for p in shown if "Database connections" in p)
        dependencies = next(p for p in shown if "Check the health of the dependencies" in p)
        assert len(db) - len(db.lstrip()) > len(dependencies) - len(dependencies.lstrip())  # a sub-step

        panel = await on_step(pilot, app, "dashboard")
        assert panel.selected_step == (RB, "dashboard")
        await pilot.press("x")
        await settle(pilot, lambda: steps["dashboard"].state == "done", "checked in the hub")
        assert steps["dashboard"].by == "alice"
        await settle(pilot, lambda: any(f"1/{total} {TITLE}" in p for p in prompts(app)), "progress")
        assert str(panel.border_title) == f"Runbook 1/{total + 2}"  # the items and every step
        assert any("☑ Open the service's error dashboard" in p for p in prompts(app))
        assert any("x again to undo" in n.message for n in app._notifications)
        await pilot.press("space")
        await settle(pilot, lambda: steps["dashboard"].state == "open", "unchecked")
        await settle(pilot, lambda: any(f"0/{total} {TITLE}" in p for p in prompts(app)), "progress back")


async def test_skip_assign_and_note_a_step(hub: HubServer) -> None:
    room = await seeded(hub)
    await attach(hub, room)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        steps = app.client.rooms[room].state.runbooks[RB].steps
        await on_step(pilot, app, "recent-deploys")

        # The selected step by default.
        await pilot.press("slash")
        await paste_line(pilot, "skip nothing deployed today")
        await pilot.press("enter")
        await settle(pilot, lambda: steps["recent-deploys"].state == "skipped", "skipped")
        assert steps["recent-deploys"].reason == "nothing deployed today"
        shown = "skipped by alice: nothing deployed today"
        await settle(pilot, lambda: any(shown in p for p in prompts(app)), "row")

        # A step named by its id, or RUNBOOK/STEP.
        await pilot.press("slash")
        await paste_line(pilot, "assign db @carol")
        await pilot.press("enter")
        await settle(pilot, lambda: steps["db"].assignee == "carol", "assigned")
        await pilot.press("slash")
        await paste_line(pilot, f"assign {RB}/upstream me")
        await pilot.press("enter")
        await settle(pilot, lambda: steps["upstream"].assignee == "alice", "assigned to me")
        assert any("@alice Upstream error rates" in p for p in prompts(app))
        await pilot.press("slash")
        await paste_line(pilot, "stepnote db pool at 95%")
        await pilot.press("enter")
        await settle(pilot, lambda: [n.text for n in steps["db"].notes] == ["pool at 95%"], "noted")
        assert steps["db"].notes[0].by == "alice"

        # A step nobody has: the parser says so under the composer, and nothing is sent.
        await pilot.press("escape")
        incident(app).query_one(ChecklistPanel).highlighted = 0  # a hand-typed item: no step selected
        await pilot.press("slash", *"skip", "enter")
        await pilot.pause()
        assert "select a runbook step first" in hint_of(app)


async def test_a_refusal_of_the_hub_is_shown(hub: HubServer) -> None:
    room = await seeded(hub)
    await attach(hub, room)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await on_step(pilot, app, "dashboard")
        await pilot.press("slash")
        await paste_line(pilot, "runbook no-such-runbook")  # this hub has no library
        await pilot.press("enter")
        await settle(
            pilot,
            lambda: any(n.title == "refused" and "no-such-runbook" in n.message for n in app._notifications),
            "the refusal",
        )
        # A runbook attached already is refused as no change, and shown too.
        await pilot.press("slash")
        await paste_line(pilot, "runbook " + RB)  # attached already
        await pilot.press("enter")
        await settle(
            pilot,
            lambda: sum(n.title == "refused" for n in app._notifications) == 2,
            "the second refusal",
        )


async def test_an_overdue_step_is_marked_on_the_panel_and_the_header(hub: HubServer) -> None:
    room = await seeded(hub)
    await attach(hub, room)
    later = datetime.now(UTC) + timedelta(days=1)  # the app's clock: past every due time
    app = make_app(hub.url, "alice", room, clock=lambda: later)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        late = [s for s in state.runbooks[RB].steps.values() if s.due_at]
        assert late
        await settle(pilot, lambda: any("OVERDUE" in p for p in prompts(app)), "the mark")
        row = next(p for p in prompts(app) if "Check which endpoints fail" in p)
        assert "☐ OVERDUE " in row
        assert f"{len(late)} OVERDUE {TITLE}" in next(p for p in prompts(app) if TITLE in p)
        header = incident(app).query_one(IncidentHeader)
        assert f"{len(late)} OVERDUE" in str(header.query_one("#elapsed").render())
        panel = incident(app).query_one(ChecklistPanel)
        assert f"{len(late)} overdue" in str(panel.border_title)

        # Checked, a step is no longer overdue.
        await on_step(pilot, app, late[0].id)
        await pilot.press("x")
        await settle(pilot, lambda: late[0].state == "done", "checked")
        await settle(pilot, lambda: f"{len(late)} overdue" not in str(panel.border_title), "one fewer")


async def test_the_picker_marks_an_incident_with_overdue_steps(hub: HubServer) -> None:
    room = await seeded(hub)
    await attach(hub, room)
    state = await hub.hub.settled_state(room)
    late = sum(bool(s.due_at) for s in state.runbooks[RB].steps.values())
    now = datetime.now(UTC)
    for when, mark in ((now, ""), (now + timedelta(days=1), f"{late} OVERDUE ")):
        await picker_shows(hub, room, when, mark)


async def picker_shows(hub: HubServer, room: str, when: datetime, mark: str) -> None:
    app = make_app(hub.url, "alice", None, clock=lambda: when)
    async with running(app) as pilot:
        await settle(pilot, lambda: room in first_row(app), "the incident in the picker")
        assert ("OVERDUE" in first_row(app)) == bool(mark) and mark in first_row(app)


async def test_hostile_runbook_text_stays_inert(hub: HubServer) -> None:
    room = await seeded(hub)
    snap = snapshot()
    snap["title"] = HOSTILE["click-action"]
    first = snap["sections"][0]
    first["heading"] = HOSTILE["click-action-space"]
    first["steps"][0]["text"] = HOSTILE["rich-markup"]
    await attach(hub, room, snap)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        shown = prompts(app)
        assert any(HOSTILE["click-action"] in p for p in shown)  # as typed, not read
        assert any(HOSTILE["click-action-space"] in p for p in shown)
        assert any(HOSTILE["rich-markup"] in p for p in shown)
        for option in incident(app).query_one(ChecklistPanel).options:
            prompt = option.prompt
            assert isinstance(prompt, Content)
            assert not any("click" in str(span.style) or "link" in str(span.style) for span in prompt.spans)
        assert app.is_running


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_step_row_shows_the_hostile_corpus_as_data(name: str) -> None:
    text = HOSTILE[name]
    step = RunbookStep(
        id="s", text=text, section=text, assignee=text, state="skipped", reason=text, command=True
    )
    row = step_row(step, "2026-01-01T00:00:00.000Z")
    assert_safe(str(row), name)
    assert not any("click" in str(span.style) for span in row.spans)


def test_step_slash_commands_name_a_step() -> None:
    ctx = Context(
        me="ann", steps=((RB, "db"), (RB, "upstream"), ("other", "db")), selected_step=(RB, "upstream")
    )
    assert parse("/skip not needed", ctx).data == {"runbook": RB, "step": "upstream", "reason": "not needed"}
    assert parse(f"/assign {RB}/db me", ctx).data == {"runbook": RB, "step": "db", "to": "ann"}
    assert parse("/stepnote upstream all green", ctx).data["step"] == "upstream"
    assert parse("/runbook database-failover", ctx).data == {"runbook": "database-failover"}
    assert parse("/runbook", ctx).type == "runbook.pick"
    with pytest.raises(SlashError, match="2 runbooks have a step db"):
        parse("/skip db why", ctx)
    with pytest.raises(SlashError, match="needs a reason"):
        parse("/skip upstream", ctx)
    with pytest.raises(SlashError, match="usage: /assign"):
        parse("/assign upstream carol", ctx)
    with pytest.raises(SlashError, match="select a runbook step first"):
        parse("/stepnote hello", Context(me="ann"))


LIBRARY = [
    {"id": "database-failover", "title": "Database primary is down", "owner": "dba"},
    {"id": "high-error-rate", "title": "Service returns a high rate of 5xx errors", "owner": "platform"},
    {"id": "certificate-expiry", "title": "A TLS certificate is about to expire", "owner": "platform"},
]


def test_the_picker_search_matches_every_word() -> None:
    assert [r["id"] for r in runbook_matches(LIBRARY, "")] == [r["id"] for r in LIBRARY]
    assert [r["id"] for r in runbook_matches(LIBRARY, "PLATFORM tls")] == ["certificate-expiry"]
    assert runbook_matches(LIBRARY, "nothing like it") == []


async def test_the_picker_filters_and_attaches(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        assert app.client.library == []  # this hub's welcome names no library
        app.client.library = LIBRARY  # as a hub with one would say
        await pilot.press("slash", *"runbook", "enter")
        await settle(pilot, lambda: isinstance(app.screen, RunbookPicker), "the picker")
        picker = app.screen
        assert isinstance(picker, RunbookPicker)
        options = picker.query_one(OptionList)
        assert options.option_count == 3
        await pilot.press(*"platform")
        await settle(pilot, lambda: options.option_count == 2, "filtered")
        await pilot.press("down")
        assert picker.query_one(Input).has_focus and options.highlighted == 1
        await pilot.press("enter")  # certificate-expiry: this hub has no library, so it refuses
        await settle(pilot, lambda: not isinstance(app.screen, RunbookPicker), "closed")
        await settle(
            pilot,
            lambda: any(
                "certificate-expiry" in n.message and n.title == "refused" for n in app._notifications
            ),
            "the hub's answer",
        )
        # The palette opens it too; escape attaches nothing.
        incident(app).action_attach_runbook()
        await settle(pilot, lambda: isinstance(app.screen, RunbookPicker), "the picker again")
        await pilot.press(*"zzz")
        empty = app.screen.query_one(OptionList)
        await settle(pilot, lambda: str(empty.get_option_at_index(0).prompt) == "no runbook matches", "none")
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, RunbookPicker), "closed again")


async def test_a_step_checked_in_one_app_shows_in_another(hub: HubServer) -> None:
    room = await seeded(hub)
    await attach(hub, room)
    app_a, app_b = make_app(hub.url, "alice", room), make_app(hub.url, "bob", room)
    async with running(app_a) as a, running(app_b) as b:
        await settle(a, joined(app_a, room), "A to join")
        await settle(b, joined(app_b, room), "B to join")
        await on_step(a, app_a, "rollback")
        await a.press("x")
        await settle(
            b, lambda: any("☑ " in p and "alice" in p for p in prompts(app_b)), "the check in B's panel"
        )
        assert prompts(app_a) == prompts(app_b)


async def test_the_picker_lists_the_hubs_library_and_attaches_a_snapshot(
    tmp_path: Path, db_path: Path
) -> None:
    """The whole path: the hub's welcome names its library, the picker attaches, the room holds the copy."""
    config = tmp_path / "hub.toml"
    config.write_text(f'runbooks = "{shipped_dir().as_posix()}"\n')
    server = HubServer(db_path, TOKEN, config=load_hub_config(config), config_path=config)
    await server.start()
    try:
        room = await seeded(server)
        app = make_app(server.url, "alice", room)
        async with running(app) as pilot:
            await settle(pilot, joined(app, room), "join")
            assert {r["id"] for r in app.client.library} == set(load_library(shipped_dir()).runbooks)
            await pilot.press("slash", *"runbook", "enter")
            await settle(pilot, lambda: isinstance(app.screen, RunbookPicker), "the picker")
            await pilot.press(*"failover", "enter")
            view = app.client.rooms[room]
            await settle(pilot, lambda: "database-failover" in view.state.runbooks, "the attach")
        attached = (await server.hub.settled_state(room)).runbooks["database-failover"]
        assert attached.why == "attached by hand" and attached.by == "alice" and attached.steps
    finally:
        await server.stop()
