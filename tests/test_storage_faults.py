"""When the disk fails, the hub refuses; it never acknowledges what it could not store.

A fault-injecting wrapper around the real SQLite store fails appends the way a
full disk or a locked database does (the real sqlite3 error, raised as the
store raises it), then heals.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from server.store import SQLiteStore, StorageError
from tests.conftest import TOKEN, ClientFactory, assert_log_is_whole, log_of, wait_for


class FailingStore(SQLiteStore):
    """The real store, whose appends fail while ``failing`` is set."""

    failing: str | None = None
    refused = 0

    async def append(self, events: Any, new_rooms: Any, summaries: Any, heads: Any) -> None:
        if self.failing is not None:
            self.refused += 1
            raise StorageError(str(sqlite3.OperationalError(self.failing)))
        await super().append(events, new_rooms, summaries, heads)

    async def lease(self, name: str, holder: str, ttl: float) -> bool:  # a write as well
        if self.failing is not None:
            raise StorageError(str(sqlite3.OperationalError(self.failing)))
        return await super().lease(name, holder, ttl)


@pytest.fixture
async def faulty(db_path: Path) -> Any:
    store = FailingStore(db_path)
    server = HubServer(db_path, TOKEN, store=store)
    await server.start()
    yield server, store
    await server.stop()


@pytest.mark.parametrize(
    "fault", ["database or disk is full", "database is locked", "attempt to write a readonly database"]
)
async def test_a_failing_disk_refuses_then_recovers(
    faulty: Any, make_client: ClientFactory, raw_client: Any, db_path: Path, fault: str
) -> None:
    server, store = faulty
    writer = await make_client(server.url, "ann")
    room = (await writer.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    view = await writer.join(room)
    await writer.send("entry.added", {"text": "before the fault"}, room)
    stored_before = len(log_of(db_path))

    store.failing = fault
    raw = await raw_client(server.url)  # a bare protocol client sees the refusal itself
    await raw.hello("bo")
    refused = await raw.command("entry.added", {"text": "never acknowledged"}, room)
    assert (refused["t"], refused["code"]) == ("error", "storage_unavailable") and fault in refused["message"]
    queued = writer.submit("entry.added", {"text": "typed during the fault"}, room)  # the outbox keeps it
    await wait_for(lambda: store.refused >= 2, what="the retry to be refused too")
    assert not queued.done() and len(writer.outbox) == 1
    assert len(log_of(db_path)) == stored_before  # nothing half-written
    assert [e.text for e in view.state.entries.values()].count("never acknowledged") == 0
    # Said everywhere: the load balancer's health check, and the header of every terminal.
    await wait_for(lambda: writer.state.log_error is not None, what="the hub to tell its clients")
    assert writer.state.describe().startswith("live, but the hub cannot save")
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{server.http_url}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "log_unavailable"
        assert (await http.get(f"{server.url.replace('ws', 'http')}/healthz")).status_code == 503
        reads = await http.get(f"{server.http_url}/status.json")  # what it holds is still served
        assert reads.status_code == 200

    store.failing = None  # the disk has room again
    await wait_for(lambda: writer.state.log_error is None, what="the hub to find the log back by itself")
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.http_url}/healthz")).status_code == 200
    ack = await queued  # the outbox's retry lands, once
    assert ack["duplicate"] is False
    state = await server.hub.settled_state(room)
    texts = [e.text for e in state.entries.values()]
    assert texts.count("typed during the fault") == 1 and "never acknowledged" not in texts
    assert_log_is_whole(db_path, [ack["id"]])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    await wait_for(lambda: view.state.seq == state.seq, what="the room to carry on")


class UnreadableStore(FailingStore):
    """The real store, whose appends and reads of the log both fail while ``failing`` is set."""

    async def read(self, room: str, after: int, limit: int) -> Any:
        if self.failing is not None:
            raise StorageError(str(sqlite3.OperationalError(self.failing)))
        return await super().read(room, after, limit)


async def test_a_log_that_cannot_be_read_back_unloads_the_room_and_the_writer_goes_on(
    db_path: Path, make_client: ClientFactory, raw_client: Any
) -> None:
    """After a refused write the hub reads the log back; if that fails too, nothing hangs or gaps."""
    store = UnreadableStore(db_path)
    server = HubServer(db_path, TOKEN, store=store)
    await server.start()
    try:
        watcher = await raw_client(server.url)
        await watcher.hello("ann")
        room = (await watcher.command("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
        await watcher.send({"t": "join", "rid": "j", "room": room, "after": 0})
        await watcher.recv_until("synced")

        store.failing = "disk I/O error"
        raw = await raw_client(server.url)
        await raw.hello("bo")
        refused = await raw.command("entry.added", {"text": "never acknowledged"}, room)
        assert (refused["t"], refused["code"]) == ("error", "storage_unavailable")  # answered, not hung
        # The room's state may be ahead of its log: it is let go, and its members resume afresh.
        await asyncio.wait_for(watcher.ws.wait_closed(), 5)
        assert watcher.ws.close_code == 1001

        store.failing = None
        client = await make_client(server.url, "ann")
        view = await client.join(room)
        ack = await client.send("entry.added", {"text": "after the fault"}, room)  # the writer still runs
        await wait_for(lambda: view.state.seq == ack["seq"], what="the entry to reach the room")
        texts = [e.text for e in (await server.hub.settled_state(room)).entries.values()]
        assert "never acknowledged" not in texts and texts.count("after the fault") == 1
    finally:
        await server.stop()  # drains: a dead writer would hang here
    assert_log_is_whole(db_path, [ack["id"]])
