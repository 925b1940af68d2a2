"""The app's replay mode through Pilot and a real hub: the panels as they were, and nothing sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.widgets import Input

from server.runner import HubServer
from tests.conftest import TOKEN, Clock
from tests.test_app import joined, make_app, running, settle
from warroom.app.replay import READ_ONLY, ReplayBar, ReplayScreen, jump
from warroom.app.screens import IncidentScreen
from warroom.app.widgets.actions_panel import ActionsPanel
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.keyfacts import KeyFacts
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.reducer import fold


async def scripted(server: HubServer, clock: Clock) -> tuple[str, dict[str, int]]:
    """Declared at 03:00, a minute an event: a finding pinned at seq 5, an alert firing at seq 7,
    an action item last."""

    async def do(type_: str, data: dict[str, Any], room: str | None = None) -> int:
        clock.now += timedelta(minutes=1)
        actor = "alertmanager" if type_ == "alert.upserted" else "maria"
        command = Command(new_id(), type_, data, room)
        done = await server.hub.execute(command, actor, internal=type_ == "alert.upserted")
        marks[type_] = done.seq
        rooms.append(done.room)
        return done.seq

    marks: dict[str, int] = {}
    rooms: list[str] = []
    await do("incident.declared", {"title": "Checkout 502s", "severity": "SEV2"})
    room = rooms[0]
    await do("entry.added", {"text": "looking at the pool"}, room)
    await do("entry.added", {"text": "deploys paused"}, room)
    finding = await do("entry.added", {"text": "the pool is exhausted", "kind": "finding"}, room)
    await do("entry.pinned", {"entry": finding}, room)
    await do("entry.added", {"text": "raising the pool size"}, room)
    await do("alert.upserted", {"fingerprint": "fp1", "alertname": "HighErrorRate"}, room)
    await do("entry.added", {"text": "errors falling"}, room)
    await do("action.added", {"text": "size the pool for peak", "owner": "maria"}, room)
    return room, marks


def pinned_shown(screen: ReplayScreen) -> bool:
    facts = screen.query_one(KeyFacts)
    return facts.display and "pool is exhausted" in str(facts.render())


def actions_shown(screen: ReplayScreen) -> bool:
    panel = screen.query_one(ActionsPanel)
    return panel.display and "size the pool for peak" in str(panel.get_option_at_index(0).prompt)


def alert_rows(screen: ReplayScreen) -> int:
    return len(screen.query_one(AlertFeed).root.children)


async def test_replay_steps_back_to_what_everyone_saw_and_sends_nothing(db_path: Path) -> None:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        room, marks = await scripted(server, clock)
        app = make_app(server.url, "dev", room)
        async with running(app) as pilot:
            await settle(pilot, joined(app, room), "joined")
            head = app.client.rooms[room].state.seq  # dev's own join is on the record too
            live = app.client.rooms[room].state
            await pilot.press("f4")
            await settle(pilot, lambda: isinstance(app.screen, ReplayScreen), "replay open")
            replay = app.screen
            assert isinstance(replay, ReplayScreen)
            await settle(pilot, lambda: replay.shown == head, "the present")
            assert replay.state == live  # the log folded afresh is what the live room holds
            assert pinned_shown(replay) and alert_rows(replay) == 1 and actions_shown(replay)
            bar = str(replay.query_one(ReplayBar).render())
            assert f"(seq {head} of {head})" in bar and "REPLAY 03:" in bar

            # Back before the alert fired: no alert; the finding still pinned.
            for _ in range(head - (marks["alert.upserted"] - 1)):
                await pilot.press("left")
            await settle(pilot, lambda: replay.shown == marks["alert.upserted"] - 1, "before the alert")
            assert alert_rows(replay) == 0 and pinned_shown(replay)
            assert not replay.query_one(ActionsPanel).display  # the action item came later
            # Back before the pin: the finding is on the timeline, not among the key facts.
            await pilot.press("left", "left")
            await settle(pilot, lambda: replay.shown == marks["entry.pinned"] - 1, "before the pin")
            assert not pinned_shown(replay)
            assert replay.state is not None and not any(e.pinned for e in replay.state.entries.values())
            bar = str(replay.query_one(ReplayBar).render())
            assert f"REPLAY 03:0{marks['entry.pinned'] - 1}:00 UTC" in bar
            assert f"(seq {marks['entry.pinned'] - 1} of {head})" in bar
            # Each point equals a fresh fold of the log cut there.
            log = await server.hub.store.read(room, 0, 1000)
            assert replay.state == fold(room, log[: replay.shown])
            await pilot.press("right")  # forward again, one event
            await settle(pilot, lambda: replay.shown == marks["entry.pinned"], "the pin")
            assert pinned_shown(replay) and replay.state == fold(room, log[: replay.shown])
            await pilot.press("home")
            await settle(pilot, lambda: replay.shown == 1, "the declaration")
            assert replay.state is not None and replay.state.entries.keys() == {1}
            await pilot.press("shift+right")
            await settle(pilot, lambda: replay.shown == min(head, 1 + jump(head)), "a jump")
            # "What did everyone see at 03:06:30?": pinned at 03:05, the alert not yet (03:07).
            alerted = marks["alert.upserted"]
            await pilot.press("g", *"03:06:30", "enter")
            await settle(pilot, lambda: replay.shown == alerted - 1, "a time")
            assert pinned_shown(replay) and alert_rows(replay) == 0
            await pilot.press("g", *"#3", "enter")
            await settle(pilot, lambda: replay.shown == 3, "an event")
            assert replay.state == fold(room, log[:3])

            # Nothing can be sent: the composer is disabled and says why; typed keys go nowhere.
            field = replay.query_one("#composer-input", Input)
            assert field.disabled and field.placeholder == READ_ONLY
            await pilot.press("i", "h", "i", "enter", "ctrl+r", "ctrl+t", "delete")
            await pilot.pause()
            assert field.value == "" and len(app.client.outbox) == 0
            assert (await server.hub.settled_state(room)).seq == head

            await pilot.press("escape")
            await settle(pilot, lambda: isinstance(app.screen, IncidentScreen), "back to the live room")
    finally:
        await server.stop()
