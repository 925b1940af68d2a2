"""``warroom report`` over 1,000 incidents of 1,000 events each: target under 5 s.

The hub's data is written through its own store (``SQLiteStore.append``) with
each incident's summary made as the hub's writer makes it: every event folded
with the core's ``apply``, then ``summary_dict()``. That is a million events in
well under a minute, where a million commands through the sync port would take
many. Then a real hub serves that file and the real CLI runs
(``python -m warroom report --json``, process start included), at 250, 500
and 1,000 incidents, to show how it scales.

The baseline, measured in the same run: what a report would cost if it folded
every incident's log instead of reading the summaries, timed on a subset
(joining each incident as ``warroom show`` does, the hub folding it from the
log) and scaled to the full count.

    python -m bench.report [--incidents 1000] [--events 1000] [--subset 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.common import verdict
from server.runner import HubServer
from server.store.sqlite import SQLiteStore
from warroom.client import HubClient
from warroom.core.events import Event, validate_command
from warroom.core.reducer import apply
from warroom.core.schema import format_time
from warroom.core.state import IncidentState
from warroom.review.metrics import Query, Slo, report

TARGET_S = 5.0
TOKEN = "bench-token-0123456789"
SERVICES = ("checkout", "search", "payments", "auth", "db", "cdn")
BASE = datetime(2026, 1, 5, tzinfo=UTC)
RUNS = 5
WORK_RUNS = 10
QUERY = Query(datetime(2026, 12, 1, tzinfo=UTC), slos=(Slo("checkout", 99.9),))  # as the command's flags


def _script(n: int, events: int) -> list[tuple[float, str, dict[str, Any]]]:
    """One incident's commands as (seconds after declaring, type, data): notes, status moves,
    corrected milestones, impact, action items; every 25th left open, every 10th reopened,
    every 20th a drill."""
    services = [SERVICES[n % len(SERVICES)]] + ([SERVICES[(n + 1) % len(SERVICES)]] if n % 3 == 0 else [])
    declared: dict[str, Any] = {"title": f"Incident {n}", "severity": f"SEV{1 + n % 4}", "services": services}
    if n % 20 == 0:
        declared["drill"] = True
    moves: list[tuple[float, str, dict[str, Any]]] = [(0, "incident.declared", declared)]
    mitigate = 600 + (n * 37) % 3000
    resolve = mitigate + 600 + (n * 53) % 5000
    moves += [
        (60, "incident.milestone_corrected", {"milestone": "impact_started", "at": "-900"}),
        (61, "incident.milestone_corrected", {"milestone": "detected", "at": "-300"}),
        (62, "incident.milestone_corrected", {"milestone": "acknowledged", "at": f"{(n * 13) % 900}"}),
        (70, "incident.impact_set", {"fraction": round(0.1 + (n % 9) / 10, 1)}),
        (mitigate, "incident.status_changed", {"status": "monitoring"}),
    ]
    if n % 25 != 0:
        moves.append((resolve, "incident.status_changed", {"status": "resolved"}))
        if n % 10 == 0:
            moves.append((resolve + 60, "incident.status_changed", {"status": "investigating"}))
            moves.append((resolve + 1200, "incident.status_changed", {"status": "resolved"}))
    end = resolve + 1300
    due = (BASE + timedelta(hours=7 * n, days=14)).date().isoformat()
    for k in range(3):
        moves.append((end + k, "action.added", {"text": f"follow-up {k}", "owner": f"p{n % 7}", "due": due}))
    moves.append((end + 10, "action.updated", {"action": "A-1", "status": "done"}))
    moves.append((end + 11, "action.updated", {"action": "A-2", "status": "wont_do", "reason": "dup"}))
    notes = events - len(moves)
    step = end / (notes + 1)
    moves += [((i + 1) * step, "entry.added", {"text": f"note {i} " * 4}) for i in range(notes)]
    moves.sort(key=lambda m: m[0])
    return moves


def _incident(room: str, n: int, events: int) -> tuple[list[Event], dict[str, Any]]:
    """The incident's events as the hub would sequence them, and its summary as the hub writes it."""
    declared_at = BASE + timedelta(hours=7 * n)
    state = IncidentState(room=room)
    log = []
    for seq, (offset, type_, data) in enumerate(_script(n, events), start=1):
        if type_ == "incident.milestone_corrected":
            data = {**data, "at": format_time(declared_at + timedelta(seconds=int(data["at"])))}
        ts = format_time(declared_at + timedelta(seconds=offset))
        event = Event(room, seq, str(uuid.uuid4()), "ann", ts, type_, validate_command(type_, data))
        apply(state, event)
        log.append(event)
    return log, state.summary_dict()


async def build(db: Path, start: int, stop: int, events: int) -> float:
    """Write incidents ``start..stop-1`` through the hub's store; seconds taken."""
    began = time.perf_counter()
    store = SQLiteStore(db)
    await store.open()
    try:
        for n in range(start, stop):
            room = await store.reserve_room_id()
            log, summary = _incident(room, n, events)
            await store.append(log, {room: uuid.uuid4().hex}, {room: summary}, {})
    finally:
        await store.close()
    return time.perf_counter() - began


async def cli_report(server: HubServer) -> tuple[float, dict[str, Any]]:
    """The real command, in its own process, as a user runs it: seconds, and what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    argv = ["report", "--json", "--slo", "checkout=99.9", "--now", "2026-12-01", "--hub", server.url]
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        *argv,
        "--token",
        TOKEN,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"warroom report failed: {err.decode()[:400]}")
    return took, orjson.loads(out)


async def fold_subset(server: HubServer, subset: int) -> float:
    """Seconds to fold ``subset`` incidents' logs (joined one by one, as ``warroom show`` does)."""
    client = HubClient(server.url, TOKEN, "bench")
    await client.connect()
    try:
        rooms = [item["id"] for item in await client.incidents()][:subset]
        began = time.perf_counter()
        for room in rooms:
            await client.join(room, observe=True, timeout=120)
            await client.leave(room)
        return time.perf_counter() - began
    finally:
        await client.close()


async def in_process(server: HubServer) -> tuple[float, float]:
    """The work itself, without a process to start: the listing over the sync port, then the
    numbers; the best of several runs of each, since the machine's other load only adds."""
    client = HubClient(server.url, TOKEN, "bench")
    await client.connect()
    try:
        listing, numbers = [], []
        for _ in range(WORK_RUNS):
            began = time.perf_counter()
            summaries = await client.incidents()
            listed = time.perf_counter()
            report(summaries, QUERY)
            listing.append(listed - began)
            numbers.append(time.perf_counter() - listed)
        return min(listing), min(numbers)
    finally:
        await client.close()


@dataclass(frozen=True)
class Measured:
    cli: float  # median seconds of the real command
    best: float
    listing: float  # best seconds of the listing over the sync port, in this process
    numbers: float  # best seconds of the report's arithmetic on it
    printed: dict[str, Any]
    folded: float | None  # seconds to fold the subset's logs (the baseline)


async def measure(db: Path, subset: int | None) -> Measured:
    server = HubServer(db, TOKEN)
    await server.start()
    try:
        await cli_report(server)  # warm: the hub's first listing sorts its summaries
        runs = [await cli_report(server) for _ in range(RUNS)]
        times = [t for t, _ in runs]
        listing, numbers = await in_process(server)
        folded = await fold_subset(server, subset) if subset else None
        return Measured(statistics.median(times), min(times), listing, numbers, runs[0][1], folded)
    finally:
        await server.stop()


async def startup() -> float:
    """What any CLI command costs before it does anything: the interpreter and the imports."""
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "warroom", "--version", stdout=asyncio.subprocess.DEVNULL
    )
    await proc.wait()
    return time.perf_counter() - began


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1000, help="events per incident")
    parser.add_argument("--subset", type=int, default=40, help="incidents folded for the baseline")
    args = parser.parse_args(argv)
    sizes = sorted({max(1, args.incidents // 4), max(1, args.incidents // 2), args.incidents})
    scope = f"{args.incidents} incidents x {args.events} events"
    print(f"warroom report over up to {scope} (target < {TARGET_S} s)")
    print(f"  interpreter + imports alone (warroom --version): {await startup():.2f} s")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hub.db"
        built = 0
        rows = []
        for size in sizes:
            took = await build(db, built, size, args.events)
            print(f"  wrote incidents {built + 1}..{size} through the store in {took:.1f} s", flush=True)
            built = size
            last = size == sizes[-1]
            m = await measure(db, args.subset if last else None)
            rows.append((size, m))
            n = m.printed
            print(
                f"  {size:>5} incidents ({size * args.events:>9,} events): warroom report {m.cli:.2f} s "
                f"(median of {RUNS}, best {m.best:.2f}); inside it the listing {m.listing * 1000:.1f} ms "
                f"and the numbers {m.numbers * 1000:.1f} ms; {n['incidents']} counted, "
                f"{n['drills_excluded']} drills, {n['open_excluded']} open",
                flush=True,
            )
            if last:
                ok = m.cli < TARGET_S
                assert m.folded is not None
                per = m.folded / args.subset
                work = m.listing + m.numbers
                print(
                    f"  baseline, folding every log instead: {args.subset} incidents in {m.folded:.2f} s "
                    f"= {per * 1000:.0f} ms each, so {per * size:.1f} s for {size} "
                    f"({per * size / m.cli:.1f}x the whole command, {per * size / work:.0f}x its work)"
                )
        if len(rows) > 1:
            (s0, m0), (s1, m1) = rows[0], rows[-1]
            print(
                f"  scaling: {s1 / s0:.0f}x the incidents took {m1.listing / m0.listing:.1f}x the listing, "
                f"{m1.numbers / m0.numbers:.1f}x the numbers and {m1.cli / m0.cli:.1f}x the whole command"
            )
    print(f"{verdict(ok)}: warroom report over {sizes[-1]} incidents under {TARGET_S} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
