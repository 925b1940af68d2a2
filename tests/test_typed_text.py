"""What people type may not carry control characters, on every path into the hub.

The websocket (commands, hello, admin arguments) and the HTTP API (422, as
docs/api.md gives for it) answer with `invalid_value` naming the field and the
character; newlines and tabs are allowed only where text runs over lines
(entries, broadcasts, summaries, reasons).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, Raw, declare
from tests.hostile import HOSTILE, UNSAFE
from warroom.client import CommandRejected, HubClient, Unauthorized
from warroom.core.errors import HTTP_STATUS, Code, WarroomError
from warroom.core.events import validate_command
from warroom.core.protocol import new_id

RawFactory = Callable[..., Awaitable[Raw]]


async def ready(hub: HubServer, raw_client: RawFactory) -> tuple[Raw, str]:
    raw = await raw_client(hub.url)
    await raw.hello("typist")
    reply = await raw.command("incident.declared", {"title": "Typed text", "severity": "SEV3"})
    return raw, reply["room"]


@pytest.mark.parametrize(
    ("type_", "data", "field", "named"),
    [
        ("entry.added", {"text": "note \x1b]0;pwned\x07 \x1b[2J"}, "text", "ESC (U+001B) at position 5"),
        ("entry.added", {"text": "innocent\rEVIL"}, "text", "carriage return (U+000D) at position 8"),
        ("entry.added", {"text": "file\u202egnp.exe"}, "text", "(U+202E) at position 4"),
        ("checklist.item_added", {"text": "two\nlines"}, "text", "newline (U+000A) at position 3"),
        ("checklist.item_added", {"text": "tab\there"}, "text", "tab (U+0009) at position 3"),
        ("role.assigned", {"role": "scribe", "name": "bo\x07"}, "name", "BEL (U+0007) at position 2"),
        ("status.broadcast", {"message": "ok", "impact": "c1 \x9b2J"}, "impact", "(U+009B) at position 3"),
        ("incident.severity_changed", {"severity": "SEV2", "reason": "x\x00"}, "reason", "(U+0000)"),
    ],
)
async def test_a_command_with_a_control_character_is_refused(
    hub: HubServer, raw_client: RawFactory, type_: str, data: dict[str, Any], field: str, named: str
) -> None:
    raw, room = await ready(hub, raw_client)
    reply = await raw.command(type_, data, room)
    assert (reply["t"], reply["code"], reply["field"]) == ("error", "invalid_value", field), reply
    assert reply["message"].startswith(f"{field}: ") and named in reply["message"], reply["message"]
    assert reply["message"].endswith("is not allowed")
    assert (await hub.hub.settled_state(room)).seq == 1  # nothing was stored


@pytest.mark.parametrize(
    ("data", "field", "named"),
    [
        ({"fingerprint": "f", "alertname": "a\x1b"}, "alertname", "ESC (U+001B)"),
        ({"fingerprint": "f", "alertname": "a", "labels": {"svc": "x\x1b"}}, "labels", "'svc': ESC (U+001B)"),
    ],
)
def test_alert_fields_refuse_control_characters_even_from_intake(
    data: dict[str, Any], field: str, named: str
) -> None:
    """Only intake sends alerts, and it makes text visible first; the schema is the last guard."""
    with pytest.raises(WarroomError) as refused:
        validate_command("alert.upserted", data, from_client=False)
    assert (refused.value.code, refused.value.field) == (Code.INVALID_VALUE, field)
    assert named in refused.value.message


async def test_multiline_text_keeps_newlines_and_tabs(hub: HubServer, raw_client: RawFactory) -> None:
    raw, room = await ready(hub, raw_client)
    entry = await raw.command("entry.added", {"text": "step 1\r\n\tstep 2\nstep 3"}, room)
    said = await raw.command(
        "status.broadcast", {"message": "line\none", "impact": "a\nb", "doing": "c\td"}, room
    )
    reason = await raw.command("incident.status_changed", {"status": "identified", "reason": "x\ny"}, room)
    assert [entry["t"], said["t"], reason["t"]] == ["ack", "ack", "ack"]
    state = await hub.hub.settled_state(room)
    assert state.entries[entry["seq"]].text == "step 1\n\tstep 2\nstep 3"  # \r\n is a newline
    assert state.broadcast is not None and state.broadcast.message == "line\none"
    title = await raw.command("incident.declared", {"title": "two\nlines", "severity": "SEV3"})
    assert (title["code"], title["field"]) == ("invalid_value", "title")


async def test_every_corpus_string_with_a_control_is_refused_and_the_rest_kept(
    hub: HubServer, raw_client: RawFactory
) -> None:
    raw, room = await ready(hub, raw_client)
    for name, text in HOSTILE.items():
        reply = await raw.command("entry.added", {"text": text}, room)
        if UNSAFE.search(text):
            assert reply["code"] == "invalid_value", name
        else:  # markup, emoji and the like are only text: kept exactly
            assert reply["t"] == "ack", (name, reply)
            assert (await hub.hub.settled_state(room)).entries[reply["seq"]].text == text


async def test_hello_names_and_admin_arguments_are_checked_too(
    hub: HubServer, raw_client: RawFactory
) -> None:
    raw = await raw_client(hub.url)
    refused = await raw.hello("ann\x1b]0;x\x07")
    assert (refused["t"], refused["code"], refused["field"]) == ("error", "invalid_value", "name")

    started = asyncio.get_running_loop().time()
    client = HubClient(hub.url, TOKEN, "bo\x1b[2J")
    with pytest.raises(Unauthorized, match="name: ESC"):  # settled by the error frame, not a timeout
        await client.connect()
    assert asyncio.get_running_loop().time() - started < 3

    admin = HubClient(hub.url, TOKEN, "root")
    await admin.connect()
    try:
        with pytest.raises(CommandRejected) as caught:
            await admin.admin("token.create", {"name": "ci\x07"})
        assert (caught.value.error.code.value, caught.value.error.field) == ("invalid_value", "name")
    finally:
        await admin.close()


async def test_a_refused_command_frame_still_names_its_command(
    hub: HubServer, raw_client: RawFactory, make_client: ClientFactory
) -> None:
    """A frame refused before it is read as a command (an empty room) carries the command's id."""
    raw = await raw_client(hub.url)
    await raw.hello()
    command_id = new_id()
    await raw.send({"t": "cmd", "id": command_id, "room": "", "type": "entry.added", "data": {"text": "x"}})
    reply, _ = await raw.recv_until_reply(command_id)
    assert (reply["code"], reply["field"]) == ("invalid_value", "room")

    client = await make_client(hub.url)
    with pytest.raises(CommandRejected, match="room: must not be empty"):
        await asyncio.wait_for(client.send("entry.added", {"text": "x"}, ""), 5)
    assert len(client.outbox) == 0


async def test_http_bodies_are_checked_the_same_way(hub: HubServer, make_client: ClientFactory) -> None:
    room = await declare(await make_client(hub.url))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=hub.http_url, headers=headers) as http:
        cases = [
            (f"/api/v1/incidents/{room}/entries", {"text": "deploy \x1b]0;x\x07"}, "text"),
            (f"/api/v1/incidents/{room}/entries", {"text": "fine", "author": "ci\x1b[2J"}, "author"),
            ("/api/v1/incidents", {"title": "t\x08itle", "severity": "SEV2"}, "title"),
        ]
        for path, body, field in cases:
            response = await http.post(path, json=body)
            assert response.status_code == HTTP_STATUS[Code.INVALID_VALUE] == 422, response.text
            error = response.json()["error"]
            assert (error["code"], error["field"]) == ("invalid_value", field), error
            assert "is not allowed" in error["message"]
        kept = await http.post(f"/api/v1/incidents/{room}/entries", json={"text": "two\nlines"})
        assert kept.status_code == 201, kept.text
