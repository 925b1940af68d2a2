"""The hub's on-call log against a real hub: overrides over HTTP, handoffs with a controllable clock
and a local webhook receiver, a restart in the middle, and pages asked for by hand.

The clock starts at 2026-11-28 03:00 UTC (04:00 in Berlin): alice's daily turn on platform, until
09:00 Berlin (08:00 UTC), then bob's, then alice's again on the 29th at 08:00 UTC.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.intake import ONCALL
from server.runner import HubServer
from tests.conftest import TOKEN, Cli, Clock, Receiver, declare, issue, wait_for
from tests.test_cli import warroom
from tests.test_escalation_hub import client_of, logged, pages, start_hub, write_config
from warroom.client import HubClient

FILE_OVERRIDE = """
[[schedules.platform.overrides]]
user = "carol"
from = "2026-11-28T00:00"
to = "2026-11-28T05:00"
"""


async def oncall_hub(tmp_path: Path, receiver: Receiver, clock: Clock, extra: str = "") -> HubServer:
    config = write_config(tmp_path, receiver.url)
    if extra:
        oncall = tmp_path / "oncall.toml"
        oncall.write_text(oncall.read_text(encoding="utf-8") + extra, encoding="utf-8")
    server = await start_hub(tmp_path / "hub.db", config, clock)
    server.oncall.interval = 0.01
    return server


def handoffs(receiver: Receiver) -> list[dict[str, Any]]:
    return [
        json.loads(body)
        for path, headers, body in receiver.got
        if path == "/pages" and headers.get("x-warroom-event") == "oncall.handoff"
    ]


async def settle(server: HubServer, n: int = 3) -> None:
    """Let the on-call service look at the clock a few more times, and what it wrote commit."""
    start = server.oncall.ticks
    await wait_for(lambda: server.oncall.ticks >= start + n, what="on-call ticks")
    await server.hub.writer.settled()


def http(server: HubServer, token: str = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=10)


DAVE_AT_TEN = {"schedule": "platform", "user": "dave", "from": "2026-11-28T10:00", "to": "2026-11-28T12:00"}


@asynccontextmanager
async def alice_on_call(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> AsyncIterator[tuple[HubServer, HubClient, str]]:
    """A hub following the on-call file, and frank's SEV2 incident, whose first on-call line says alice."""
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    frank = await client_of(server, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
        await wait_for(lambda: server.hub._rooms[room].state.oncall == {"platform": "alice"}, what="joined")
        yield server, frank, room
    finally:
        await frank.close()


async def test_an_override_through_the_hub_wins_over_layers_and_file_overrides_and_can_be_removed(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock, FILE_OVERRIDE)
    hubs.append(server)
    async with http(server) as api:
        body = {"schedule": "platform", "user": "dave", "from": "2026-11-28T03:30", "to": "2026-11-28T06:00"}
        made = await api.post("/api/v1/oncall/overrides", json={**body, "reason": "swap", "actor": "erin"})
        assert made.status_code == 201, made.text
        override = made.json()["override"]
        # Berlin's wall clock: 03:30 there is 02:30 UTC.
        assert (override["user"], override["from"], override["to"]) == (
            "dave",
            "2026-11-28T02:30:00Z",
            "2026-11-28T05:00:00Z",
        )
        assert override["by"] == "erin"
        listed = (await api.get("/api/v1/oncall/overrides", params={"schedule": "platform"})).json()
        assert [o["id"] for o in listed["overrides"]] == [override["id"]]
        # The file's carol override covers 03:00 too; the hub's is later, so it wins.
        assert server.oncall.on_call("platform", clock.now) == "dave"
        frank = await client_of(server, "frank")
        try:
            room = await declare(frank, "Payments failing", "SEV2")
            await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
            assert pages(receiver)[0]["notify"] == ["dave"]
            await wait_for(lambda: server.hub._rooms[room].state.oncall.get("platform") == "dave")
            gone = await api.delete(f"/api/v1/oncall/overrides/{override['id']}")
            assert gone.status_code == 200, gone.text
            assert (await api.get("/api/v1/oncall/overrides")).json()["overrides"] == []
            assert server.oncall.on_call("platform", clock.now) == "carol"  # the file's override again
            # Who is on call changed now, not at a shift's edge: recorded, and the room follows.
            await wait_for(lambda: server.hub._rooms[room].state.oncall.get("platform") == "carol")
            lines = [e.text for e in server.hub._rooms[room].state.entries.values()]
            assert "on call for platform: dave → carol (override)" in lines
        finally:
            await frank.close()
    await server.access.flush()
    audit = await server.access.store.audit(None, None, 100)
    kinds = [(a.kind, a.actor) for a in audit if a.kind.startswith("oncall.")]
    assert kinds == [("oncall.override_added", "erin"), ("oncall.override_removed", "api")]


async def test_bad_overrides_are_refused_in_json_and_change_nothing(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    viewer = await issue(server, "vic", level="viewer")
    good = {"schedule": "platform", "user": "dave", "from": "2026-11-28T10:00", "to": "2026-11-28T11:00"}
    async with http(server) as api:
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({**good, "schedule": "nope"}, 404, "no schedule 'nope'"),
            ({**good, "user": "mallory"}, 422, "unknown user 'mallory'"),
            ({**good, "to": good["from"]}, 422, "to must come after from"),
            ({**good, "from": "2026-11-28T12:00"}, 422, "to must come after from"),
            ({**good, "from": "yesterday"}, 422, "is not a time"),
            ({**good, "to": 5}, 422, "expected a time"),
            ({**good, "colour": "red"}, 422, "unknown field 'colour'"),
            ({**good, "reason": "\x1b]0;owned\x07"}, 422, "ESC (U+001B)"),
        ]
        for body, status, words in cases:
            answer = await api.post("/api/v1/oncall/overrides", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert words in answer.json()["error"]["message"], (body, answer.text)
        assert (await api.delete("/api/v1/oncall/overrides/99")).status_code == 404
        assert (await api.delete("/api/v1/oncall/overrides/x1")).status_code == 422
        assert (await api.post("/api/v1/oncall/overrides", content=b"{nope")).status_code == 400
        assert (await api.get("/api/v1/oncall/overrides")).json() == {"overrides": []}
    async with http(server, viewer) as api:
        refused = await api.post("/api/v1/oncall/overrides", json=good)
        assert refused.status_code == 403
        assert "needs a responder token" in refused.json()["error"]["message"]
        assert (await api.get("/api/v1/oncall/overrides")).status_code == 200  # reading is fine
    async with http(server, await issue(server, "sam", scope=["INC-1"])) as api:
        refused = await api.post("/api/v1/oncall/overrides", json=good)  # a responder for one incident
        assert refused.status_code == 403
        assert "reaches every incident" in refused.json()["error"]["message"]
    async with http(server, await issue(server, "maria")) as api:  # a responder for all: it may
        made = await api.post("/api/v1/oncall/overrides", json={**good, "actor": "someone-else"})
        assert made.status_code == 201 and made.json()["override"]["by"] == "maria"  # the token names her
        gone = await api.delete(f"/api/v1/oncall/overrides/{made.json()['override']['id']}")
        assert gone.status_code == 200
    assert server.oncall.overrides == {}


async def test_handoffs_are_recorded_told_and_written_into_the_incidents_that_inherit_them(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    start = clock.now
    async with alice_on_call(tmp_path, receiver, clock, hubs) as (server, _, room):
        assert handoffs(receiver) == []  # starting to follow a schedule tells nobody
        clock.now = start.replace(hour=7, minute=59, second=59)
        await settle(server)
        assert handoffs(receiver) == []
        clock.now = start.replace(hour=8)
        await wait_for(lambda: len(handoffs(receiver)) == 1, what="the 08:00 handoff")
        told = handoffs(receiver)[0]
        assert (told["from"], told["to"], told["at"]) == ("alice", "bob", "2026-11-28T08:00:00.000Z")
        assert [i["id"] for i in told["incidents"]] == [room]
        assert f"open incidents you inherit: {room} (SEV2 Payments failing)" in told["summary"]
        await wait_for(lambda: server.hub._rooms[room].state.oncall == {"platform": "bob"}, what="room")
        lines = [e.text for e in server.hub._rooms[room].state.entries.values()]
        assert "on call for platform: alice" in lines
        assert "on call for platform: alice → bob" in lines
        # As a second hub that never folded the first one's record would: it decides it again.
        server.oncall.chain["platform"] = server.oncall.chain["platform"].__class__(start, "alice", "start")
        await settle(server, 5)
        assert len(handoffs(receiver)) == 1
        chain = await logged(server, ONCALL, "oncall.handoff")
        assert [(h["why"], h.get("from"), h.get("to")) for h in chain] == [
            ("start", None, "alice"),
            ("handoff", "alice", "bob"),
        ]
        assert len(await logged(server, room, "oncall.handoff")) == 2


async def test_an_incident_that_missed_handoffs_gets_a_line_for_each_in_order(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its line was refused (another hub's view had moved on) while the clock went past two handoffs:
    the room still says who was on call when, not only who is on call now."""
    start = clock.now
    async with alice_on_call(tmp_path, receiver, clock, hubs) as (server, frank, room):
        async with http(server) as api:
            assert (await api.post("/api/v1/oncall/overrides", json=DAVE_AT_TEN)).status_code == 201

        async def refused(room_id: str) -> None:
            """The room's turn comes and goes without a line, as when another hub's write won first."""

        monkeypatch.setattr(server.oncall.handoffs, "sync_room", refused)
        clock.now = start.replace(hour=8)
        await wait_for(lambda: len(handoffs(receiver)) == 1, what="alice -> bob")
        clock.now = start.replace(hour=9)
        await wait_for(lambda: len(handoffs(receiver)) == 2, what="bob -> dave")
        await settle(server)
        assert server.hub._rooms[room].state.oncall == {"platform": "alice"}
        monkeypatch.undo()
        await frank.send("incident.status_changed", {"status": "identified"}, room)  # its next look
        await wait_for(lambda: server.hub._rooms[room].state.oncall == {"platform": "dave"}, what="caught up")
        await settle(server)
        lines = [e.text for e in server.hub._rooms[room].state.entries.values() if "on call for" in e.text]
        assert lines == [
            "on call for platform: alice",
            "on call for platform: alice → bob",
            "on call for platform: bob → dave",
        ]


async def test_a_restart_in_the_middle_repeats_no_handoff_and_skips_none(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    start = clock.now
    frank = await client_of(server, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
        await wait_for(lambda: server.hub._rooms[room].state.oncall == {"platform": "alice"}, what="joined")
    finally:
        await frank.close()
    async with http(server) as api:  # acknowledged before the stop: it must survive it
        body = {"schedule": "platform", "user": "dave", "from": "2026-11-29T12:00", "to": "2026-11-29T13:00"}
        assert (await api.post("/api/v1/oncall/overrides", json=body)).status_code == 201
    await server.stop()
    # Down across two handoffs: the 28th 08:00 (alice → bob) and the 29th 08:00 (bob → alice).
    clock.now = start + timedelta(days=1, hours=6)
    again = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(again)
    await wait_for(lambda: len(handoffs(receiver)) == 2, what="both handoffs, late")
    await settle(again, 5)
    assert [(h["from"], h["to"], h["at"]) for h in handoffs(receiver)] == [
        ("alice", "bob", "2026-11-28T08:00:00.000Z"),
        ("bob", "alice", "2026-11-29T08:00:00.000Z"),
    ]
    assert [o.user for o in again.oncall.overrides.values()] == ["dave"]
    state = await again.hub.settled_state(room)
    assert state.oncall == {"platform": "alice"}
    lines = [e.text for e in state.entries.values() if e.text.startswith("on call for")]
    assert lines == [  # the incident's timeline skips neither
        "on call for platform: alice",
        "on call for platform: alice → bob",
        "on call for platform: bob → alice",
    ]
    await again.stop()
    third = await oncall_hub(tmp_path, receiver, clock)  # once more, with nothing due: nothing repeats
    hubs.append(third)
    await settle(third, 5)
    assert len(handoffs(receiver)) == 2
    clock.now = start.replace(day=29, hour=11)  # 12:00 Berlin: dave's override begins
    await wait_for(lambda: len(handoffs(receiver)) == 3, what="the override's start")
    assert (handoffs(receiver)[2]["from"], handoffs(receiver)[2]["to"]) == ("alice", "dave")
    chain = await logged(third, ONCALL, "oncall.handoff")
    assert [(h.get("from"), h.get("to")) for h in chain] == [
        (None, "alice"),
        ("alice", "bob"),
        ("bob", "alice"),
        ("alice", "dave"),
    ]


async def test_a_page_asked_for_in_the_room_pages_whoever_is_on_call_now(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    frank = await client_of(server, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
        clock.now = clock.now.replace(hour=8, minute=5)  # bob's turn now; levels 2 and 3 go out too
        await frank.send("page.requested", {}, room)
        await wait_for(lambda: any(p.get("by") for p in pages(receiver)), what="the page asked for")
        page = next(p for p in pages(receiver) if p.get("by"))
        assert (page["by"], page["notify"], page["targets"]) == ("frank", ["bob"], ["schedule:platform"])
        assert page["summary"].endswith("frank pages bob, on call (schedule:platform)")
        await server.hub.writer.settled()
        lines = [e.text for e in server.hub._rooms[room].state.entries.values()]
        assert "frank asked to page whoever is on call" in lines
        assert "frank paged bob (on call: schedule:platform)" in lines
        bob = await client_of(server, "bob")
        try:  # bob was paged by hand: his ack stops the escalation
            await bob.send("page.acked", {}, room)
        finally:
            await bob.close()
        await wait_for(lambda: bool(server.escalation.tracks[room].runs["incident"].stopped), what="stop")
    finally:
        await frank.close()


DB_SCHEDULE = """
[schedules.db]
timezone = "UTC"
[[schedules.db.layers]]
users = ["erin"]
rotation = "weekly"
handoff = "monday 00:00"
start = "2026-11-02"

[policies.database]
services = ["postgres"]
sinks = ["pager"]
[[policies.database.levels]]
at = "1h"
notify = ["schedule:db"]
"""


async def test_an_incident_gains_and_loses_schedules_as_its_services_change(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock, DB_SCHEDULE)
    hubs.append(server)
    frank = await client_of(server, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")

        def oncall() -> dict[str, str]:
            return server.hub._rooms[room].state.oncall

        await wait_for(lambda: oncall() == {"platform": "alice"}, what="platform only")
        await frank.send("incident.services_set", {"services": ["postgres"]}, room)
        await wait_for(lambda: oncall() == {"platform": "alice", "db": "erin"}, what="db joins")
        await frank.send("incident.services_set", {"services": ["web"]}, room)
        await wait_for(lambda: oncall() == {"platform": "alice"}, what="db leaves")
        await settle(server)
        lines = [
            e.text for e in server.hub._rooms[room].state.entries.values() if e.text.startswith("on call")
        ]
        assert lines == [
            "on call for platform: alice",
            "on call for db: erin",
            "on call for db: no longer paged for this incident",
        ]
    finally:
        await frank.close()


async def test_the_on_call_log_is_no_incident_and_clients_cannot_write_to_it(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    await settle(server)
    assert await server.hub.store.room(ONCALL) is not None
    assert [i["id"] for i in await server.hub.incidents()] == []
    frank = await client_of(server, "frank")
    try:
        with pytest.raises(Exception, match="on-call log"):
            await frank.send("entry.added", {"text": "hello"}, ONCALL)
        room = await declare(frank, "Payments failing", "SEV2")  # an incident's declaration is posted
        await wait_for(
            lambda: any(room.encode() in body and b"declared" in body for _, _, body in receiver.got)
        )
    finally:
        await frank.close()
    assert not any(b"On-call log" in body for _, _, body in receiver.got)  # the log's never was
    assert [i["id"] for i in await server.hub.incidents()] == [room]


# --- the CLI against the hub: one real subprocess, the rest in a thread (the hub's loop stays free) ---


async def test_the_cli_adds_lists_uses_and_removes_hub_overrides(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer], env: dict[str, str], cli: Cli
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    await settle(server)  # the on-call log: its room (#1), then platform followed from now (#2)
    hub = ["--hub", server.url, "--token", TOKEN, "--http", server.http_url, "--as", "erin"]
    file = ["--schedules", str(tmp_path / "oncall.toml")]
    r = await warroom(
        env, "oncall", "override", "platform", "dave", "--from", "2026-12-01T10:00", "--to",
        "2026-12-01T12:00", "--reason", "swap with alice", *hub,
    )  # fmt: skip
    assert r.code == 0, r.err
    assert (
        r.out == "override #3: dave on call for platform from 2026-12-01T09:00:00Z to 2026-12-01T11:00:00Z\n"
    )
    r = await cli("oncall", "overrides", "platform", "--json", *hub)
    listed = json.loads(r.out)
    assert [(o["id"], o["user"], o["by"], o["reason"]) for o in listed] == [
        (3, "dave", "erin", "swap with alice")
    ]
    at = ["--at", "2026-12-01T10:30"]
    r = await cli("oncall", "platform", *at, "--json", "--explain", *file, *hub)
    assert (json.loads(r.out)["now"], json.loads(r.out)["decided_by"]) == ("dave", "override"), r.err
    r = await cli("oncall", "platform", *at, "--explain", *file, *hub)
    assert "decided by an override: dave" in r.out and "(recorded through the hub)" in r.out
    r = await cli("oncall", "platform", *at, "--json", *file, *hub, "--no-hub")
    assert json.loads(r.out)["now"] != "dave"  # the file alone
    r = await cli(
        "oncall", "shifts", "platform", "--from", "2026-12-01T09:00", "--to", "2026-12-01T13:00",
        "--json", *file, *hub,
    )  # fmt: skip
    assert ("dave", "override") in [(s["user"], s["source"]) for s in json.loads(r.out)]
    r = await cli("escalate", "simulate", "payments", "--at", "2026-12-01T09:30Z", "--json", *file, *hub)
    assert json.loads(r.out)[0]["notify"] == ["dave"], r.err
    r = await cli("oncall", "override", "--remove", "3", *hub)
    assert r.code == 0 and r.out == "removed override #3: dave on call for platform\n", r.err
    r = await cli("oncall", "overrides", *hub)
    assert r.out == "no overrides recorded in the hub\n"


async def test_bad_override_input_on_the_cli_is_one_line_and_exit_2(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer], cli: Cli
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    viewer = await issue(server, "vic", level="viewer")
    hub = ["--hub", server.url, "--token", TOKEN, "--http", server.http_url]
    when = ["--from", "2026-12-01T10:00", "--to", "2026-12-01T12:00"]
    cases = [
        (["nope", "dave", *when], "no schedule 'nope'"),
        (["platform", "mallory", *when], "unknown user 'mallory'"),
        (
            ["platform", "dave", "--from", "2026-12-01T12:00", "--to", "2026-12-01T12:00"],
            "to must come after from",
        ),
        (["platform", "dave", "--from", "soon", "--to", "2026-12-01T12:00"], "'soon' is not a time"),
        (["platform", "dave", "--from", "2026-12-01T12:00"], "say when with --from TIME and --to TIME"),
        (["platform"], "write: warroom oncall override SCHEDULE NAME"),
        (["--remove", "x"], "an override id is a number"),
        (["--remove", "77"], "no override #77"),
    ]
    for args, words in cases:
        r = await cli("oncall", "override", *args, *hub)
        assert words in r.one_line_error(), (args, r.err)
    as_viewer = ["--hub", server.url, "--token", viewer, "--http", server.http_url]
    r = await cli("oncall", "override", "platform", "dave", *when, *as_viewer)
    assert "needs a responder token" in r.one_line_error()
    r = await cli("oncall", "platform", "--schedules", str(tmp_path / "oncall.toml"), "--hub",
                      "ws://127.0.0.1:9", "--token", TOKEN, "--http", "http://127.0.0.1:9")  # fmt: skip
    assert "--no-hub reads the schedules file alone" in r.one_line_error()
    assert server.oncall.overrides == {}
