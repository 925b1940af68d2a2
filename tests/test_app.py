"""The war room app, driven through Pilot against a real hub on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from server.runner import HubServer
from tests.conftest import TOKEN, issue, wait_for
from warroom.app.alert_detail import AlertDetailScreen
from warroom.app.app import WarroomApp
from warroom.app.dialogs import ConfirmScreen
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.panels import ChecklistPanel, IncidentHeader, RolesPanel
from warroom.app.widgets.timeline import Timeline
from warroom.client import HubClient
from warroom.client.hub_client import Backoff
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.state import IncidentState


def make_app(
    url: str, name: str, room: str | None, token: str = TOKEN, clock: Callable[[], datetime] | None = None
) -> WarroomApp:
    client = HubClient(url, token, name, backoff=Backoff(base=0.05, cap=0.3))
    return WarroomApp(client, room, load_themes(shipped_dir()), clock=clock)


@asynccontextmanager
async def running(app: WarroomApp, size: tuple[int, int] = (120, 40)) -> AsyncIterator[Pilot[None]]:
    async with app.run_test(size=size) as pilot:
        yield pilot


def state_of(app: WarroomApp, room: str) -> Callable[[], IncidentState]:
    return lambda: app.client.rooms[room].state


def joined(app: WarroomApp, room: str) -> Callable[[], bool]:
    """Synced, with this responder's own first join already on the record."""

    def check() -> bool:
        view = app.client.rooms.get(room)
        return view is not None and view.synced and app.client.name in view.state.responders

    return check


def incident(app: WarroomApp) -> IncidentScreen:
    screen = app.screen
    assert isinstance(screen, IncidentScreen)
    return screen


async def settle(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    await wait_for(condition, what=what)
    await pilot.pause()


async def paste_line(pilot: Pilot[None], text: str) -> None:
    """``text`` into the focused composer as one bracketed paste, the way a terminal sends a paste.

    Each key costs a test a frame (tens of milliseconds), so a line a test only needs written
    goes in whole; what each key does on its own is tested key by key in test_keys.py.
    """
    field = pilot.app.focused
    assert isinstance(field, Input), f"a paste for the composer, but the focus is on {field}"
    pilot.app.post_message(events.Paste(text))
    await settle(pilot, lambda: text in field.value, "the paste in the composer")


async def seeded(hub: HubServer) -> str:
    async def do(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> str:
        internal = type_ == "alert.upserted"  # alerts come from intake, never from a client
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)).room

    room = await do("incident.declared", {"title": "Checkout 502s", "severity": "SEV2"})
    await do("role.released", {"role": "commander"}, room)  # an open seat, so anyone may act
    for text in ("Confirm impact", "Roll back"):
        await do("checklist.item_added", {"text": text}, room)
    await do(
        "alert.upserted",
        {
            "fingerprint": "fp1",
            "alertname": "HighErrorRate",
            "severity": "critical",
            "labels": {"alertname": "HighErrorRate", "instance": "api-1"},  # as intake stores it
        },
        room,
        "alertmanager",
    )
    return room


def first_row(app: WarroomApp) -> str:
    """The top line of the screen's first list (the picker's first incident), or "" while empty."""
    options = app.screen.query(OptionList)
    if not options or options.first().option_count == 0:
        return ""
    return str(options.first().get_option_at_index(0).prompt)



async def test_two_apps_on_one_hub_see_each_other(hub: HubServer) -> None:
    room = await seeded(hub)
    app_a, app_b = make_app(hub.url, "alice", room), make_app(hub.url, "bob", room)
    async with running(app_a) as a, running(app_b) as b:
        state_a, state_b = state_of(app_a, room), state_of(app_b, room)
        await settle(a, joined(app_a, room), "A to join")
        await settle(b, joined(app_b, room), "B to join")

        # An entry typed in A appears in B.
        await a.press("i")
        await a.press(*"rolled back 4512")
        await a.press("enter")
        await settle(
            b, lambda: any(e.text == "rolled back 4512" for e in state_b().entries.values()), "entry in B"
        )
        timeline_b = incident(app_b).query_one(Timeline)
        assert timeline_b.selected is not None and timeline_b.selected.text == "rolled back 4512"

        # A role claimed in B shows in A.
        await b.press("slash", *"role ic me", "enter")
        await settle(a, lambda: "commander" in state_a().roles, "role in A")
        assert state_a().roles["commander"].name == "bob"
        roles_text = str(incident(app_a).query_one(RolesPanel).render())
        assert "bob" in roles_text

        # A checklist item checked in A is checked in B.
        checklist = incident(app_a).query_one(ChecklistPanel)
        checklist.focus()
        checklist.highlighted = 0
        await a.press("enter")
        await settle(b, lambda: next(iter(state_b().checklist.values())).checked, "item checked in B")
        assert next(iter(state_b().checklist.values())).checked_by == "alice"

        # An alert acknowledged in B shows who acknowledged it in A.
        feed = incident(app_b).query_one(AlertFeed)
        feed.focus()
        await b.pause()
        feed.select_node(feed.root.children[0].children[0])
        feed.move_cursor(feed.root.children[0].children[0])
        await b.press("enter")  # the alert in full; a there acknowledges it, after a yes
        await settle(b, lambda: isinstance(app_b.screen, AlertDetailScreen), "the alert's details")
        await b.press("a")
        await settle(b, lambda: isinstance(app_b.screen, ConfirmScreen), "the question")
        await b.press("y")
        await settle(a, lambda: state_a().alerts["fp1"].acked_by == "bob", "ack in A")


async def test_a_viewer_token_reads_the_room_with_a_read_only_composer(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "claims-to-be-maria", room, await issue(hub, "vic", level="viewer"))
    async with running(app) as pilot:
        await settle(
            pilot, lambda: app.client.rooms.get(room) is not None and app.client.rooms[room].synced, "sync"
        )
        await settle(
            pilot, lambda: app.screen.query_one("#composer-input", Input).disabled, "read-only composer"
        )
        assert app.client.name == "vic"
        assert "viewer's token" in app.screen.query_one("#composer-input", Input).placeholder
        await pilot.press("c")  # a letter on the timeline: with nothing to type into, nothing happens
        await pilot.press("d", "slash")  # nor does a prefix key write its prefix into the read-only line
        await pilot.pause()
        assert app.screen.query_one("#composer-input", Input).value == ""
        await incident(app).run_action("claim('commander')")  # the palette's Claim IC: refused here
        await settle(pilot, lambda: any(n.title == "read-only" for n in app._notifications), "refusal")
        assert len(app.client.outbox) == 0
    state = await hub.hub.settled_state(room)
    assert "vic" not in state.responders and "commander" not in state.roles  # watching is not responding
    assert all(e.author != "vic" for e in state.entries.values())


async def test_slash_commands_and_inline_errors(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "carol", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        await pilot.press("i")
        await paste_line(pilot, "/sev 1 spreading to US")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await settle(pilot, lambda: state.severity == "SEV1", "severity change")
        header = incident(app).query_one(IncidentHeader)
        assert "sev-1" in header.query_one("#severity").classes

        await paste_line(pilot, "/frobnicate now")
        await pilot.press("enter")
        hint = str(incident(app).query_one("#composer-hint").render())
        assert "unknown command /frobnicate" in hint
        assert incident(app).query_one("#composer-input", Input).value == "/frobnicate now"  # kept to fix

        await pilot.press("ctrl+a", "ctrl+k")
        await paste_line(pilot, "/broadcast 15m EU checkout recovering")
        await pilot.press("enter")
        await settle(pilot, lambda: state.broadcast is not None, "broadcast")
        assert state.broadcast is not None and state.broadcast.next_update_due is not None
        await pilot.pause()
        banner = str(incident(app).query_one("#broadcast-message").render())
        assert "EU checkout recovering" in banner


async def test_reconnect_marks_typed_entries_pending_until_delivered(db_path: Path) -> None:
    server = HubServer(db_path, TOKEN)
    await server.start()
    port = server.port
    room = await seeded(server)
    typed_at = datetime(2026, 11, 28, 3, 4, 5, tzinfo=UTC)  # the app's clock: the moment of typing
    app = make_app(server.url, "dora", room, clock=lambda: typed_at)
    restarted: HubServer | None = None
    try:
        async with running(app) as pilot:
            state = state_of(app, room)
            await settle(pilot, joined(app, room), "join")
            await server.stop()
            header = incident(app).query_one(IncidentHeader)
            await settle(pilot, lambda: app.client.state.status == "reconnecting", "reconnecting")
            await pilot.pause()
            assert "reconnecting" in str(header.query_one("#connection").render())

            await pilot.press("i")
            await pilot.press(*"typed while the hub was down")
            await pilot.press("enter")
            await pilot.pause()
            timeline = incident(app).query_one(Timeline)
            assert [c.data["text"] for c in timeline._pending] == ["typed while the hub was down"]
            assert len(app.client.outbox) == 1
            await settle(pilot, lambda: "1 queued" in str(header.query_one("#connection").render()), "count")

            restarted = HubServer(db_path, TOKEN, port=port)
            await restarted.start()
            delivered = "typed while the hub was down"
            await settle(
                pilot,
                lambda: not app.client.outbox and any(e.text == delivered for e in state().entries.values()),
                "delivery",
            )
            await settle(pilot, lambda: not timeline._pending, "the pending marker to clear")
            texts = [e.text for e in state().entries.values()]
            assert texts.count("typed while the hub was down") == 1
            assert "live" in str(header.query_one("#connection").render())
            hub_state = await restarted.hub.settled_state(room)
            assert [e.text for e in hub_state.entries.values()].count("typed while the hub was down") == 1
            typed = next(e for e in hub_state.entries.values() if e.text == delivered)
            assert typed.happened_at == "2026-11-28T03:04:05.000Z"  # when typed, not when it arrived
            assert typed.ts != typed.happened_at
            assert "queued" not in str(header.query_one("#connection").render())
    finally:
        if restarted is not None:
            await restarted.stop()


async def test_quitting_closes_the_connection_cleanly(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "erin", room)
    async with running(app) as pilot:
        await settle(pilot, lambda: app.client.connected, "connect")
        session = next(iter(hub.sync.sessions))
        await pilot.press("ctrl+q")
    await wait_for(lambda: not hub.sync.sessions, what="the session to end")
    assert session.ws.close_code == 1000


async def test_picker_lists_open_incidents_and_joins(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "fay", None)
    async with running(app) as pilot:
        await settle(
            pilot,
            lambda: bool(app.screen.query(OptionList)) and app.screen.query_one(OptionList).option_count > 0,
            "the picker to fill",
        )
        await settle(
            pilot,
            lambda: room in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt),
            "the incident row",
        )
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, IncidentScreen), "the incident to open")
        await settle(pilot, lambda: room in app.client.rooms and app.client.rooms[room].synced, "join")


async def test_a_saved_command_the_hub_refuses_is_shown_as_not_sent(hub: HubServer, tmp_path: Path) -> None:
    """Typed before a restart, refused after it: the app says so, and the next line still goes."""
    from warroom.client import Outbox

    room = await seeded(hub)
    saved = Outbox(tmp_path / "outbox.db")
    saved.add(Command(new_id(), "entry.struck", {"entry": 404}, room))
    saved.close()
    client = HubClient(hub.url, TOKEN, "gus", outbox=Outbox(tmp_path / "outbox.db"))
    app = WarroomApp(client, room, load_themes(shipped_dir()))
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await settle(
            pilot,
            lambda: any(n.title == "not sent" and "entry.struck" in n.message for n in app._notifications),
            "the notice",
        )
        assert len(client.outbox) == 0
        await pilot.press(*"still here", "enter")
        await settle(
            pilot,
            lambda: any(e.text == "still here" for e in app.client.rooms[room].state.entries.values()),
            "note",
        )
    client.outbox.close()
