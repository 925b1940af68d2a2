"""Schema versions, backups and restores of a hub's SQLite database, through the real CLI and hubs."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import msgpack
import pytest

from server.runner import HubServer
from server.store import SchemaMismatch, SQLiteStore
from server.store.sqlite import SCHEMA_VERSION
from tests.conftest import TOKEN, Cli, HubProcess, assert_log_is_whole, log_of, wait_for
from tests.test_cli import warroom
from warroom.core.events import Command, Event
from warroom.core.reducer import fold

pytestmark = pytest.mark.sqlite_only  # SQLite's schema versions, online backups and restores

V1_SCHEMA = (Path(__file__).parent / "fixtures" / "schema_v1.sql").read_text()


def old_database(path: Path) -> list[str]:
    """What a version-1 hub left: its tables, one incident with two events, no digests. Returns the ids."""
    ts = "2026-11-28T03:00:00.000Z"
    events = [
        Event(
            "INC-1",
            1,
            str(uuid.uuid4()),
            "ann",
            ts,
            "incident.declared",
            {"title": "Old", "severity": "SEV2"},
        ),
        Event("INC-1", 2, str(uuid.uuid4()), "ann", ts, "entry.added", {"text": "from v1", "kind": "note"}),
    ]
    summary = fold("INC-1", events).summary_dict()
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO rooms (room, num, epoch, created_at, head, summary) VALUES (?, 1, ?, ?, 2, ?)",
            ("INC-1", uuid.uuid4().hex, ts, msgpack.packb(summary)),
        )
        conn.executemany(
            "INSERT INTO events (room, seq, id, actor, ts, type, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e.room, e.seq, e.id, e.actor, e.ts, e.type, msgpack.packb(e.data)) for e in events],
        )
    conn.close()
    return [e.id for e in events]


def version_of(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    return str(row[0])


def serve_args(db: Path) -> list[str]:
    return ["serve", "--port", "0", "--http-port", "0", "--db", str(db), "--token", TOKEN]


async def test_a_hub_refuses_an_old_database_until_it_is_upgraded(
    tmp_path: Path, env: dict[str, str], cli: Cli
) -> None:
    db = tmp_path / "old.db"
    ids = old_database(db)

    refused = await warroom(env, *serve_args(db))
    line = refused.one_line_error()
    assert "schema version 1" in line and f"warroom db upgrade --db {db}" in line
    assert version_of(db) == "1"  # refusing touched nothing

    upgraded = await cli("db", "upgrade", "--db", str(db))
    assert upgraded.code == 0, upgraded.err
    assert f"upgraded from schema version 1 to {SCHEMA_VERSION}" in upgraded.out
    again = await cli("db", "upgrade", "--store", f"sqlite:{db}")
    assert again.code == 0 and "nothing to do" in again.out, again.err
    assert version_of(db) == str(SCHEMA_VERSION)
    with sqlite3.connect(db) as conn:
        assert "digest" in [row[1] for row in conn.execute("PRAGMA table_info(events)")]
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'checkpoints'").fetchone()
    conn.close()

    server = HubServer(db, TOKEN)
    await server.start()
    try:
        state = await server.hub.settled_state("INC-1")
        assert [e.text for e in state.entries.values()][-1] == "from v1"
        ack = await server.hub.execute(
            Command(str(uuid.uuid4()), "entry.added", {"text": "after"}, "INC-1"), "bob"
        )
        assert ack.seq == 3
        again_id = await server.hub.execute(
            Command(ids[1], "entry.added", {"text": "from v1", "kind": "note"}, "INC-1"), "ann"
        )
        assert again_id.duplicate and again_id.seq == 2  # an old event's id still guarded
    finally:
        await server.stop()
    assert_log_is_whole(db, ids)


async def test_a_hub_refuses_a_database_newer_than_it_knows(
    tmp_path: Path, env: dict[str, str], cli: Cli
) -> None:
    db = tmp_path / "new.db"
    store = SQLiteStore(db)
    await store.upgrade()  # a new database, at this version
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.close()

    line = (await warroom(env, *serve_args(db))).one_line_error()
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this warroom knows" in line
    assert "newer" in (await cli("db", "upgrade", "--db", str(db))).one_line_error()
    with pytest.raises(SchemaMismatch):
        await HubServer(db, TOKEN).start()
    assert version_of(db) == str(SCHEMA_VERSION + 1)


async def test_a_new_database_is_made_at_the_current_version(tmp_path: Path, cli: Cli) -> None:
    fresh = tmp_path / "fresh.db"
    made = await cli("db", "upgrade", "--db", str(fresh))
    assert made.code == 0 and f"made at schema version {SCHEMA_VERSION}" in made.out
    server = HubServer(tmp_path / "served.db", TOKEN)  # a hub on no file at all starts as before
    await server.start()
    await server.stop()
    assert version_of(tmp_path / "served.db") == str(SCHEMA_VERSION)


async def test_db_upgrade_refuses_what_is_not_a_warroom_database(tmp_path: Path, cli: Cli) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    assert "not a warroom database" in (await cli("db", "upgrade", "--db", str(other))).one_line_error()
    store_url = "postgresql://me:s3cret@db.example/warroom"
    line = (await cli("db", "upgrade", "--store", store_url)).one_line_error()
    assert "s3cret" not in line  # a password in a store URL is never printed


async def test_a_backup_of_a_hub_taking_writes_restores_whole(tmp_path: Path, cli: Cli) -> None:
    db, copy, restored = tmp_path / "hub.db", tmp_path / "backup.db", tmp_path / "restored" / "hub.db"
    hub = HubProcess(db)
    hub.start()
    acked_before: list[str] = []
    acked: list[str] = []
    try:
        from warroom.client import HubClient

        client = HubClient(hub.url, TOKEN, "ann")
        await client.connect()
        room = (await client.send("incident.declared", {"title": "busy", "severity": "SEV2"}))["room"]
        stop = asyncio.Event()

        async def write() -> None:
            n = 0
            while not stop.is_set():
                ack = await client.send("entry.added", {"text": f"line {n}"}, room)
                acked.append(ack["id"])
                n += 1

        writer = asyncio.create_task(write())
        await wait_for(lambda: len(acked) >= 50, what="50 acknowledged writes")
        acked_before = list(acked)
        made = await cli("backup", str(copy), "--db", str(db))
        acked_during = len(acked)
        stop.set()
        await writer
        await client.close()
        assert made.code == 0, made.err
        assert len(acked) > len(acked_before)  # the hub went on taking writes through the backup
        # A running hub's database is refused as a restore target.
        busy = await cli("restore", str(copy), "--db", str(db), "--force")
        assert "open in a running hub" in busy.one_line_error()
    finally:
        hub.stop()

    assert (await cli("restore", str(copy), "--db", str(restored))).code == 0
    backed_up = log_of(restored)
    assert_log_is_whole(restored, acked_before)
    assert len(backed_up) <= 1 + acked_during + 1  # nothing the hub had not committed when it ended
    server = HubServer(restored, TOKEN)
    await server.start()
    try:
        state = await server.hub.settled_state(room)
        assert state.seq == len(backed_up)
        ack = await server.hub.execute(Command(str(uuid.uuid4()), "entry.added", {"text": "on"}, room), "bob")
        assert ack.seq == len(backed_up) + 1
        resend = await server.hub.execute(
            Command(acked_before[-1], "entry.added", {"text": f"line {len(acked_before) - 1}"}, room), "ann"
        )
        assert resend.duplicate  # an acknowledged command sent again after the restore lands once
    finally:
        await server.stop()
    assert_log_is_whole(restored, [*acked_before])


async def test_restore_refuses_what_would_lose_data(tmp_path: Path, cli: Cli) -> None:
    db = tmp_path / "hub.db"
    server = HubServer(db, TOKEN)
    await server.start()
    await server.hub.execute(
        Command(str(uuid.uuid4()), "incident.declared", {"title": "t", "severity": "SEV3"}), "ann"
    )
    await server.stop()
    backup = tmp_path / "b.db"
    assert (await cli("backup", str(backup), "--db", str(db))).code == 0
    assert "exists" in (await cli("backup", str(backup), "--db", str(db))).one_line_error()
    assert "--force" in (await cli("restore", str(backup), "--db", str(db))).one_line_error()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert (
        "not a warroom database"
        in (await cli("restore", str(junk), "--db", str(tmp_path / "x.db"))).one_line_error()
    )
    assert "no such" in (await cli("restore", str(tmp_path / "nope.db"))).one_line_error()
    assert (
        "no such database"
        in (await cli("backup", str(tmp_path / "c.db"), "--db", str(tmp_path / "nope.db"))).one_line_error()
    )
    replaced = await cli("restore", str(backup), "--db", str(db), "--force")
    assert replaced.code == 0 and "1 events" in replaced.out
    assert len(log_of(db)) == 1
