"""PostgreSQL going away under a writing hub, and coming back: a crash of the real server
(``pg_ctl stop -m immediate``, no shutdown checkpoint) in a cluster of the test's own."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from tests.conftest import (
    TOKEN,
    ClientFactory,
    assert_log_is_whole,
    declare,
    log_of,
    require_postgres,
    wait_for,
)
from tests.pg import Cluster, start_cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A cluster this test alone stops and starts."""
    own = start_cluster(require_postgres())
    yield own
    own.remove()


async def health(server: HubServer) -> tuple[int, int]:
    """/healthz's status on the HTTP port and on the sync port."""
    async with httpx.AsyncClient(timeout=10) as http:
        api = await http.get(f"{server.http_url}/healthz")
        sync = await http.get(f"http://127.0.0.1:{server.port}/healthz")
    return api.status_code, sync.status_code


async def test_a_crashed_database_refuses_commands_then_the_hub_recovers_by_itself(
    cluster: Cluster, tmp_path: Path, make_client: ClientFactory, raw_client: Any
) -> None:
    url = cluster.fresh_url()
    server = HubServer(tmp_path / "hub.db", TOKEN, store=url)
    await server.start()
    try:
        writer = await make_client(server.url, "ann", connect_now=False)
        runner = asyncio.create_task(writer.run())  # reconnects and resumes by itself
        await writer.wait_connected(10)
        room = await declare(writer)
        view = await writer.join(room)
        futures: dict[str, asyncio.Future[dict[str, Any]]] = {}
        acked: dict[str, str] = {}  # text -> command id, as acknowledged
        writing = True

        async def keep_writing(lane: int) -> None:
            """One command after another, each sent when the last is acknowledged: never idle."""
            n = 0
            while writing:
                text = f"lane {lane} line {n}"
                n += 1
                futures[text] = writer.submit("entry.added", {"text": text}, room)
                acked[text] = (await futures[text])["id"]

        lanes = [asyncio.create_task(keep_writing(lane)) for lane in range(4)]
        await wait_for(lambda: len(acked) >= 40, what="some acks before the crash")
        await asyncio.to_thread(cluster.stop, "immediate")  # mid-stream: four commands in flight
        acked_before = dict(acked)
        assert len(acked_before) < len(futures)

        raw = await raw_client(server.url)
        await raw.hello("bo")
        refused = await raw.command("entry.added", {"text": "never acknowledged"}, room)
        assert (refused["t"], refused["code"]) == ("error", "storage_unavailable")
        assert await health(server) == (503, 503)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.http_url}/healthz")).json()["status"] == "log_unavailable"
        await wait_for(lambda: writer.state.log_error is not None, what="the terminal's header to say so")
        assert view.state.seq >= 1 + len(acked_before)  # what it had, the room still shows
        waiting = [text for text, future in futures.items() if not future.done()]
        assert len(waiting) == 4  # one per lane, kept in the outbox until the database is back

        await asyncio.to_thread(cluster.start)
        writing = False
        await asyncio.wait_for(asyncio.gather(*lanes), 60)  # each lane's command delivered, once
        await wait_for(lambda: writer.state.log_error is None, what="the hub to find the log back")
        assert await health(server) == (200, 200)
        after = await raw.command("entry.added", {"text": "after the crash"}, room)
        assert after["t"] == "ack"
        await wait_for(lambda: view.state.seq == after["seq"], what="the room to resume and carry on")
        await writer.close()
        runner.cancel()
    finally:
        await server.stop()
    rows = log_of(url)
    assert_log_is_whole(url, [*acked.values(), after["id"]])
    assert set(acked_before.values()) <= {id_ for _, _, id_, _ in rows}  # nothing acknowledged was lost
    texts = Counter(e.text for e in view.state.entries.values())
    assert all(texts[text] == 1 for text in futures) and "never acknowledged" not in texts
