"""Convergence: random interleavings from three clients, with random drops, end in one state.

The clients are spread over one, two or three hubs sharing the store: every hub, every
terminal and the log end the same, whichever hub took each command.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.runner import HubServer
from tests.conftest import TOKEN, caught_up, log_of, wait_for
from tests.pg import Cluster
from tests.strategies import command
from warroom.client import CommandRejected, HubClient
from warroom.client.hub_client import Backoff

pytestmark = pytest.mark.stores  # on SQLite and on PostgreSQL

Step = tuple[int, Any]
FreshStore = Callable[[Path], str]  # a new store URL, given the example's SQLite path
steps = st.lists(
    st.tuples(st.integers(0, 2), st.one_of(command(st.integers(1, 25)), st.just("drop"), st.just("yield"))),
    min_size=1,
    max_size=40,
)


def at_head(server: HubServer, room: str, head: int) -> Callable[[], bool]:
    return lambda: server.hub.rooms.heads.get(room) == head


async def scenario(db: Path, store: str, plan: list[Step], hubs: int) -> None:
    servers = [HubServer(db, TOKEN, store=store) for _ in range(hubs)]
    for server in servers:
        await server.start()
    clients = [
        HubClient(servers[n % hubs].url, TOKEN, f"c{n}", backoff=Backoff(base=0.01, cap=0.05))
        for n in range(3)
    ]
    runners = [asyncio.create_task(c.run()) for c in clients]
    try:
        for client in clients:
            await client.wait_connected(10)
        room = (await clients[0].send("incident.declared", {"title": "t", "severity": "SEV2"}))["room"]
        views = [await c.join(room) for c in clients]
        futures: list[asyncio.Future[dict[str, Any]]] = []
        for who, action in plan:
            if action == "drop":
                clients[who].drop_connection()
            elif action == "yield":
                await asyncio.sleep(0)  # let frames flow between submissions
            else:
                futures.append(clients[who].submit(action[0], action[1], room))
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)
        acked = [o for o in outcomes if isinstance(o, dict)]
        assert all(isinstance(o, dict | CommandRejected) for o in outcomes), outcomes

        for server in servers:  # what each hub queued of its own (a join's line) is in the log
            await server.hub.writer.drain()
        record = await servers[0].hub.store.room(room)
        assert record is not None
        for server in servers:  # each hub takes in what the others wrote
            await wait_for(at_head(server, room, record.head), what="every hub at the head")
        hub_state = await servers[0].hub.settled_state(room)
        for server in servers[1:]:
            assert await server.hub.settled_state(room) == hub_state
        for view in views:
            await wait_for(caught_up(view, hub_state.seq), timeout=15, what="convergence")
            assert view.state == hub_state
        ids = Counter(id_ for r, _, id_, type_ in log_of(store) if r == room and type_ != "responder.joined")
        assert all(ids[a["id"]] == 1 for a in acked), "an acked command is missing or doubled"
        assert sum(ids.values()) == 1 + len(acked)  # nothing beyond what was acknowledged
    finally:
        for client in clients:
            await client.close()
        for runner in runners:
            runner.cancel()
        for server in servers:
            await server.stop()


# PostgreSQL runs fewer examples: the interleavings exercise the hub, which is the same on both
# engines; what PostgreSQL adds (acks only after its commit, nothing doubled) shows in a few.
EXAMPLES = {"sqlite": 20, "postgresql": 8}


def test_three_clients_converge_on_the_hub_state(store_engine: str, request: pytest.FixtureRequest) -> None:
    fresh: FreshStore = str  # a SQLite file in the example's own directory
    if store_engine == "postgresql":
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        fresh = lambda _: cluster.fresh_url()  # noqa: E731 - a schema of its own per example

    @settings(
        max_examples=EXAMPLES[store_engine], deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(steps, st.integers(1, 3))
    def converge(plan: list[Step], hubs: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "hub.db"
            asyncio.run(scenario(db, fresh(db), plan, hubs))

    converge()
