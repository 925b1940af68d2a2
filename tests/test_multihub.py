"""Several hubs on one store: one history per incident, every hub's members told, work done once.

Two and three real hubs share one SQLite file (the engine-neutral path every
store takes: heads checked at commit, the log followed by revision), with
commands spread across them at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from server.intake import ONCALL
from server.runner import HubServer
from tests.conftest import (
    TOKEN,
    ClientFactory,
    Clock,
    HubProcess,
    KilledMidStream,
    Receiver,
    assert_log_is_whole,
    caught_up,
    declare,
    issue,
    log_of,
    wait_for,
)
from tests.test_escalation_hub import logged, pages, ticks, write_config
from tests.test_identity import open_raw
from warroom.client import CommandRejected, HubClient

pytestmark = pytest.mark.stores  # the store-backed tests run on SQLite and on PostgreSQL


async def started(db: Path, store_url: str, n: int, **kw: Any) -> list[HubServer]:
    servers = [HubServer(db, TOKEN, store=store_url, **kw) for _ in range(n)]
    for server in servers:
        await server.start()
    return servers


def at_head(server: HubServer, room: str, head: int) -> Callable[[], bool]:
    return lambda: server.hub._rooms[room].state.seq == head


def lists(server: HubServer, ids: set[str]) -> Callable[[], bool]:
    return lambda: {i["id"] for i in server.hub.rooms.incidents()} >= ids


async def client_of(server: HubServer, name: str) -> HubClient:
    client = HubClient(server.url, TOKEN, name)
    await client.connect()
    return client


async def test_commands_spread_across_three_hubs_make_one_history(db_path: Path, store_url: str) -> None:
    servers = await started(db_path, store_url, 3)
    clients = [await client_of(server, f"r{n}") for n, server in enumerate(servers)]
    try:
        room = await declare(clients[0], "Checkout is down", "SEV2")
        views = [await c.join(room) for c in clients]

        async def say(client: HubClient, n: int) -> dict[str, Any]:
            return await client.send("entry.added", {"text": f"{client.name} line {n}"}, room)

        acks = await asyncio.wait_for(asyncio.gather(*(say(c, n) for n in range(40) for c in clients)), 60)
        seqs = sorted(a["seq"] for a in acks)
        assert len(set(seqs)) == len(acks)  # no seq handed out twice, whichever hub acked
        head = max(seqs)
        for server in servers:
            await wait_for(at_head(server, room, head), what="every hub at the head")
        for view in views:
            await wait_for(caught_up(view, head), timeout=15, what="every terminal at the head")
        states = [await s.hub.settled_state(room) for s in servers]
        assert all(state == states[0] for state in states)
        assert all(view.state == states[0] for view in views)
        said = Counter(e.text for e in states[0].entries.values())
        assert all(said[f"{c.name} line {n}"] == 1 for c in clients for n in range(40))
        assert sum(s.hub.stats.get("behind", 0) for s in servers) > 0  # the hubs did race
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop()
    assert_log_is_whole(store_url, [a["id"] for a in acks])


async def test_ids_listings_and_names_are_shared(db_path: Path, store_url: str) -> None:
    a, b = await started(db_path, store_url, 2)
    ann, bob = await client_of(a, "ann"), await client_of(b, "bob")
    try:
        made = await asyncio.gather(*(declare(c, f"t{n}") for n in range(6) for c in (ann, bob)))
        assert len(set(made)) == 12  # incident numbers come from the store, not from each hub
        for server in (a, b):
            await wait_for(lists(server, set(made)), what="every incident listed on every hub")
        both = await asyncio.gather(
            *(
                c.send("incident.declared", {"title": "same", "severity": "SEV3"}, "INC-db")
                for c in (ann, bob)
            ),
            return_exceptions=True,
        )
        refused = [r for r in both if isinstance(r, CommandRejected)]
        assert len(refused) == 1 and refused[0].error.code == "room_exists", both
    finally:
        await ann.close()
        await bob.close()
        await a.stop()
        await b.stop()
    assert_log_is_whole(store_url)


async def test_a_revocation_on_one_hub_closes_connections_on_another(db_path: Path, store_url: str) -> None:
    a, b = await started(db_path, store_url, 2)
    try:
        token = await issue(a, "bob")
        raw = await open_raw(b, token)
        root = await client_of(a, "root")
        listed = await root.admin("token.list")
        await root.admin("token.revoke", {"id": listed[0]["id"]})
        await root.close()
        with pytest.raises(ConnectionClosed) as closed:
            await raw.recv_until("never", timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    finally:
        await a.stop()
        await b.stop()


async def test_one_hub_pages_and_another_carries_on_when_it_stops(
    tmp_path: Path, store_url: str, receiver: Receiver
) -> None:
    clock = Clock()
    config = write_config(tmp_path, receiver.url)
    from server.config import load_hub_config

    def hub() -> HubServer:
        server = HubServer(
            tmp_path / "hub.db",
            TOKEN,
            clock=clock,
            config=load_hub_config(config),
            config_path=config,
            store=store_url,
        )
        server.escalation.interval = 0.01
        server.escalation.pager.backoff = lambda attempt: 0.01
        return server

    a, b = hub(), hub()
    await a.start()
    await b.start()
    frank = await client_of(b, "frank")  # declared on the hub that does not page
    try:
        declared_at = clock.now
        room = await declare(frank, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
        await ticks(a)
        await ticks(b)
        assert len(pages(receiver)) == 1  # two hubs, one page
        await a.stop()  # the paging hub goes away; the other takes the lease on its next look
        clock.now = declared_at + timedelta(minutes=15)
        await wait_for(lambda: len(pages(receiver)) == 2, what="level 2 from the other hub")
        await ticks(b)
        sent = await logged(b, room, "page.sent")
        assert [p["level"] for p in sent] == [1, 2]  # nothing repeated, nothing skipped
        assert [p["level"] for p in pages(receiver)] == [1, 2]
    finally:
        await frank.close()
        await b.stop()
        if a.escalation._task is not None and not a.escalation._task.done():
            await a.stop()
    rows = log_of(store_url)
    assert Counter(r[2] for r in rows).most_common(1)[0][1] == 1


async def test_a_client_moves_to_another_hub_when_its_hub_is_killed(
    db_path: Path, store_url: str, make_client: ClientFactory
) -> None:
    bulk = db_path.with_name("bulk.toml")  # two clients pipeline thousands of commands
    bulk.write_text("[limits]\ncommands_per_second = 1e6\ncommand_burst = 10000000\n", encoding="utf-8")
    a, b = (HubProcess(db_path, extra=("--config", str(bulk)), store=store_url) for _ in range(2))
    a.start()
    b.start()
    try:
        clients = [await make_client(f"{a.url},{b.url}", f"w{n}", connect_now=False) for n in range(2)]
        runners = [asyncio.create_task(c.run()) for c in clients]
        for client in clients:
            await client.wait_connected(10)
        assert all(c.url == a.url for c in clients)
        room = await declare(clients[0])
        views = [await c.join(room) for c in clients]
        stream = KilledMidStream(a, clients, room, kill_at=20)  # the hub both clients are on
        stream.write(range(200))
        before_crash = await stream.killed()
        stream.write(range(200, 220))  # typed while they move over
        await stream.all_acked()
        assert all(c.url == b.url for c in clients)
        rows = stream.assert_logged_once(store_url, before_crash)
        for view in views:
            await wait_for(caught_up(view, len(rows)), timeout=15, what="both terminals at the head")
        assert views[0].state == views[1].state
        assert sorted(e.text for e in views[0].state.entries.values() if e.kind == "note") == sorted(
            stream.futures
        )
        for runner in runners:
            runner.cancel()
    finally:
        a.stop()
        b.stop()


async def test_presence_lists_everyone_whichever_hub_they_are_on(db_path: Path, store_url: str) -> None:
    a, b = await started(db_path, store_url, 2)
    ann, bob = await client_of(a, "ann"), await client_of(b, "bob")
    try:
        room = await declare(ann)
        seen_by_ann, seen_by_bob = await ann.join(room), await bob.join(room)

        def names(view: Any) -> set[str]:
            return {p["name"] for p in view.presence}

        await wait_for(lambda: names(seen_by_ann) == names(seen_by_bob) == {"ann", "bob"}, what="both listed")
        assert {i["id"]: i["people"] for i in b.hub.rooms.incidents()}[room] == 2
        await bob.close()
        await wait_for(lambda: names(seen_by_ann) == {"ann"}, what="bob gone from ann's list")
    finally:
        await ann.close()
        await a.stop()
        await b.stop()


async def test_two_hubs_record_and_tell_each_handoff_once_and_share_overrides(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    from tests.test_oncall_hub import DAVE_AT_TEN, handoffs, http, oncall_hub, settle

    a = await oncall_hub(tmp_path, receiver, clock)
    b = await oncall_hub(tmp_path, receiver, clock)
    hubs.extend([a, b])
    start = clock.now
    frank = await client_of(b, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
        await frank.join(room)  # a member: hub B keeps the room loaded across the clock's jumps
        await wait_for(lambda: a.hub.rooms.summaries.get(room) is not None, what="the incident on hub A")
        async with http(a) as api:  # an override made on one hub ...
            assert (await api.post("/api/v1/oncall/overrides", json=DAVE_AT_TEN)).status_code == 201
        await wait_for(lambda: bool(b.oncall.overrides), what="... is known on the other")
        await wait_for(  # else the room first hears of the schedule at 08:00, as "joined: bob"
            lambda: b.hub.rooms.loaded[room].state.oncall.get("platform") == "alice",
            what="the incident's first on-call line",
        )
        await settle(b)  # that line committed, not only applied
        clock.now = start.replace(hour=8)  # alice -> bob, which both hubs work out
        await wait_for(lambda: len(handoffs(receiver)) == 1, what="the 08:00 handoff")
        clock.now = start.replace(hour=9)  # 10:00 in Berlin: dave's override, from hub A's record
        await wait_for(lambda: len(handoffs(receiver)) == 2, what="the override's handoff")
        await settle(a, 5)
        await settle(b, 5)
        told = [(h["from"], h["to"]) for h in handoffs(receiver)]
        assert told == [("alice", "bob"), ("bob", "dave")]  # each told once, though two hubs decided it
        chain = await logged(a, ONCALL, "oncall.handoff")
        assert [(h.get("from"), h.get("to")) for h in chain] == [
            (None, "alice"),
            ("alice", "bob"),
            ("bob", "dave"),
        ]

        def lines() -> list[str]:
            return [e.text for e in b.hub.rooms.loaded[room].state.entries.values()]

        await wait_for(lambda: "on call for platform: bob → dave" in lines(), what="hub A's line on hub B")
        await settle(a, 5)
        await settle(b, 5)
        # What the log holds: a hub's live view may be a batch ahead of it, or rewinding one.
        written = [(h.get("from"), h.get("to")) for h in await logged(b, room, "oncall.handoff")]
        assert written == [(None, "alice"), ("alice", "bob"), ("bob", "dave")]
    finally:
        await frank.close()
