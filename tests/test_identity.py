"""Identity and access, one test per rule, on both transports and from the CLI.

Tokens are made by the real hub (over the sync channel, HTTP or the CLI), used
over real websockets and real HTTP, and checked against the real log and the
audit table.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.config import parse_hub_config
from server.runner import HubServer
from server.tokens import BadToken, Identity, Level, SecretError, sign, verify
from tests.conftest import TOKEN, ClientFactory, Clock, Raw, assert_log_is_whole, declare, issue, wait_for
from tests.test_cli import hub_args, warroom
from warroom.client import CommandRejected, HubClient
from warroom.core.state import IncidentState


async def open_raw(server: HubServer, token: str, name: str = "whoever") -> Raw:
    ws = await connect(server.url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None)
    raw = Raw(ws)
    welcome = await raw.hello(name)
    assert welcome["t"] == "welcome", welcome
    return raw


def http(server: HubServer, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.http_url, headers=headers)


def said(state: IncidentState) -> list[tuple[str, str]]:
    """What people wrote, leaving out the hub's own system lines."""
    return [(e.author, e.text) for e in state.entries.values() if e.kind != "system"]


async def audit(server: HubServer, kind: str) -> list[dict[str, Any]]:
    await server.access.flush()
    return [r.to_dict() for r in await server.hub.store.audit(None, kind, 1000)]  # type: ignore[attr-defined]


async def refused_handshake(server: HubServer, token: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        await connect(server.url, additional_headers={"Authorization": f"Bearer {token}"})
    return caught.value.response.status_code


@pytest.fixture
async def clocked(db_path: Path) -> AsyncIterator[tuple[HubServer, Clock]]:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    yield server, clock
    await server.stop()


# -- who you are ------------------------------------------------------------------------


async def test_a_wrong_or_tampered_token_is_refused_on_both_transports(hub: HubServer) -> None:
    good = await issue(hub, "bob", level="viewer")
    head, claims, signature = good.split(".")
    raised = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    raised["level"] = "admin"  # a viewer promoting itself: the signature no longer matches
    forged = base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode()
    for bad in ("nonsense", f"{head}.{forged}.{signature}", TOKEN + "x", ""):
        assert await refused_handshake(hub, bad) == 401
        async with http(hub, bad) as api:
            answer = await api.get("/api/v1/incidents")
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    rejected = await audit(hub, "auth.rejected")
    reasons = {r["detail"]["reason"] for r in rejected}
    assert {"malformed", "bad signature", "no token"} <= reasons
    assert {r["via"] for r in rejected} == {"sync", "http"}
    assert sum(r["count"] for r in rejected) == 8


async def test_an_expired_token_is_refused_and_cut_off_while_connected(
    clocked: tuple[HubServer, Clock],
) -> None:
    server, clock = clocked
    token = await issue(server, "bob", expires="1h")
    room = await _declare(server, "ann")
    raw = await open_raw(server, token)
    assert (await raw.command("entry.added", {"text": "still good"}, room))["t"] == "ack"
    clock.now += timedelta(hours=2)
    refusal = await raw.command("entry.added", {"text": "too late"}, room)
    assert refusal["code"] == "unauthorized" and "expired" in refusal["message"]
    with pytest.raises(ConnectionClosed) as closed:
        await raw.recv_until("never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    assert await refused_handshake(server, token) == 401
    async with http(server, token) as api:
        answer = await api.get("/api/v1/incidents")
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]
    assert said(await server.hub.settled_state(room)) == [("bob", "still good")]


async def test_revocation_closes_open_connections_at_once(hub: HubServer, make_client: ClientFactory) -> None:
    token = await issue(hub, "bob")
    room = await _declare(hub, "ann")
    raw = await open_raw(hub, token)
    await raw.send({"t": "join", "rid": 1, "room": room})
    await raw.recv_until("synced")
    admin = await make_client(hub.url, "root")
    listed = await admin.admin("token.list")
    revoked = await admin.admin("token.revoke", {"id": listed[0]["id"]})
    assert revoked["revoked_by"] == "root" and revoked["revoked_at"]
    with pytest.raises(ConnectionClosed) as closed:
        await raw.recv_until("never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    assert await refused_handshake(hub, token) == 401
    async with http(hub, token) as api:
        answer = await api.post(f"/api/v1/incidents/{room}/entries", json={"text": "after"})
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]
    with pytest.raises(CommandRejected) as again:
        await admin.admin("token.revoke", {"id": "tnothere"})
    assert again.value.error.code == "not_found"
    assert [r["detail"]["name"] for r in await audit(hub, "token.revoked")] == ["bob"]


async def test_tokens_and_revocations_survive_a_restart(db_path: Path) -> None:
    first = HubServer(db_path, TOKEN)
    await first.start()
    kept, dropped = await issue(first, "kim"), await issue(first, "lee")
    room = await _declare(first, "ann")
    admin = HubClient(first.url, TOKEN, "root")
    await admin.connect()
    lee = next(t for t in await admin.admin("token.list") if t["name"] == "lee")
    await admin.admin("token.revoke", {"id": lee["id"]})
    await admin.close()
    await first.stop()
    assert stat.S_IMODE(first.secret_file.stat().st_mode) == 0o600

    second = HubServer(db_path, TOKEN)
    await second.start()
    try:
        assert await refused_handshake(second, dropped) == 401
        raw = await open_raw(second, kept)
        assert (await raw.command("entry.added", {"text": "after the restart"}, room))["t"] == "ack"
        await raw.close()
        assert said(await second.hub.settled_state(room)) == [("kim", "after the restart")]
    finally:
        await second.stop()
    assert_log_is_whole(db_path)


def test_a_secret_others_can_read_is_refused(db_path: Path) -> None:
    HubServer(db_path, TOKEN)  # makes the secret
    secret = db_path.with_name(db_path.name + ".secret")
    os.chmod(secret, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        HubServer(db_path, TOKEN)


SECRET = bytes(range(32))
GOOD = sign(SECRET, Identity("t0", "bob", Level.VIEWER), "2026-11-28T03:00:00.000Z")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(
            alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=", max_size=200
        ).map(lambda t: "wr1." + t),
        st.tuples(st.integers(0, len(GOOD) - 1), st.characters()).map(
            lambda change: GOOD[: change[0]] + change[1] + GOOD[change[0] + 1 :]
        ),
    )
)
def test_no_token_but_a_signed_one_passes_and_nothing_else_raises(token: str) -> None:
    try:
        identity = verify(SECRET, token)
    except BadToken:
        return
    assert token == GOOD and identity.name == "bob"


# -- what you may do --------------------------------------------------------------------


async def test_the_name_comes_from_the_token_and_a_spoofed_actor_is_ignored(hub: HubServer) -> None:
    room = await _declare(hub, "ann")
    token = await issue(hub, "bob")
    raw = await open_raw(hub, token, name="ann")  # claims to be the commander
    await raw.send({"t": "hello", "v": 1, "name": "ann"})
    assert (await raw.recv())["code"] == "bad_frame"  # hello once; the name was already fixed
    status = await raw.command("incident.status_changed", {"status": "resolved"}, room)
    assert status["code"] == "forbidden" and "commander" in status["message"]
    assert (await raw.command("entry.added", {"text": "from the socket"}, room))["t"] == "ack"
    async with http(hub, token) as api:
        answer = await api.post(
            f"/api/v1/incidents/{room}/entries", json={"text": "from http", "author": "ann", "actor": "ann"}
        )
        assert answer.status_code == 201
        answer = await api.post(
            f"/api/v1/incidents/{room}/status", json={"status": "resolved", "actor": "ann"}
        )
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    state = await hub.hub.settled_state(room)
    assert said(state) == [
        ("bob", "from the socket"),
        ("bob", "from http"),
    ]
    assert state.status != "resolved"


async def test_the_welcome_says_who_the_token_is(hub: HubServer) -> None:
    token = await issue(hub, "bob", level="viewer", scope=["INC-7"], expires="30d")
    ws = await connect(hub.url, additional_headers={"Authorization": f"Bearer {token}"})
    raw = Raw(ws)
    welcome = await raw.hello("ann")
    await raw.close()
    assert welcome["name"] == "bob"
    assert welcome["access"]["level"] == "viewer" and welcome["access"]["scope"] == ["INC-7"]
    client = HubClient(hub.url, token, "ann")
    await client.connect()
    assert client.name == "bob"
    await client.close()


async def test_the_hub_token_names_itself_and_the_role_rules_still_apply(hub: HubServer) -> None:
    room = await _declare(hub, "ann")
    async with http(hub, TOKEN) as api:
        answer = await api.post(
            f"/api/v1/incidents/{room}/status", json={"status": "resolved", "actor": "eve"}
        )
        assert answer.status_code == 403
        answer = await api.post(
            f"/api/v1/incidents/{room}/status", json={"status": "monitoring", "actor": "ann"}
        )
        assert answer.status_code == 201
    eve = await open_raw(hub, TOKEN, name="eve")
    assert (await eve.command("incident.status_changed", {"status": "resolved"}, room))["code"] == "forbidden"
    await eve.close()
    denied = await audit(hub, "permission.denied")
    assert {(d["actor"], d["via"]) for d in denied} == {("eve", "http"), ("eve", "sync")}


async def test_a_viewer_reads_but_sends_nothing(hub: HubServer) -> None:
    room = await _declare(hub, "ann")
    token = await issue(hub, "val", level="viewer")
    raw = await open_raw(hub, token)
    await raw.send({"t": "join", "rid": 1, "room": room})
    joined, _ = await raw.recv_until("synced")
    assert joined["room"] == room
    refusal = await raw.command("entry.added", {"text": "hi"}, room)
    assert refusal["code"] == "forbidden" and "needs a responder token" in refusal["message"]
    await raw.send({"t": "admin", "rid": "a", "op": "token.list"})
    assert (await raw.recv_until("error"))[0]["code"] == "forbidden"
    async with http(hub, token) as api:
        assert (await api.get(f"/api/v1/incidents/{room}")).status_code == 200
        answer = await api.post(f"/api/v1/incidents/{room}/entries", json={"text": "hi"})
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
        assert (await api.post("/api/v1/alerts", json={"alerts": []})).status_code == 403
    assert said(await hub.hub.settled_state(room)) == []


async def test_a_responder_cannot_do_a_commanders_job_or_an_admins(hub: HubServer) -> None:
    room = await _declare(hub, "ann")
    token = await issue(hub, "bob")
    raw = await open_raw(hub, token)
    refusal = await raw.command("incident.severity_changed", {"severity": "SEV1"}, room)
    assert refusal["code"] == "forbidden" and "commander" in refusal["message"]
    await raw.send(
        {"t": "admin", "rid": "a", "op": "token.create", "args": {"name": "bob2", "level": "admin"}}
    )
    assert (await raw.recv_until("error"))[0]["code"] == "forbidden"
    async with http(hub, token) as api:
        assert (
            await api.post(f"/api/v1/incidents/{room}/severity", json={"severity": "SEV1"})
        ).status_code == 403
        assert (await api.post("/api/v1/tokens", json={"name": "bob2", "level": "admin"})).status_code == 403
        assert (await api.get("/api/v1/audit")).status_code == 403
    assert (await hub.hub.settled_state(room)).severity == "SEV2"
    local_admin = await issue(hub, "lou", level="admin", scope=[room])  # an admin for one incident only
    async with http(hub, local_admin) as api:
        answer = await api.post("/api/v1/tokens", json={"name": "lou2", "level": "admin"})
        assert answer.status_code == 403 and "every incident" in answer.json()["error"]["message"]


async def test_a_scoped_token_reaches_only_its_incidents_on_both_transports(hub: HubServer) -> None:
    mine, other = await _declare(hub, "ann"), await _declare(hub, "ann")
    token = await issue(hub, "sam", scope=[mine])
    raw = await open_raw(hub, token)
    await raw.send({"t": "list", "rid": "l"})
    listed, _ = await raw.recv_until("incidents")
    assert [i["id"] for i in listed["incidents"]] == [mine]
    # A room outside the scope is answered as a missing one is: existence is not revealed.
    for room in (other, "INC-999"):
        await raw.send({"t": "join", "rid": "j", "room": room})
        refusal = (await raw.recv_until("error"))[0]
        assert (refusal["code"], refusal["message"]) == ("unknown_room", f"no incident {room!r}")
    assert (await raw.command("entry.added", {"text": "no"}, other))["code"] == "unknown_room"
    assert (await raw.command("incident.declared", {"title": "t", "severity": "SEV3"}))["code"] == "forbidden"
    assert (await raw.command("entry.added", {"text": "yes"}, mine))["t"] == "ack"
    async with http(hub, token) as api:
        assert [i["id"] for i in (await api.get("/api/v1/incidents")).json()["incidents"]] == [mine]
        assert (await api.get(f"/api/v1/incidents/{mine}")).status_code == 200
        for answer in (
            await api.get(f"/api/v1/incidents/{other}"),
            await api.post(f"/api/v1/incidents/{other}/entries", json={"text": "no"}),
            await api.post(f"/api/v1/incidents/{other}/roles/scribe", json={"name": "sam"}),
        ):
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_room", answer.text
        for answer in (
            await api.post("/api/v1/incidents", json={"title": "t", "severity": "SEV3"}),
            await api.post("/api/v1/alerts/alertmanager", json={"alerts": []}),
        ):
            assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden", answer.text
    assert said(await hub.hub.settled_state(mine)) == [("sam", "yes")]
    assert said(await hub.hub.settled_state(other)) == []
    denied = await audit(hub, "permission.denied")
    assert len(denied) == 9 and {d["actor"] for d in denied} == {"sam"}


async def test_rate_limits_and_connection_caps_are_per_token(db_path: Path) -> None:
    limits = {"command_burst": 3, "commands_per_second": 0.01, "connections_per_token": 2}
    server = HubServer(db_path, TOKEN, config=parse_hub_config({"limits": limits}))
    await server.start()
    try:
        room = await _declare(server, "ann")
        busy, calm = await issue(server, "busy"), await issue(server, "calm")
        loud = await open_raw(server, busy)
        answers = [(await loud.command("entry.added", {"text": f"{i}"}, room))["t"] for i in range(4)]
        assert answers == ["ack", "ack", "ack", "error"]
        quiet = await open_raw(server, calm)
        assert (await quiet.command("entry.added", {"text": "unaffected"}, room))["t"] == "ack"
        second = await open_raw(server, busy)
        with pytest.raises(InvalidStatus) as third:
            await connect(server.url, additional_headers={"Authorization": f"Bearer {busy}"})
        assert third.value.response.status_code == 429
        await second.close()
        await wait_for(lambda: sum(s.identity.token_id != "hub" for s in server.sync.sessions) == 2)
        again = await open_raw(server, busy)  # a closed connection frees its place
        for raw in (loud, quiet, again):
            await raw.close()
    finally:
        await server.stop()


# -- the admin's tools ------------------------------------------------------------------


async def test_tokens_over_http(hub: HubServer) -> None:
    async with http(hub, TOKEN) as api:
        made = await api.post(
            "/api/v1/tokens", json={"name": "ci-bot", "level": "responder", "expires": "never"}
        )
        assert made.status_code == 201 and made.json()["expires_at"] is None
        body = made.json()
        for bad, field in (
            ({"name": "x", "level": "root"}, "level"),
            ({"name": "x", "expires": "soon"}, "expires"),
            ({"name": "x", "scope": ["not an id"]}, "scope"),
            ({}, "name"),
        ):
            answer = await api.post("/api/v1/tokens", json=bad)
            assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text
        assert [t["name"] for t in (await api.get("/api/v1/tokens")).json()["tokens"]] == ["ci-bot"]
        assert (await api.delete(f"/api/v1/tokens/{body['id']}")).json()["revoked_at"]
        assert (await api.delete("/api/v1/tokens/nothere")).status_code == 404
        assert (await api.get("/api/v1/audit", params={"since": "yesterday"})).status_code == 422
        kinds = [r["kind"] for r in (await api.get("/api/v1/audit", params={"since": "1h"})).json()["audit"]]
    assert "token.created" in kinds and "token.revoked" in kinds
    async with http(hub, body["token"]) as api:
        assert (await api.get("/api/v1/incidents")).status_code == 401
    assert body["token"] not in json.dumps(await audit(hub, "token.created"))


async def test_token_and_audit_from_the_cli(hub: HubServer, env: dict[str, str]) -> None:
    room = await _declare(hub, "ann")
    made = await warroom(
        env,
        "token",
        "create",
        "bob",
        "--scope",
        room,
        "--role",
        "responder",
        "--expires",
        "30d",
        *hub_args(hub),
    )
    assert made.code == 0, made.err
    bob = made.out.strip()
    assert bob.startswith("wr1.") and "\n" not in bob and "bob" in made.err
    logged = await warroom(env, "log", room, "from bob's shell", *hub_args(hub, bob), "--as", "ann")
    assert logged.code == 0, logged.err
    listed = await warroom(env, "token", "list", *hub_args(hub))
    assert "bob" in listed.out and "active" in listed.out and room in listed.out
    token_id = listed.out.splitlines()[1].split()[0]
    assert (await warroom(env, "token", "revoke", token_id, *hub_args(hub))).code == 0
    assert "revoked" in (await warroom(env, "log", room, "again", *hub_args(hub, bob))).one_line_error()
    assert "revoked" in (await warroom(env, "token", "list", *hub_args(hub))).out
    shown = await warroom(env, "audit", "--since", "1h", *hub_args(hub))
    assert shown.code == 0 and "token.created" in shown.out and "auth.rejected" in shown.out
    only = await warroom(env, "audit", "--kind", "token.revoked", "--json", *hub_args(hub))
    assert [r["kind"] for r in json.loads(only.out)] == ["token.revoked"]
    assert "since" in (await warroom(env, "audit", "--since", "someday", *hub_args(hub))).one_line_error()
    assert (
        "expires"
        in (await warroom(env, "token", "create", "x", "--expires", "soon", *hub_args(hub))).one_line_error()
    )
    assert said(await hub.hub.settled_state(room)) == [("bob", "from bob's shell")]


def test_serve_says_its_mode_and_never_prints_the_secret(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "warroom", "serve", "--port", "0", "--http-port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")},
    )
    assert proc.stdout is not None
    output = []
    for line in proc.stdout:
        output.append(line)
        if "status page" in line:
            break
    proc.terminate()
    output.append(proc.stdout.read())
    proc.wait(timeout=20)
    text = "".join(output)
    secret = db.with_name("hub.db.secret").read_text().strip()
    assert "Access: the hub token is an admin" in text and "personal token" in text
    assert secret not in text
    os.chmod(db.with_name("hub.db.secret"), 0o640)
    refused = subprocess.run(
        [sys.executable, "-m", "warroom", "serve", "--port", "0", "--http-port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "chmod 600" in refused.stderr


async def _declare(server: HubServer, commander: str) -> str:
    client = HubClient(server.url, TOKEN, commander)
    await client.connect()
    try:
        return await declare(client)
    finally:
        await client.close()


async def test_audit_lines_are_kept_for_the_configured_days(db_path: Path) -> None:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock, config=parse_hub_config({"limits": {"audit_days": 30}}))
    await server.start()
    try:
        assert await refused_handshake(server, "old and wrong") == 401
        await server.access.flush()  # repeats are folded into one line only within a flush
        clock.now += timedelta(days=29)
        assert await refused_handshake(server, "newer and wrong") == 401
        await server.access.flush()
        clock.now += timedelta(days=2)
        await server.access.prune()
        kept = await audit(server, "auth.rejected")
        assert [r["ts"][:10] for r in kept] == ["2026-12-27"]
    finally:
        await server.stop()
