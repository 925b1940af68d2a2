"""The hub client: honest connection state, and an outbox that never drops a typed line."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, Calls, ClientFactory, assert_log_is_whole, declare, wait_for
from warroom.client import CommandRejected, ConnectionState, HubClient, Outbox, Unauthorized
from warroom.client.hub_client import Backoff
from warroom.core.errors import Code
from warroom.core.events import TEXT_MAX, Command
from warroom.core.protocol import MAX_FRAME, new_id


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


def test_the_queued_count_shows_whenever_there_is_one() -> None:
    assert ConnectionState("connected", queued=3).describe() == "live · 3 queued"
    assert ConnectionState("reconnecting", attempt=2, retry_in=1.0, queued=1).describe() == (
        "reconnecting (attempt 2, next try in 1s) · 1 queued"
    )
    assert ConnectionState("connecting", queued=2).describe() == "connecting · 2 queued"
    assert ConnectionState("connecting").describe() == "connecting"


def saved_outbox(path: Path, *commands: Command) -> None:
    """An outbox file as an earlier run (or an older client) left it, written past today's checks."""
    outbox = Outbox(path)
    for command in commands:
        outbox.add(command)
    outbox.close()


def connections(client: HubClient) -> list[int]:
    """Counts each time the client reaches the hub (a reconnect loop would make it grow)."""
    made = [0]

    def count(kind: str, room: str | None) -> None:
        if kind == "connection" and client.state.status == "connected":
            made[0] += 1

    client.listen(count)
    return made


async def test_an_oversize_command_is_refused_before_it_is_queued(
    hub: HubServer, make_client: ClientFactory
) -> None:
    client = await make_client(hub.url)
    room = await declare(client)
    assert client.max_frame == MAX_FRAME  # from the hub's welcome
    with pytest.raises(CommandRejected) as refused:
        client.submit("entry.added", {"text": "x" * 100_000}, room)
    assert refused.value.error.code == Code.TOO_LARGE and "65,536" in refused.value.error.message
    assert len(client.outbox) == 0
    await client.send("entry.added", {"text": "and the next one goes"}, room)


async def test_saved_commands_that_can_never_be_sent_leave_the_outbox_with_a_notice(
    hub: HubServer, make_client: ClientFactory, tmp_path: Path
) -> None:
    writer = await make_client(hub.url)
    room = await declare(writer)
    path = tmp_path / "outbox.db"
    # Left by an older client: alerts now come only from intake, so this can never be sent.
    annotations = {f"note{n}": "€" * 2048 for n in range(16)}
    big = Command(
        new_id(), "alert.upserted", {"fingerprint": "f", "alertname": "A", "annotations": annotations}, room
    )
    invalid = Command(new_id(), "entry.added", {"text": "x" * 100_000}, room)  # over the text limit
    bad_id = Command("not-a-uuid", "entry.added", {"text": "the hub could not even name it"}, room)
    good = Command(new_id(), "entry.added", {"text": "typed before the restart"}, room)
    saved_outbox(path, big, invalid, bad_id, good)

    client = await make_client(hub.url, "dana", outbox=Outbox(path), connect_now=False)
    assert [d.command.id for d in client.dropped] == [big.id, invalid.id, bad_id.id]
    assert client.dropped[0].error.code == Code.UNKNOWN_TYPE
    assert client.dropped[1].error.code == Code.TOO_LONG
    assert client.dropped[1].describe().startswith("not sent: entry.added 'xxx")
    assert [c.id for c in client.outbox.pending()] == [good.id]
    assert len(Outbox(path)) == 1  # gone from the file too
    await client.connect()
    view = await client.join(room)
    await wait_for(lambda: len(client.outbox) == 0, what="the good one to land")
    assert [e.text for e in view.state.entries.values() if e.kind == "note"] == ["typed before the restart"]


async def test_a_poison_command_leaves_the_outbox_and_the_next_is_delivered(
    hub: HubServer, make_client: ClientFactory, tmp_path: Path
) -> None:
    """A saved command the hub refuses for good is dropped with a notice; no reconnect loop follows."""
    writer = await make_client(hub.url)
    room = await declare(writer)
    path = tmp_path / "outbox.db"
    poison = Command(new_id(), "entry.struck", {"entry": 404}, room)  # valid in form, refused by the hub
    after = Command(new_id(), "entry.added", {"text": "the line after it"}, room)
    saved_outbox(path, poison, after)

    client = await make_client(hub.url, "dana", outbox=Outbox(path), connect_now=False)
    made = connections(client)
    notices: list[str] = []
    client.listen(
        lambda kind, _: notices.extend(d.describe() for d in client.dropped) if kind == "dropped" else None
    )
    runner = asyncio.create_task(client.run())
    try:
        await wait_for(lambda: len(client.outbox) == 0, what="the outbox to empty")
        state = await hub.hub.settled_state(room)
        assert [e.text for e in state.entries.values() if e.kind == "note"] == ["the line after it"]
        assert notices and "not sent: entry.struck" in notices[0] and "404" in notices[0]
        await client.send("entry.added", {"text": "and what follows"}, room)
        assert made[0] == 1 and client.connected  # one connection all along
    finally:
        await client.close()
        runner.cancel()


async def test_a_frame_the_hub_closes_the_connection_over_is_dropped_not_resent(
    db_path: Path, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub whose frame limit is below what its welcome said (1009): the command goes, once."""
    import server.sync

    monkeypatch.setattr(server.sync, "MAX_FRAME", 8 * 1024)  # the socket's limit, not the welcome's
    server_ = HubServer(db_path, TOKEN)
    await server_.start()
    client = await make_client(server_.url, connect_now=False)
    made = connections(client)
    runner = asyncio.create_task(client.run())
    try:
        await client.wait_connected(10)
        room = await declare(client)
        big = client.submit("entry.added", {"text": "€" * TEXT_MAX}, room)  # 12 KB
        with pytest.raises(CommandRejected) as refused:
            await asyncio.wait_for(big, 10)
        assert refused.value.error.code == Code.TOO_LARGE and "1009" in refused.value.error.message
        assert len(client.outbox) == 0 and client.max_frame < 3 * TEXT_MAX + 100
        await client.wait_connected(10)
        ack = await client.send("entry.added", {"text": "delivered after"}, room)
        assert ack["t"] == "ack"
        assert made[0] == 2  # the hub's close, then one reconnect; no loop
        with pytest.raises(CommandRejected):  # the same again is now refused here
            client.submit("entry.added", {"text": "€" * TEXT_MAX}, room)
    finally:
        await client.close()
        runner.cancel()
        await server_.stop()


def test_the_outbox_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "outbox.db"
    outbox = Outbox(path)
    outbox.add(Command(new_id(), "entry.added", {"text": "private"}, "INC-1"))
    try:
        for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert part.exists() and stat.S_IMODE(part.stat().st_mode) == 0o600, part
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        outbox.close()
    path.chmod(0o644)  # as an older version left it
    Outbox(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_saved_frame_the_hub_closes_the_connection_over_is_not_resent_on_every_reconnect(
    db_path: Path, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The 1009 comes while the outbox is resent at connect: the loop the issue saw, cut after one round."""
    import server.sync

    monkeypatch.setattr(server.sync, "MAX_FRAME", 8 * 1024)
    server_ = HubServer(db_path, TOKEN)
    await server_.start()
    try:
        writer = await make_client(server_.url)
        room = await declare(writer)
        path = tmp_path / "outbox.db"
        big = Command(
            new_id(), "entry.added", {"text": "€" * TEXT_MAX}, room
        )  # 12 KB: under the welcome's limit
        after = Command(new_id(), "entry.added", {"text": "the line after it"}, room)
        saved_outbox(path, big, after)
        client = await make_client(server_.url, "dana", outbox=Outbox(path), connect_now=False)
        made = connections(client)
        runner = asyncio.create_task(client.run())
        try:
            await wait_for(lambda: len(client.outbox) == 0, what="the outbox to empty")
            state = await server_.hub.settled_state(room)
            assert [e.text for e in state.entries.values() if e.kind == "note"] == ["the line after it"]
            assert [d.command.id for d in client.dropped] == [big.id] and "1009" in client.dropped[
                0
            ].describe()
            await client.wait_connected(10)
            # The close lands during the setup or just after it: one round either way, then it stays.
            assert made[0] <= 2 and client.connected
            await client.send("entry.added", {"text": "and the next"}, room)
            assert made[0] <= 2
        finally:
            await client.close()
            runner.cancel()
    finally:
        await server_.stop()


async def test_a_room_expected_before_connecting_is_joined_with_the_hello_and_fetched_once(
    hub: HubServer, make_client: ClientFactory
) -> None:
    """The app names its incident before the connection opens: the hub sends it while the screen is built."""
    writer = await make_client(hub.url)
    room = await declare(writer)
    await writer.send("entry.added", {"text": "already said"}, room)
    client = await make_client(hub.url, "erin", connect_now=False)
    frames = Calls(client, "_dispatch")  # every frame the hub sends, still handled
    view = client.expect(room)
    await client.connect()  # sends hello, then the join: nothing has asked for the room yet
    assert await client.join(room, timeout=10) is view  # the screen's join waits for that one
    assert "already said" in [e.text for e in view.state.entries.values()]
    assert await client.join(room, timeout=10) is view  # joined already: nothing is asked again
    kinds = [frame["t"] for frame, *_ in frames.args]
    assert kinds.count("joined") == 1 and kinds.count("synced") == 1
