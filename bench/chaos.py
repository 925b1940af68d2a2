"""Chaos: writers keep writing while the hub is SIGKILLed and restarted, and clients drop.

python bench/chaos.py [--clients 20] [--rooms 3] [--kills 10] [--seed N]

At the end every acknowledged command must be in the log exactly once, each
room's log must run 1..head with no gap, and every client must hold the hub's
state. It prints the counts and exits 1 if any of that fails. Everything runs
on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.children import Child, cleanup_children, serve_argv, start_child
from warroom.client import CommandRejected, HubClient
from warroom.client.hub_client import Backoff
from warroom.core.events import Event
from warroom.core.reducer import fold

TOKEN = "chaos-token-0123456789"  # as long as `warroom serve` requires


@dataclass
class Tally:
    submitted: int = 0
    acked: dict[str, tuple[str, int]] = field(default_factory=dict)  # command id -> (room, seq)
    refused: int = 0
    kills: int = 0
    drops: int = 0


class Hub:
    """``warroom serve`` in its own process, restarted on the same port and file."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = 0
        self.child: Child | None = None
        self.url = ""

    async def start(self) -> None:
        argv = serve_argv(self.db, TOKEN)
        argv[argv.index("--port") + 1] = str(self.port)
        self.child = await start_child(argv, self.db.parent, "hub", want=("sync",))
        self.url = self.child.ws_url
        self.port = self.child.port

    def kill(self) -> None:
        assert self.child is not None
        self.child.kill()


async def writer(
    client: HubClient, rooms: list[str], tally: Tally, stop: asyncio.Event, rng: random.Random
) -> None:
    n = 0
    pending: list[asyncio.Future[dict[str, Any]]] = []
    while not stop.is_set():
        room = rng.choice(rooms)
        future = client.submit("entry.added", {"text": f"{client.name} {n}"}, room)
        tally.submitted += 1
        n += 1

        def record(done: asyncio.Future[dict[str, Any]]) -> None:
            if done.cancelled():
                return
            if isinstance(done.exception(), CommandRejected):
                tally.refused += 1
            elif done.exception() is None:
                ack = done.result()
                tally.acked[ack["id"]] = (ack["room"], ack["seq"])

        future.add_done_callback(record)
        pending.append(future)
        await asyncio.sleep(rng.uniform(0.005, 0.03))  # a paced writer, not a wait for an event
    await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 60)


async def run(clients: int, room_count: int, kills: int, seed: int, work: Path) -> int:
    rng = random.Random(seed)
    db = work / "hub.db"
    hub = Hub(db)
    await hub.start()
    tally = Tally()
    admin = HubClient(hub.url, TOKEN, "chaos-admin")
    await admin.connect()
    rooms = [
        (await admin.send("incident.declared", {"title": f"room {r}", "severity": "SEV3"}))["room"]
        for r in range(room_count)
    ]
    await admin.close()
    people = [HubClient(hub.url, TOKEN, f"w{n}", backoff=Backoff(base=0.05, cap=0.5)) for n in range(clients)]
    runners = [asyncio.create_task(p.run()) for p in people]
    for person in people:
        await person.wait_connected(30)
        for room in rooms:
            await person.join(room, timeout=None)
    stop = asyncio.Event()
    writers = [asyncio.create_task(writer(p, rooms, tally, stop, rng)) for p in people]
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(0.3, 1.2))  # a random moment, not a wait for an event
        for person in rng.sample(people, k=max(1, clients // 5)):
            person.drop_connection()
            tally.drops += 1
        hub.kill()
        tally.kills += 1
        await asyncio.sleep(rng.uniform(0.05, 0.3))  # the hub stays down a moment
        await hub.start()
    stop.set()
    await asyncio.gather(*writers)

    rows = (
        sqlite3.connect(db)
        .execute("SELECT room, seq, id, actor, ts, type, data FROM events ORDER BY room, seq")
        .fetchall()
    )
    ids = Counter(row[2] for row in rows)
    lost = [cid for cid in tally.acked if ids[cid] != 1]
    gaps = [
        room
        for room in rooms
        if [r[1] for r in rows if r[0] == room] != list(range(1, sum(1 for r in rows if r[0] == room) + 1))
    ]
    import msgpack

    expected = {
        room: fold(
            room,
            [
                Event(r[0], r[1], r[2], r[3], r[4], r[5], msgpack.unpackb(r[6], raw=False))
                for r in rows
                if r[0] == room
            ],
        )
        for room in rooms
    }
    caught_up = asyncio.Event()

    def check(*_: Any) -> None:
        if all(p.rooms[room].state.seq == expected[room].seq for p in people for room in rooms):
            caught_up.set()

    for person in people:
        person.listen(check)
    check()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(caught_up.wait(), 60)  # the clients catch up after the last restart
    diverged = sum(1 for p in people for room in rooms if p.rooms[room].state != expected[room])
    for person in people:
        await person.close()
    for task in runners:
        task.cancel()
    hub.kill()

    print(f"chaos: {clients} clients, {room_count} rooms, seed {seed}")
    print(
        f"  hub SIGKILLed and restarted {tally.kills} times; client connections dropped {tally.drops} times"
    )
    print(
        f"  commands submitted {tally.submitted:,}, acknowledged {len(tally.acked):,}, "
        f"refused {tally.refused}"
    )
    print(
        f"  events in the log {len(rows):,}; commands applied twice {sum(1 for c in ids.values() if c > 1)}"
    )
    print(f"  acknowledged but missing or doubled: {len(lost)}; rooms with a gap: {len(gaps)}")
    print(f"  clients whose state differs from the log's: {diverged} of {clients * room_count}")
    ok = not lost and not gaps and not diverged and len(tally.acked) == tally.submitted
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=random.randrange(10**6))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warroom-chaos-") as tmp:
        try:
            return asyncio.run(run(args.clients, args.rooms, args.kills, args.seed, Path(tmp)))
        finally:
            cleanup_children()


if __name__ == "__main__":
    sys.exit(main())
