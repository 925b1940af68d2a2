"""Restarts and crashes: nothing acknowledged is lost, nothing is applied twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from server.rooms import IDLE_ROOM
from server.runner import HubServer
from tests.conftest import (
    TOKEN,
    ClientFactory,
    Clock,
    HubProcess,
    KilledMidStream,
    assert_log_is_whole,
    caught_up,
    declare,
    log_of,
    wait_for,
)
from warroom.client import HubClient
from warroom.core.protocol import new_id


async def test_a_command_acknowledged_before_a_restart_is_a_duplicate_after_it(
    db_path: Path, raw_client
) -> None:
    first = HubServer(db_path, TOKEN)
    await first.start()
    raw = await raw_client(first.url)
    await raw.hello()
    room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV2"}))["room"]
    command_id = new_id()
    ack = await raw.command("entry.added", {"text": "said once"}, room, command_id)
    await raw.close()
    await first.stop()

    second = HubServer(db_path, TOKEN)
    await second.start()
    try:
        raw = await raw_client(second.url)
        await raw.hello()
        again = await raw.command("entry.added", {"text": "said once"}, room, command_id)
        assert again["duplicate"] is True and again["seq"] == ack["seq"] == 2
        fresh = await raw.command("entry.added", {"text": "said after"}, room)
        assert fresh["seq"] == 3  # the sequence carries on where the log left off
        assert (await raw.command("incident.declared", {"title": "u", "severity": "SEV4"}))["room"] == "INC-2"
    finally:
        await second.stop()
    assert [row[1] for row in log_of(db_path) if row[0] == room] == [1, 2, 3]
    assert_log_is_whole(db_path)


async def test_a_client_resumes_after_a_graceful_restart(db_path: Path, make_client: ClientFactory) -> None:
    first = HubServer(db_path, TOKEN)
    await first.start()
    port = first.port
    client = await make_client(first.url, "resumer", connect_now=False)
    runner = asyncio.create_task(client.run())
    await client.wait_connected(10)
    room = await declare(client)
    view = await client.join(room)
    await client.send("entry.added", {"text": "before"}, room)
    await first.stop()
    await wait_for(lambda: not client.connected, what="the client to notice")
    assert client.state.status in ("reconnecting", "connecting", "offline")

    queued = client.submit("entry.added", {"text": "typed while the hub was down"}, room)
    assert len(client.outbox) == 1

    second = HubServer(db_path, TOKEN, port=port)
    await second.start()
    try:
        ack = await asyncio.wait_for(queued, 15)
        assert ack["seq"] == 4 and len(client.outbox) == 0  # declared, joined, before, this
        await wait_for(lambda: view.state.seq == 4, what="resume")
        assert view.state == await second.hub.settled_state(room)
        assert_log_is_whole(db_path, [ack["id"]])
    finally:
        await client.close()
        runner.cancel()
        await second.stop()


async def test_sigkill_while_clients_write_loses_nothing_acknowledged(
    db_path: Path, make_client: ClientFactory
) -> None:
    hub = HubProcess(db_path)
    hub.start()
    try:
        clients = [await make_client(hub.url, f"writer{n}", connect_now=False) for n in range(3)]
        runners = [asyncio.create_task(c.run()) for c in clients]
        for client in clients:
            await client.wait_connected(10)
        room = await declare(clients[0])
        views = [await c.join(room) for c in clients]

        stream = KilledMidStream(hub, clients, room, kill_at=30)
        stream.write(range(300))
        before_crash = await stream.killed()
        stream.write(range(300, 320))  # typed while the hub is down

        hub.start()  # same database, same port
        await stream.all_acked()
        rows = stream.assert_logged_once(db_path, before_crash)
        head = len(rows)
        for view in views:
            await wait_for(caught_up(view, head), timeout=15, what="clients to resume")
        texts = sorted(e.text for e in views[0].state.entries.values() if e.kind == "note")
        assert texts == sorted(stream.futures)
        assert views[0].state == views[1].state == views[2].state
        for client in clients:
            await client.close()
        for runner in runners:
            runner.cancel()
    finally:
        hub.stop()


async def test_sigterm_drains_and_exits_cleanly(db_path: Path, make_client: ClientFactory) -> None:
    hub = HubProcess(db_path)
    hub.start()
    try:
        client = await make_client(hub.url)
        room = await declare(client)
        await client.send("entry.added", {"text": "before the shutdown"}, room)
        assert await asyncio.to_thread(hub.terminate) == 0  # the loop keeps answering the close
        assert [row[1] for row in log_of(db_path)] == [1, 2]
    finally:
        hub.stop()


async def test_idle_rooms_are_unloaded_and_come_back_whole(db_path: Path, make_client: ClientFactory) -> None:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        client = await make_client(server.url, "ann")
        quiet, busy, offered = await declare(client), await declare(client), await declare(client)
        for n in range(3):
            await client.send("entry.added", {"text": f"line {n}"}, quiet)
        await client.send("role.assigned", {"role": "scribe", "name": "ann"}, offered)
        await client.send("role.offered", {"role": "scribe", "to": "bob"}, offered)
        before = (await server.hub.settled_state(quiet)).to_dict()
        view = await client.join(busy)  # someone is in this one
        await wait_for(caught_up(view, 2))
        clock.now += timedelta(seconds=IDLE_ROOM - 1)
        assert await server.hub.unload_idle() == []
        clock.now += timedelta(seconds=2)
        assert await server.hub.unload_idle() == [quiet]  # busy has a member; offered has an offer
        assert set(server.hub._rooms) == {busy, offered}
        ack = await client.send("entry.added", {"text": "back again"}, quiet)
        assert ack["seq"] == before["seq"] + 1  # loaded from its snapshot, the sequence carries on
        after = (await server.hub.settled_state(quiet)).to_dict()
        assert after["entries"][:-1] == before["entries"] and after["entries"][-1]["text"] == "back again"
    finally:
        await server.stop()
    assert_log_is_whole(db_path)


async def test_an_offer_made_before_a_restart_still_expires(db_path: Path) -> None:
    clock = Clock()
    first = HubServer(db_path, TOKEN, clock=clock)
    await first.start()
    client = HubClient(first.url, TOKEN, "ann")
    await client.connect()
    room = await declare(client)
    await client.send("role.assigned", {"role": "comms", "name": "ann"}, room)
    await client.send("role.offered", {"role": "comms", "to": "bob"}, room)
    await client.close()
    await first.stop()

    second = HubServer(db_path, TOKEN, clock=clock)
    await second.start()  # nobody has touched the room since the restart
    try:
        clock.now += timedelta(seconds=second.hub.policy.offer_expires_after)
        second.hub.sweep()
        await wait_for(lambda: not second.hub._rooms[room].state.offers, what="the offer to expire")
        state = await second.hub.settled_state(room)
        assert state.roles["comms"].name == "ann" and state.summary_dict()["open_offers"] == 0
    finally:
        await second.stop()
    assert_log_is_whole(db_path)
