"""Every string of the hostile corpus, on every screen of the app: shown as data, never obeyed.

A real hub holds an incident whose title, entries (by self-named people), runbook,
broadcast, roles, offers, presence and alerts (through the HTTP intake) carry the
corpus. What people can type goes through the hub; raw control bytes come in
through the alert intake and through events folded into the app's own copy of
the room, the two ways they can still reach a terminal. Then every line the
app draws is walked: no control character, no clickable markup action, and a
click on a runbook item written as markup only checks the item.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import OptionList

from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, wait_for
from tests.hostile import HOSTILE, assert_safe
from warroom.app.app import WarroomApp
from warroom.app.history import HistoryScreen
from warroom.app.picker import PickerScreen
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets.panels import ChecklistPanel
from warroom.app.widgets.timeline import Timeline
from warroom.client import HubClient
from warroom.client.hub_client import RoomView
from warroom.core.events import NAME_MAX, Command, Event
from warroom.core.protocol import new_id
from warroom.core.reducer import apply
from warroom.core.text import find_control

# What a person can type (the hub refuses control characters in what people send).
TYPED = {key: text for key, text in HOSTILE.items() if find_control(text, multiline=True) is None}
SIZE = (160, 150)  # tall enough that every row of every panel is on screen at once


def check_strips(strips: list[Strip], where: str) -> str:
    """Fail on a control character or a markup action in any segment; the lines' text."""
    for y, strip in enumerate(strips):
        for segment in strip:
            check_segment(segment, f"{where}, line {y}")
    return "\n".join(strip.text for strip in strips)


def check_segment(segment: Segment, where: str) -> None:
    assert_safe(segment.text, where)
    style = segment.style
    if style is not None:
        assert not any(str(key).startswith("@") for key in style.meta), f"{where}: an action {style.meta}"
        assert style.link is None, f"{where}: a link {style.link!r} in {segment.text!r}"


def screen_text(app: WarroomApp, where: str) -> str:
    """The whole screen as the terminal gets it, checked."""
    return check_strips(app.screen._compositor.render_strips(), where)


def every_widget(app: WarroomApp, where: str) -> None:
    """Each widget's own lines at its full height, scrolled-away rows included for scroll views."""
    for widget in app.screen.walk_children(Widget):
        if widget.region.area == 0:
            continue
        height = min(400, max(widget.size.height, widget.virtual_size.height))
        check_strips(widget.render_lines(Region(0, 0, widget.size.width, height)), f"{where}: {widget!r}")


async def seed(hub: HubServer, make_client: ClientFactory) -> tuple[str, list[HubClient]]:
    async def run(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> str:
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor)).room

    room = await run("incident.declared", {"title": HOSTILE["unbalanced"], "severity": "SEV2"})
    for text in TYPED.values():  # the picker's rows
        await run("incident.declared", {"title": text[:200], "severity": "SEV3"})
    await run("role.offered", {"role": "tech", "to": TYPED["click-action-space"][:NAME_MAX]}, room)
    await run("role.assigned", {"role": "comms", "name": TYPED["click-action"][:NAME_MAX]}, room)
    await run("role.released", {"role": "commander"}, room)
    await run("role.assigned", {"role": "commander", "name": "tess"}, room, "tess")  # the app's user
    for text in TYPED.values():
        await run("checklist.item_added", {"text": text[:400]}, room)
    await run(
        "status.broadcast",
        {"message": TYPED["click-action-space"], "impact": TYPED["rich-markup"], "next_update_in": 30},
        room,
        TYPED["click-action"][:NAME_MAX],  # the comms lead
    )
    people = []
    for text in TYPED.values():  # self-named people, each with an entry; they stay, so presence shows them
        person = await make_client(hub.url, text[:NAME_MAX])
        await person.join(room)
        ack = await person.send("entry.added", {"text": f"{text}\nsecond line {text}"}, room)
        people.append(person)
    await run("entry.pinned", {"entry": ack["seq"]}, room)
    await run("entry.struck", {"entry": ack["seq"], "reason": TYPED["closing-tag"]}, room, "tess")
    alerts = [
        {
            "name": (text or "x")[:200],
            "fingerprint": f"fp-{key}",
            "severity": text[:32],
            "summary": text,
            "labels": {"instance": text[:256], "region": text[:256]},
            "annotations": {"description": text},
        }
        for key, text in HOSTILE.items()
    ]
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.post(f"/api/v1/alerts?incident={room}", json={"alerts": alerts})
        assert answer.status_code == 202, answer.text
    await run("alert.acknowledged", {"fingerprint": "fp-osc-title"}, room, TYPED["rich-markup"][:NAME_MAX])
    await run("alert.silenced", {"fingerprint": "fp-clear-screen", "minutes": 30, "reason": "x"}, room)
    return room, people


def fold_raw(app: WarroomApp, room: str) -> None:
    """Raw control bytes in the app's own copy of the room, where no hub check stands between."""
    view = app.client.rooms[room]
    state = view.state

    def fold(actor: str, type_: str, data: dict[str, Any]) -> None:
        apply(state, Event(room, state.seq + 1, new_id(), actor, state.updated_at or "", type_, data))

    for key, text in HOSTILE.items():
        fold(text[:NAME_MAX] or key, "entry.added", {"text": f"{text}\n{text}", "kind": "note"})
        fold("maria", "checklist.item_added", {"text": text})
    first_raw = min(e.id for e in state.entries.values() if e.text.startswith(HOSTILE["osc-title"]))
    state.entries[first_raw].pinned = True
    fold(
        HOSTILE["osc-title"],
        "status.broadcast",
        {"message": HOSTILE["clear-screen"], "impact": HOSTILE["osc52-clipboard"]},
    )
    fold("tess", "role.assigned", {"role": "scribe", "name": HOSTILE["c1-osc"]})
    fold("tess", "role.offered", {"role": "tech", "to": HOSTILE["bidi-override"]})
    state.title = HOSTILE["osc-title"]
    state.severity, state.status = HOSTILE["csi-colour"], HOSTILE["unbalanced"]
    view.presence = [*view.presence, *({"name": text} for text in HOSTILE.values())]


def room_of(app: WarroomApp, room: str) -> RoomView | None:
    return app.client.rooms.get(room)


def incident(app: WarroomApp) -> IncidentScreen:
    screen = app.screen
    assert isinstance(screen, IncidentScreen)
    return screen


async def test_every_screen_shows_the_hostile_corpus_as_data(
    hub: HubServer, make_client: ClientFactory
) -> None:
    room, _people = await seed(hub, make_client)
    name, folder = re.findall(r"'([^']*)'", HOSTILE["click-screenshot"])  # where the action would write
    screenshot = Path(folder) / name
    shot_before = screenshot.stat().st_mtime if screenshot.exists() else None
    app = WarroomApp(HubClient(hub.url, TOKEN, "tess"), None, load_themes(shipped_dir()))
    async with app.run_test(size=SIZE) as pilot:
        # The picker: every title a row, the unbalanced one included.
        await wait_for(
            lambda: (
                isinstance(app.screen, PickerScreen)
                and app.screen.query_one(OptionList).option_count > len(TYPED)
            ),
            what="the picker",
        )
        await pilot.pause()
        shown = screen_text(app, "picker")
        assert (
            'x[ @click="]' in shown and "[ @click=screen.send_status('resolved')]Check dashboards[/]" in shown
        )
        every_widget(app, "picker")

        app.open_incident(room)
        await wait_for(
            lambda: (v := room_of(app, room)) is not None and v.synced and len(v.presence) > len(TYPED),
            what="the room and everyone in it",
        )
        view = app.client.rooms[room]
        await wait_for(lambda: len(view.state.alerts) == len(HOSTILE), what="the alerts")
        screen = incident(app)
        screen.refresh_state()
        await pilot.pause()
        shown = screen_text(app, "incident")
        for text in ('x[ @click="]', "[bold red]loud[/]", "[$error]var[/]", "Runbook 0/", "Pinned 1"):
            assert text in shown, f"{text!r} is not on screen"
        assert "ack [bold red]loud" in shown.replace("✓", "")  # the ack, by a name that is markup
        every_widget(app, "incident")

        # A runbook item written as a click action only checks the item, as any item would.
        checklist = screen.query_one(ChecklistPanel)
        status = view.state.status
        for key in ("click-action-space", "click-screenshot", "click-action"):
            item = next(i for i in view.state.checklist.values() if i.text == TYPED[key][:400])
            row = list(view.state.checklist.values()).index(item)
            checklist.scroll_to(y=0, animate=False, immediate=True)
            assert await pilot.click(ChecklistPanel, offset=(8, row + 1))
            await wait_for(lambda: item.checked, what=f"{key} checked")  # noqa: B023 (awaited here)
        await pilot.pause()
        assert app.is_running and app.screen is screen
        assert (await hub.hub.settled_state(room)).status == status == "investigating"
        assert (screenshot.stat().st_mtime if screenshot.exists() else None) == shot_before
        assert "Runbook 3/" in screen_text(app, "after the clicks")

        # Raw control bytes, folded into the app's copy of the room: made visible, never sent.
        fold_raw(app, room)
        screen.refresh_state()
        await pilot.pause()
        shown = screen_text(app, "raw")
        assert "note ␛]0;pwned␇ after" in shown and "Pinned 2" in shown
        assert "␛[31mred␛[0m" in shown.splitlines()[0]  # the severity, in the header
        every_widget(app, "raw")
        timeline = screen.query_one(Timeline)
        for wrap in (False, True):
            entries = [timeline._entries[i] for i in timeline._shown]
            for entry in entries:
                check_strips(timeline._entry_strips(entry, 60, False), f"entry {entry.id}, wrap {wrap}")
            await pilot.press("ctrl+w")
            await pilot.pause()
            screen_text(app, f"wrap {not wrap}")

        timeline.focus()
        timeline.cursor = len(timeline._shown) - 1 - len(HOSTILE) + 1  # the first raw entry
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, HistoryScreen), what="the history screen")
        await pilot.pause()
        shown = screen_text(app, "history")
        assert "␛]0;pwned␇" in shown
        every_widget(app, "history")
        await pilot.press("escape")


async def test_severity_meanings_from_the_hub_are_text_in_the_declare_form() -> None:
    """The declare form lists the hub config's meanings: text, even when they look like markup."""
    from textual.app import App
    from textual.widgets import Select

    from warroom.app.forms import DeclareForm

    meanings = {"SEV1": HOSTILE["unbalanced"] + HOSTILE["clear-screen"], "SEV2": HOSTILE["click-action"]}

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(DeclareForm(meanings))

    app = Host()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        form = app.screen
        assert isinstance(form, DeclareForm)
        await pilot.click(Select)  # the list of severities opens
        await pilot.pause()
        shown = check_strips(app.screen._compositor.render_strips(), "the declare form")
        assert HOSTILE["click-action"] in shown and 'x[ @click="]before ␛[2J' in shown
        assert app.is_running
