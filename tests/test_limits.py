"""Limits: rates refused with a hint and the connection kept; caps refused with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.config import HubConfigError, parse_hub_config
from server.limits import TokenBucket
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, wait_for
from warroom.client import CommandRejected


def test_a_token_bucket_allows_a_burst_then_a_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0.0


async def limited(db_path: Path, **limits: Any) -> HubServer:
    server = HubServer(db_path, TOKEN, config=parse_hub_config({"limits": limits}))
    await server.start()
    return server


async def test_commands_over_the_rate_are_refused_with_a_hint(
    db_path: Path, raw_client: Any, make_client: ClientFactory
) -> None:
    server = await limited(db_path, commands_per_second=0.5, command_burst=3)
    try:
        raw = await raw_client(server.url)
        await raw.hello("flood")
        room = (await raw.command("incident.declared", {"title": "t", "severity": "SEV4"}))["room"]
        replies = [await raw.command("entry.added", {"text": f"n{n}"}, room) for n in range(4)]
        assert [r["t"] for r in replies] == ["ack", "ack", "error", "error"]
        assert replies[2]["code"] == "rate_limited" and replies[2]["retry_after"] > 0
        assert replies[2]["id"]  # named, so a client can keep it queued
        await raw.send({"t": "list", "rid": "still open"})
        assert (await raw.recv_until("incidents"))[0]["rid"] == "still open"  # the connection stayed open
        other = await make_client(server.url, "calm")  # another person has a bucket of their own
        await other.send("entry.added", {"text": "unaffected"}, room)
    finally:
        await server.stop()


async def test_the_client_keeps_a_rate_limited_line_and_delivers_it(
    db_path: Path, make_client: ClientFactory
) -> None:
    server = await limited(db_path, commands_per_second=5, command_burst=2)
    try:
        client = await make_client(server.url, "typist")
        room = (await client.send("incident.declared", {"title": "t", "severity": "SEV4"}))["room"]
        futures = [client.submit("entry.added", {"text": f"line {n}"}, room) for n in range(4)]
        for future in futures:
            await future  # every line lands, none is lost to the limit
        state = await server.hub.settled_state(room)
        assert sorted(e.text for e in state.entries.values() if e.kind == "note") == [
            f"line {n}" for n in range(4)
        ]
    finally:
        await server.stop()


async def test_http_writes_over_the_rate_get_429(db_path: Path) -> None:
    server = await limited(db_path, http_per_second=0.5, http_burst=2)
    try:
        async with httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            body = {"alerts": [{"name": "Noisy"}]}
            statuses = [(await http.post("/api/v1/alerts", json=body)) for _ in range(3)]
            assert [r.status_code for r in statuses] == [202, 202, 429]
            assert statuses[2].json()["error"]["code"] == "rate_limited"
            assert int(statuses[2].headers["Retry-After"]) >= 1
            assert (await http.get("/api/v1/incidents")).status_code == 200  # reads are not counted
    finally:
        await server.stop()


async def test_caps_on_members_rooms_checklists_and_connections(
    db_path: Path, make_client: ClientFactory
) -> None:
    server = await limited(db_path, members_per_room=2, rooms=2, checklist_items=2, connections_per_token=3)
    try:
        ann = await make_client(server.url, "ann")
        room = (await ann.send("incident.declared", {"title": "one", "severity": "SEV4"}))["room"]
        await ann.send("incident.declared", {"title": "two", "severity": "SEV4"})
        with pytest.raises(CommandRejected) as refused:
            await ann.send("incident.declared", {"title": "three", "severity": "SEV4"})
        assert refused.value.error.code == "limit_reached" and "2 incidents" in refused.value.error.message

        for text in ("a", "b"):
            await ann.send("checklist.item_added", {"text": text}, room)
        with pytest.raises(CommandRejected) as refused:
            await ann.send("checklist.item_added", {"text": "c"}, room)
        assert refused.value.error.code == "limit_reached"

        bo = await make_client(server.url, "bo")
        await ann.join(room)
        await bo.join(room)
        cy = await make_client(server.url, "cy")
        with pytest.raises(CommandRejected) as refused:
            await cy.join(room)
        assert refused.value.error.code == "limit_reached" and "full" in refused.value.error.message

        with pytest.raises(InvalidStatus) as too_many:  # ann, bo and cy hold the token's 3 connections
            await connect(server.url, additional_headers={"Authorization": f"Bearer {TOKEN}"})
        assert too_many.value.response.status_code == 429
        await cy.close()
        await wait_for(lambda: len(server.sync.sessions) == 2, what="a connection to free up")
        again = await connect(server.url, additional_headers={"Authorization": f"Bearer {TOKEN}"})
        await again.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("limits", [{"rooms": 0}, {"rooms": 1.5}, {"members_per_room": True}, {"speed": 3}])
def test_bad_limits_are_refused_at_start(limits: dict[str, Any]) -> None:
    with pytest.raises(HubConfigError, match="limits"):
        parse_hub_config({"limits": limits})
