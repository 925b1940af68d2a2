"""``warroom export`` and ``warroom import``: one incident moved between two real hubs, whole or none."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from server.store import SQLiteStore, StorageError
from tests.conftest import TOKEN, Cli, issue, wait_for
from tests.test_intake import FIRING, RESOLVED
from warroom.core.events import Command, Event
from warroom.core.protocol import new_id

pytestmark = pytest.mark.sqlite_only  # compares the SQLite files' rows directly


@pytest.fixture
async def two_hubs(tmp_path: Path) -> AsyncIterator[tuple[HubServer, HubServer]]:
    a, b = HubServer(tmp_path / "a.db", TOKEN), HubServer(tmp_path / "b.db", TOKEN)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


def on(hub: HubServer, token: str = TOKEN) -> list[str]:
    return ["--hub", hub.url, "--http", hub.http_url, "--token", token]


def rows(db: Path, room: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        found = conn.execute(
            "SELECT room, seq, id, actor, ts, type, data, digest FROM events WHERE room = ? ORDER BY seq",
            (room,),
        ).fetchall()
    conn.close()
    return found


async def busy_incident(hub: HubServer) -> tuple[str, list[str]]:
    ids = [new_id() for _ in range(5)]
    room = (
        await hub.hub.execute(
            Command(ids[0], "incident.declared", {"title": "Moving", "severity": "SEV1"}), "ann"
        )
    ).room
    await hub.hub.execute(Command(ids[1], "entry.added", {"text": "checkout 500s"}, room), "bob")
    await hub.hub.execute(Command(ids[2], "role.assigned", {"role": "comms", "name": "bob"}, room), "ann")
    await hub.hub.execute(Command(ids[3], "incident.status_changed", {"status": "identified"}, room), "ann")
    await hub.hub.execute(Command(ids[4], "entry.added", {"text": "rolled back ✓ «naïve» 回滚"}, room), "bob")
    return room, ids


async def test_an_incident_moves_between_hubs_with_its_ids_and_times(
    two_hubs: tuple[HubServer, HubServer], cli: Cli, tmp_path: Path
) -> None:
    a, b = two_hubs
    room, ids = await busy_incident(a)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=auth) as http:
        fired = await http.post(f"{a.http_url}/api/v1/alerts/alertmanager?incident={room}", json=FIRING)
        assert fired.status_code == 202
    await a.hub.writer.settled()
    exported = await cli("export", room, *on(a))
    assert exported.code == 0, exported.err
    lines = exported.out.splitlines()
    events = json.loads(lines[0])["events"]
    assert events == 5 + len(FIRING["alerts"]) and len(lines) == events + 1
    dump = tmp_path / "inc.jsonl"
    dump.write_text(exported.out)

    imported = await cli("import", str(dump), *on(b))
    assert imported.code == 0, imported.err
    assert f"imported {room}: {events} events" in imported.out
    assert rows(b.db, room) == rows(a.db, room)  # ids, actors, times, data and digests intact

    # The new hub knows where the incident's alerts live: their resolution, sent with no
    # incident named, lands in the imported room, not the inbox.
    fingerprints = set(a.alerts.located)
    assert len(fingerprints) == len(FIRING["alerts"])
    await wait_for(lambda: fingerprints <= set(b.alerts.located), what="the new hub's alert index")
    async with httpx.AsyncClient(headers=auth) as http:
        resolved = await http.post(f"{b.http_url}/api/v1/alerts/alertmanager", json=RESOLVED)
        assert resolved.status_code == 202 and resolved.json()["routed"] == {room: len(RESOLVED["alerts"])}
    listed = {i["id"]: i for i in await b.hub.incidents()}
    assert listed[room]["title"] == "Moving" and listed[room]["status"] == "identified"
    state = await b.hub.settled_state(room)
    assert state.roles["comms"].name == "bob"
    resend = await b.hub.execute(Command(ids[1], "entry.added", {"text": "checkout 500s"}, room), "bob")
    assert resend.duplicate and resend.seq == 2  # a client's resend after the move lands once
    after = await b.hub.execute(Command(new_id(), "entry.added", {"text": "on b"}, room), "bob")
    assert after.seq > events

    again = await cli("import", str(dump), *on(b))
    assert "already exists" in again.one_line_error()
    assert len(rows(b.db, room)) == after.seq


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda ls: ls[:3] + ls[4:], "promises 5 events"),
        (lambda ls: [ls[0].replace('"events":5', '"events":4'), *ls[1:3], *ls[4:]], "seq must be 3"),
        (lambda ls: [*ls[:5], "{not json"], "line 6: not JSON"),
        (lambda ls: [*ls[:4], ls[4].replace("identified", "sideways"), ls[5]], "line 5"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "seq must be 1"),
        (lambda ls: ["{}", *ls[1:]], "not a warroom export"),
    ],
)
async def test_a_damaged_export_is_refused_whole(
    two_hubs: tuple[HubServer, HubServer], damage: Any, needle: str
) -> None:
    a, b = two_hubs
    room, _ = await busy_incident(a)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=auth) as http:  # the CLI's own path is tested above
        lines = (await http.get(f"{a.http_url}/api/v1/incidents/{room}/export")).text.splitlines()
        body = ("\n".join(damage(lines)) + "\n").encode()
        refused = await http.post(f"{b.http_url}/api/v1/import", content=body)
    assert 400 <= refused.status_code < 500, refused.text
    message = refused.json()["error"]["message"]
    assert needle in message and "nothing was imported" in message, message
    assert rows(b.db, room) == [] and await b.hub.incidents() == []


async def test_an_id_already_on_the_target_is_refused(
    two_hubs: tuple[HubServer, HubServer], cli: Cli, tmp_path: Path
) -> None:
    a, b = two_hubs
    room, ids = await busy_incident(a)
    dump = tmp_path / "inc.jsonl"
    dump.write_text((await cli("export", room, *on(a))).out)
    await b.hub.execute(Command(ids[0], "incident.declared", {"title": "Moving", "severity": "SEV1"}), "ann")
    await b.hub.execute(Command(new_id(), "incident.declared", {"title": "x", "severity": "SEV1"}), "ann")
    held = {i["id"] for i in await b.hub.incidents()}
    line = (await cli("import", str(dump), *on(b))).one_line_error()
    assert "already" in line
    assert {i["id"] for i in await b.hub.incidents()} == held


async def test_export_and_import_need_an_admin(
    two_hubs: tuple[HubServer, HubServer], cli: Cli, tmp_path: Path
) -> None:
    a, b = two_hubs
    room, _ = await busy_incident(a)
    responder = await issue(a, "rita", level="responder")
    assert "admin" in (await cli("export", room, *on(a, responder))).one_line_error()
    assert "no incident 'INC-404'" in (await cli("export", "INC-404", *on(a))).one_line_error()
    dump = tmp_path / "inc.jsonl"
    dump.write_text((await cli("export", room, *on(a))).out)
    viewer = await issue(b, "vic", level="viewer")
    assert "admin" in (await cli("import", str(dump), *on(b, viewer))).one_line_error()
    async with httpx.AsyncClient(base_url=b.http_url) as http:
        anonymous = await http.post("/api/v1/import", content=dump.read_bytes())
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    assert await b.hub.incidents() == []


async def test_an_import_on_one_hub_reaches_every_hub_on_its_store(tmp_path: Path, cli: Cli) -> None:
    source = HubServer(tmp_path / "old.db", TOKEN)
    shared = tmp_path / "shared.db"
    here, there = HubServer(shared, TOKEN), HubServer(shared, TOKEN)
    for server in (source, here, there):
        await server.start()
    try:
        room, _ = await busy_incident(source)
        dump = tmp_path / "inc.jsonl"
        dump.write_text((await cli("export", room, *on(source))).out)
        assert (await cli("import", str(dump), *on(here))).code == 0
        await wait_for(
            lambda: room in {i["id"] for i in there.hub.rooms.incidents()}, what="the other hub to list it"
        )
        state = await there.hub.settled_state(room)
        assert state.seq == 5 and state.roles["comms"].name == "bob"
        after = await there.hub.execute(
            Command(new_id(), "entry.added", {"text": "on the other hub"}, room), "bob"
        )
        assert after.seq == 6
        again = await cli("import", str(dump), *on(there))
        assert "already exists" in again.one_line_error()
    finally:
        for server in (source, here, there):
            await server.stop()


class UnreadableStore(SQLiteStore):
    """The real store, whose event reads fail while ``failing`` is set: a disk going bad mid-export."""

    failing = False

    async def read(self, room: str, after: int, limit: int) -> list[Event]:
        if self.failing:
            raise StorageError("disk I/O error")
        return await super().read(room, after, limit)


async def test_an_export_cut_short_is_an_error_not_a_short_file(tmp_path: Path, cli: Cli) -> None:
    store = UnreadableStore(tmp_path / "hub.db")
    server = HubServer(tmp_path / "hub.db", TOKEN, store=store)
    await server.start()
    try:
        room, _ = await busy_incident(server)
        store.failing = True  # the header is read from the room's record; the events fail after it
        cut = await cli("export", room, *on(server))
        assert cut.code == 2 and len(cut.err.strip().splitlines()) == 1, cut.err
        assert "the export was cut short: 0 of 5 events" in cut.err, cut.err
    finally:
        store.failing = False
        await server.stop()
