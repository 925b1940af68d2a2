"""Abuse: can one caller starve the hub? Five attacks in turn against one hub process.

Run from the repository root::

    python bench/abuse.py            # about 3 minutes on 2 cores
    python bench/abuse.py --quick    # a smoke run: smaller attacks, short windows

One hub (``warroom serve``, durable SQLite log in a temp dir) started with a soft
RLIMIT_NOFILE of 1024, as many service managers give, after its log was seeded
with 3,000 public incidents, a 2,000-event room and three rooms the alert storm is
routed to. A well-behaved client writes 10 entries/s over the sync channel
throughout and times each ack; a prober asks ``/healthz`` on the HTTP port every
100 ms. For each attack, in turn:

1. a baseline window with no abuse: the same client's p99 ack latency;
2. the attack, run in a separate process so its own work does not slow the
   measuring client: the client's p99 and the slowest ``/healthz`` while it lasts;
3. the hub's RSS once it settles, against its RSS before the attack.

Attacks: 300 slowloris connections on each port (a header line every 2 s);
300 ``join`` frames from a viewer for the 2,000-event room, on one connection;
one webhook of 50,000 alerts; 3,000 requests with wrong tokens; 20 concurrent
``GET /status`` loops. Targets: p99 <= 250 ms and ``/healthz`` <= 250 ms during
each, RSS back within 20% of its start.

Everything runs on 127.0.0.1; every loop is bounded; every process it starts is
stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.children import WORKERS, Child, run_guarded, serve_argv, start_child
from bench.common import (
    close_all,
    open_client,
    packb,
    pipe_recv,
    poll_until,
    settle_rss,
    terminate,
    unpackb,
    verdict,
)
from server.store import SQLiteStore
from warroom.core.events import Event, validate_command
from warroom.core.reducer import apply
from warroom.core.state import IncidentState

TOKEN = "abuse-bench-hub-token-0123456789"
TARGET_MS = 250.0
RSS_SLACK = 0.20
BIG_ROOM = "BIG"
CALM_ROOM = "CALM"
ALERT_ROOMS = ("ALERTS-0", "ALERTS-1", "ALERTS-2")


@dataclass
class Row:
    attack: str
    base_p99: float = 0.0
    p99: float = 0.0
    healthz_max: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    took: float = 0.0
    outcome: str = ""

    @property
    def ok(self) -> bool:
        back = self.rss_after <= self.rss_before * (1 + RSS_SLACK)
        return self.p99 <= TARGET_MS and self.healthz_max <= TARGET_MS and back


@dataclass
class Probe:
    """Latencies (ms) the writer and the health prober saw since the last ``take``."""

    acks: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    lost: int = 0

    def take(self) -> tuple[list[float], list[float]]:
        acks, health = self.acks, self.healthz
        self.acks, self.healthz = [], []
        return acks, health


def p99(values: list[float]) -> float:
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# -- seeding the log before the hub starts ------------------------------------------------


async def seed(db: Path, incidents: int, big_events: int) -> None:
    """Write the rooms straight into the store: declaring 3,000 through the hub is the slow part
    of a hub that scans every room per declare, and not what this measures."""
    store = SQLiteStore(db)
    await store.open()
    ts = "2026-01-01T00:00:00Z"
    events: list[Event] = []
    new_rooms: dict[str, str] = {}
    summaries: dict[str, dict[str, Any]] = {}

    def room(room_id: str, title: str, entries: int, public: bool) -> None:
        state = IncidentState(room=room_id)
        declared = {"title": title, "severity": "SEV3", "public": public}
        kinds = [("incident.declared", declared)] + [
            ("entry.added", {"text": f"note {n} " + "x" * 200})
        ] * entries
        for seq, (type_, data) in enumerate(kinds, 1):
            event = Event(room_id, seq, str(uuid.uuid4()), "seed", ts, type_, validate_command(type_, data))
            apply(state, event)
            events.append(event)
        new_rooms[room_id] = uuid.uuid4().hex
        summaries[room_id] = state.summary_dict()

    for n in range(incidents):
        room(f"OLD-{n}", f"Past incident {n}", 0, True)
    room(BIG_ROOM, "A long incident", big_events, False)
    room(CALM_ROOM, "Where the well-behaved client writes", 0, False)
    for room_id in ALERT_ROOMS:
        room(room_id, f"Alerts for {room_id}", 0, False)
    await store.append(events, new_rooms, summaries, {})
    await store.close()


# -- the well-behaved client and the health prober ----------------------------------------


async def writer(url: str, probe: Probe, stop: asyncio.Event) -> None:
    """10 entries/s; each ack's latency from send to receipt."""
    ws = await open_client(url, "calm", 10.0, TOKEN)
    sent: dict[str, float] = {}

    async def read() -> None:
        async for raw in ws:
            frame = unpackb(raw)
            if frame.get("t") in ("ack", "error") and frame.get("id") in sent:
                started = sent.pop(frame["id"])
                if frame["t"] == "ack":
                    probe.acks.append(1000 * (time.perf_counter() - started))
                else:
                    probe.lost += 1

    reader = asyncio.create_task(read())
    try:
        n = 0
        next_at = time.perf_counter()
        while not stop.is_set():
            n += 1
            command_id = str(uuid.uuid4())
            sent[command_id] = time.perf_counter()
            frame = {"t": "cmd", "rid": n, "id": command_id, "type": "entry.added", "room": CALM_ROOM}
            await ws.send(packb({**frame, "data": {"text": f"steady {n}"}}))
            next_at += 0.1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.perf_counter()))

        async def answered() -> bool:
            return not sent

        await poll_until(answered, 5.0)  # the last commands' acks, before counting any as lost
        probe.lost += len(sent)
    finally:
        reader.cancel()
        await close_all([ws])


async def prober(http_url: str, probe: Probe, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=10.0) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await client.get(f"{http_url}/healthz")
                probe.healthz.append(1000 * (time.perf_counter() - started))
            except httpx.HTTPError:
                probe.healthz.append(10_000.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


# -- the attacks, each in a process of its own ---------------------------------------------


async def slowloris(ws_url: str, http_url: str, count: int, hold: float) -> str:
    """``count`` connections per port that send one header line every 2 s and never finish."""
    outcome = []
    for label, url in (("http", http_url), ("sync", ws_url)):
        target = urlsplit(url)
        conns = []
        for _ in range(count):
            with contextlib.suppress(OSError):
                conns.append(await asyncio.open_connection(target.hostname, target.port))
        for _, w in conns:
            w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        outcome.append((label, conns))
    deadline = time.monotonic() + hold
    n = 0
    while time.monotonic() < deadline:
        n += 1
        for _, conns in outcome:
            for _, w in conns:
                if not w.is_closing():
                    with contextlib.suppress(OSError):
                        w.write(f"X-Slow-{n}: y\r\n".encode())
        await asyncio.sleep(2.0)  # the attack's own pace
    said = []
    for label, conns in outcome:
        cut = 0
        for r, w in conns:
            try:
                await asyncio.wait_for(r.read(1 << 16), 0.05)
                cut += r.at_eof()
            except TimeoutError:  # before OSError, which it is a kind of
                pass  # still open: the hub is waiting for the rest of the headers
            except OSError:
                cut += 1
            w.close()
        said.append(f"{label}: {len(conns)} opened, {cut} cut by the hub")
    return "; ".join(said)


async def joins(ws_url: str, token: str, count: int) -> str:
    """One viewer connection sends ``count`` joins for the big room and reads whatever comes."""
    ws = await open_client(ws_url, "viewer", 10.0, token)
    for n in range(count):
        await ws.send(packb({"t": "join", "rid": n, "room": BIG_ROOM, "after": 0}))
    got, answered, received = 0, 0, 0
    deadline = time.monotonic() + 120
    try:
        while answered < count and time.monotonic() < deadline:
            raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
            received += len(raw)
            frame = unpackb(raw)
            if frame.get("t") == "synced":
                got += 1
                answered += 1
            elif frame.get("t") == "error":
                answered += 1
    except (TimeoutError, Exception) as exc:  # the hub may cut a greedy viewer off: that is an outcome
        return (
            f"{got} caught up, {answered - got} refused, {received / 1e6:.0f} MB, then {type(exc).__name__}"
        )
    finally:
        await close_all([ws])
    return f"{got} caught up, {answered - got} refused, {received / 1e6:.0f} MB received"


async def alert_storm(http_url: str, count: int) -> str:
    alerts = [
        {"name": f"Storm{n}", "labels": {"shard": str(n % 3), "n": str(n)}, "summary": "disk full " * 4}
        for n in range(count)
    ]
    body = json.dumps({"alerts": alerts}).encode()
    async with httpx.AsyncClient(timeout=300.0) as client:
        started = time.perf_counter()
        response = await client.post(
            f"{http_url}/api/v1/alerts",
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
    return f"{len(body) / 1e6:.1f} MB -> {response.status_code} in {time.perf_counter() - started:.1f} s"


async def bad_tokens(http_url: str, count: int) -> str:
    codes: dict[int, int] = {}

    async def one(client: httpx.AsyncClient, n: int) -> None:
        try:
            response = await client.get(
                f"{http_url}/api/v1/incidents", headers={"Authorization": f"Bearer wrong-{n}"}
            )
            codes[response.status_code] = codes.get(response.status_code, 0) + 1
        except httpx.HTTPError:
            codes[0] = codes.get(0, 0) + 1

    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        for start in range(0, count, 50):
            await asyncio.gather(*(one(client, n) for n in range(start, min(count, start + 50))))
    return ", ".join(f"{n} x {code or 'error'}" for code, n in sorted(codes.items()))


async def status_readers(http_url: str, readers: int, hold: float) -> str:
    done = 0
    deadline = time.monotonic() + hold

    async def loop(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"{http_url}/status")
                done += 1

    async with httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=readers)) as client:
        await asyncio.gather(*(loop(client) for _ in range(readers)))
    return f"{done} pages in {hold:.0f} s"


def attack_main(name: str, args: dict[str, Any], conn: Any) -> None:
    """Entry point of an attack process: runs one attack and sends back what it saw."""
    signal.signal(signal.SIGTERM, terminate)
    attacks: dict[str, Callable[..., Coroutine[Any, Any, str]]] = {
        "slowloris": slowloris,
        "joins": joins,
        "alerts": alert_storm,
        "bad_tokens": bad_tokens,
        "status": status_readers,
    }
    try:
        outcome = asyncio.run(attacks[name](**args))
    except Exception as exc:
        outcome = f"failed: {type(exc).__name__}: {exc}"
    conn.send(outcome)
    conn.close()


async def run_attack(name: str, args: dict[str, Any], timeout: float) -> str:
    parent, child = multiprocessing.Pipe(duplex=False)
    worker = multiprocessing.get_context("fork").Process(target=attack_main, args=(name, args, child))
    WORKERS.append(worker)
    worker.start()
    child.close()
    try:
        outcome = await pipe_recv(parent, timeout)
    except (TimeoutError, EOFError):
        outcome = "no answer: stopped"
    worker.join(5)
    if worker.is_alive():
        worker.terminate()
        worker.join(5)
    return str(outcome)


# -- the run -------------------------------------------------------------------------------


async def viewer_token(http_url: str) -> str:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post(
            f"{http_url}/api/v1/tokens",
            json={"name": "viewer", "level": "viewer"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        response.raise_for_status()
        return str(response.json()["token"])


async def run(args: argparse.Namespace, work: Path) -> list[Row]:
    db = work / "hub.db"
    await seed(db, args.incidents, args.big_events)
    argv = serve_argv(db, TOKEN)
    config = db.with_suffix(".bench.toml")
    routes = "".join(
        f'\n[[routes]]\nmatch = {{shard = "{n}"}}\nincident = "{room}"\n'
        for n, room in enumerate(ALERT_ROOMS)
    )
    config.write_text(config.read_text() + routes)
    hub = await start_child(argv, work, "hub")
    return await run_on(hub, args)


async def run_on(hub: Child, args: argparse.Namespace) -> list[Row]:
    token = await viewer_token(hub.http_url)
    probe = Probe()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(writer(hub.ws_url, probe, stop)),
        asyncio.create_task(prober(hub.http_url, probe, stop)),
    ]
    hold = args.window
    attacks: list[tuple[str, str, dict[str, Any]]] = [
        (
            f"{args.slowloris} slowloris per port",
            "slowloris",
            {"ws_url": hub.ws_url, "http_url": hub.http_url, "count": args.slowloris, "hold": hold + 10},
        ),
        (
            f"{args.joins} joins of a {args.big_events}-event room",
            "joins",
            {"ws_url": hub.ws_url, "token": token, "count": args.joins},
        ),
        (f"{args.alerts:,}-alert webhook", "alerts", {"http_url": hub.http_url, "count": args.alerts}),
        (
            f"{args.bad_tokens:,} bad tokens",
            "bad_tokens",
            {"http_url": hub.http_url, "count": args.bad_tokens},
        ),
        (
            f"20 GET /status, {args.incidents:,} incidents",
            "status",
            {"http_url": hub.http_url, "readers": 20, "hold": hold},
        ),
    ]
    rows = []
    try:
        async def warm() -> bool:  # both streams live: connections made, rooms loaded
            return len(probe.acks) >= 10 and len(probe.healthz) >= 10

        await poll_until(warm, 30.0)
        for label, name, attack_args in attacks:
            if args.only and name not in args.only:
                continue
            row = Row(label)
            probe.take()
            await asyncio.sleep(args.baseline)  # the baseline window
            row.base_p99 = p99(probe.take()[0])
            row.rss_before = await settle_rss(hub.pid)
            print(f"-- {label}: baseline p99 {row.base_p99:.0f} ms; attacking", flush=True)
            started = time.perf_counter()
            row.outcome = await run_attack(name, attack_args, args.timeout)
            row.took = time.perf_counter() - started
            acks, health = probe.take()
            row.p99, row.healthz_max = p99(acks), max(health, default=float("inf"))
            row.rss_after = await settle_rss(hub.pid, 15.0)
            print(
                f"   {row.outcome}; p99 {row.p99:.0f} ms, /healthz max {row.healthz_max:.0f} ms", flush=True
            )
            rows.append(row)
            if hub.proc.poll() is not None:
                raise RuntimeError(f"the hub died:\n{hub.stderr_tail()}")
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        emfile = hub.stderr_text().count("Too many open files")
        if emfile:
            print(f"!! the hub logged 'Too many open files' {emfile} times", flush=True)
        print(f"writer: {probe.lost} commands unanswered or refused", flush=True)
        hub.stop()
    return rows


def report(rows: Sequence[Row]) -> bool:
    print(
        f"\n{'attack':<34} {'p99 no abuse':>12} {'p99 abuse':>10} {'/healthz max':>12} "
        f"{'RSS MB before→after':>20} {'took s':>7}  verdict"
    )
    for r in rows:
        rss = f"{r.rss_before / 1024:.0f}→{r.rss_after / 1024:.0f}"
        print(
            f"{r.attack:<34} {r.base_p99:>10.0f}ms {r.p99:>8.0f}ms {r.healthz_max:>10.0f}ms "
            f"{rss:>20} {r.took:>7.1f}  {verdict(r.ok)}"
        )
    print(f"targets: p99 and /healthz <= {TARGET_MS:.0f} ms under abuse; RSS within {RSS_SLACK:.0%} of start")
    return all(r.ok for r in rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: smaller attacks, short windows")
    parser.add_argument(
        "--only",
        action="append",
        choices=("slowloris", "joins", "alerts", "bad_tokens", "status"),
        help="run only this attack (repeatable)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.window = 4.0 if quick else 12.0  # seconds the slowloris and /status attacks last
    args.baseline = 3.0 if quick else 8.0
    args.timeout = 60.0 if quick else 300.0
    args.slowloris = 50 if quick else 300
    args.joins = 50 if quick else 300
    args.big_events = 500 if quick else 2000
    args.alerts = 5_000 if quick else 50_000
    args.bad_tokens = 300 if quick else 3_000
    args.incidents = 300 if quick else 3_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    # The soft file limit many service managers give; the hub inherits it and should raise it itself.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    print(
        f"warroom abuse benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{'QUICK (smoke sizes)' if args.quick else 'full run'}",
        flush=True,
    )
    return run_guarded("abuse", lambda work: report(asyncio.run(run(args, work))))

if __name__ == "__main__":
    sys.exit(main())
