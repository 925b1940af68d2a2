"""Bad input never crashes the hub: each case gets its documented answer, and the room keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from server.http_api import MAX_BODY
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, declare
from warroom.core.protocol import MAX_FRAME, new_id


async def still_serving(hub: HubServer, make_client: ClientFactory) -> None:
    """A well-behaved client in the same hub still gets its entry acknowledged and delivered."""
    client = await make_client(hub.url, "steady")
    room = await declare(client)
    view = await client.join(room)
    ack = await client.send("entry.added", {"text": "still here"}, room)
    assert view.state.entries[ack["seq"]].text == "still here"


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (b"\x93\x01", "bad_frame", None),  # a truncated msgpack array
        (b"\xc1", "bad_frame", None),  # a byte msgpack never uses
        (msgpack.packb([1, 2, 3]), "bad_frame", None),  # msgpack of the wrong shape
        (msgpack.packb({"type": "hello"}), "bad_frame", "t"),  # no frame type
        (msgpack.packb({"t": "teleport", "rid": 9}), "unknown_frame", "t"),
        (msgpack.packb({"t": "join", "rid": 9}), "missing_field", "room"),
        (msgpack.packb({"t": "join", "rid": 9, "room": ["INC-1"]}), "wrong_type", "room"),
        (msgpack.packb({"t": "join", "rid": 9, "room": "INC-1", "after": "ten"}), "wrong_type", "after"),
        (msgpack.packb({"t": "cmd", "rid": 9, "id": "1234", "type": "entry.added"}), "invalid_value", "id"),
        (msgpack.packb({"t": "join", "rid": 9, "room": "INC-404"}), "unknown_room", "room"),
        (msgpack.packb({"t": "hello", "v": 1, "name": "again"}), "bad_frame", None),
        ("a text frame", "bad_frame", None),
    ],
)
async def test_malformed_frames_get_an_error_frame(
    hub: HubServer, raw_client, make_client: ClientFactory, payload: Any, code: str, field: str | None
) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    await raw.ws.send(payload)
    reply = await raw.recv()
    assert reply["t"] == "error" and reply["code"] == code and reply.get("field") == field
    assert reply["message"]
    if isinstance(payload, bytes) and b"rid" in payload:
        assert reply["rid"] == 9
    await raw.send({"t": "list", "rid": "after"})  # the same connection is still usable
    assert (await raw.recv())["t"] == "incidents"
    await still_serving(hub, make_client)


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({}, "missing_field", "text"),
        ({"text": 12}, "wrong_type", "text"),
        ({"text": "x" * 5000}, "too_long", "text"),
        ({"text": "ok", "kind": "gossip"}, "invalid_value", "kind"),
        ({"text": "ok", "mood": "calm"}, "unknown_field", "mood"),
    ],
)
async def test_invalid_commands_are_refused_with_their_id(
    hub: HubServer, raw_client, make_client: ClientFactory, data: dict[str, Any], code: str, field: str
) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    command_id = new_id()
    reply = await raw.command("entry.added", data, room, command_id)
    assert (reply["t"], reply["code"], reply["field"], reply["id"]) == ("error", code, field, command_id)
    await still_serving(hub, make_client)


async def test_refused_commands_by_state(hub: HubServer, raw_client) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    assert (await raw.command("entry.pinned", {"entry": 77}, room))["code"] == "unknown_ref"
    assert (await raw.command("entry.added", {"text": "x"}, "INC-999"))["code"] == "unknown_room"
    assert (await raw.command("incident.exploded", {}, room))["code"] == "unknown_type"
    assert (await raw.command("entry.added", {"text": "x"}))["code"] == "missing_field"
    assert (await raw.command("incident.declared", {"title": "t", "severity": "SEV1"}, room))[
        "code"
    ] == "room_exists"
    reserved = await raw.command("incident.declared", {"title": "t", "severity": "SEV1"}, "inbox")
    assert (reserved["code"], reserved["field"]) == ("invalid_value", "room")


async def test_a_command_before_hello_is_refused(
    hub: HubServer, raw_client, make_client: ClientFactory
) -> None:
    raw = await raw_client(hub.url)
    await raw.send(
        {
            "t": "cmd",
            "rid": 1,
            "id": new_id(),
            "type": "entry.added",
            "room": "INC-1",
            "data": {"text": "too early"},
        }
    )
    reply = await raw.recv()
    assert (reply["code"], reply["rid"]) == ("hello_required", 1)
    assert (await raw.hello())["t"] == "welcome"  # the connection stays open for a proper hello
    await still_serving(hub, make_client)


async def test_an_unsupported_protocol_version_is_refused_and_closed(hub: HubServer, raw_client) -> None:
    raw = await raw_client(hub.url)
    await raw.send({"t": "hello", "v": 99, "name": "future"})
    reply = await raw.recv()
    assert reply["code"] == "unsupported_version"
    with pytest.raises(ConnectionClosed) as closed:
        await raw.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002


async def test_an_oversized_frame_closes_only_that_connection(
    hub: HubServer, raw_client, make_client: ClientFactory
) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    await raw.send({"t": "list", "rid": 1, "pad": "x" * (MAX_FRAME + 10)})
    with pytest.raises(ConnectionClosed) as closed:
        await raw.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    await still_serving(hub, make_client)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_a_bad_token_is_refused_before_the_upgrade(
    hub: HubServer, make_client: ClientFactory, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(hub.url, additional_headers=headers)
    assert refused.value.response.status_code == 401
    await still_serving(hub, make_client)


# -- HTTP ---------------------------------------------------------------------------------


@pytest.fixture
async def http(hub: HubServer):
    async with httpx.AsyncClient(
        base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error, dict) and error["message"]
    return error


@pytest.mark.parametrize("auth", [None, "Bearer nope", "Token test-token"])
async def test_http_needs_the_token(hub: HubServer, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    async with httpx.AsyncClient(base_url=hub.http_url, headers=headers) as client:
        response = await client.post("/api/v1/incidents", json={"title": "t", "severity": "SEV1"})
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
        assert (await client.get("/healthz")).status_code == 200
    assert await hub.hub.incidents() == []


async def test_http_bad_bodies(hub: HubServer, http: httpx.AsyncClient, make_client: ClientFactory) -> None:
    cases: list[tuple[dict[str, Any], int, str, str | None]] = [
        ({"content": b"{not json"}, 400, "bad_json", None),
        ({"content": b"\xff\xfe"}, 400, "bad_json", None),
        ({"json": ["a", "list"]}, 422, "wrong_type", None),
        ({"json": {"severity": "SEV1"}}, 422, "missing_field", "title"),
        ({"json": {"title": 5, "severity": "SEV1"}}, 422, "wrong_type", "title"),
        ({"json": {"title": "t", "severity": "SEV0"}}, 422, "invalid_value", "severity"),
        ({"json": {"title": "t" * 300, "severity": "SEV1"}}, 422, "too_long", "title"),
        ({"json": {"title": "t", "severity": "SEV1", "actor": ["x"]}}, 422, "wrong_type", "actor"),
        ({"content": b"x" * (MAX_BODY + 1)}, 413, "too_large", None),
    ]
    for kwargs, status, code, field in cases:
        response = await http.post("/api/v1/incidents", **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        error = error_of(response)
        assert (error["code"], error.get("field")) == (code, field)
    assert await hub.hub.incidents() == []  # nothing was half-applied
    await still_serving(hub, make_client)


async def test_http_body_too_large_without_a_length_header(hub: HubServer, http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 4096

    response = await http.post("/api/v1/incidents", content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"


async def test_http_unknown_things(hub: HubServer, http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/incidents/INC-77")
    assert response.status_code == 404 and error_of(response)["code"] == "unknown_room"
    response = await http.post("/api/v1/incidents/INC-77/entries", json={"text": "x"})
    assert response.status_code == 404 and error_of(response)["code"] == "unknown_room"
    response = await http.get("/api/v1/nothing")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    response = await http.delete("/api/v1/incidents")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
    response = await http.post(
        "/api/v1/incidents", json={"title": "t", "severity": "SEV2"}, headers={"Idempotency-Key": "twice"}
    )
    assert response.status_code == 422 and error_of(response)["field"] == "Idempotency-Key"


async def test_an_id_reused_for_another_command_is_refused(hub: HubServer, raw_client) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    command_id = new_id()
    room = (
        await raw.command("incident.declared", {"title": "t", "severity": "SEV3"}, command_id=command_id)
    )["room"]
    reply = await raw.command("entry.added", {"text": "same id, other command"}, room, command_id)
    assert (reply["t"], reply["code"], reply["field"]) == ("error", "id_reused", "id")
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        response = await http.post(
            f"/api/v1/incidents/{room}/entries", json={"text": "x"}, headers={"Idempotency-Key": command_id}
        )
    assert response.status_code == 409 and error_of(response)["code"] == "id_reused"
    assert (await hub.hub.settled_state(room)).seq == 1


async def test_leaving_a_room_not_joined_and_times_out_of_range(hub: HubServer, raw_client) -> None:
    raw = await raw_client(hub.url)
    await raw.hello()
    await raw.send({"t": "leave", "rid": 3, "room": "INC-1"})
    reply = await raw.recv()
    assert (reply["code"], reply["rid"]) == ("not_joined", 3)
    room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        reply = await raw.command("entry.added", {"text": "x", "happened_at": moment}, room)
        assert (reply["code"], reply["field"]) == ("invalid_value", "happened_at")
    ok = await raw.command("entry.added", {"text": "x", "happened_at": "0900-01-01T00:00:00Z"}, room)
    assert ok["t"] == "ack"
    assert (await hub.hub.settled_state(room)).entries[ok["seq"]].happened_at == "0900-01-01T00:00:00.000Z"


async def test_a_browser_origin_is_refused_unless_configured(
    db_path: Path, make_client: ClientFactory
) -> None:
    from server.config import parse_hub_config

    server = HubServer(db_path, TOKEN, config=parse_hub_config({"origins": ["https://status.example.com"]}))
    await server.start()
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with pytest.raises(InvalidStatus) as refused:  # a page elsewhere, carrying a stolen token
            await connect(server.url, additional_headers=auth, origin=Origin("https://evil.example"))
        assert refused.value.response.status_code == 403
        allowed = await connect(
            server.url, additional_headers=auth, origin=Origin("https://status.example.com")
        )
        await allowed.close()
        await still_serving(server, make_client)  # terminals send no Origin at all
    finally:
        await server.stop()
