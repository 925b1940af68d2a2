"""Several hubs on one store: what a second hub costs a responder, beside one hub in the same run.

Run from the repository root::

    python -m bench.multihub                           # two hubs on one SQLite file
    python -m bench.multihub --store postgresql://...  # two hubs on one PostgreSQL database

Two ``warroom serve`` processes share one store. Measured:

1. Delivery latency, send to arrival, of 300 entries written at 50/s on hub A:
   to a member on hub A (the baseline: one hub's own fan-out) and to a member
   on hub B (the store's doorbell, then a read by seq).
2. Throughput of two writers pipelining into one room: both on hub A (the
   baseline), then one on each hub, where every batch races the other hub's
   and the loser validates again.
Target: a member on another hub sees an entry within 100 ms at p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.children import Child, cleanup_children, serve_argv, start_child
from bench.common import open_client, packb, unpackb, verdict

TOKEN = "bench-" + uuid.uuid4().hex
ENTRIES = 300
RATE = 50.0
PIPELINED = 2000
TARGET_MS = 100.0


async def hub(db: Path, store: str | None, work: Path, label: str) -> Child:
    argv = serve_argv(db, TOKEN)
    if store is not None:
        argv += ["--store", store]
    return await start_child(argv, work, label, want=("sync",))


def entry(room: str, text: str) -> bytes:
    return packb(
        {"t": "cmd", "id": str(uuid.uuid4()), "type": "entry.added", "room": room, "data": {"text": text}}
    )


async def member(url: str, room: str, name: str, want: int, out: list[float], synced: asyncio.Event) -> None:
    """Join and record each entry's latency from the send time in its text."""
    ws = await open_client(url, name, 15.0, TOKEN)
    await ws.send(packb({"t": "join", "rid": 1, "room": room}))
    try:
        while len(out) < want:
            frame = unpackb(await asyncio.wait_for(ws.recv(), 30))
            if frame.get("t") == "synced":
                synced.set()
            if frame.get("t") != "events":
                continue
            now = time.perf_counter_ns()
            for event in frame["events"]:
                text = event["data"].get("text", "")
                if text.startswith("t="):
                    out.append((now - int(text[2:])) / 1e6)
    finally:
        await ws.close()


async def declare(url: str) -> str:
    ws = await open_client(url, "bench", 15.0, TOKEN)
    try:
        await ws.send(
            packb(
                {
                    "t": "cmd",
                    "rid": 1,
                    "id": str(uuid.uuid4()),
                    "type": "incident.declared",
                    "data": {"title": "bench", "severity": "SEV3"},
                }
            )
        )
        while (reply := unpackb(await ws.recv()))["t"] != "ack":
            pass
        return str(reply["room"])
    finally:
        await ws.close()


async def latency(a: Child, b: Child) -> tuple[list[float], list[float]]:
    room = await declare(a.ws_url)
    here: list[float] = []
    there: list[float] = []
    synced = [asyncio.Event(), asyncio.Event()]
    members = [
        asyncio.create_task(member(a.ws_url, room, "here", ENTRIES, here, synced[0])),
        asyncio.create_task(member(b.ws_url, room, "there", ENTRIES, there, synced[1])),
    ]
    await asyncio.wait_for(asyncio.gather(*(s.wait() for s in synced)), 30)  # both in before the first entry
    writer = await open_client(a.ws_url, "writer", 15.0, TOKEN)
    for _ in range(ENTRIES):
        await writer.send(entry(room, f"t={time.perf_counter_ns()}"))
        await asyncio.sleep(1 / RATE)  # the pace of the load, not a wait for an event
    await asyncio.wait_for(asyncio.gather(*members), 60)
    await writer.close()
    return here, there


async def pipelined(urls: Sequence[str], room: str) -> float:
    """Commands per second acknowledged with one writer per URL, each pipelining PIPELINED/2."""

    async def write(url: str) -> None:
        ws = await open_client(url, f"w{uuid.uuid4().hex[:4]}", 15.0, TOKEN)
        each = PIPELINED // len(urls)
        for n in range(each):
            await ws.send(entry(room, f"p{n}"))
        acked = 0
        while acked < each:
            frame = unpackb(await asyncio.wait_for(ws.recv(), 60))
            if frame.get("t") in ("ack", "error") and "id" in frame:
                acked += 1
        await ws.close()

    began = time.perf_counter()
    await asyncio.gather(*(write(url) for url in urls))
    return PIPELINED / (time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(store: str | None) -> bool:
    with tempfile.TemporaryDirectory(prefix="warroom-multihub-") as tmp:
        work = Path(tmp)
        db = work / "hub.db"
        a = await hub(db, store, work, "hub-a")
        b = await hub(db, store, work, "hub-b")
        try:
            here, there = await latency(a, b)
            one = await pipelined([a.ws_url, a.ws_url], await declare(a.ws_url))
            two = await pipelined([a.ws_url, b.ws_url], await declare(a.ws_url))
        finally:
            a.stop()
            b.stop()
    print(f"store: {store or 'SQLite file'}; {ENTRIES} entries at {RATE:.0f}/s written on hub A")
    print(f"{'member':<22}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label, values in (("on hub A (baseline)", here), ("on hub B", there)):
        print(f"{label:<22}{statistics.median(values):>10.1f}{pct(values, 0.99):>10.1f}{max(values):>10.1f}")
    print(f"\n{PIPELINED} pipelined commands into one room, two writers")
    print(f"  both on hub A (baseline): {one:8.0f} commands/s")
    print(f"  one on each hub:          {two:8.0f} commands/s  ({two / one:.2f}x)")
    ok = pct(there, 0.99) <= TARGET_MS
    print(f"\ntarget: another hub's member within {TARGET_MS:.0f} ms at p99: {verdict(ok)}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", help="a store URL both hubs share (default: one SQLite file)")
    args: Any = parser.parse_args(argv)
    try:
        return 0 if asyncio.run(bench(args.store)) else 1
    finally:
        cleanup_children()


if __name__ == "__main__":
    raise SystemExit(main())
