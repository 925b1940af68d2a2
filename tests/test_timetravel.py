"""Time travel: the state at any point equals a fresh fold of the log cut there.

Through real hubs, the real store and real sockets: the hub's checkpoints,
the ``state_at`` frame and its refusals, ``GET /incidents/{id}/state``, and
``warroom show --at/--seq`` in a subprocess.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from server.store import EventStore, SQLiteStore, StorageError
from server.timetravel import History, last_checkpoint, next_checkpoint
from tests.conftest import TOKEN, ClientFactory, Clock, issue, wait_for
from tests.test_cli import hub_args, warroom
from warroom.client import CommandRejected, HubClient
from warroom.core.events import Command, Event
from warroom.core.protocol import new_id
from warroom.core.reducer import fold
from warroom.core.schema import format_time
from warroom.core.state import IncidentState
from warroom.timetravel import Past


async def log_of(store: EventStore, room: str) -> list[Event]:
    events: list[Event] = []
    while page := await store.read(room, len(events), 5000):
        events.extend(page)
    return events


async def scripted(server: HubServer, client: HubClient, clock: Clock) -> str:
    """An incident of about forty events a minute apart: entries, pins, alerts, roles, a broadcast."""
    ack = await client.send("incident.declared", {"title": "Checkout 502s", "severity": "SEV2"})
    room = str(ack["room"])

    async def step(type_: str, data: dict[str, Any], *, internal: bool = False) -> int:
        clock.now += timedelta(minutes=1)
        if internal:
            done = await server.hub.execute(
                Command(new_id(), type_, data, room), "alertmanager", internal=True
            )
            return done.seq
        return int((await client.send(type_, data, room))["seq"])

    for n in range(12):
        await step("entry.added", {"text": f"note {n}: checked api-{n}"})
    finding = await step("entry.added", {"text": "the pool is exhausted", "kind": "finding"})
    await step("entry.pinned", {"entry": finding})
    await step("entry.edited", {"entry": finding, "text": "the db pool is exhausted"})
    await step("alert.upserted", {"fingerprint": "fp1", "alertname": "HighErrorRate"}, internal=True)
    await step("role.assigned", {"role": "scribe", "name": "bob"})
    await step("incident.severity_changed", {"severity": "SEV1"})
    await step("status.broadcast", {"message": "checkout failing for some", "next_update_in": 30})
    for n in range(12, 20):
        await step("entry.added", {"text": f"note {n}"})
    await step("entry.unpinned", {"entry": finding})
    await step(
        "alert.upserted",
        {"fingerprint": "fp1", "alertname": "HighErrorRate", "status": "resolved"},
        internal=True,
    )
    await step("action.added", {"text": "alert on pool saturation", "owner": "bob", "due": "2026-12-15"})
    await step("incident.status_changed", {"status": "resolved"})
    return room


@pytest.fixture
async def clocked_hub(db_path: Path) -> Any:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        yield server, clock
    finally:
        await server.stop()


async def test_every_point_equals_a_fresh_fold_of_the_cut_log(
    clocked_hub: Any, make_client: ClientFactory
) -> None:
    server, clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = await scripted(server, client, clock)
    log = await log_of(server.hub.store, room)
    head = len(log)
    assert head > 30
    # Checkpoints every 4 events (the hub keeps them every 5,000): most points are a base and a tail.
    history = History(server.hub.store, every=4)
    for seq in range(1, head + 1):
        past = await history.past(room, seq=seq)
        assert past.seq == seq and past.head == head
        assert past.base_seq == seq // 4 * 4 and len(past.events) == seq - past.base_seq
        assert past.state() == fold(room, log[:seq]), seq
    # Through the protocol, as a client sees it.
    for seq in (1, 7, 8, 9, head - 1, head):
        past = await client.past(room, seq=seq)
        assert past.state() == fold(room, log[:seq])
    # A time is the last event stamped at or before it.
    pinned_at = next(e for e in log if e.type == "entry.pinned")
    between = format_time(datetime.fromisoformat(pinned_at.ts.replace("Z", "+00:00")) + timedelta(seconds=30))
    past = await client.past(room, at=between)
    assert past.seq == pinned_at.seq
    state = past.state()
    assert any(e.pinned for e in state.entries.values()) and "fp1" not in state.alerts
    assert (await client.past(room, at=log[-1].ts)).seq == head


def test_checkpoints_go_every_2500_events_then_a_fortieth_of_the_log_apart() -> None:
    """Bounded folding after a checkpoint; stored states that grow with the log, not its square."""
    places, at = [], 0
    while (at := next_checkpoint(at)) <= 1_000_000:
        places.append(at)
    assert places[:40] == [2500 * n for n in range(1, 41)]
    assert all(b - a == max(2500, a // 40) for a, b in itertools.pairwise(places))
    assert len(places) < 140  # a fixed spacing would keep 400
    assert last_checkpoint(2499) == 0 and last_checkpoint(2500) == 2500 and last_checkpoint(99_999) == 97_500
    assert all(last_checkpoint(p) == p and last_checkpoint(p - 1) < p for p in places)


async def test_the_writer_keeps_checkpoints_and_a_log_from_elsewhere_gets_them_on_first_use(
    db_path: Path, tmp_path: Path
) -> None:
    """Checkpoints are made as a log grows; missing or unreadable ones are made again, never trusted."""
    server = HubServer(db_path, TOKEN)
    await server.start()
    try:
        server.hub.history.every = 10
        ack = await server.hub.execute(
            Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"}), "ann"
        )
        room = ack.room
        for n in range(34):
            await server.hub.execute(Command(new_id(), "entry.added", {"text": f"n{n}"}, room), "ann")
        store = server.hub.store
        await wait_for(lambda: len(server.hub.history._tasks) == 0, what="checkpoints made")
        for seq in (10, 20, 30):
            found = await store.checkpoint(room, seq)
            assert found is not None and found[0] == seq
        # A checkpoint in a format this version cannot read is made again from the log.
        await store.save_checkpoint(room, 20, b"\x63garbage")
        log = await log_of(store, room)
        past = await server.hub.history.past(room, seq=27)
        assert past.base_seq == 20 and past.state() == fold(room, log[:27])
        found = await store.checkpoint(room, 20)
        assert found is not None and found[1][:1] != b"\x63"
    finally:
        await server.stop()


@pytest.mark.sqlite_only  # the other writer is a SQLiteStore on the same file
async def test_another_hub_appending_to_the_same_store_is_seen(db_path: Path) -> None:
    """Nothing assumes one hub: the past is read from the store, and each hub fills what it lacks."""
    first = HubServer(db_path, TOKEN)
    await first.start()
    second = HubServer(db_path.with_name("other.db"), TOKEN, store=SQLiteStore(db_path))
    try:
        first.hub.history.every = 5
        room = (
            await first.hub.execute(
                Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"}), "ann"
            )
        ).room
        for n in range(11):
            await first.hub.execute(Command(new_id(), "entry.added", {"text": f"first {n}"}, room), "ann")
        await first.stop()  # the first hub's turn is over; another hub writes on
        await second.start()
        for n in range(13):
            await second.hub.execute(Command(new_id(), "entry.added", {"text": f"second {n}"}, room), "bob")
        await second.stop()
        first = HubServer(db_path, TOKEN)
        await first.start()
        first.hub.history.every = 5
        log = await log_of(first.hub.store, room)
        assert len(log) == 25
        for seq in (12, 13, 19, 25):
            assert (await first.hub.history.past(room, seq=seq)).state() == fold(room, log[:seq])
    finally:
        await first.stop()


async def test_a_long_log_written_straight_to_the_store(tmp_path: Path) -> None:
    """20,000 events, each point a checkpoint and a tail: equal to a fresh fold at many points.

    The same check on 100,000 events runs in ``python bench/timetravel.py`` (it takes a while).
    """
    started = time.perf_counter()
    store = SQLiteStore(tmp_path / "big.db")
    await store.open()
    room, total = "INC-1", 20_000
    t0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    kinds = ("note", "note", "finding", "decision")

    def event(seq: int) -> Event:
        ts = format_time(t0 + timedelta(milliseconds=50 * seq))
        if seq == 1:
            return Event(
                room,
                1,
                str(uuid.uuid4()),
                "ann",
                ts,
                "incident.declared",
                {"title": "big", "severity": "SEV2"},
            )
        if seq % 997 == 0:
            return Event(room, seq, str(uuid.uuid4()), "ann", ts, "entry.pinned", {"entry": seq - 1})
        return Event(
            room,
            seq,
            str(uuid.uuid4()),
            "bob",
            ts,
            "entry.added",
            {"kind": kinds[seq % 4], "text": f"line {seq}"},
        )

    log = [event(seq) for seq in range(1, total + 1)]
    summary = {"id": room, "declared_at": log[0].ts}
    for start in range(0, total, 10_000):
        new = {room: "e"} if start == 0 else {}
        await store.append(log[start : start + 10_000], new, {room: summary}, {} if new else {room: start})
    history = History(store)
    points = [1, 2, 2_499, 2_500, 2_501, 12_345, 14_999, 19_999, 20_000]
    try:
        state = IncidentState(room=room)
        done = 0
        for seq in points:
            fold(room, log[done:seq], state)  # a fresh fold of the log cut at seq, kept going
            done = seq
            past = await history.past(room, seq=seq)
            assert past.base_seq == seq // 2500 * 2500 and len(past.events) < 2500
            assert past.state() == state, seq
        assert (await history.past(room, at=log[17_000 - 1].ts)).seq == 17_000
    finally:
        await store.close()
    assert time.perf_counter() - started < 60  # a guard against a hang, not a speed target (see bench/)


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ({"seq": 3, "at": "2026-11-28T03:05:00Z"}, "invalid_value", "at"),
        ({}, "missing_field", "seq"),
        ({"seq": 0}, "invalid_value", "seq"),
        ({"seq": 999}, "invalid_value", "seq"),
        ({"seq": "three"}, "wrong_type", "seq"),
        ({"at": "2026-11-28T02:00:00Z"}, "invalid_value", "at"),
        ({"at": "yesterday"}, "invalid_value", "at"),
        ({"seq": 1, "room": "INC-404"}, "unknown_room", "room"),
        ({"seq": 1, "color": "red"}, "unknown_field", "color"),
    ],
)
async def test_bad_state_at_frames_get_an_error_frame(
    clocked_hub: Any,
    raw_client: Any,
    make_client: ClientFactory,
    frame: dict[str, Any],
    code: str,
    field: str,
) -> None:
    server, _clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = (await client.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    raw = await raw_client(server.url)
    await raw.hello()
    await raw.send({"t": "state_at", "rid": 7, "room": room, **frame})
    reply = await raw.recv()
    assert reply["t"] == "error" and reply["rid"] == 7, reply
    assert reply["code"] == code and reply.get("field") == field and reply["message"], reply
    await raw.send({"t": "state_at", "rid": 8, "room": room, "seq": 1})  # the connection goes on
    good = await raw.recv()
    assert good["t"] == "state_at" and good["rid"] == 8 and good["base"] is None
    assert Past.from_frame(good).state().title == "t"


async def test_a_token_reads_the_past_of_its_own_incidents_only(clocked_hub: Any, raw_client: Any) -> None:
    """A viewer may look back; a room outside a token's scope is unknown to it, over both transports."""
    server, _clock = clocked_hub
    first = (
        await server.hub.execute(
            Command(new_id(), "incident.declared", {"title": "a", "severity": "SEV3"}), "ann"
        )
    ).room
    second = (
        await server.hub.execute(
            Command(new_id(), "incident.declared", {"title": "b", "severity": "SEV3"}), "ann"
        )
    ).room
    token = await issue(server, "vic", level="viewer", scope=[second])
    raw = await raw_client(server.url, token)
    await raw.hello("vic")
    await raw.send({"t": "state_at", "rid": 1, "room": first, "seq": 1})
    refused = await raw.recv()
    assert refused["t"] == "error" and refused["code"] == "unknown_room" and refused["rid"] == 1
    await raw.send({"t": "state_at", "rid": 2, "room": second, "seq": 1})
    allowed = await raw.recv()
    assert allowed["t"] == "state_at" and Past.from_frame(allowed).state().title == "b"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        outside = await http.get(f"{server.http_url}/api/v1/incidents/{first}/state?seq=1")
        assert outside.status_code == 404 and outside.json()["error"]["code"] == "unknown_room"
        inside = await http.get(f"{server.http_url}/api/v1/incidents/{second}/state?seq=1")
        assert inside.status_code == 200 and inside.json()["title"] == "b"


async def test_a_connection_has_at_most_four_answers_in_the_making(clocked_hub: Any, raw_client: Any) -> None:
    """A fifth state_at while four wait (here on checkpoints being made) is refused, and the four answered."""
    server, _clock = clocked_hub
    history = server.hub.history
    history.every = 2
    await history._slot.acquire()  # checkpoints wait: so do the answers that need them
    try:
        room = (
            await server.hub.execute(
                Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"}), "ann"
            )
        ).room
        for n in range(5):
            await server.hub.execute(Command(new_id(), "entry.added", {"text": f"n{n}"}, room), "ann")
        raw = await raw_client(server.url)
        await raw.hello()
        for rid in range(1, 6):
            await raw.send({"t": "state_at", "rid": rid, "room": room, "seq": 6})
        refused = await raw.recv()
        assert refused["t"] == "error" and refused["rid"] == 5 and refused["code"] == "rate_limited"
        assert refused["retry_after"] >= 1
    finally:
        history._slot.release()
    answered = sorted([(await raw.recv())["rid"] for _ in range(4)])
    assert answered == [1, 2, 3, 4]


async def test_a_client_is_told_why_as_a_rejection(clocked_hub: Any, make_client: ClientFactory) -> None:
    server, _clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = (await client.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    with pytest.raises(CommandRejected) as refused:
        await client.past(room, seq=2)
    assert refused.value.error.field == "seq" and "1..1" in refused.value.error.message


async def test_http_state_at(clocked_hub: Any, make_client: ClientFactory) -> None:
    server, clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = await scripted(server, client, clock)
    log = await log_of(server.hub.store, room)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{server.http_url}/api/v1/incidents/{room}/state"
    async with httpx.AsyncClient(headers=headers) as http:
        for seq in (1, 15, len(log)):
            answer = await http.get(url, params={"seq": seq})
            assert answer.status_code == 200 and answer.json() == fold(room, log[:seq]).to_dict()
        answer = await http.get(url, params={"at": log[9].ts})
        assert answer.status_code == 200 and answer.json()["seq"] == 10
        bad: list[tuple[str, int, str, str | None]] = [
            ("", 422, "missing_field", "seq"),
            ("?seq=abc", 422, "wrong_type", "seq"),
            ("?seq=0", 422, "invalid_value", "seq"),
            (f"?seq={len(log) + 1}", 422, "invalid_value", "seq"),
            ("?seq=3&at=2026-11-28T03:05:00Z", 422, "invalid_value", "at"),
            ("?seq=3&seq=4", 422, "invalid_value", "seq"),
            ("?at=2026-11-28T02:59:00Z", 422, "invalid_value", "at"),
            ("?at=soon", 422, "invalid_value", "at"),
            ("?when=now", 422, "unknown_field", "when"),
        ]
        for query, status, code, field in bad:
            answer = await http.get(url + query)
            assert answer.status_code == status, (query, answer.text)
            assert answer.json()["error"]["code"] == code and answer.json()["error"].get("field") == field, (
                query
            )
        missing = await http.get(f"{server.http_url}/api/v1/incidents/INC-404/state?seq=1")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_room"
        anonymous = await httpx.AsyncClient().get(url + "?seq=1")
        assert anonymous.status_code == 401


# -- the command line -------------------------------------------------------------------


async def test_show_at_and_seq_through_a_real_hub(
    clocked_hub: Any, make_client: ClientFactory, env: dict[str, str]
) -> None:
    server, clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = await scripted(server, client, clock)
    log = await log_of(server.hub.store, room)
    pinned = next(e for e in log if e.type == "entry.pinned")

    shown = await warroom(env, "show", room, "--seq", str(pinned.seq), *hub_args(server))
    assert shown.code == 0, shown.err
    assert "SEV2  investigating" in shown.out and "[pinned]" in shown.out and "HighErrorRate" not in shown.out
    at = pinned.ts[:19].replace("T", " ")
    assert (
        shown.out.splitlines()[0] == f"{room} as it stood at {at} UTC: after event {pinned.seq} of {len(log)}"
    )
    now = await warroom(env, "show", room, *hub_args(server))
    assert "SEV1  resolved" in now.out and "[pinned]" not in now.out

    as_json = await warroom(env, "show", room, "--seq", str(pinned.seq + 1), "--json", *hub_args(server))
    assert json.loads(as_json.out) == fold(room, log[: pinned.seq + 1]).to_dict()

    # A full time, and a bare clock time on the day it was declared: 30 s after the pin.
    clock_time = pinned.ts[11:16] + ":30"
    for at in (pinned.ts[:19].replace("T", " ") + "Z", clock_time):
        moment = await warroom(env, "show", room, "--at", at, "--json", *hub_args(server))
        assert moment.code == 0, moment.err
        assert json.loads(moment.out)["seq"] == pinned.seq


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seq", "3", "--at", "03:05"], "not allowed with"),
        (["--seq", "999"], "outside"),
        (["--seq", "0"], "outside"),
        (["--at", "02:00"], "before"),
        (["--at", "2026-11-27T03:00:00Z"], "before"),
        (["--at", "teatime"], "not a time"),
        (["--at", "25:61"], "not a time"),
    ],
)
async def test_show_refusals_are_one_line(
    clocked_hub: Any, make_client: ClientFactory, env: dict[str, str], args: list[str], needle: str
) -> None:
    server, _clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = (await client.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    result = await warroom(env, "show", room, *args, *hub_args(server))
    assert needle in result.one_line_error()


async def test_show_judges_overdue_steps_at_the_moment_shown(
    clocked_hub: Any, make_client: ClientFactory, env: dict[str, str]
) -> None:
    """A runbook step due ten minutes after it was attached is not overdue five minutes in."""
    from tests.test_runbook_app import attach

    server, clock = clocked_hub
    client = await make_client(server.url, "ann")
    room = str((await client.send("incident.declared", {"title": "t", "severity": "SEV2"}))["room"])
    await attach(server, room)  # at 03:00: "Check which endpoints fail" is due at 03:10
    for minutes in (5, 10):  # at 03:05 and 03:15
        clock.now += timedelta(minutes=minutes)
        await client.send("entry.added", {"text": f"note at 03:{clock.now.minute:02d}"}, room)
    early = await warroom(env, "show", room, "--seq", "3", *hub_args(server))
    assert early.code == 0, early.err
    assert "Check which endpoints fail" in early.out and "OVERDUE" not in early.out
    late = await warroom(env, "show", room, "--at", "03:12", *hub_args(server))
    assert (
        "OVERDUE since 03:10" in late.out and "note at 03:05" in late.out and "note at 03:15" not in late.out
    )


class NoCheckpoints(SQLiteStore):
    """The real store, whose checkpoint writes fail (a full disk, say) while reads work."""

    async def save_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        raise StorageError("database or disk is full")


async def test_checkpoints_that_cannot_be_saved_only_cost_time(
    db_path: Path, make_client: ClientFactory
) -> None:
    """The answer is the same, folded from further back; nothing is refused for a cache."""
    server = HubServer(db_path, TOKEN, store=NoCheckpoints(db_path))
    await server.start()
    try:
        server.hub.history.every = 3
        client = await make_client(server.url, "ann")
        room = (await client.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
        for n in range(10):
            await client.send("entry.added", {"text": f"n{n}"}, room)
        log = await log_of(server.hub.store, room)
        past = await client.past(room, seq=10)
        assert past.base_seq == 0 and past.state() == fold(room, log[:10])
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            answer = await http.get(f"{server.http_url}/api/v1/incidents/{room}/state?seq=7")
            assert answer.status_code == 200 and answer.json() == fold(room, log[:7]).to_dict()
    finally:
        await server.stop()
