"""``show --at`` on a 100,000-event incident, beside folding the whole log from seq 1.

Run from the repository root::

    python bench/timetravel.py                 # 100,000 events (about a minute)
    python bench/timetravel.py --events 20000  # a smoke run, not a measurement

The log is written straight into a SQLite store in big batches (as another hub
or an older version would have left it: no checkpoints), then a real hub
serves it on 127.0.0.1:0. Timed, in the same run:

- baseline: read the log from the store and fold it from seq 1 to the point
  asked for, which is what "the state at N" costs without checkpoints;
- cold: the first ``state_at`` (the hub makes the missing checkpoints on the way);
- warm: ``state_at`` at random points, end to end: the request, the hub's
  answer (the nearest checkpoint and the events after it), and the client's
  decoding and folding (``HubClient.past`` then ``Past.state``);
- the command itself, ``warroom show INC-1 --at TIME`` (and ``--json``) in a
  subprocess, interpreter start and the printing of every entry included.

Each answer is checked against a fresh fold of the log cut at that point.
Target: the warm state-at call under 1 s at every point.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.runner import HubServer
from server.store import SQLiteStore
from server.timetravel import CHECKPOINT_EVERY
from warroom.client import HubClient
from warroom.core.events import Event
from warroom.core.reducer import fold
from warroom.core.schema import format_time
from warroom.core.state import IncidentState

ROOM = "INC-1"
TOKEN = "bench-token-0123456789"
TARGET_S = 1.0
T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
KINDS = ("note", "note", "note", "finding", "decision", "action")
PHRASES = (
    "checked api-{n} logs: 502s from the upstream pool, p99 {ms} ms",
    "db replica lag {ms} ms on shard {n}; read traffic moved to primary",
    "scaled the checkout deployment to {n} replicas",
    "synthetic probe in us-east green again ({ms} ms)",
)


def log(message: str) -> None:
    print(f"[timetravel-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def event(seq: int) -> Event:
    """A realistic mix: mostly entries, with pins, alerts firing and resolving, broadcasts, severity."""
    ts = format_time(T0 + timedelta(milliseconds=150 * seq))

    def make(actor: str, type_: str, data: dict[str, object]) -> Event:
        return Event(ROOM, seq, str(uuid.uuid4()), actor, ts, type_, data)

    if seq == 1:
        return make("maria", "incident.declared", {"title": "Checkout 502s in EU", "severity": "SEV2"})
    if seq % 1000 == 0:
        return make("maria", "status.broadcast", {"message": f"update {seq // 1000}", "next_update_in": 30})
    if seq % 500 == 250:
        return make("priya", "entry.pinned", {"entry": seq - 1})
    if seq % 200 == 100:
        n = seq // 200
        status = "firing" if n % 3 else "resolved"
        data: dict[str, object] = {
            "fingerprint": f"fp{n % 50}",
            "alertname": f"Alert{n % 10}",
            "status": status,
        }
        return make("alertmanager", "alert.upserted", data)
    if seq % 5003 == 17:
        return make("maria", "incident.severity_changed", {"severity": "SEV1" if seq % 2 else "SEV2"})
    text = PHRASES[seq % len(PHRASES)].format(n=seq % 997, ms=40 + seq % 900)
    return make(
        ("dev", "priya", "tomasz")[seq % 3], "entry.added", {"kind": KINDS[seq % len(KINDS)], "text": text}
    )


async def build(db: Path, total: int) -> list[Event]:
    events = [event(seq) for seq in range(1, total + 1)]
    summary = fold(ROOM, events).summary_dict()
    store = SQLiteStore(db)
    await store.open()
    try:
        for start in range(0, total, 20_000):
            new = {ROOM: uuid.uuid4().hex} if start == 0 else {}
            heads = {} if new else {ROOM: start}
            await store.append(events[start : start + 20_000], new, {ROOM: summary}, heads)
    finally:
        await store.close()
    return events


async def baseline(db: Path, seq: int) -> float:
    """Read the log from the store and fold it from seq 1 to ``seq``: no checkpoints."""
    store = SQLiteStore(db)
    await store.open()
    try:
        started = time.perf_counter()
        state = IncidentState(room=ROOM)
        while state.seq < seq:
            page = await store.read(ROOM, state.seq, min(5000, seq - state.seq))
            fold(ROOM, page, state)
        return time.perf_counter() - started
    finally:
        await store.close()


async def state_at(client: HubClient, seq: int) -> tuple[float, IncidentState]:
    started = time.perf_counter()
    past = await client.past(ROOM, seq=seq)
    state = await asyncio.to_thread(past.state)
    return time.perf_counter() - started, state


async def cli(server: HubServer, *args: str) -> float:
    """``warroom show`` in a subprocess, its output thrown away; the hub runs on this loop meanwhile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    argv = ["-m", "warroom", "show", ROOM, *args, "--hub", server.url, "--token", TOKEN]
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"warroom show {' '.join(args)} failed: {err.decode()[-300:]}")
    return took


def checkpoints(db: Path) -> tuple[int, int, int]:
    """How many checkpoints the room has, their bytes, and the log's bytes."""
    with sqlite3.connect(db) as conn:
        count, size = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(state)), 0) FROM checkpoints WHERE room = ?", (ROOM,)
        ).fetchone()
        logged = conn.execute("SELECT SUM(LENGTH(data)) FROM events WHERE room = ?", (ROOM,)).fetchone()[0]
    return int(count), int(size), int(logged or 0)


async def run(total: int, points: int, seed: int, every: int) -> int:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="warroom-timetravel-") as tmp:
        db = Path(tmp) / "hub.db"
        log(f"writing {total:,} events straight to the store")
        events = await build(db, total)
        late = total - 1
        log("baseline: read and fold from seq 1")
        base_s = await baseline(db, late)

        server = HubServer(db, TOKEN)
        await server.start()
        server.hub.history.every = every
        client = HubClient(server.url, TOKEN, "bench")
        await client.connect()
        try:
            log("cold: the first state_at makes the checkpoints")
            cold_s, state = await state_at(client, late)
            fresh = fold(ROOM, events[:late])
            ok = state == fresh
            wanted = sorted(rng.sample(range(1, total + 1), points))
            log(f"warm: state_at at {points} random points")
            warm: list[float] = []
            for n, seq in enumerate(wanted):
                took, state = await state_at(client, seq)
                warm.append(took)
                if n % max(1, points // 5) == 0:  # a few against a fresh fold of the cut log
                    ok = ok and state == fold(ROOM, events[:seq])
            near_end_s, _ = await state_at(client, late)
            at = events[late - 1].ts
            log("the command: warroom show --at (human and --json)")
            cli_s = await cli(server, "--at", at)
            cli_json_s = await cli(server, "--at", at, "--json")
            cli_now_s = await cli(server)
        finally:
            await client.close()
            await server.stop()
        count, size, logged = checkpoints(db)

    worst = max([*warm, near_end_s])
    median = statistics.median(warm)
    rows = [
        ("baseline: read + fold from seq 1", f"{base_s:.3f}", f"to seq {late:,}"),
        ("cold state_at (makes checkpoints)", f"{cold_s:.3f}", f"to seq {late:,}, once per log"),
        (
            "warm state_at, median",
            f"{median:.3f}",
            f"{points} random points, x{base_s / median:.1f} the baseline's speed",
        ),
        ("warm state_at, max", f"{worst:.3f}", f"x{base_s / worst:.1f} the baseline's speed"),
        ("warm state_at near the end", f"{near_end_s:.3f}", f"seq {late:,}"),
        ("warroom show --at (subprocess)", f"{cli_s:.3f}", "start, connect, fold, print every entry"),
        ("warroom show --at --json", f"{cli_json_s:.3f}", ""),
        ("warroom show (the present)", f"{cli_now_s:.3f}", "join + catch-up, for comparison"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"show --at on a {total:,}-event incident (seconds; checkpoints every {every:,} events)")
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>7}  {note}")
    print(f"  checkpoints: {count} holding {size / 1e6:.1f} MB, beside {logged / 1e6:.1f} MB of event data")
    print(f"  equal to a fresh fold of the cut log: {'PASS' if ok else 'FAIL'}")
    print(f"  target: warm state_at under {TARGET_S:.0f} s: {'PASS' if worst < TARGET_S else 'FAIL'}")
    return 0 if ok and worst < TARGET_S else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events in the incident (default 100000)")
    parser.add_argument("--points", type=int, default=20, help="random points asked for, warm (default 20)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--every", type=int, default=CHECKPOINT_EVERY, help="the hub's checkpoint spacing, to weigh it"
    )
    args = parser.parse_args(argv)
    if not 10 <= args.events <= 2_000_000 or not 1 <= args.points <= 1000:
        parser.error("--events must be 10..2000000 and --points 1..1000")
    return asyncio.run(run(args.events, args.points, args.seed, args.every))


if __name__ == "__main__":
    sys.exit(main())
