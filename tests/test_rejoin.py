"""Rooms joined before the connection is up: a refusal reaches whoever waits, nothing waits forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.runner import HubServer
from tests.conftest import ClientFactory, declare, wait_for
from warroom.client import CommandRejected
from warroom.client.hub_client import Backoff


async def test_a_refused_rejoin_fails_the_join_instead_of_waiting_forever(
    hub: HubServer, make_client: ClientFactory
) -> None:
    """``warroom join INC-X`` started before the hub answers: the join goes out from connect()."""
    client = await make_client(hub.url, connect_now=False)
    joining = asyncio.create_task(client.join("INC-NOPE", timeout=None))
    await wait_for(lambda: "INC-NOPE" in client.rooms, what="the room to be remembered")
    await client.connect()
    with pytest.raises(CommandRejected):
        await asyncio.wait_for(joining, 10)
    assert "INC-NOPE" not in client.rooms


async def test_a_command_submitted_while_connect_resends_the_outbox_is_sent(
    hub: HubServer, make_client: ClientFactory
) -> None:
    writer = await make_client(hub.url)
    room = await declare(writer)
    client = await make_client(hub.url, "dana", connect_now=False)
    first = client.submit("entry.added", {"text": "typed offline"}, room)
    later: list[asyncio.Future[dict[str, Any]]] = []
    send_command = client._send_command

    async def sending(command: Any) -> None:
        await send_command(command)
        if not later:  # typed while connect() is still resending the outbox
            later.append(client.submit("entry.added", {"text": "typed during the resend"}, room))

    client._send_command = sending  # type: ignore[method-assign]
    await client.connect()
    await asyncio.wait_for(first, 10)
    await asyncio.wait_for(later[0], 10)
    assert len(client.outbox) == 0


async def test_a_rejoin_refused_for_now_is_tried_again(hub: HubServer, make_client: ClientFactory) -> None:
    writer = await make_client(hub.url)
    room = await declare(writer)
    client = await make_client(hub.url, "dana", connect_now=False, backoff=Backoff(base=0.01, cap=0.05))
    joining = asyncio.create_task(client.join(room, timeout=None))
    await wait_for(lambda: room in client.rooms, what="the room to be remembered")
    send = client._send
    refused: list[int] = []

    async def sending(frame: dict[str, Any]) -> None:
        if frame["t"] == "join" and not refused:  # the hub is busy: it answers rate_limited, once
            refused.append(frame["rid"])
            client._dispatch({"t": "error", "rid": frame["rid"], "code": "rate_limited", "message": "busy"})
            return
        await send(frame)

    client._send = sending  # type: ignore[method-assign]
    await client.connect()
    view = await asyncio.wait_for(joining, 10)
    assert refused and view.synced and room in client.rooms
