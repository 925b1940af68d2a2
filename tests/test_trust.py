"""The hub trusts no client: each attack a scoped, viewer or plain responder token once got through.

Every test drives a real hub through its public interfaces (websocket frames sent
by hand, HTTP) and checks afterwards that the hub's log has no gap and no double.
The upstream silence attack, which needs a real Alertmanager, is in
tests/test_alertmanager.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from server.config import HubConfigError, parse_hub_config
from server.runner import HubServer
from server.store import SchemaMismatch, SQLiteStore
from tests.conftest import BULK, TOKEN, Clock, Raw, assert_log_is_whole, issue, log_location, wait_for
from warroom.client import HubClient
from warroom.client.hub_client import Backoff
from warroom.core.events import Command
from warroom.core.protocol import new_id

OpenRaw = Callable[..., Awaitable[Raw]]
HUB = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def clocked_hub(db: Path, config: dict[str, Any]) -> AsyncIterator[tuple[HubServer, Clock]]:
    """A hub whose clock the test moves."""
    clock = Clock()
    server = HubServer(db, TOKEN, clock=clock, config=parse_hub_config(config))
    await server.start()
    try:
        yield server, clock
    finally:
        await server.stop()


async def person(open_raw: OpenRaw, server: HubServer, token: str, name: str) -> Raw:
    raw = await open_raw(server.url, token)
    welcome = await raw.hello(name)
    assert welcome["t"] == "welcome", welcome
    return raw


async def join(raw: Raw, room: str, **extra: Any) -> dict[str, Any]:
    """The hub's answer to a join: ``joined``, or the error."""
    rid = new_id()
    await raw.send({"t": "join", "rid": rid, "room": room, "after": 0, **extra})
    while True:
        frame = await raw.recv()
        if frame["t"] in ("joined", "error") and frame.get("rid") == rid:
            return frame


async def declare(server: HubServer, actor: str, title: str = "Payments down", **extra: Any) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, headers=HUB) as http:
        body = {"title": title, "severity": "SEV2", "actor": actor, **extra}
        answer = await http.post("/api/v1/incidents", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def fire(server: HubServer, room: str, fingerprint: str, **alert: Any) -> None:
    """An alert through the generic intake, as monitoring sends it."""
    body = {"alerts": [{"name": "HighErrorRate", "fingerprint": fingerprint, **alert}]}
    async with httpx.AsyncClient(base_url=server.http_url, headers=HUB) as http:
        answer = await http.post(f"/api/v1/alerts?incident={room}", json=body)
    assert answer.status_code == 202, answer.text


def refusal(reply: dict[str, Any]) -> tuple[str, str, str | None]:
    assert reply["t"] == "error", reply
    return reply["code"], reply["message"], reply.get("field")


# -- alerts come from intake; scope holds through them ----------------------------------------------


async def test_a_scoped_token_cannot_reach_another_incident_through_alerts(
    hub: HubServer, raw_client: OpenRaw
) -> None:
    mine, other = await declare(hub, "ann"), await declare(hub, "ann", "Search slow")
    await fire(hub, mine, "fp-mine", starts_at="2026-11-28T03:00:00Z")
    await fire(hub, other, "fp-theirs", annotations={"runbook": "private: db-primary-7 credentials"})
    before = await hub.hub.settled_state(other)
    sam = await person(raw_client, hub, await issue(hub, "sam", scope=[mine]), "sam")
    assert await join(sam, mine)

    # Clients do not send alerts: not a made-up one, not a known fingerprint into one's own room.
    for data in (
        {"fingerprint": "x", "alertname": "Anything", "labels": {"severity": "critical"}},
        {"fingerprint": "fp-theirs", "alertname": "HighErrorRate", "starts_at": "2001-01-01T00:00:00Z"},
    ):
        reply = await sam.command("alert.upserted", data, mine)
        assert refusal(reply)[0] == "unknown_type"
    reply = await sam.command("alert.resolved", {"fingerprint": "fp-mine"}, mine)
    assert refusal(reply)[0] == "unknown_type"

    # Moving out needs the target room too; out of scope reads exactly as missing.
    for target in (other, "INC-999"):
        reply = await sam.command("alert.moved", {"fingerprint": "fp-mine", "to": target}, mine)
        assert refusal(reply) == ("unknown_room", f"no incident {target!r}", "to")
        assert refusal(await join(sam, target)) == ("unknown_room", f"no incident {target!r}", "room")

    # The next real firing goes where routing put it, private annotations and all.
    await fire(hub, other, "fp-theirs", annotations={"runbook": "private: db-primary-7 credentials"})
    after, own = await hub.hub.settled_state(other), await hub.hub.settled_state(mine)
    assert after.alerts["fp-theirs"].count == 2 and "fp-theirs" not in own.alerts
    assert after.milestones["detected"] == before.milestones["detected"]
    assert set(own.alerts) == {"fp-mine"}

    # Someone with both rooms moves it; routing follows them.
    both = await person(raw_client, hub, await issue(hub, "bea", scope=[mine, other]), "bea")
    assert (await both.command("alert.moved", {"fingerprint": "fp-mine", "to": other}, mine))["t"] == "ack"
    await fire(hub, mine, "fp-mine")
    assert (await hub.hub.settled_state(other)).alerts["fp-mine"].count == 2
    assert "fp-mine" not in (await hub.hub.settled_state(mine)).alerts
    assert_log_is_whole(log_location(hub))


# -- authority does not follow presence --------------------------------------------------------------


async def test_viewers_cannot_fill_a_room_and_presence_alone_never_hands_over_a_role(
    db_path: Path, raw_client: OpenRaw
) -> None:
    limits = {"members_per_room": 5, "connections_per_token_per_room": 3}
    async with clocked_hub(db_path, {"limits": limits}) as (server, clock):
        await _viewer_flood(server, clock, raw_client)


async def _viewer_flood(server: HubServer, clock: Clock, raw_client: OpenRaw) -> None:
    room = await declare(server, "maria")
    vic = await issue(server, "vic", level="viewer", scope=[room])
    rob, rita, olga = [await issue(server, name) for name in ("rob", "rita", "olga")]

    # The attack: one viewer token opens more connections than the room has seats.
    answers = []
    for _ in range(8):
        answers.append(await join(await person(raw_client, server, vic, "vic"), room))
    assert [a["t"] for a in answers] == ["joined"] * 3 + ["error"] * 5
    assert refusal(answers[-1])[0] == "limit_reached" and "3 connections" in answers[-1]["message"]

    # Responders fill the room's five seats (three on rob's token, two on rita's).
    robs = [await person(raw_client, server, rob, "rob") for _ in range(3)]
    ritas = [await person(raw_client, server, rita, "rita") for _ in range(3)]
    for raw in [*robs, *ritas[:2]]:
        assert (await join(raw, room))["t"] == "joined"
    full = refusal(await join(ritas[2], room))
    assert full[0] == "limit_reached" and f"{room} is full" in full[1]

    # The commander is never refused her own room, and while she is in it nobody takes it.
    maria = await person(raw_client, server, TOKEN, "maria")
    assert (await join(maria, room))["t"] == "joined"
    taken = refusal(await robs[0].command("role.taken_over", {"role": "commander"}, room))
    assert taken[0] == "forbidden" and "maria is connected" in taken[1]

    # An observer takes no seat, is not listed, and does not count as present for a takeover.
    assert (await maria.command("role.assigned", {"role": "scribe", "name": "olga"}, room))["t"] == "ack"
    watcher = await person(raw_client, server, olga, "olga")
    assert (await join(watcher, room, observe=True))["t"] == "joined"
    presence, _ = await maria.recv_until("presence")
    while {m["name"] for m in presence["members"]} != {"vic", "rob", "rita", "maria"}:
        presence, _ = await maria.recv_until("presence")
    refused = refusal(await robs[0].command("role.taken_over", {"role": "scribe"}, room))
    assert refused[0] == "forbidden" and "olga was here" in refused[1]
    clock.now += timedelta(seconds=server.hub.policy.takeover_after)
    assert (await robs[0].command("role.taken_over", {"role": "scribe"}, room))["t"] == "ack"
    state = await server.hub.settled_state(room)
    assert state.roles["scribe"].name == "rob"
    assert list(state.entries.values())[-1].text == "rob took over scribe from olga (not seen for 120 s)"
    assert_log_is_whole(server.db)


async def test_cutting_the_commander_off_as_a_slow_consumer_does_not_hand_over_her_role(
    db_path: Path, raw_client: OpenRaw
) -> None:
    async with clocked_hub(db_path, BULK) as (server, clock):
        await _slow_commander(server, clock, raw_client)


async def _slow_commander(server: HubServer, clock: Clock, raw_client: OpenRaw) -> None:
    room = await declare(server, "maria")
    stuck = await raw_client(server.url, max_queue=1)  # its library stops reading after one frame
    await stuck.hello("maria")
    await stuck.send({"t": "join", "rid": 1, "room": room, "after": 0})
    await wait_for(lambda: "maria" in server.hub._rooms[room].present(), what="maria in the room")

    rob = HubClient(server.url, await issue(server, "rob"), "rob", backoff=Backoff(base=0.05, cap=0.5))
    await rob.connect()
    try:
        text = "x" * 3500
        sent = 0
        while "maria" in server.hub._rooms[room].present() and sent < 20_000:
            futures = [rob.submit("entry.added", {"text": f"{sent + n} {text}"}, room) for n in range(200)]
            for future in futures:
                await future
            sent += len(futures)
        assert server.hub.stats["slow_consumers"] == 1, f"no cut-off after {sent} entries"

        with pytest.raises(Exception) as refused:
            await rob.send("role.taken_over", {"role": "commander", "reason": "she dropped"}, room)
        assert "maria was here 0s ago" in str(refused.value)
        clock.now += timedelta(seconds=server.hub.policy.takeover_after)
        await rob.send("role.taken_over", {"role": "commander", "reason": "she dropped"}, room)
    finally:
        await rob.close()
    state = await server.hub.settled_state(room)
    assert state.roles["commander"].name == "rob"
    assert list(state.entries.values())[-1].text == (
        "rob took over incident commander from maria (not seen for 120 s): she dropped"
    )
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await stuck.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    assert_log_is_whole(server.db)


# -- entries are rewritten by their author, the commander or the scribe --------------------------------


async def test_only_the_author_the_commander_or_the_scribe_rewrite_an_entry(
    hub: HubServer, raw_client: OpenRaw
) -> None:
    room = await declare(hub, "maria")
    maria, rob, sue = [
        await person(raw_client, hub, await issue(hub, name), name) for name in ("maria", "rob", "sue")
    ]
    hers = (await maria.command("entry.added", {"text": "db primary is down"}, room))["seq"]
    his = (await rob.command("entry.added", {"text": "roll back 4512"}, room))["seq"]

    for type_, data in (("entry.edited", {"text": "nothing is down"}), ("entry.struck", {"reason": "lies"})):
        code, message, field = refusal(await rob.command(type_, {"entry": hers, **data}, room))
        assert (code, field) == ("forbidden", "entry") and "only maria (its author)" in message
        for who in (maria, rob):  # the hub's own lines: not even the commander
            code, message, _ = refusal(await who.command(type_, {"entry": 1, **data}, room))
            assert code == "forbidden" and "hub's own lines" in message

    assert (await rob.command("entry.edited", {"entry": his, "text": "rolled back 4512"}, room))["t"] == "ack"
    assert (await maria.command("entry.edited", {"entry": his, "text": "rolled back #4512"}, room))[
        "t"
    ] == "ack"
    assert refusal(await sue.command("entry.struck", {"entry": his}, room))[0] == "forbidden"
    assert (await maria.command("role.assigned", {"role": "scribe", "name": "sue"}, room))["t"] == "ack"
    assert (await sue.command("entry.struck", {"entry": his, "reason": "dup"}, room))["t"] == "ack"

    state = await hub.hub.settled_state(room)
    assert state.entries[hers].text == "db primary is down" and state.entries[hers].struck_by is None
    assert state.entries[1].text.startswith("declared") and state.entries[1].struck_by is None
    assert (state.entries[his].text, state.entries[his].struck_by) == ("rolled back #4512", "sue")
    assert_log_is_whole(log_location(hub))


# -- a reused command id ------------------------------------------------------------------------------


async def test_a_command_id_reused_with_other_content_is_refused_not_dropped(
    hub: HubServer, raw_client: OpenRaw
) -> None:
    mine, other = await declare(hub, "ann"), await declare(hub, "ann", "Search slow")
    theirs = new_id()
    ann = await person(raw_client, hub, TOKEN, "ann")
    assert (await ann.command("entry.added", {"text": "private"}, other, theirs))["t"] == "ack"
    sam = await person(raw_client, hub, await issue(hub, "sam", scope=[mine]), "sam")

    used = new_id()
    first = await sam.command("entry.added", {"text": "cache flushed"}, mine, used)
    again = await sam.command("entry.added", {"text": "cache flushed"}, mine, used)
    assert again["t"] == "ack" and again["duplicate"] is True and again["seq"] == first["seq"]
    changed = await sam.command("entry.added", {"text": "cache NOT flushed"}, mine, used)
    assert refusal(changed) == ("id_reused", f"id {used} was already used for a different command", "id")
    # An id first used in a room outside the scope gets the same answer, naming no incident.
    elsewhere = await sam.command("entry.added", {"text": "x"}, mine, theirs)
    assert refusal(elsewhere) == ("id_reused", f"id {theirs} was already used for a different command", "id")
    assert other not in elsewhere["message"]

    # Two frames with one id, pipelined: one lands, the other is refused, nothing is silently dropped.
    racing = new_id()
    for text in ("first", "second"):
        await sam.send(
            {
                "t": "cmd",
                "rid": text,
                "id": racing,
                "type": "entry.added",
                "data": {"text": text},
                "room": mine,
            }
        )
    replies = [(await sam.recv_until_reply(racing))[0] for _ in range(2)]
    assert sorted(r["t"] for r in replies) == ["ack", "error"]
    assert next(r for r in replies if r["t"] == "error")["code"] == "id_reused"

    # Over HTTP, with an Idempotency-Key.
    key = new_id()
    async with httpx.AsyncClient(base_url=hub.http_url, headers=HUB) as http:
        url = f"/api/v1/incidents/{mine}/entries"
        assert (await http.post(url, json={"text": "a"}, headers={"Idempotency-Key": key})).status_code == 201
        assert (await http.post(url, json={"text": "a"}, headers={"Idempotency-Key": key})).status_code == 200
        answer = await http.post(url, json={"text": "b"}, headers={"Idempotency-Key": key})
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "id_reused"
    texts = [e.text for e in (await hub.hub.settled_state(mine)).entries.values() if e.kind == "note"]
    assert texts.count("cache flushed") == 1 and "cache NOT flushed" not in texts and texts.count("a") == 1
    assert len({"first", "second"} & set(texts)) == 1
    assert_log_is_whole(log_location(hub))


async def test_an_id_reused_while_the_first_is_in_flight_is_refused(hub: HubServer) -> None:
    room = await declare(hub, "ann")
    same = new_id()
    first = hub.hub.submit(Command(same, "entry.added", {"text": "one"}, room), "ann")
    resend = hub.hub.submit(Command(same, "entry.added", {"text": "one"}, room), "ann")
    with pytest.raises(Exception) as refused:
        hub.hub.submit(Command(same, "entry.added", {"text": "two"}, room), "ann")
    assert getattr(refused.value, "code", None) == "id_reused"
    assert (await first).seq == (await resend).seq and (await resend).duplicate
    assert_log_is_whole(log_location(hub))


@pytest.mark.sqlite_only  # an old SQLite schema
async def test_a_database_from_before_digests_is_upgraded_and_its_ids_still_guarded(db_path: Path) -> None:
    server = HubServer(db_path, TOKEN)
    await server.start()
    old = new_id()
    room = (
        await server.hub.execute(Command(old, "incident.declared", {"title": "t", "severity": "SEV3"}), "ann")
    ).room
    await server.stop()
    with sqlite3.connect(db_path) as conn:  # what an older hub left: no digest column, version 1
        conn.execute("ALTER TABLE events DROP COLUMN digest")
        conn.execute("DROP INDEX rooms_rev")
        conn.execute("ALTER TABLE rooms DROP COLUMN rev")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(SchemaMismatch, match="warroom db upgrade"):  # never migrated behind one's back
        await HubServer(db_path, TOKEN).start()
    assert await SQLiteStore(db_path).upgrade() == (1, 3)  # what `warroom db upgrade` runs

    server = HubServer(db_path, TOKEN)
    await server.start()
    try:
        with sqlite3.connect(db_path) as conn:
            assert "digest" in [row[1] for row in conn.execute("PRAGMA table_info(events)")]
            assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
        resent = await server.hub.execute(
            Command(old, "incident.declared", {"title": "t", "severity": "SEV3"}), "ann"
        )
        assert resent.duplicate and resent.room == room
        with pytest.raises(Exception) as refused:
            await server.hub.execute(Command(old, "entry.added", {"text": "x"}, room), "ann")
        assert getattr(refused.value, "code", None) == "id_reused"
        await server.hub.execute(Command(new_id(), "entry.added", {"text": "x"}, room), "ann")
    finally:
        await server.stop()
    with sqlite3.connect(db_path) as conn:
        digests = [row[0] for row in conn.execute("SELECT digest FROM events ORDER BY seq")]
    assert digests[0] is None and all(digests[1:])
    assert_log_is_whole(db_path)


def test_clients_may_not_fill_in_what_the_hub_records() -> None:
    """Absence on a takeover is the hub's to measure (its refusal is tested end to end above)."""
    from warroom.core.errors import WarroomError
    from warroom.core.events import validate_command

    with pytest.raises(WarroomError) as caught:
        validate_command("role.taken_over", {"role": "tech", "absent_for": 600})
    assert (caught.value.code, caught.value.field) == ("invalid_value", "absent_for")
    assert validate_command("role.taken_over", {"role": "tech", "absent_for": 600}, from_client=False)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"roles": {"takeover_after": "2m"}}, "roles"),
        ({"roles": {"takeover_after": True}}, "roles"),
        ({"silences": {"max_minutes": 0}}, "silences.max_minutes"),
        ({"silences": {"max_minutes": 14 * 24 * 60 + 1}}, "silences.max_minutes"),
        ({"silences": {"must_match": "alertname"}}, "silences.must_match"),
        ({"silences": {"matchers": []}}, "silences.matchers"),
        ({"limits": {"connections_per_token_per_room": 0}}, "limits.connections_per_token_per_room"),
    ],
)
def test_the_new_bounds_are_checked_when_the_config_is_read(raw: dict[str, Any], names: str) -> None:
    with pytest.raises(HubConfigError, match=f"config: {names}: "):
        parse_hub_config(raw)


def test_the_new_bounds_reach_the_policy_clients_are_sent() -> None:
    config = parse_hub_config(
        {"roles": {"takeover_after": 300}, "silences": {"max_minutes": 60, "must_match": ["service"]}}
    )
    wire = config.policy.to_wire()
    assert wire["takeover_after"] == 300
    assert wire["silences"] == {"max_minutes": 60, "must_match": ["service"]}
    assert parse_hub_config({}).policy.to_wire()["silences"] == {
        "max_minutes": 1440,
        "must_match": ["alertname"],
    }


async def test_an_observer_joining_again_as_a_responder_takes_a_seat(
    db_path: Path, raw_client: OpenRaw
) -> None:
    """Watching first is no way past the member limit."""
    async with clocked_hub(db_path, {"limits": {"members_per_room": 1}}) as (server, _):
        room = await declare(server, "maria")
        seated = await person(raw_client, server, TOKEN, "ann")
        assert (await join(seated, room))["t"] == "joined"
        sneaky = await person(raw_client, server, TOKEN, "bo")
        assert (await join(sneaky, room, observe=True))["t"] == "joined"  # observers take no seat
        refused = await join(sneaky, room)  # the same connection, now as a responder
        assert (refused["t"], refused["code"]) == ("error", "limit_reached"), refused
    assert_log_is_whole(db_path)


async def test_a_command_resent_while_its_preparer_runs_is_prepared_once(
    db_path: Path, raw_client: OpenRaw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconnecting client resends an unacked silence while Alertmanager still answers the first."""
    async with clocked_hub(db_path, {}) as (server, _):
        room = await declare(server, "maria")
        await fire(server, room, "fp1")
        calls: list[Command] = []
        release = asyncio.Event()

        async def slow(command: Command, actor: str, admin: bool) -> Command:
            calls.append(command)
            await release.wait()  # Alertmanager is slow to answer
            return command

        monkeypatch.setitem(server.hub.preparers, "alert.silenced", slow)
        first = await person(raw_client, server, TOKEN, "maria")
        second = await person(raw_client, server, TOKEN, "maria")
        same = new_id()
        data = {"fingerprint": "fp1", "minutes": 30, "reason": "known"}
        frame = {"t": "cmd", "rid": "c", "id": same, "type": "alert.silenced", "data": data, "room": room}
        await first.send(frame)
        await wait_for(lambda: len(calls) == 1, what="the first copy to reach the preparer")
        await second.send(frame)  # the resend, on a new connection
        third = await person(raw_client, server, TOKEN, "maria")
        await third.send({**frame, "data": {**data, "minutes": 60}})  # the same id for something else
        refused, _ = await third.recv_until("error")
        assert refused["code"] == "id_reused"
        release.set()
        acks = [(await raw.recv_until_reply(same))[0] for raw in (first, second)]
        assert len(calls) == 1  # one silence, not two
        assert [a["t"] for a in acks] == ["ack", "ack"] and acks[0]["seq"] == acks[1]["seq"]
        assert sorted(a["duplicate"] for a in acks) == [False, True]
    assert_log_is_whole(db_path)


async def test_a_bug_behind_a_command_answers_it_and_the_connection_goes_on(
    db_path: Path, raw_client: OpenRaw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error behind a command is an answer (code internal), not a hang."""
    async with clocked_hub(db_path, {}) as (server, _):
        room = await declare(server, "maria")
        await fire(server, room, "fp1")

        async def broken(command: Command, actor: str, admin: bool) -> Command:
            raise RuntimeError("a bug")

        monkeypatch.setitem(server.hub.preparers, "alert.silenced", broken)
        raw = await person(raw_client, server, TOKEN, "maria")
        data = {"fingerprint": "fp1", "minutes": 30, "reason": "known"}
        failed = await raw.command("alert.silenced", data, room)
        assert (failed["t"], failed["code"]) == ("error", "internal"), failed
        fine = await raw.command("entry.added", {"text": "still here"}, room)  # the same connection
        assert fine["t"] == "ack"
    assert_log_is_whole(db_path)
