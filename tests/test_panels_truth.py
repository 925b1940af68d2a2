"""Every panel tells the truth: an app that watched a room change shows what a late joiner shows.

Random sequences of commands go to a real hub while app A is open on the room;
then app B joins. A folded every change live (the reducer changes entries,
items, alerts and roles in place), B got the room whole. Once both have the
hub's state, each panel of A must draw the same text as B's.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from textual.widgets import Label

from server.runner import HubServer
from tests.conftest import TOKEN, wait_for
from warroom.app.app import WarroomApp
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.keyfacts import KeyFacts
from warroom.app.widgets.panels import BroadcastBanner, ChecklistPanel, IncidentHeader, RolesPanel
from warroom.app.widgets.timeline import Timeline
from warroom.client import HubClient
from warroom.client.hub_client import Backoff
from warroom.core.errors import WarroomError
from warroom.core.events import ROLES, SEVERITIES, STATUSES, Command
from warroom.core.protocol import new_id

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)  # both apps' clock: every responder idle, every span the same

TEXTS = ["rolled back", "db slow\nreplica lag\nthird", "[ @click=app.quit]x[/]", "long " * 30, "ok"]
NAMES = ["ann", "bo", "[b]cy[/]"]
index = st.integers(0, 5)
Step = tuple[str, tuple[Any, ...]]
step: st.SearchStrategy[Step] = st.one_of(
    st.tuples(st.just("entry"), st.tuples(st.sampled_from(TEXTS))),
    st.tuples(st.just("edit"), st.tuples(index, st.sampled_from(TEXTS))),
    st.tuples(st.just("strike"), st.tuples(index)),
    st.tuples(st.just("pin"), st.tuples(index, st.booleans())),
    st.tuples(st.just("item"), st.tuples(st.sampled_from(TEXTS))),
    st.tuples(st.just("check"), st.tuples(index, st.booleans())),
    st.tuples(st.just("claim"), st.tuples(st.sampled_from(ROLES), st.sampled_from(NAMES))),
    st.tuples(st.just("release"), st.tuples(st.sampled_from(ROLES))),
    st.tuples(st.just("offer"), st.tuples(st.sampled_from(ROLES[1:]), st.sampled_from(NAMES))),
    st.tuples(st.just("severity"), st.tuples(st.sampled_from(SEVERITIES))),
    st.tuples(st.just("status"), st.tuples(st.sampled_from(STATUSES))),
    st.tuples(st.just("broadcast"), st.tuples(st.sampled_from(TEXTS))),
    st.tuples(
        st.just("alert"),
        st.tuples(st.sampled_from(["a1", "b2", "c3"]), st.sampled_from(["firing", "resolved"])),
    ),
    st.tuples(st.just("ack"), st.tuples(st.sampled_from(["a1", "b2", "c3"]))),
)


def to_command(
    kind: str, args: tuple[Any, ...], entries: list[int], items: list[int]
) -> tuple[str, dict[str, Any]] | None:
    """The command a step stands for; references pick among what exists (None if nothing does)."""
    if kind in ("edit", "strike", "pin"):
        if not entries:
            return None
        entry = entries[args[0] % len(entries)]
        if kind == "edit":
            return "entry.edited", {"entry": entry, "text": args[1]}
        if kind == "strike":
            return "entry.struck", {"entry": entry}
        return f"entry.{'pinned' if args[1] else 'unpinned'}", {"entry": entry}
    if kind == "check":
        return (
            ("checklist.item_checked", {"item": items[args[0] % len(items)], "checked": args[1]})
            if items
            else None
        )
    simple: dict[str, tuple[str, list[str]]] = {
        "entry": ("entry.added", ["text"]),
        "item": ("checklist.item_added", ["text"]),
        "claim": ("role.assigned", ["role", "name"]),
        "release": ("role.released", ["role"]),
        "offer": ("role.offered", ["role", "to"]),
        "severity": ("incident.severity_changed", ["severity"]),
        "status": ("incident.status_changed", ["status"]),
        "broadcast": ("status.broadcast", ["message"]),
        "ack": ("alert.acknowledged", ["fingerprint"]),
    }
    type_, names = simple[kind]
    return type_, dict(zip(names, args, strict=True))


async def play(server: HubServer, http: httpx.AsyncClient, room: str, plan: list[Step]) -> None:
    """Each step as a command to the hub; what the hub refuses (no such entry, no change) is skipped."""
    for kind, args in plan:
        if kind == "alert":
            alert = {
                "name": f"Alert{args[0]}",
                "fingerprint": args[0],
                "status": args[1],
                "summary": TEXTS[2],
            }
            answer = await http.post(f"/api/v1/alerts?incident={room}", json={"alerts": [alert]})
            assert answer.status_code == 202, answer.text
            continue
        state = await server.hub.settled_state(room)
        entries = [e.id for e in state.entries.values() if e.kind != "system"]
        command = to_command(kind, args, entries, list(state.checklist))
        if command is not None:
            with contextlib.suppress(WarroomError):  # refused: no change, or not allowed now
                await server.hub.execute(Command(new_id(), *command, room), "maria")


def drawn(app: WarroomApp) -> dict[str, Any]:
    """What each panel draws, as text."""
    screen = app.screen
    assert isinstance(screen, IncidentScreen)
    header = screen.query_one(IncidentHeader)
    checklist = screen.query_one(ChecklistPanel)
    alerts = screen.query_one(AlertFeed)
    timeline = screen.query_one(Timeline)
    facts = screen.query_one(KeyFacts)
    width = timeline.size.width
    return {
        "header": [str(label.render()) for label in header.query(Label) if label.id != "connection"],
        "banner": [str(label.render()) for label in screen.query_one(BroadcastBanner).query(Label)],
        "roles": str(screen.query_one(RolesPanel).render()),
        "runbook": (checklist.border_title, [str(o.prompt) for o in checklist.options]),
        "alerts": (alerts.border_title, [str(node.label) for node in _nodes(alerts.root)]),
        "timeline": [timeline._entry_strip(timeline._entries[i], width, False).text for i in timeline._shown],
        "facts": (facts.display, facts.border_title, str(facts.render())),
    }


def _nodes(node: Any) -> list[Any]:
    return [child for top in node.children for child in (top, *_nodes(top))]


async def scenario(db: Path, plan: list[Step]) -> None:
    server = HubServer(db, TOKEN, clock=lambda: T0)
    await server.start()
    themes = load_themes(shipped_dir())
    apps = [
        WarroomApp(
            HubClient(server.url, TOKEN, name, backoff=Backoff(base=0.05, cap=0.3)),
            "INC-1",
            themes,
            clock=lambda: LATER,
        )
        for name in ("alice", "bob")
    ]
    try:
        room = (
            await server.hub.execute(
                Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV2"}), "maria"
            )
        ).room
        async with (
            apps[0].run_test(size=(120, 40)) as a,
            httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        ):
            await wait_for(
                lambda: room in apps[0].client.rooms and apps[0].client.rooms[room].synced, what="A joined"
            )
            await play(server, http, room, plan)
            async with apps[1].run_test(size=(120, 40)) as b:
                await wait_for(
                    lambda: all(room in app.client.rooms and app.client.rooms[room].synced for app in apps),
                    what="both synced",
                )
                await wait_for(
                    lambda: all("bob" in app.client.rooms[room].state.responders for app in apps),
                    what="B on record",
                )
                seq = (await server.hub.settled_state(room)).seq
                await wait_for(
                    lambda: all(app.client.rooms[room].state.seq == seq for app in apps),
                    what="both at the head",
                )
                await wait_for(
                    lambda: all(len(app.client.rooms[room].presence) == 2 for app in apps), what="presence"
                )
                await a.pause()
                await b.pause()
                await a.pause()
                assert drawn(apps[0]) == drawn(apps[1])
    finally:
        await server.stop()


# The changes the reducer makes in place to what a panel already shows, always tried.
@example([("item", ("ok",)), ("check", (0, True)), ("item", ("rolled back",)), ("check", (1, True))])
@example([("entry", ("ok",)), ("pin", (0, True)), ("edit", (0, "rolled back")), ("strike", (0,))])
@example([("alert", ("a1", "firing")), ("ack", ("a1",)), ("alert", ("a1", "resolved"))])
@example(
    [
        ("offer", ("tech", "bo")),
        ("claim", ("comms", "ann")),
        ("broadcast", ("ok",)),
        ("status", ("identified",)),
    ]
)
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(step, min_size=1, max_size=8))
def test_a_watching_app_draws_what_a_late_joiner_draws(plan: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp) / "hub.db", plan))
