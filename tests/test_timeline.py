"""The timeline's reading aids: follow mode, the "N new" marker, filters, pins, edits and strikes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from textual.pilot import Pilot

from server.runner import HubServer
from tests.conftest import TOKEN, Calls, wait_for
from warroom.app.app import WarroomApp
from warroom.app.history import HistoryScreen
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets import timeline as timeline_module
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.panels import BroadcastBanner, RolesPanel
from warroom.app.widgets.timeline import Filter, Timeline
from warroom.client import HubClient
from warroom.core.events import Command
from warroom.core.protocol import new_id


async def execute(
    hub: HubServer, type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria"
) -> int:
    ack = await hub.hub.execute(Command(new_id(), type_, data, room), actor)
    return ack.seq if room else int(ack.room.split("-")[1])


async def open_app(hub: HubServer, room: str, clock: Any = None) -> WarroomApp:
    return WarroomApp(HubClient(hub.url, TOKEN, "tess"), room, load_themes(shipped_dir()), clock=clock)


def following(timeline: Timeline) -> bool:
    """Read through a call, so the type checker does not carry one answer past an await."""
    return timeline.follow


def wrapping(timeline: Timeline) -> bool:
    return timeline.wrap


def screen_of(app: WarroomApp) -> IncidentScreen:
    assert isinstance(app.screen, IncidentScreen)
    return app.screen


@asynccontextmanager
async def joined_to(hub: HubServer, lines: int) -> AsyncIterator[tuple[WarroomApp, Pilot[None], Timeline]]:
    """The app joined to INC-1 of ``lines`` entries, the declaration and tess's own join."""
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    room = "INC-1"
    for n in range(lines):
        await execute(hub, "entry.added", {"text": f"line {n}"}, room)
    app = await open_app(hub, room)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            lambda: room in app.client.rooms and app.client.rooms[room].state.seq == lines + 2, what="join"
        )
        await pilot.pause()
        yield app, pilot, screen_of(app).query_one(Timeline)


async def test_follow_mode_and_the_new_marker(hub: HubServer) -> None:
    room = "INC-1"
    async with joined_to(hub, 80) as (app, pilot, timeline):
        at_bottom = lambda: timeline.max_scroll_y > 0 and timeline.scroll_y == timeline.max_scroll_y  # noqa: E731
        await wait_for(at_bottom, what="the newest entry in view")  # scrolling lands after the next refresh
        assert following(timeline)

        await execute(hub, "entry.added", {"text": "while following"}, room)
        await wait_for(lambda: app.client.rooms[room].state.seq == 83, what="the entry")
        await pilot.pause()
        await wait_for(at_bottom, what="the new entry scrolled into view")
        assert timeline.unseen == 0

        await pilot.press("home")  # the reader scrolls up
        await pilot.pause()
        assert not following(timeline)
        for n in range(3):
            await execute(hub, "entry.added", {"text": f"arrived while reading {n}"}, room)
        await wait_for(lambda: app.client.rooms[room].state.seq == 86, what="three more")
        await wait_for(lambda: timeline.unseen == 3, what="the redraw")  # redraws come once a frame
        # The count is redrawn at most twice a second while entries stream in; then it catches up.
        await wait_for(lambda: timeline.border_subtitle == "3 new · End to jump", what="the count")
        assert timeline.scroll_y == 0  # the reader's place is kept

        await pilot.press("end")
        await pilot.pause()
        assert following(timeline) and timeline.unseen == 0 and timeline.border_subtitle == ""
        assert timeline.scroll_y == timeline.max_scroll_y


async def test_lines_appended_while_following_lay_nothing_out(hub: HubServer) -> None:
    """The timeline grows and scrolls without a layout of the screen: a layout redraws every panel.

    The screen's own layout step is counted (it still runs); the last line must be painted in view.
    """
    room = "INC-1"
    async with joined_to(hub, 60) as (app, pilot, timeline):
        screen = screen_of(app)
        await wait_for(lambda: timeline.max_scroll_y > 0 and following(timeline), what="the newest line")
        await pilot.pause()

        def lines_are(count: int) -> Callable[[], bool]:
            return lambda: timeline.line_count == count

        layouts = Calls(screen, "_refresh_layout")
        for n in range(10):
            await execute(hub, "entry.added", {"text": f"streamed {n}"}, room)
            await wait_for(lines_are(63 + n), what=f"line {n}")
            await pilot.pause()
        last = timeline.size.height - 1
        await wait_for(lambda: "streamed 9" in timeline.render_line(last).text, what="the last line in view")
        assert following(timeline) and timeline.scroll_y == timeline.max_scroll_y
        assert layouts.count == 0


async def test_filters_pins_edits_and_strikes(hub: HubServer) -> None:
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    room = "INC-1"
    decision = await execute(hub, "entry.added", {"text": "roll back", "kind": "decision"}, room, "ann")
    note = await execute(hub, "entry.added", {"text": "db is slow", "kind": "note"}, room, "bo")
    await execute(hub, "entry.added", {"text": "cache hit rate fell", "kind": "finding"}, room, "bo")
    app = await open_app(hub, room)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: room in app.client.rooms and app.client.rooms[room].synced, what="join")
        await pilot.pause()
        timeline = screen_of(app).query_one(Timeline)
        timeline.set_filter(Filter.parse("kind:decision"))
        assert timeline._shown == [decision]
        timeline.set_filter(Filter.parse("author:bo slow"))
        assert timeline._shown == [note]
        assert timeline.border_title == "Timeline · author:bo 'slow'"

        await pilot.press("i", *"/filter", "enter")  # the composer clears it
        await pilot.pause()
        assert len(timeline._shown) == 5  # three entries, the declaration and tess joining

        timeline.focus()
        timeline.cursor = timeline._shown.index(note)
        await pilot.press("ctrl+t")  # pin the selected entry
        await wait_for(lambda: app.client.rooms[room].state.entries[note].pinned, what="pin")
        await pilot.press("ctrl+o")  # pinned entries only
        await pilot.pause()
        assert timeline._shown == [note]
        await pilot.press("ctrl+o")

        await execute(hub, "entry.edited", {"entry": note, "text": "db is slow on the replica"}, room, "bo")
        await execute(hub, "entry.struck", {"entry": decision, "reason": "superseded"}, room, "ann")
        await wait_for(lambda: app.client.rooms[room].state.seq == 8, what="edit and strike")
        await pilot.pause()
        entries = app.client.rooms[room].state.entries
        strip = timeline._entry_strip(entries[decision], 100, False)
        assert any(seg.style is not None and seg.style.strike for seg in strip)  # struck, still shown
        assert "✎" in timeline._entry_strip(entries[note], 100, False).text  # edited is marked

        timeline.cursor = timeline._shown.index(note)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert "db is slow" in str(app.screen.query_one("Static").render())  # the original text
        await pilot.press("escape")


async def test_overdue_broadcast_and_missing_commander_are_flagged(hub: HubServer) -> None:
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV1"})
    room = "INC-1"
    await execute(hub, "role.released", {"role": "commander"}, room)
    await execute(hub, "status.broadcast", {"message": "EU down", "next_update_in": 15}, room, "priya")
    later = {"now": datetime.now(UTC)}
    app = await open_app(hub, room, clock=lambda: later["now"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: room in app.client.rooms and app.client.rooms[room].synced, what="join")
        await pilot.pause()
        banner = screen_of(app).query_one(BroadcastBanner)
        assert not banner.has_class("-overdue")
        assert "next update in" in str(banner.query_one("#broadcast-meta").render())
        assert screen_of(app).query_one(RolesPanel).has_class("-no-commander")
        assert "No commander" not in str(screen_of(app).query_one(RolesPanel).render())  # not yet late

        later["now"] += timedelta(minutes=20)
        screen_of(app).refresh_state()
        await pilot.pause()
        assert banner.has_class("-overdue")
        assert "OVERDUE by 05:" in str(banner.query_one("#broadcast-meta").render())

        within = app.client.policy["commander_within"]["SEV1"]  # 5 minutes by default, and 20 passed
        assert f"SEV1 needs one in {within}m" in str(screen_of(app).query_one(RolesPanel).render())

        await execute(hub, "role.assigned", {"role": "commander", "name": "maria"}, room)
        await wait_for(lambda: "commander" in app.client.rooms[room].state.roles, what="commander")
        await pilot.pause()
        assert not screen_of(app).query_one(RolesPanel).has_class("-no-commander")


async def test_every_action_is_in_the_command_palette(hub: HubServer) -> None:
    from warroom.app.app import WarroomCommands
    from warroom.app.keymap import ACTS

    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    app = await open_app(hub, "INC-1")
    async with app.run_test() as pilot:
        await pilot.pause()
        provider = WarroomCommands(app.screen)
        titles = {title for title, _, _ in provider._commands()}
        assert {a.title for a in ACTS if a.action != "focus_timeline"} == titles
        assert {"Claim IC", "Broadcast", "Status: resolved", "Severity: SEV1"} <= titles
        assert WarroomCommands in app.COMMANDS and len(app.COMMANDS) > 1  # the system commands stay


async def test_long_entries_are_cut_with_an_ellipsis_and_wrap_on_ctrl_w(hub: HubServer) -> None:
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    room = "INC-1"
    long = " ".join(f"word{n}" for n in range(60))
    long_id = await execute(hub, "entry.added", {"text": long}, room)
    multi_id = await execute(hub, "entry.added", {"text": "first line\nsecond\nthird"}, room)
    app = await open_app(hub, room)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: room in app.client.rooms and app.client.rooms[room].synced, what="join")
        await pilot.pause()
        timeline = screen_of(app).query_one(Timeline)
        entries = app.client.rooms[room].state.entries
        width = timeline.size.width
        cut = timeline._entry_strip(entries[long_id], width, False)
        assert cut.text.endswith("…") and cut.cell_length == width
        assert "first line ⏎ +2 lines" in timeline._entry_strip(entries[multi_id], width, False).text
        lines_before = timeline.line_count
        assert lines_before == len(timeline._shown)  # one line an entry

        timeline.focus()
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert timeline.wrap and timeline.border_title == "Timeline · wrapped"
        at = timeline._shown.index(long_id)
        timeline.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        for _ in range(2):  # heights are estimated; drawn, they are what the wrapped lines take
            drawn = [timeline.render_line(y).text for y in range(timeline.line_count)]
        height = timeline._heights[at]
        assert height == len(timeline._strips(entries[long_id], timeline._width, False)) > 1
        assert timeline._heights[timeline._shown.index(multi_id)] == 3
        assert timeline.line_count == lines_before + height - 1 + 2
        first = timeline._starts[at]
        words = " ".join(line.strip() for line in drawn[first : first + height]).split()
        assert words[-60:] == long.split()  # every word, in order, on the entry's lines
        assert [line.strip() for line in drawn[timeline._starts[at + 1] :][1:3]] == ["second", "third"]

        # An edit that makes an entry taller moves every line after it down once it is drawn.
        await execute(hub, "entry.edited", {"entry": long_id, "text": long + "\n" + long}, room)
        await wait_for(lambda: entries[long_id].text.count("word0") == 2, what="the edit")
        await pilot.pause()
        timeline.render_line(first - round(timeline.scroll_offset.y))
        await pilot.pause()
        assert (
            timeline._heights[at] == 2 * height and timeline.line_count == lines_before + 2 * height - 1 + 2
        )
        assert timeline._starts[at + 1] == first + 2 * height

        # The cursor keeps a wrapped entry whole on screen; ctrl+w again is one line an entry.
        timeline.cursor = at
        timeline.action_cursor(0)
        assert timeline.scroll_y <= first
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert not wrapping(timeline) and timeline.line_count == lines_before
        assert timeline.border_title == "Timeline"


async def test_wrapping_keeps_the_reader_at_the_entry_they_were_reading(hub: HubServer) -> None:
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    room = "INC-1"
    for n in range(60):
        await execute(hub, "entry.added", {"text": f"entry {n} " + "long words " * (n % 3) * 12}, room)
    app = await open_app(hub, room)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(
            lambda: room in app.client.rooms and app.client.rooms[room].state.seq == 62, what="join"
        )
        await pilot.pause()
        timeline = screen_of(app).query_one(Timeline)
        await wait_for(lambda: timeline.line_count == 62 and timeline.max_scroll_y > 20, what="the lines")
        timeline.focus()
        timeline.scroll_to(y=20, animate=False, immediate=True)
        await pilot.pause()
        assert not following(timeline) and timeline.cursor == -1
        reading = timeline._shown[20]
        for wrapped in (True, False):
            await pilot.press("ctrl+w")
            await pilot.pause()
            assert wrapping(timeline) is wrapped
            top = round(timeline.scroll_y)
            assert timeline._shown[timeline._entry_at(top) or 0] == reading
            assert timeline.render_line(0).text.startswith(
                timeline._entry_strip(timeline._entries[reading], timeline.size.width, False).text[:20]
            )


async def test_a_stream_of_entries_draws_no_alert_and_the_roles_panel_only_when_someone_idle_acts(
    hub: HubServer, monkeypatch: Any
) -> None:
    """An entry changes the roles panel only when its author was shown idle, and the alert feed never."""
    monkeypatch.setattr(IncidentScreen, "_tick", lambda self: None)  # no clock redraws: only the hub's
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    room = "INC-1"
    now = [datetime.now(UTC) + timedelta(seconds=700)]  # everyone here has been quiet for too long
    app = await open_app(hub, room, clock=lambda: now[0])
    bob = HubClient(hub.url, TOKEN, "bob")
    async with app.run_test(size=(120, 40)) as pilot:
        await bob.connect()
        await bob.join(room)
        roles = screen_of(app).query_one(RolesPanel)
        await wait_for(lambda: "◌ bob idle" in str(roles.render()), what="bob, shown idle")
        head = (await hub.hub.settled_state(room)).seq  # bob's join, whichever came first
        await wait_for(lambda: app.client.rooms[room].state.seq == head, what="the app up to the hub")
        await pilot.pause()
        await wait_for(lambda: not screen_of(app).redraw_due, what="the redraw of what came")
        shows, feed_shows = Calls(roles, "show"), Calls(screen_of(app).query_one(AlertFeed), "show")
        told: list[str] = []  # who is here may change meanwhile (the hub's presence rounds): drawn whole
        app.client.listen(lambda kind, _room: told.append(kind))
        timeline = screen_of(app).query_one(Timeline)
        for n in range(10):  # maria is not here: her entries change nothing in the panel
            await execute(hub, "entry.added", {"text": f"streamed {n}"}, room)
            await pilot.pause()

        def drawn() -> bool:
            return any("streamed 9" in timeline.render_line(y).text for y in range(timeline.size.height))

        await wait_for(drawn, what="the stream drawn")
        assert shows.count == len([k for k in told if k != "state"]) and feed_shows.count == 0
        told.clear()
        drawn_before = shows.count
        now[0] = datetime.now(UTC)
        await bob.send("entry.added", {"text": "back at the keyboard"}, room)
        await wait_for(lambda: "● bob" in str(roles.render()), what="bob, shown active after his entry")
        assert shows.count - drawn_before <= 1 + len([k for k in told if k != "state"])
        assert feed_shows.count == 0
    await bob.close()


async def test_a_big_room_opens_on_its_newest_lines_then_holds_every_entry_in_time_order(
    hub: HubServer, monkeypatch: Any
) -> None:
    """The newest lines first; then every entry, a back-dated one in its place, and the cursor on it."""
    monkeypatch.setattr(timeline_module, "FIRST_SCREEN", 10)  # "big" from 10 entries
    await execute(hub, "incident.declared", {"title": "t", "severity": "SEV3"})
    room = "INC-1"
    for n in range(30):
        await execute(hub, "entry.added", {"text": f"line {n}"}, room)
    early = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    await execute(hub, "entry.added", {"text": "back-dated", "happened_at": early}, room)
    app = await open_app(hub, room)
    async with app.run_test(size=(120, 40)) as pilot:
        timeline = screen_of(app).query_one(Timeline)
        await wait_for(lambda: timeline.line_count == 33, what="every entry indexed")  # declared, joined
        texts = [timeline._entries[i].text for i in timeline._all]
        assert texts[0] == "back-dated" and texts[2:32] == [f"line {n}" for n in range(30)]
        await pilot.press("home")
        assert timeline.selected is not None and timeline.selected.text == "back-dated"
