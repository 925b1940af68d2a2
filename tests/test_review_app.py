"""Action items and the review in the app, driven through Pilot against a real hub on 127.0.0.1:0.

Every test checks what the hub recorded, not only what the screen shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Input, Label, TextArea

from server.runner import HubServer
from tests.conftest import issue, log_location, log_of, wait_for
from tests.hostile import HOSTILE
from tests.test_app import incident, joined, make_app, running, seeded, settle
from tests.test_hostile_display import TYPED, check_strips, every_widget
from warroom.app.app import WarroomApp
from warroom.app.dialogs import ConfirmScreen
from warroom.app.keymap import ACTS
from warroom.app.review_editor import FIELD_PROMPTS, LIST_PROMPTS, PROMPTS, ReviewList, ReviewScreen
from warroom.app.widgets.actions_panel import ActionsPanel
from warroom.core.events import NAME_MAX, REVIEW_FIELDS, REVIEW_LISTS, Command, Event
from warroom.core.protocol import new_id
from warroom.core.reducer import apply
from warroom.core.state import IncidentState

# What Textual's own scroll bars carry: a panel with more rows than it shows has one.
SCROLLBAR = {"grab", "scroll_up", "scroll_down", "scroll_left", "scroll_right"}
TODAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def clock() -> datetime:
    return TODAY


async def run(hub: HubServer, type_: str, data: dict[str, Any], room: str, actor: str = "maria") -> None:
    await hub.hub.execute(Command(new_id(), type_, data, room), actor)


def composer(app: WarroomApp) -> Input:
    return incident(app).query_one("#composer-input", Input)


def hint(app: WarroomApp) -> str:
    return str(incident(app).query_one("#composer-hint").render())


def review(app: WarroomApp) -> ReviewScreen:
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    return screen


def said(screen: ReviewScreen, where: str) -> str:
    label = screen.query_one(f"#error-{where}", Label)
    return str(label.render()) if label.display else ""


def title_of(panel: ActionsPanel) -> str:
    """The title as read: Textual keeps a border title as markup (ours: counts only, never data)."""
    title = panel.border_title
    return title.plain if isinstance(title, Content) else Content.from_markup(str(title)).plain


def scroll_bar(segment: Segment) -> bool:
    meta = segment.style.meta if segment.style else {}
    return set(meta) == {"@mouse.down"} and meta["@mouse.down"] in SCROLLBAR


def shown_text(app: WarroomApp, where: str) -> str:
    """The screen as the terminal gets it, checked; a scroll bar's handles are Textual's, not data."""
    strips = [
        Strip([seg for seg in strip if not scroll_bar(seg)])
        for strip in app.screen._compositor.render_strips()
    ]
    check_strips(strips, where)
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def types(db: Path | str) -> list[str]:
    return [row[3] for row in log_of(db)]


async def test_action_and_done_in_the_composer_reach_the_hub(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room, clock=clock)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        panel = incident(app).query_one(ActionsPanel)
        assert not panel.display  # no items: the side column keeps its space

        await pilot.press("i", *"/action renew the cert @carol due +3d", "enter")
        await settle(pilot, lambda: "A-1" in app.client.rooms[room].state.actions, "A-1")
        item = (await hub.hub.settled_state(room)).actions["A-1"]
        assert (item.text, item.owner, item.due, item.created_by) == (
            "renew the cert",
            "carol",
            "2026-12-04",
            "alice",
        )
        assert composer(app).value == ""
        await settle(pilot, lambda: panel.display, "the panel to show")

        # Bad input: a one-line hint, the text kept to fix, nothing sent.
        before = types(log_location(hub))
        for line, why in [
            ("/action fix it due friday", "due friday: write the day as YYYY-MM-DD or +3d"),
            ("/action @bob", "an action item needs its text"),
            ("/done A-7", "this room has no action item A-7"),
            ("/done first", "usage: /done A-N"),
        ]:
            composer(app).value = line
            await pilot.press("enter")
            await pilot.pause()
            assert why in hint(app), (line, hint(app))
            assert "\n" not in hint(app).strip()
            assert composer(app).value == line
        assert len(app.client.outbox) == 0 and types(log_location(hub)) == before

        composer(app).value = "/done A-1"
        await pilot.press("enter")
        await settle(pilot, lambda: app.client.rooms[room].state.actions["A-1"].status == "done", "done")
        done = (await hub.hub.settled_state(room)).actions["A-1"]
        assert done.status == "done" and done.updated_by == "alice"
        composer(app).value = "/done A-1"
        await pilot.press("enter")
        await pilot.pause()
        assert "A-1 is done already" in hint(app)

        # /did keeps logging an action taken, as /action used to.
        composer(app).value = "/did restarted api-3"
        await pilot.press("enter")
        await settle(
            pilot,
            lambda: any(e.kind == "action" for e in app.client.rooms[room].state.entries.values()),
            "the entry",
        )


async def test_the_room_lists_its_action_items_and_x_marks_one_done(hub: HubServer) -> None:
    room = await seeded(hub)
    await run(hub, "action.added", {"text": "rotate the cert", "owner": "carol", "due": "2026-11-20"}, room)
    await run(hub, "action.added", {"text": "alert on expiry", "owner": "bob", "due": "2026-12-15"}, room)
    await run(hub, "action.added", {"text": "write the runbook"}, room)
    app = make_app(hub.url, "alice", room, clock=clock)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        panel = incident(app).query_one(ActionsPanel)
        await settle(pilot, lambda: panel.option_count == 3, "three rows")
        rows = [str(panel.get_option_at_index(n).prompt) for n in range(3)]
        assert rows[0].startswith("A-1") and "OVERDUE 11-20" in rows[0] and "@carol" in rows[0]
        assert "due 12-15" in rows[1] and "OVERDUE" not in rows[1] and "@bob" in rows[1]
        assert "no owner" in rows[2] and "due" not in rows[2]
        assert title_of(panel) == "Actions 0/3 1 overdue"
        shown = shown_text(app, "incident")
        assert "OVERDUE 11-20" in shown and "Actions 0/3 1 overdue" in shown

        await pilot.press("f5")
        await settle(pilot, lambda: panel.has_focus, "the action panel")
        assert panel.highlighted == 0
        await pilot.press("x")
        await settle(pilot, lambda: app.client.rooms[room].state.actions["A-1"].status == "done", "A-1 done")
        state = await hub.hub.settled_state(room)
        assert state.actions["A-1"].status == "done" and state.actions["A-1"].updated_by == "alice"
        await settle(pilot, lambda: title_of(panel) == "Actions 1/3", "the count")
        assert any("A-1 done - x again to reopen" in n.message for n in app._notifications)

        await pilot.press("x")  # the same key undoes
        await settle(pilot, lambda: app.client.rooms[room].state.actions["A-1"].status == "open", "reopened")
        await pilot.press("j", "space")  # j moves in the panel; space marks as x does
        await settle(pilot, lambda: app.client.rooms[room].state.actions["A-2"].status == "done", "A-2 done")
        assert composer(app).value == ""  # the panel's keys are not text


async def open_review(pilot: Any, app: WarroomApp) -> ReviewScreen:
    await pilot.press("f6")
    await settle(pilot, lambda: isinstance(app.screen, ReviewScreen), "the review editor")
    return review(app)


async def test_the_review_editor_sends_each_kind_of_edit(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room, clock=clock)
    async with running(app, size=(120, 50)) as pilot:
        await settle(pilot, joined(app, room), "join")
        screen = await open_review(pilot, app)

        def state() -> IncidentState:
            return app.client.rooms[room].state

        def added(section: str) -> Callable[[], bool]:
            return lambda: len(state().review.lists.get(section, [])) == 1

        # A text field: typed, then saved on leaving it (tab).
        summary = screen.query_one("#field-summary", TextArea)
        assert summary.has_focus
        await pilot.press(*"Pool ran dry ")  # kept as the hub keeps it: trimmed, and not sent twice
        await pilot.press("tab")
        await settle(pilot, lambda: state().review.fields.get("summary") == "Pool ran dry", "summary")
        await pilot.pause()
        assert not said(screen, "summary")
        impact = screen.query_one("#field-impact_customer", TextArea)
        impact.focus()
        impact.load_text("Card payments failed\nfor 14 minutes")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "impact_customer" in state().review.fields, "impact")
        assert state().review.fields["impact_customer"] == "Card payments failed\nfor 14 minutes"
        impact.load_text("")  # emptied: the field is cleared
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "impact_customer" not in state().review.fields, "impact cleared")

        # The whys: level 2 waits for level 1; enter moves why -> because -> next level.
        assert screen.query_one("#why-2-why", Input).disabled
        screen.query_one("#why-1-why", Input).focus()
        await pilot.press(*"pool empty", "enter")
        assert screen.query_one("#why-1-because", Input).has_focus
        await pilot.press(*"no limit", "enter")
        await settle(pilot, lambda: len(state().review.whys) == 1, "why 1")
        assert (state().review.whys[0].why, state().review.whys[0].because) == ("pool empty", "no limit")
        await settle(pilot, lambda: screen.query_one("#why-2-why", Input).has_focus, "level 2 open")
        screen.query_one("#why-2-why", Input).value = "no limit"
        screen.query_one("#why-2-because", Input).value = "the default is unbounded"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: len(state().review.whys) == 2, "why 2")
        # Emptied and saved: the level is cleared (with one under it: after a yes).
        screen.query_one("#why-1-why", Input).value = ""
        screen.query_one("#why-1-because", Input).value = ""
        screen.query_one("#why-1-why", Input).focus()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Clear why 1 and the 1 level under it?" in str(
            app.screen.query_one("#confirm-question").render()
        )
        await pilot.press("y")
        await settle(pilot, lambda: state().review.whys == [], "whys cleared")

        # The three lists: enter adds, delete removes after a yes.
        for section in LIST_PROMPTS:
            field = screen.query_one(f"#add-{section}", Input)
            field.focus()
            field.value = f"{section} one"
            await pilot.press("enter")
            await settle(pilot, added(section), section)
            assert field.value == ""
        listed = screen.query_one("#list-factors", ReviewList)
        await settle(
            pilot, lambda: listed.option_count == 1 and not listed.get_option_at_index(0).disabled, "row"
        )
        listed.focus()
        listed.highlighted = 0
        await pilot.press("delete")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await settle(pilot, lambda: "factors" not in state().review.lists, "factor removed")

        # An action item from the editor reads as /action does; a bad one is said, not sent.
        add = screen.query_one("#add-action", Input)
        add.focus()
        add.value = "load test checkout due 2026-13-01"
        await pilot.press("enter")
        assert "there is no such day" in said(screen, "action") and add.value
        add.value = "load test checkout @dana due +1w"
        await pilot.press("enter")
        await settle(pilot, lambda: "A-1" in state().actions, "A-1")
        assert (state().actions["A-1"].owner, state().actions["A-1"].due) == ("dana", "2026-12-08")
        panel = screen.query_one("#review-actions", ActionsPanel)
        await settle(pilot, lambda: panel.option_count == 1 and panel.selected is None, "A-1 listed")
        panel.focus()
        await pilot.press("x")
        await settle(pilot, lambda: state().actions["A-1"].status == "done", "A-1 done")

        # Escape saves what is typed and closes.
        screen.query_one("#field-impact_technical", TextArea).load_text("db pool at 100%")
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is incident(app), "back in the room")
        await settle(pilot, lambda: "impact_technical" in state().review.fields, "saved on escape")
    sent = types(log_location(hub))
    for kind in (
        "review.updated",
        "review.why_set",
        "review.why_cleared",
        "review.item_added",
        "review.item_removed",
        "action.added",
        "action.updated",
    ):
        assert kind in sent, kind
    assert sent.count("review.updated") == 4  # summary, impact, its clearing, technical: each once


async def test_another_terminals_edits_show_up_live(hub: HubServer) -> None:
    room = await seeded(hub)
    app_a = make_app(hub.url, "alice", room, clock=clock)
    app_b = make_app(hub.url, "bob", room, clock=clock)
    async with running(app_a, size=(120, 50)) as a, running(app_b, size=(120, 50)) as b:
        await settle(a, joined(app_a, room), "A joined")
        await settle(b, joined(app_b, room), "B joined")
        screen_a, screen_b = await open_review(a, app_a), await open_review(b, app_b)
        await b.press(*"Pool dry", "tab")  # B writes the summary
        summary_a = screen_a.query_one("#field-summary", TextArea)
        await settle(a, lambda: summary_a.text == "Pool dry", "B's summary in A")

        field = screen_b.query_one("#add-lucky", Input)
        field.focus()
        field.value = "it happened in office hours"
        await b.press("enter")
        lucky_a = screen_a.query_one("#list-lucky", ReviewList)
        await settle(
            a, lambda: [i.text for i in lucky_a.items] == ["it happened in office hours"], "item in A"
        )
        assert "Where we got lucky (1)" in str(screen_a.query_one("#heading-lucky", Label).render())

        screen_b.query_one("#why-1-why", Input).value = "pool empty"
        screen_b.query_one("#why-1-because", Input).value = "no limit"
        screen_b.query_one("#why-1-because", Input).focus()
        await b.press("enter")
        await settle(a, lambda: screen_a.query_one("#why-1-because", Input).value == "no limit", "why in A")
        assert not screen_a.query_one("#why-2-why", Input).disabled  # level 2 opened in A too

        field = screen_b.query_one("#add-action", Input)
        field.focus()
        field.value = "cap the pool @carol"
        await b.press("enter")
        panel_a = screen_a.query_one("#review-actions", ActionsPanel)
        await settle(a, lambda: "cap the pool" in str(panel_a.get_option_at_index(0).prompt), "action in A")

        # A field A is typing in keeps A's text when B saves another; A is told.
        summary_a.focus()
        summary_a.load_text("Pool dry, A's words")
        summary_b = screen_b.query_one("#field-summary", TextArea)
        summary_b.focus()
        summary_b.load_text("Pool dry, B's words")
        await b.press("ctrl+s")
        await settle(a, lambda: "someone else" in said(screen_a, "summary"), "the note in A")
        assert summary_a.text == "Pool dry, A's words"
        await a.press("ctrl+s")
        await settle(
            b, lambda: summary_b.text == "Pool dry, A's words" and not said(screen_b, "summary"), "A's in B"
        )


async def test_a_forbidden_edit_shows_the_hubs_refusal(hub: HubServer) -> None:
    room = await seeded(hub)
    await run(hub, "role.assigned", {"role": "commander", "name": "maria"}, room)
    app = make_app(hub.url, "bob", room, clock=clock)
    async with running(app, size=(120, 50)) as pilot:
        await settle(pilot, joined(app, room), "join")
        screen = await open_review(pilot, app)
        await pilot.press(*"my summary", "tab")
        await settle(pilot, lambda: "refused" in said(screen, "summary"), "the refusal under the field")
        assert "commander" in said(screen, "summary")
        assert any(n.title == "refused" for n in app._notifications)
        assert screen.query_one("#field-summary", TextArea).text == "my summary"  # kept, to copy or retry
        assert "summary" not in (await hub.hub.settled_state(room)).review.fields
        # Leaving the field again does not send the refused text again; the lists are anyone's.
        sent = len(app._notifications)
        screen.query_one("#field-impact_business", TextArea).focus()
        screen.query_one("#field-summary", TextArea).focus()
        await pilot.press("tab")
        await pilot.pause()
        assert len(app._notifications) == sent and len(app.client.outbox) == 0
        field = screen.query_one("#add-went_well", Input)
        field.focus()
        field.value = "rollback took 3 minutes"
        await pilot.press("enter")
        await wait_for(lambda: "went_well" in app.client.rooms[room].state.review.lists, what="an item")


def test_no_key_of_the_room_is_bound_twice() -> None:
    """A new screen or panel key (F5 action items, F6 the review) must not shadow another."""

    keys = [k for a in ACTS if a.key for k in a.key.split(",")]
    keys += [b[0] if isinstance(b, tuple) else b.key for b in WarroomApp.BINDINGS]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_the_prompts_ask_about_systems_never_who() -> None:
    assert set(FIELD_PROMPTS) == set(REVIEW_FIELDS) and set(LIST_PROMPTS) == set(REVIEW_LISTS)
    assert "What made this easy to get wrong?" in PROMPTS[-3]
    assert any("What did the system make hard to see?" in p for p in PROMPTS)
    assert any("What in the system allowed this?" in p for p in PROMPTS)
    for prompt in PROMPTS:
        words = prompt.lower().replace("?", " ").replace(".", " ").replace(":", " ").split()
        asks_who = {"who", "whose", "whom", "blame", "fault", "culprit"} & set(words)
        assert not asks_who or prompt.endswith("Never who."), prompt  # only the rule says the word


async def test_hostile_text_stays_data_in_the_panel_and_the_editor(hub: HubServer) -> None:
    room = await seeded(hub)
    for text in TYPED.values():
        await run(
            hub, "action.added", {"text": text[:400], "owner": text[:NAME_MAX], "due": "2026-11-01"}, room
        )
        await run(hub, "review.item_added", {"section": "factors", "text": text}, room, text[:NAME_MAX])
    await run(hub, "review.updated", {"field": "summary", "text": "\n".join(TYPED.values())}, room)
    await run(
        hub,
        "review.why_set",
        {"level": 1, "why": TYPED["click-action"], "because": TYPED["unbalanced"]},
        room,
    )
    app = make_app(hub.url, "tess", room, clock=clock)
    async with running(app, size=(160, 150)) as pilot:
        await settle(pilot, joined(app, room), "join")
        view = app.client.rooms[room]
        state = view.state

        def fold(actor: str, type_: str, data: dict[str, Any]) -> None:
            apply(state, Event(room, state.seq + 1, new_id(), actor, state.updated_at or "", type_, data))

        # Raw control bytes in the app's own copy, where no hub check stands between.
        for text in HOSTILE.values():
            fold(text[:NAME_MAX] or "x", "action.added", {"text": text, "owner": text[:NAME_MAX] or "x"})
            fold("maria", "review.item_added", {"section": "lucky", "text": text})
        fold("maria", "review.updated", {"field": "impact_technical", "text": "\n".join(HOSTILE.values())})
        fold(
            "maria", "review.why_set", {"level": 2, "why": HOSTILE["osc-title"], "because": HOSTILE["c1-csi"]}
        )
        status = state.status
        screen = incident(app)
        screen.refresh_state()
        panel = screen.query_one(ActionsPanel)
        await settle(pilot, lambda: panel.option_count == len(TYPED) + len(HOSTILE), "every item")
        shown = shown_text(app, "incident")
        assert "OVERDUE 11-01 @[ @click=" in shown and "Actions 0/" in shown
        every_widget(app, "incident")  # the panel's every row, at its full height

        editor = await open_review(pilot, app)
        await settle(
            pilot, lambda: len(editor.query_one("#list-lucky", ReviewList).items) == len(HOSTILE), "rows"
        )
        assert editor.query_one("#why-1-why", Input).value == TYPED["click-action"]
        assert editor.query_one("#why-2-why", Input).value == "note ␛]0;pwned␇ after"
        technical = editor.query_one("#field-impact_technical", TextArea).text
        assert "note ␛]0;pwned␇ after" in technical and "\x1b" not in technical
        for y in range(0, 400, 100):
            editor.query_one("#review-body").scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()
            shown_text(app, f"the editor at {y}")
        every_widget(app, "editor")
        # Markup actions in the rows do nothing when clicked: they are only text.
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is screen, "back")
        for row in range(3):
            await pilot.click(ActionsPanel, offset=(10, row + 1))
        await pilot.pause()
        assert app.is_running and state.status == status
        assert (await hub.hub.settled_state(room)).status == status


async def test_the_palette_opens_the_review_and_a_viewer_only_reads_it(hub: HubServer) -> None:
    room = await seeded(hub)
    await run(hub, "review.updated", {"field": "summary", "text": "Pool ran dry"}, room)
    await run(hub, "action.added", {"text": "cap the pool"}, room)
    app = make_app(hub.url, "vic", room, await issue(hub, "vic", level="viewer"), clock=clock)
    async with running(app, size=(120, 50)) as pilot:
        await settle(
            pilot, lambda: app.client.rooms.get(room) is not None and app.client.rooms[room].synced, "sync"
        )
        await pilot.press("ctrl+p")
        await pilot.press(*"Review")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ReviewScreen), "the editor, from the palette")
        screen = review(app)
        await settle(
            pilot, lambda: screen.query_one("#field-summary", TextArea).text == "Pool ran dry", "the summary"
        )
        assert screen.query_one("#field-summary", TextArea).disabled
        assert all(field.disabled for field in screen.query("#review-body Input"))
        assert "Read-only" in str(screen.query_one("#review-help", Label).render())
        panel = screen.query_one("#review-actions", ActionsPanel)
        panel.focus()
        panel.highlighted = 0
        await pilot.press("x")
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is incident(app), "closed")
        assert len(app.client.outbox) == 0
    state = await hub.hub.settled_state(room)
    assert state.actions["A-1"].status == "open" and state.review.fields == {"summary": "Pool ran dry"}
