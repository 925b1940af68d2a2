"""What every store engine promises the hub (server/store/base.py), proved on SQLite and on PostgreSQL.

Two store objects on one database stand for two hubs sharing it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from server.store import AuditRecord, Behind, StorageError, Store, TokenRecord, open_store
from warroom.core.events import Event

pytestmark = pytest.mark.stores

Opener = Callable[[], Awaitable[Store]]


@pytest.fixture
async def opener(store_url: str) -> AsyncIterator[Opener]:
    """Opens stores on the test's database; each is closed at the end."""
    opened: list[Store] = []

    async def open_one() -> Store:
        store = open_store(store_url)
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(opener: Opener) -> Store:
    return await opener()


def ev(
    room: str, seq: int, type_: str = "note.added", ts: str = "", data: dict[str, Any] | None = None
) -> Event:
    return Event(
        room,
        seq,
        f"{room}-{seq}-{type_}",
        "alice",
        ts or f"2026-11-28T03:00:{seq:02d}.000Z",
        type_,
        data or {"text": f"note {seq}"},
        f"digest-{seq}",
    )


async def make_room(store: Store, room: str, events: int = 2) -> None:
    await store.append(
        [ev(room, n) for n in range(1, events + 1)], {room: f"epoch-{room}"}, {room: {"title": room}}, {}
    )


async def test_a_batch_comes_back_whole_and_in_order(store: Store) -> None:
    hostile = {"text": "é \x1b[31m \u202e", "blob": b"\x00\xff", "n": [1, {"k": None}]}
    events = [ev("INC-1", 1, "incident.declared"), ev("INC-1", 2, data=hostile), ev("INC-2", 1)]
    await store.append(events, {"INC-1": "e1", "INC-2": "e2"}, {"INC-1": {"title": "one"}, "INC-2": {}}, {})
    assert await store.read("INC-1", 0, 10) == events[:2]
    assert (await store.read("INC-1", 0, 10))[1].data == hostile
    assert await store.read("INC-1", 1, 10) == events[1:2]
    assert await store.read("INC-1", 0, 1) == events[:1]
    assert [e.digest for e in await store.read("INC-1", 0, 10)] == ["digest-1", "digest-2"]
    record = await store.room("INC-1")
    assert record is not None
    assert (record.room, record.epoch, record.head, record.summary) == ("INC-1", "e1", 2, {"title": "one"})
    assert await store.room("INC-3") is None
    assert [r.room for r in await store.rooms()] == ["INC-1", "INC-2"]
    assert await store.lookup(events[1].id) == events[1]
    assert await store.lookup("no-such-id") is None
    ids = [events[0].id, "no-such-id", events[1].id]
    assert await store.lookup_many(ids) == {e.id: e for e in events[:2]}
    assert await store.lookup_many([]) == {}
    assert await store.scan(["incident.declared"]) == events[:1]


async def test_read_then_reads_and_encodes_off_the_event_loop(store: Store) -> None:
    await make_room(store, "INC-1", 3)
    loop_thread = threading.get_ident()

    def then(events: list[Event]) -> tuple[int, list[int]]:
        return threading.get_ident(), [e.seq for e in events]

    thread, seqs = await store.read_then("INC-1", 1, 10, then)
    assert seqs == [2, 3]
    assert thread != loop_thread


async def test_scan_orders_by_time_then_room_across_rooms(store: Store) -> None:
    await store.append(
        [ev("INC-2", 1, ts="2026-11-28T03:00:01.000Z"), ev("INC-10", 1, ts="2026-11-28T03:00:01.000Z")],
        {"INC-2": "e", "INC-10": "e"},
        {},
        {},
    )
    await store.append([ev("INC-2", 2, ts="2026-11-28T03:00:00.500Z")], {}, {}, {"INC-2": 1})
    assert [(e.room, e.seq) for e in await store.scan(["note.added"])] == [
        ("INC-2", 2),
        ("INC-10", 1),  # byte order, as SQLite compares: "1" before "2"
        ("INC-2", 1),
    ]


async def test_a_failing_batch_stores_nothing(store: Store) -> None:
    await make_room(store, "INC-1")
    clash = [ev("INC-1", 3), ev("INC-2", 1), ev("INC-1", 4)]
    clash[2] = Event("INC-1", 4, clash[0].id, "bob", clash[0].ts, "note.added", {})  # one id twice
    with pytest.raises(StorageError):
        await store.append(clash, {"INC-2": "e"}, {"INC-1": {"title": "changed"}}, {"INC-1": 2})
    assert [e.seq for e in await store.read("INC-1", 0, 10)] == [1, 2]
    assert await store.room("INC-2") is None
    record = await store.room("INC-1")
    assert record is not None and record.head == 2 and record.summary == {"title": "INC-1"}


async def test_a_stale_head_or_a_taken_room_is_behind_and_stores_nothing(store: Store) -> None:
    await make_room(store, "INC-1")
    await make_room(store, "INC-2")
    with pytest.raises(Behind) as stale:
        await store.append([ev("INC-1", 2), ev("INC-2", 3)], {}, {}, {"INC-1": 1, "INC-2": 2})
    assert stale.value.rooms == ["INC-1"]
    with pytest.raises(Behind) as taken:
        await store.append([ev("INC-2", 1, "incident.declared")], {"INC-2": "again"}, {}, {})
    assert taken.value.rooms == ["INC-2"]
    logged = ev("INC-1", 1)  # a command id another hub has logged already
    with pytest.raises(Behind) as known:
        await store.append(
            [Event("INC-3", 1, logged.id, "bob", logged.ts, "incident.declared", {})], {"INC-3": "e"}, {}, {}
        )
    assert known.value.rooms == ["INC-3"]
    assert await store.room("INC-3") is None
    assert [e.seq for e in await store.read("INC-2", 0, 10)] == [1, 2]
    await store.append([ev("INC-1", 3)], {}, {}, {"INC-1": 2})  # the right head goes in
    assert (await store.room("INC-1") or pytest.fail()).head == 3


async def test_two_hubs_writing_one_room_at_once_make_one_line(opener: Opener) -> None:
    a, b = await opener(), await opener()
    await make_room(a, "INC-1")

    async def write(store: Store, who: str) -> str:
        event = Event("INC-1", 3, f"by-{who}", who, "2026-11-28T03:01:00.000Z", "note.added", {})
        try:
            await store.append([event], {}, {"INC-1": {"by": who}}, {"INC-1": 2})
        except Behind as exc:
            assert exc.rooms == ["INC-1"]
            return "behind"
        return "stored"

    outcomes = sorted(await asyncio.gather(write(a, "a"), write(b, "b")))
    assert outcomes == ["behind", "stored"]
    log = await b.read("INC-1", 0, 10)
    assert [e.seq for e in log] == [1, 2, 3]
    assert (await a.room("INC-1") or pytest.fail()).summary == {"by": log[2].actor}


async def test_reserved_room_ids_never_repeat_across_hubs(opener: Opener) -> None:
    a, b = await opener(), await opener()
    await make_room(a, "INC-3")  # a room already numbered, say copied in: numbers go past it
    ids = await asyncio.gather(*(s.reserve_room_id() for s in (a, b) for _ in range(15)))
    assert len(set(ids)) == 30
    numbers = sorted(int(i.removeprefix("INC-")) for i in ids)
    assert numbers[0] > 3


async def test_revisions_grow_and_changes_name_what_other_hubs_wrote(opener: Opener) -> None:
    a, b = await opener(), await opener()
    start = await b.revision()
    await make_room(a, "INC-1")
    await make_room(a, "INC-2")
    middle = await b.revision()
    assert middle > start
    await a.append([ev("INC-1", 3)], {}, {"INC-1": {"title": "three"}}, {"INC-1": 2})
    now, changed = await b.changes(middle)
    assert now == await b.revision() > middle
    assert [(c.room, c.head, c.summary) for c in changed] == [("INC-1", 3, {"title": "three"})]
    again, everything = await b.changes(start)
    assert again == now
    assert sorted((c.room, c.head) for c in everything) == [("INC-1", 3), ("INC-2", 2)]
    assert await b.changes(now) == (now, [])


async def test_wait_changes_wakes_on_another_hubs_append_and_times_out_without_one(opener: Opener) -> None:
    a, b = await opener(), await opener()
    since = await b.revision()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await b.wait_changes(since, 0.2)  # nothing happens: back after the timeout
    assert loop.time() - began >= 0.19
    waiting = asyncio.create_task(b.wait_changes(since, 30))
    await asyncio.sleep(0)  # the waiter starts listening before the append
    began = loop.time()
    await make_room(a, "INC-1")
    await asyncio.wait_for(waiting, 10)  # long before its 30 s safety poll
    assert loop.time() - began < 10
    assert await b.revision() > since
    await asyncio.wait_for(b.wait_changes(since, 30), 5)  # already past: back at once


async def test_a_lease_has_one_holder_until_it_expires_or_is_released(opener: Opener) -> None:
    a, b = await opener(), await opener()
    assert await a.lease("paging", "hub-a", 30)
    assert not await b.lease("paging", "hub-b", 30)
    assert await a.lease("paging", "hub-a", 30)  # renewed
    await b.release("paging", "hub-b")  # not b's to release
    assert not await b.lease("paging", "hub-b", 30)
    await a.release("paging", "hub-a")
    assert await b.lease("paging", "hub-b", 0.3)
    assert not await a.lease("paging", "hub-a", 30)
    assert await a.lease("other", "hub-a", 30)  # leases are by name
    taken: list[bool] = []

    async def try_a() -> None:
        taken.append(await a.lease("paging", "hub-a", 30))

    async def expired() -> bool:
        await try_a()
        return taken[-1]

    deadline = asyncio.get_running_loop().time() + 10
    while not await expired():  # b stopped renewing: a takes it once the lease runs out
        assert asyncio.get_running_loop().time() < deadline, "the lease never expired"
        await asyncio.sleep(0.05)
    assert not await b.lease("paging", "hub-b", 30)


async def test_presence_is_shared_per_hub_until_its_word_lapses(opener: Opener) -> None:
    a, b = await opener(), await opener()
    ann = [{"name": "ann", "kind": "responder"}]
    await a.save_presence("INC-1", "hub-a", ann, 30)
    await b.save_presence("INC-1", "hub-b", [{"name": "bob"}], 30)
    await a.save_presence("INC-2", "hub-a", [{"name": "é"}], 0.3)
    assert await b.presence(["INC-1", "INC-2", "INC-3"], "hub-b") == {
        "INC-1": {"hub-a": ann},
        "INC-2": {"hub-a": [{"name": "é"}]},
    }
    assert await a.presence(["INC-1"], "hub-a") == {"INC-1": {"hub-b": [{"name": "bob"}]}}
    await a.save_presence("INC-1", "hub-a", [], 30)  # nobody left through hub-a
    assert await b.presence(["INC-1"], "hub-b") == {}
    deadline = asyncio.get_running_loop().time() + 10
    while await b.presence(["INC-2"], "hub-b"):  # hub-a stopped renewing: its word lapses
        assert asyncio.get_running_loop().time() < deadline, "presence never lapsed"
        await asyncio.sleep(0.05)


async def test_snapshots_and_checkpoints(store: Store) -> None:
    await make_room(store, "INC-1", 5)
    assert await store.snapshot("INC-1") is None
    await store.save_snapshot("INC-1", 2, b"two")
    await store.save_snapshot("INC-1", 4, b"four")
    assert await store.snapshot("INC-1") == (4, b"four")
    assert await store.checkpoint("INC-1", 5) is None
    await store.save_checkpoint("INC-1", 2, b"c2")
    await store.save_checkpoint("INC-1", 4, b"c4-old")
    await store.save_checkpoint("INC-1", 4, b"c4")  # replaced
    assert await store.checkpoint("INC-1", 3) == (2, b"c2")
    assert await store.checkpoint("INC-1", 9) == (4, b"c4")
    assert await store.checkpoint("INC-1", 1) is None


async def test_seq_at_finds_the_last_event_at_or_before_a_time(store: Store) -> None:
    await make_room(store, "INC-1", 4)
    assert await store.seq_at("INC-1", "2026-11-28T03:00:02.500Z") == 2
    assert await store.seq_at("INC-1", "2026-11-28T03:00:04.000Z") == 4
    assert await store.seq_at("INC-1", "2026-11-28T02:00:00.000Z") == 0


def token(id_: str, created_at: str, scope: list[str] | None = None) -> TokenRecord:
    return TokenRecord(id_, f"name-{id_}", "responder", scope, created_at, "root", "2027-01-01T00:00:00.000Z")


async def test_tokens_are_kept_revoked_once_and_listed_in_order(store: Store) -> None:
    await store.save_token(token("t2", "2026-11-28T03:00:02.000Z", ["INC-1"]))
    await store.save_token(token("t1", "2026-11-28T03:00:01.000Z"))
    with pytest.raises(StorageError):
        await store.save_token(token("t1", "2026-11-28T03:00:09.000Z"))  # an id is never reused
    first = await store.revoke_token("t2", "2026-11-28T04:00:00.000Z", "root")
    again = await store.revoke_token("t2", "2026-11-28T05:00:00.000Z", "other")
    assert first == again
    assert first is not None and (first.revoked_at, first.revoked_by) == ("2026-11-28T04:00:00.000Z", "root")
    assert first.scope == ["INC-1"]
    assert await store.revoke_token("nope", "2026-11-28T04:00:00.000Z", "root") is None
    listed = await store.tokens()
    assert [t.id for t in listed] == ["t1", "t2"]
    assert listed[0].scope is None and listed[0].expires_at == "2027-01-01T00:00:00.000Z"


async def test_the_audit_log_keeps_order_filters_and_prunes(store: Store) -> None:
    await store.save_token(token("t1", "2026-11-28T03:00:01.000Z"))
    lines = [
        AuditRecord(
            f"2026-11-28T03:00:0{n}.000Z",
            "auth.failed" if n % 2 else "token.used",
            "a",
            "t1",
            "sync",
            "127.0.0.1",
            {"n": n, "text": "é"},
            n,
        )
        for n in range(1, 7)
    ]
    await store.append_audit(lines[:3], {"t1": "2026-11-28T03:00:03.000Z"})
    await store.append_audit(lines[3:], {})
    assert await store.audit(None, None, 100) == lines
    assert await store.audit(None, None, 2) == lines[4:]  # the newest, oldest first
    assert await store.audit("2026-11-28T03:00:03.000Z", "auth.failed", 100) == [lines[2], lines[4]]
    assert (await store.tokens())[0].last_used_at == "2026-11-28T03:00:03.000Z"
    await store.prune_audit("2026-11-28T03:00:05.000Z")
    assert await store.audit(None, None, 100) == lines[4:]


async def test_a_store_reopened_keeps_everything(store_url: str) -> None:
    first = open_store(store_url)
    await first.open()
    await make_room(first, "INC-1", 3)
    await first.close()
    with pytest.raises(StorageError):  # a closed store refuses, it never hangs
        await first.read("INC-1", 0, 10)
    reopened = open_store(store_url)
    await reopened.open()
    try:
        assert [e.seq for e in await reopened.read("INC-1", 0, 10)] == [1, 2, 3]
        assert await reopened.reserve_room_id() == "INC-2"
    finally:
        await reopened.close()
