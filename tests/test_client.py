"""The hub client: honest connection state, and an outbox that never drops a typed line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, assert_log_is_whole, declare, wait_for
from warroom.client import CommandRejected, ConnectionState, HubClient, Outbox, Unauthorized
from warroom.client.hub_client import Backoff


def test_connection_states_read_plainly() -> None:
    assert ConnectionState("connected").describe() == "live"
    assert ConnectionState("reconnecting", attempt=3, retry_in=4.2).describe() == (
        "reconnecting (attempt 3, next try in 4s)"
    )
    assert ConnectionState("offline", queued=2).describe() == "offline, 2 actions queued"
    assert ConnectionState("offline", queued=1).describe() == "offline, 1 action queued"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(base=0.5, cap=8)
    for attempt in range(1, 12):
        ceiling = min(8, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= backoff.delay(attempt) <= ceiling


async def test_commands_typed_offline_survive_a_client_restart(
    hub: HubServer, make_client: ClientFactory, tmp_path: Path
) -> None:
    """The outbox is a file: a terminal that dies while offline loses nothing typed."""
    writer = await make_client(hub.url)
    room = await declare(writer)

    offline = HubClient("ws://127.0.0.1:9", TOKEN, "dana", outbox=Outbox(tmp_path / "outbox.db"))
    first = offline.submit("entry.added", {"text": "typed on the train"}, room)
    second = offline.submit("entry.added", {"text": "and a second thought"}, room)
    assert offline.state.queued == 2 and offline.state.describe() == "offline, 2 actions queued"
    offline.outbox.close()  # the terminal dies here
    for future in (first, second):
        future.cancel()

    revived = await make_client(hub.url, "dana", outbox=Outbox(tmp_path / "outbox.db"))
    view = await revived.join(room)
    await wait_for(lambda: len(revived.outbox) == 0 and view.state.seq == 4, what="the queued lines to land")
    texts = [e.text for e in view.state.entries.values() if e.kind == "note"]
    assert texts == ["typed on the train", "and a second thought"]
    assert len(revived.outbox) == 0 and len(Outbox(tmp_path / "outbox.db")) == 0


async def test_a_refused_command_leaves_the_outbox_with_its_reason(
    hub: HubServer, make_client: ClientFactory
) -> None:
    client = await make_client(hub.url)
    room = await declare(client)
    with pytest.raises(CommandRejected) as refused:
        await client.send("entry.pinned", {"entry": 404}, room)
    assert refused.value.error.code == "unknown_ref" and len(client.outbox) == 0


async def test_a_refused_token_stops_retrying(hub: HubServer) -> None:
    client = HubClient(hub.url, "not-the-token", "eve", backoff=Backoff(base=0.01, cap=0.02))
    with pytest.raises(Unauthorized):
        await asyncio.wait_for(client.run(), 10)
    assert client.state.status == "offline" and "401" in (client.state.error or "")


async def test_the_state_follows_the_connection(db_path: Path, make_client: ClientFactory) -> None:
    server = HubServer(db_path, TOKEN)
    await server.start()
    port = server.port
    client = await make_client(server.url, connect_now=False)
    seen: list[str] = []
    client.listen(lambda kind, room: seen.append(client.state.status) if kind == "connection" else None)
    runner = asyncio.create_task(client.run())
    await client.wait_connected(10)
    await server.stop()
    await wait_for(lambda: client.state.status == "reconnecting", what="reconnecting")
    await wait_for(lambda: client.state.attempt >= 2, what="a second attempt")
    assert client.state.retry_in is not None and client.state.retry_in > 0
    restarted = HubServer(db_path, TOKEN, port=port)
    await restarted.start()
    try:
        await client.wait_connected(10)
        assert client.state.describe() == "live"
        ack = await client.send("incident.declared", {"title": "after the restart", "severity": "SEV4"})
        assert_log_is_whole(db_path, [ack["id"]])
        assert seen[:2] == ["connecting", "connected"] and "reconnecting" in seen
    finally:
        await client.close()
        runner.cancel()
        await restarted.stop()
