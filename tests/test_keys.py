"""What a responder presses is safe: typed text never acts on the record, and changes ask first.

Every test drives the real app through Pilot against a real hub on 127.0.0.1:0
and checks what the hub recorded, not what the screen claims.
"""

from __future__ import annotations

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from server.runner import HubServer
from tests.conftest import log_location, log_of, wait_for
from tests.test_app import incident, joined, make_app, paste_line, running, seeded, settle
from warroom.app.alert_detail import AlertDetailScreen
from warroom.app.app import WarroomApp
from warroom.app.dialogs import ConfirmScreen, HelpScreen
from warroom.app.forms import DeclareForm, LongEntryForm
from warroom.app.screens import IncidentScreen
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.panels import ChecklistPanel
from warroom.app.widgets.timeline import Timeline
from warroom.core.events import TEXT_MAX, Command
from warroom.core.protocol import new_id

# A sentence starting with each letter that once acted on the record or opened a form.
# Each starts with a letter a panel or the screen might take as a key; they are short, since
# every key press costs the test a frame.
SENTENCES = [
    "hello A",
    "host db-3",
    "fix it",
    "stop now",
    "pods up",
    "need eyes",
    "canary ok",
    "bumped it",
    "x-ray done",
    "api fine",
    "Pay ok",
]


def composer_of(app: WarroomApp) -> Input:
    return incident(app).query_one("#composer-input", Input)


def hint_of(app: WarroomApp) -> str:
    return str(incident(app).query_one("#composer-hint").render())


async def add_entries(hub: HubServer, room: str, *texts: str, author: str = "maria") -> list[int]:
    for text in texts:
        await hub.hub.execute(Command(new_id(), "entry.added", {"text": text}, room), author)
    state = await hub.hub.settled_state(room)
    return [next(e.id for e in state.entries.values() if e.text == text) for text in texts]


async def select_entry(pilot: Pilot[None], app: WarroomApp, entry: int) -> None:
    """Move the timeline's cursor up to ``entry`` with the keys (it starts on the newest)."""
    timeline = incident(app).query_one(Timeline)
    await settle(pilot, lambda: entry in timeline._shown, "the entry on the timeline")
    while timeline.selected is None or timeline.selected.id != entry:
        await pilot.press("k")


async def on_timeline(pilot: Pilot[None], app: WarroomApp) -> Timeline:
    """Back on the timeline with an empty composer (escape keeps a draft, so it is emptied here)."""
    composer_of(app).value = ""
    await pilot.press("escape")
    timeline = incident(app).query_one(Timeline)
    await settle(pilot, lambda: timeline.has_focus, "the timeline to have the focus")
    return timeline


async def test_a_sentence_typed_on_the_timeline_only_fills_the_composer(hub: HubServer) -> None:
    room = await seeded(hub)
    await add_entries(hub, room, "someone else's entry")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        timeline = incident(app).query_one(Timeline)
        await settle(pilot, lambda: timeline.selected is not None, "a selected entry")
        before = log_of(log_location(hub))
        for sentence in SENTENCES:
            await on_timeline(pilot, app)
            await pilot.press(*sentence)
            await pilot.pause()
            value = composer_of(app).value
            # f is the filter prefix: the rest of the sentence follows it; every other letter is text.
            expected = "/filter " + sentence[1:] if sentence[0] == "f" else sentence
            assert value == expected, (sentence, value)
            assert app.screen is incident(app) and len(app.screen_stack) == 2, sentence  # no form, no modal
            assert composer_of(app).has_focus
            assert len(app.client.outbox) == 0
        assert not timeline.filter.active
        assert log_of(log_location(hub)) == before  # nothing reached the hub: no strike, pin, declare or join
        state = await hub.hub.settled_state(room)
        assert not any(e.struck_by or e.pinned for e in state.entries.values())
        assert not any(a.acked_by for a in state.alerts.values())
        assert not any(item.checked for item in state.checklist.values())


async def test_a_sentence_typed_on_the_side_panels_only_fills_the_composer(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        before = log_of(log_location(hub))
        for panel in (ChecklistPanel, AlertFeed):
            await on_timeline(pilot, app)
            incident(app).query_one(panel).focus()
            await pilot.pause()
            await pilot.press(*"need help now")  # n: not one of the panels' verbs (a, s, x, space)
            await pilot.pause()
            assert composer_of(app).value == "need help now"
            assert len(app.screen_stack) == 2
        assert log_of(log_location(hub)) == before


async def test_prefix_keys_leave_the_cursor_after_the_prefix(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await pilot.press("d")
        await pilot.pause()
        field = composer_of(app)
        assert field.value == "/decision " and field.cursor_position == len("/decision ")
        assert field.selection.is_empty  # nothing selected: the next letter adds, it does not replace
        await pilot.press(*"roll back", "enter")
        await wait_for(
            lambda: any(
                e.kind == "decision" and e.text == "roll back"
                for e in app.client.rooms[room].state.entries.values()
            ),
            what="the decision",
        )
        state = await hub.hub.settled_state(room)
        assert [
            (e.kind, e.text) for e in state.entries.values() if e.author == "alice" and e.kind != "system"
        ] == [("decision", "roll back")]

        await on_timeline(pilot, app)
        await pilot.press("slash", *"sev")
        await pilot.pause()
        assert composer_of(app).value == "/sev"
        await on_timeline(pilot, app)
        await pilot.press("f", *"kind:decision", "enter")
        await pilot.pause()
        timeline = incident(app).query_one(Timeline)
        assert timeline.filter.kinds == frozenset({"decision"})
        await pilot.press("f", *"pinned", "enter")  # the pinned-only view, without a letter key
        await pilot.pause()
        assert timeline.filter.pinned_only


async def answer(pilot: Pilot[None], app: WarroomApp, key: str) -> None:
    await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
    await pilot.press(key)
    await settle(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the answer")


async def test_strike_status_severity_and_declare_ask_first(hub: HubServer) -> None:
    room = await seeded(hub)
    [entry] = await add_entries(hub, room, "the wrong host", author="alice")  # hers to strike
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await select_entry(pilot, app, entry)
        before = len(log_of(log_location(hub)))

        # Each path asks, and No (n, Escape, or Enter on the focused No) changes nothing.
        await pilot.press("delete")
        await answer(pilot, app, "n")
        await pilot.press("slash")
        await paste_line(pilot, "status resolved")  # the question it asks is what is tested
        await pilot.press("enter")
        await answer(pilot, app, "escape")
        assert composer_of(app).value == "/status resolved"  # kept, to send or change
        await on_timeline(pilot, app)
        await incident(app).run_action("send_severity('SEV1')")  # the palette's path
        await answer(pilot, app, "enter")  # No has the focus
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: isinstance(app.screen, DeclareForm), "the declare form")
        app.screen.query_one("#title", Input).value = "Search is down"
        await pilot.press("ctrl+s")
        await answer(pilot, app, "n")
        await pilot.pause()
        assert len(log_of(log_location(hub))) == before
        assert len(app.client.outbox) == 0

        # Yes does it.
        await on_timeline(pilot, app)
        await pilot.press("delete")
        await answer(pilot, app, "y")
        await pilot.press("slash")
        await paste_line(pilot, "status monitoring")  # the question it asks is what is tested
        await pilot.press("enter")
        await answer(pilot, app, "y")
        await on_timeline(pilot, app)
        await incident(app).run_action("send_severity('SEV1')")
        await answer(pilot, app, "y")
        state = app.client.rooms[room].state
        await wait_for(
            lambda: (
                state.entries[entry].struck_by == "alice"
                and state.status == "monitoring"
                and state.severity == "SEV1"
            ),
            what="the strike, the status and the severity",
        )
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: isinstance(app.screen, DeclareForm), "the declare form")
        app.screen.query_one("#title", Input).value = "Search is down"
        await pilot.press("ctrl+s")
        await answer(pilot, app, "y")
        await settle(
            pilot, lambda: isinstance(app.screen, IncidentScreen) and app.screen.room != room, "the new room"
        )
        opened = app.screen
        assert isinstance(opened, IncidentScreen)
        assert (await hub.hub.settled_state(opened.room)).title == "Search is down"


async def test_pin_is_a_toggle_the_same_key_undoes(hub: HubServer) -> None:
    room = await seeded(hub)
    [entry] = await add_entries(hub, room, "root cause: pool size")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        timeline = incident(app).query_one(Timeline)
        await select_entry(pilot, app, entry)
        state = app.client.rooms[room].state
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: state.entries[entry].pinned, "the pin")
        assert any(f"pinned #{entry} - ctrl+t again to unpin" in n.message for n in app._notifications)
        await pilot.press("ctrl+o")  # the pinned-only view
        await pilot.pause()
        assert timeline._shown == [entry]
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: not state.entries[entry].pinned, "the undo")
    types = [t for r, _, _, t in log_of(log_location(hub)) if r == room]
    assert types[-2:] == ["entry.pinned", "entry.unpinned"]  # the room saw both


async def test_runbook_and_alert_keys(hub: HubServer) -> None:
    room = await seeded(hub)
    for n in (2, 3):
        await hub.hub.execute(
            Command(
                new_id(),
                "alert.upserted",
                {
                    "fingerprint": f"fp{n}",
                    "alertname": "HighErrorRate",
                    "labels": {"alertname": "HighErrorRate", "instance": f"api-{n}"},
                },
                room,
            ),
            "alertmanager",
            internal=True,  # as alert intake sends it
        )
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        await pilot.pause()

        # tab to the runbook: it opens on the first unchecked item; x checks, x again unchecks.
        await pilot.press("tab")
        await settle(pilot, lambda: incident(app).query_one(ChecklistPanel).has_focus, "the runbook")
        first = next(iter(state.checklist))
        await pilot.press("x")
        await settle(pilot, lambda: state.checklist[first].checked, "checked")
        assert any("x again to undo" in n.message for n in app._notifications)
        await pilot.press("space")
        await settle(pilot, lambda: not state.checklist[first].checked, "unchecked")

        # /ack by a name three alerts share is refused, like the CLI.
        await pilot.press("slash")
        await paste_line(pilot, "ack HighErrorRate")  # the question it asks is what is tested
        await pilot.press("enter")
        await pilot.pause()
        offer = (
            "3 alerts are named HighErrorRate: select one in the alert panel,"
            " or /ack HighErrorRate * for the whole group"
        )
        assert offer in hint_of(app)
        assert not any(a.acked_by for a in state.alerts.values())

        # tab to the alerts: the cursor is on the first open alert; enter shows it, a there acks it.
        await on_timeline(pilot, app)
        await pilot.press("tab", "tab")
        feed = incident(app).query_one(AlertFeed)
        await settle(pilot, lambda: feed.has_focus, "the alerts")
        first_alert = feed.selected_fingerprint
        assert first_alert is not None
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, AlertDetailScreen), "the details")
        await pilot.press("a")
        await answer(pilot, app, "y")
        await settle(pilot, lambda: state.alerts[first_alert].acked_by == "alice", "one ack")
        # a (the first letter of "all EU back") only asks; no leaves the alert open.
        await pilot.press("j")
        second = feed.selected_fingerprint
        assert second is not None and second != first_alert
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "a asks first")
        await answer(pilot, app, "n")
        assert not state.alerts[second].acked_by
        await pilot.press("a")
        await answer(pilot, app, "y")
        await settle(pilot, lambda: state.alerts[second].acked_by == "alice", "acked after a yes")
        await pilot.press("k")
        # On the group's row, a asks, then acknowledges the rest of the group.
        await pilot.press("k")
        await pilot.pause()
        assert feed.selected_fingerprint is None  # the group row
        await pilot.press("a")
        await answer(pilot, app, "y")
        await settle(pilot, lambda: all(a.acked_by == "alice" for a in state.alerts.values()), "all acked")


async def paste(pilot: Pilot[None], app: WarroomApp, text: str) -> None:
    """A bracketed paste, as the terminal driver delivers it."""
    app.post_message(events.Paste(text))
    await pilot.pause()


async def test_an_oversize_paste_is_counted_and_refused_before_it_is_queued(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        before = log_of(log_location(hub))
        big = "x" * 100_000
        await paste(pilot, app, big)  # lands on the timeline: it goes to the composer
        await settle(pilot, lambda: composer_of(app).value == big, "the paste in the composer")
        assert f"100,000/{TEXT_MAX:,}" in hint_of(app)
        await pilot.press("enter")
        await pilot.pause()
        assert "too long: 100,000 characters" in hint_of(app)
        assert composer_of(app).value == big  # kept, to be cut down
        assert len(app.client.outbox) == 0 and app.client.connected
        assert log_of(log_location(hub)) == before

        # Near the limit the count shows; at the limit it is sent.
        composer_of(app).value = "y" * (TEXT_MAX - 1)
        await pilot.pause()
        assert f"{TEXT_MAX - 1:,}/{TEXT_MAX:,}" in hint_of(app)
        await pilot.press("z", "enter")
        await wait_for(
            lambda: len(log_of(log_location(hub))) == len(before) + 1, what="the entry at the limit"
        )

        # Control characters in a paste are taken out, and the composer says so.
        await paste(pilot, app, "disk \x1b[31mfull\x07")
        await pilot.pause()
        assert composer_of(app).value == "disk [31mfull"
        assert "removed 2 control characters" in hint_of(app)


async def test_a_multi_line_paste_is_one_entry_never_cut(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    lines = [f"line {n}" for n in range(1, 307)]
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await pilot.press("d")  # a decision's prefix, then the paste
        await paste(pilot, app, "\r\n".join(lines) + "\n")
        await settle(pilot, lambda: isinstance(app.screen, LongEntryForm), "the question")
        form = app.screen
        assert "Send these 306 lines as one entry?" in str(form.query_one("#long-question").render())
        assert form.query_one(TextArea).text == "/decision " + "\n".join(lines)
        await pilot.press("ctrl+s")
        state = app.client.rooms[room].state
        await wait_for(lambda: any(e.kind == "decision" for e in state.entries.values()), what="the entry")
        hub_state = await hub.hub.settled_state(room)
        [entry] = [e for e in hub_state.entries.values() if e.kind == "decision"]
        assert entry.text.split("\n") == lines  # all 306 lines, in one entry

        # Over the limit, the form says so and keeps the text; Escape leaves the composer as it was.
        await on_timeline(pilot, app)
        await paste(pilot, app, "\n".join(["z" * 100] * 50))
        await settle(pilot, lambda: isinstance(app.screen, LongEntryForm), "the form again")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "too long: 5,049 characters" in str(app.screen.query_one("#form-error").render())
        assert isinstance(app.screen, LongEntryForm)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, IncidentScreen) and composer_of(app).value == ""


async def test_escape_keeps_the_draft(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await pilot.press(*"half a thought")
        await pilot.press("escape")
        timeline = incident(app).query_one(Timeline)
        await settle(pilot, lambda: timeline.has_focus, "the timeline")
        assert composer_of(app).value == "half a thought"
        await pilot.press("i")
        await settle(pilot, lambda: composer_of(app).has_focus, "the composer")
        assert composer_of(app).value == "half a thought"


async def test_help_lists_the_keys(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await pilot.press("f1")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        text = str(app.screen.query_one("#help-keys").render())
        for key in ("ctrl+r", "ctrl+n", "ctrl+t", "delete", "ctrl+o", "f2", "f5", "f6", "any letter"):
            assert key in text
        await pilot.press("escape")
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen), "help by ?")


async def test_keys_typed_faster_than_the_focus_moves_stay_text(hub: HubServer) -> None:
    """A fast typist (or a terminal without bracketed paste) sends keys before the composer has the focus."""
    from textual.keys import _character_to_key

    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    sentence = "so fine, I pin it: d/f/i are text here"
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        before = log_of(log_location(hub))
        for char in sentence:  # all queued at once: none waits for the previous one's effect
            app.post_message(events.Key(_character_to_key(char), char))
        await settle(pilot, lambda: composer_of(app).value == sentence, "the whole sentence in the composer")
        assert len(app.screen_stack) == 2 and log_of(log_location(hub)) == before


async def test_a_burst_of_keys_ending_in_enter_sends_the_whole_line(hub: HubServer) -> None:
    """A prefix key, the text behind it and Enter, all sent before the app has read any: the line
    goes out whole. The keys once went to the panel that had the focus: the prefix was lost, or
    the Enter overtook the last letters ("/skip rollback no deploy" went out as "... no depl")."""
    from textual.keys import _character_to_key

    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        for line in ("/item restart the pods now", "dship the rollback now", "looks calmer now"):
            incident(app).query_one(ChecklistPanel).focus()
            await pilot.pause()
            for char in line:  # all queued at once, as a terminal sends a fast burst
                app.post_message(events.Key(_character_to_key(char), char))
            app.post_message(events.Key("enter", "\r"))
            await settle(pilot, lambda: composer_of(app).value == "", f"{line!r} sent")
        state = await hub.hub.settled_state(room)
        assert [i.text for i in state.checklist.values()][-1] == "restart the pods now"
        mine = [
            (e.kind, e.text) for e in state.entries.values() if e.author == "alice" and e.kind != "system"
        ]
        assert mine == [("decision", "ship the rollback now"), ("note", "looks calmer now")]


async def test_a_panel_key_right_behind_a_tab_acts_in_the_panel_tab_reached(hub: HubServer) -> None:
    """Tab and x in one burst check the runbook's first open item; the x once went to the
    timeline, which still had the focus when the app read it, and became a draft note."""
    from textual.keys import _character_to_key

    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await on_timeline(pilot, app)
        app.post_message(events.Key("tab", None))
        app.post_message(events.Key(_character_to_key("x"), "x"))
        state = app.client.rooms[room].state
        await settle(pilot, lambda: next(iter(state.checklist.values())).checked, "the first item checked")
        assert composer_of(app).value == ""


async def test_a_paste_typed_out_key_by_key_is_asked_about_as_one_entry(hub: HubServer) -> None:
    """A terminal without bracketed paste types a pasted log out as keys, Enter after each line: the
    lines of that one burst are one entry, asked about first. They once went out as a note each."""
    from textual.keys import _character_to_key

    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    lines = [f"log line {n}: upstream 502" for n in range(40)]
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await on_timeline(pilot, app)
        before = log_of(log_location(hub))
        await pilot.press("i")
        for line in lines:  # all queued at once, as the driver posts the keys of one read
            for char in line:
                app.post_message(events.Key(_character_to_key(char), char))
            app.post_message(events.Key("enter", "\r"))
        await settle(pilot, lambda: isinstance(app.screen, LongEntryForm), "the question")
        assert f"Send these {len(lines)} lines as one entry?" in str(
            app.screen.query_one("#long-question").render()
        )
        assert app.screen.query_one(TextArea).text == "\n".join(lines)
        assert log_of(log_location(hub)) == before  # nothing was sent before the answer
        await pilot.press("ctrl+s")
        hub_state = app.client.rooms[room].state
        await wait_for(lambda: any(e.text == "\n".join(lines) for e in hub_state.entries.values()), what="it")
        assert not any(e.text == lines[0] for e in hub_state.entries.values())


async def test_keys_right_behind_f2_and_escape_go_where_the_focus_moved(hub: HubServer) -> None:
    """F2 then a, in one burst, asks to acknowledge the alert; escape then j moves the timeline's
    cursor. The a and the j once went to the widget the focus had just left."""
    from textual.keys import _character_to_key

    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        timeline = await on_timeline(pilot, app)
        app.post_message(events.Key("f2", None))
        app.post_message(events.Key(_character_to_key("a"), "a"))
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the ack question")
        await pilot.press("escape")  # no, and back on the room
        await settle(pilot, lambda: isinstance(app.screen, IncidentScreen), "the room")
        assert composer_of(app).value == ""  # the a was the alert panel's, not a note's
        await pilot.press("i", "x")
        await settle(pilot, lambda: composer_of(app).value == "x", "a draft")
        timeline.cursor = 0
        app.post_message(events.Key("escape", None))
        app.post_message(events.Key(_character_to_key("j"), "j"))
        await settle(pilot, lambda: timeline.cursor == 1, "the cursor moved")
        assert composer_of(app).value == "x" and timeline.has_focus
