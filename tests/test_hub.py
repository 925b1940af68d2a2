"""The sync channel end to end: real hub, real websockets, real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from server import snapshotting
from server.runner import HubServer
from server.session import REPLAY_LIMIT
from tests.conftest import TOKEN, ClientFactory, declare, log_of, record, wait_for
from warroom.core.events import Command
from warroom.core.protocol import new_id

pytestmark = pytest.mark.stores  # the store-backed tests run on SQLite and on PostgreSQL


def stored_events(store_url: str, room: str) -> list[tuple[int, str]]:
    return [(seq, id_) for r, seq, id_, _ in log_of(store_url) if r == room]


async def test_an_entry_typed_in_one_terminal_reaches_the_other(
    hub: HubServer, make_client: ClientFactory
) -> None:
    alice = await make_client(hub.url, "alice")
    bob = await make_client(hub.url, "bob")
    room = await declare(alice)
    a_view, b_view = await alice.join(room), await bob.join(room)
    ack = await alice.send("entry.added", {"text": "rolled back deploy 4512", "kind": "action"}, room)
    await wait_for(lambda: b_view.state.seq == ack["seq"], what="bob to see alice's entry")
    entry = b_view.state.entries[ack["seq"]]
    assert (entry.text, entry.kind, entry.author) == ("rolled back deploy 4512", "action", "alice")
    assert a_view.state == b_view.state == await hub.hub.settled_state(room)


async def test_an_ack_means_the_event_is_already_in_the_log(
    hub: HubServer, make_client: ClientFactory, store_url: str
) -> None:
    client = await make_client(hub.url)
    room = await declare(client)
    acks = [await client.send("entry.added", {"text": f"step {n}"}, room) for n in range(5)]
    on_disk = stored_events(store_url, room)
    assert [seq for seq, _ in on_disk] == [1, 2, 3, 4, 5, 6]
    assert {a["id"] for a in acks} <= {id_ for _, id_ in on_disk}


async def test_every_event_records_who_and_when(hub: HubServer, make_client: ClientFactory) -> None:
    client = await make_client(hub.url, "carol")
    room = await declare(client)
    view = await client.join(room)
    await client.send("role.assigned", {"role": "scribe", "name": "carol"}, room)
    for event in await hub.hub.store.read(room, 0, 100):
        assert event.actor == "carol"
        assert event.ts.endswith("Z") and event.room == room
    await wait_for(
        lambda: "scribe" in view.state.roles and "carol" in view.state.responders, what="join and role"
    )
    assert view.state.roles["scribe"].name == "carol" and view.state.roles["commander"].name == "carol"
    assert "carol" in view.state.responders and view.state.milestones["acknowledged"]


async def test_resume_sends_exactly_the_missed_events_then_live(
    hub: HubServer, make_client: ClientFactory, raw_client
) -> None:
    writer = await make_client(hub.url)
    room = await declare(writer)
    for n in range(9):
        await writer.send("entry.added", {"text": f"line {n}"}, room)
    raw = await raw_client(hub.url)
    await raw.hello()
    epoch = (await record(hub, room)).epoch
    await raw.send({"t": "join", "rid": 1, "room": room, "epoch": epoch, "after": 4})
    synced, frames = await raw.recv_until("synced")
    joined = frames[0]
    assert (joined["t"], joined["rid"], joined["mode"], joined["head"]) == ("joined", 1, "replay", 10)
    seen = [e for f in frames if f["t"] == "events" for e in f["events"]]
    # The catch-up streams the log as far as it is when read: its own join (seq 11) is in it when
    # the join was written first (a loaded machine), else it comes live right after synced.
    assert [e["seq"] for e in seen] in ([5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 9, 10, 11])
    assert synced["seq"] == seen[-1]["seq"]
    live = await writer.send("entry.added", {"text": "live one"}, room)
    while seen[-1]["seq"] < live["seq"]:
        frame, _ = await raw.recv_until("events")
        seen += frame["events"]
    # its own first join is on the record (seq 11), then the live entry: no gap, nothing twice
    assert [(e["seq"], e["type"]) for e in seen[6:]] == [(11, "responder.joined"), (12, "entry.added")]


async def test_a_wrong_epoch_gets_a_fresh_start(
    hub: HubServer, make_client: ClientFactory, raw_client
) -> None:
    writer = await make_client(hub.url)
    room = await declare(writer)
    await writer.send("entry.added", {"text": "one"}, room)
    raw = await raw_client(hub.url)
    await raw.hello()
    await raw.send({"t": "join", "rid": 2, "room": room, "epoch": "an-old-epoch", "after": 40})
    synced, frames = await raw.recv_until("synced")
    assert frames[0]["mode"] == "snapshot"
    snapshot = frames[1]
    assert snapshot["t"] == "snapshot" and snapshot["seq"] == 0 and snapshot["state"] is None
    # Everything from the start, with no gap: the declaration, the entry, and perhaps the
    # record of the writer's join, which the hub may write before or after the entry.
    seqs = [e["seq"] for f in frames if f["t"] == "events" for e in f["events"]]
    assert seqs == list(range(1, synced["seq"] + 1)) and len(seqs) >= 2


async def test_a_client_far_behind_gets_a_snapshot_and_the_tail(
    bulk_hub: HubServer, make_client: ClientFactory
) -> None:
    hub = bulk_hub
    writer = await make_client(hub.url)
    room = await declare(writer)
    futures = [writer.submit("entry.added", {"text": f"line {n}"}, room) for n in range(REPLAY_LIMIT + 200)]
    for future in futures:
        await future
    # The snapshot is written once the writer is idle, just after the last ack.
    await wait_for(lambda: hub.hub._rooms[room].snapshot_seq > 0, what="the room's snapshot")
    assert (await hub.hub.store.snapshot(room)) is not None
    reader = await make_client(hub.url, "late")
    view = await reader.join(room)
    assert len(view.state.entries) >= REPLAY_LIMIT + 201
    await wait_for(lambda: "late" in view.state.responders, what="the join on the record")
    assert view.state == await hub.hub.settled_state(room)


async def test_a_storms_tail_is_snapshotted_once_the_room_is_quiet(
    bulk_hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of alerts snapshot far apart; the tail left when the storm stops is not replayed forever."""
    monkeypatch.setattr(snapshotting, "QUIET_AFTER", 0.2)
    monkeypatch.setattr(snapshotting, "QUIET_BEHIND", 1)  # whatever tail the storm leaves
    hub = bulk_hub
    room = "INC-STORM"
    await hub.hub.execute(
        Command(new_id(), "incident.declared", {"title": "storm", "severity": "SEV2"}, room),
        "am",
        internal=True,
    )
    for n in range(4000):
        data = {"fingerprint": f"fp{n}", "alertname": "NodeDown", "labels": {"instance": f"db-{n}"}}
        hub.hub.submit(Command(new_id(), "alert.upserted", data, room), "am", internal=True)
    last = hub.hub.submit(
        Command(new_id(), "alert.upserted", {"fingerprint": "fp0", "alertname": "NodeDown"}, room),
        "am",
        internal=True,
    )
    seq = (await last).seq
    stored = hub.hub._rooms[room]
    await wait_for(lambda: stored.snapshot_seq == seq, what="a snapshot of the whole storm once it is quiet")
    snap = await hub.hub.store.snapshot(room)
    assert snap is not None and snap[0] == seq


async def test_presence_is_shared_but_never_logged(
    hub: HubServer, make_client: ClientFactory, store_url: str
) -> None:
    alice = await make_client(hub.url, "alice")
    room = await declare(alice)
    view = await alice.join(room)
    bob = await make_client(hub.url, "bob")
    await bob.join(room)
    await wait_for(lambda: sorted(m["name"] for m in view.presence) == ["alice", "bob"], what="presence")
    assert all(m["since"].endswith("Z") for m in view.presence)
    await wait_for(lambda: view.state.seq == 3, what="each first join on the record")
    await bob.close()
    await wait_for(lambda: [m["name"] for m in view.presence] == ["alice"], what="bob to leave")
    bob_again = await make_client(hub.url, "bob")
    await bob_again.join(room)
    await wait_for(lambda: len(view.presence) == 2, what="bob back")
    assert [seq for seq, _ in stored_events(store_url, room)] == [1, 2, 3]  # comings and goings are not


async def test_a_resent_command_is_acknowledged_once(hub: HubServer, raw_client, store_url: str) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    declared = await raw.command("incident.declared", {"title": "Login errors", "severity": "SEV3"})
    room = declared["room"]
    command_id = new_id()
    first = await raw.command("entry.added", {"text": "retry me"}, room, command_id)
    again = await raw.command("entry.added", {"text": "retry me"}, room, command_id)
    assert first["duplicate"] is False and again["duplicate"] is True
    assert (first["seq"], first["room"]) == (again["seq"], again["room"])
    assert len(stored_events(store_url, room)) == 2


async def test_the_same_id_sent_twice_at_once_lands_once(hub: HubServer, raw_client, store_url: str) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV4"}))["room"]
    command_id = new_id()
    frame = {"t": "cmd", "id": command_id, "room": room, "type": "entry.added", "data": {"text": "x"}}
    await raw.send({**frame, "rid": "a"})
    await raw.send({**frame, "rid": "b"})
    acks: list[dict[str, Any]] = []
    while len(acks) < 2:
        reply = await raw.recv()
        if reply["t"] == "ack":
            acks.append(reply)
    assert sorted(a["duplicate"] for a in acks) == [False, True]
    assert {a["seq"] for a in acks} == {2}
    assert len(stored_events(store_url, room)) == 2


async def test_incidents_are_listed(hub: HubServer, make_client: ClientFactory) -> None:
    client = await make_client(hub.url)
    first = await declare(client, "Payments slow", "SEV3")
    second = await declare(client, "DNS outage", "SEV1")
    listed = {item["id"]: item for item in await client.incidents()}
    assert listed[first]["title"] == "Payments slow" and listed[second]["severity"] == "SEV1"
    assert (first, second) == ("INC-1", "INC-2")


async def test_healthz_on_the_sync_port_needs_no_token(hub: HubServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{hub.port}/healthz")
    assert response.status_code == 200


async def test_shutdown_acks_what_it_took_then_closes_with_1001(
    db_path: Path, store_url: str, raw_client
) -> None:
    server = HubServer(db_path, TOKEN, store=store_url)
    await server.start()
    raw = await raw_client(server.url)
    await raw.hello()
    room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV4"}))["room"]
    ids = [new_id() for _ in range(20)]
    for command_id in ids:
        await raw.send(
            {"t": "cmd", "id": command_id, "room": room, "type": "entry.added", "data": {"text": "x"}}
        )
    await wait_for(lambda: server.hub.stats["events"] >= 2, what="the first commands")
    stopping = asyncio.create_task(server.stop())
    acked, refused = set(), set()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frame = await raw.recv()
            if frame["t"] == "ack":
                acked.add(frame["id"])
            elif frame["t"] == "error":
                assert frame["code"] == "shutting_down"  # transient: the client resends later
                refused.add(frame["id"])
    await stopping
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    stored = {id_ for _, id_ in stored_events(store_url, room)}
    assert acked | refused == set(ids)  # every command got an answer before the close
    assert acked <= stored  # nothing was acknowledged that the log does not hold
    assert not refused & stored  # and nothing refused was stored


async def test_a_failing_listener_does_not_stop_the_writer(
    hub: HubServer, make_client: ClientFactory, store_url: str
) -> None:
    told: list[int] = []

    def broken(room: Any, events: list[Any]) -> None:
        told.append(len(events))
        raise RuntimeError("a listener's bug")

    hub.hub.listeners.insert(0, broken)
    client = await make_client(hub.url)
    room = await declare(client)
    acks = [await client.send("entry.added", {"text": f"after the bug {n}"}, room) for n in range(3)]
    assert [a["seq"] for a in acks] == [2, 3, 4] and len(told) == 4
    assert [seq for seq, _ in stored_events(store_url, room)] == [1, 2, 3, 4]
