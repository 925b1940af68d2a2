"""Personal-token benchmark: what checking a personal token costs, beside the hub's own token.

Run from the repository root::

    python bench/auth.py            # full run, about 15 s on 2 cores
    python bench/auth.py --quick    # about 6-10 s: a smoke test, not a measurement

A personal token is ``wr1.<claims>.<signature>``: every websocket handshake and every HTTP
request checks its HMAC-SHA256 signature and parses its claims (``server.tokens.verify``),
where the hub's own token is a single constant-time compare; every command then checks the
token's level and scope (``Access.require``). Both kinds of token record their use in the
audit log. This bench asks whether a personal token is noticeably slower, by driving the
same load with a personal responder token (made by the hub's ``token.create`` admin
operation) and with the hub token, against one hub:

1. Sync port: N sequential connections, each a websocket handshake (the token is checked
   in it), ``hello`` and the ``welcome``, then a close. Connections/s over the whole loop,
   and p50/p99 from the start of the connect to the welcome.
2. HTTP: ``GET /api/v1/incidents``, C requests in flight, each on its own keep-alive
   ``httpx.AsyncClient`` (see ``http_clients``). Requests/s and p50/p99. The client side is
   the busier one here: the rates mostly show httpx, the hub CPU figure shows the hub.
3. Commands: batches of M ``entry.added`` commands pipelined on one connection per token
   (hello'd beforehand), timed from the first send to the last ack; the median batch is
   shown. The hub's config lifts the per-person command rate (``bench.children.serve_argv``).
4. The audit table, read from the SQLite file once the hub has stopped (a clean stop
   flushes it): rows, and how many are ``token.used``. Token use is coalesced: one row per
   token, transport and address for each one-second flush, whatever the number of uses.

For (1)-(3) the hub process's CPU time (utime + stime from /proc) per connection, request or
command is shown too: the token check is hub CPU, and this figure is less disturbed by
whatever else the machine runs than the wall-clock ones. /proc counts in clock ticks (10 ms
here); with the default loads each of these figures rests on 0.5-1.5 s of hub CPU.

Where everything runs: the hub is ``python -m warroom serve --port 0 --http-port 0`` in its
own process on 127.0.0.1 (a fresh SQLite log in a temp dir, removed at the end); the clients
all run in this process. The hub token is the baseline, measured in the same run, and the
two are interleaved: each load is split into rounds, the personal token first in odd rounds
and the hub token first in even ones, so that drift in the machine hits both alike. A short
warm-up with each token precedes each measurement and is not counted.

ratio = personal / hub token. "overhead within 10%" compares the time each operation takes:
yes when a time's ratio is <= 1.10, or a rate's ratio is >= 1/1.10. Progress goes to stderr;
stdout holds only the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.children import Child, cleanup_children, serve_argv, start_child
from bench.common import close_all, open_client, packb, terminate, unpackb

TOKEN = "bench-" + uuid.uuid4().hex
PERSONAL, HUB = "personal", "hub"
LABELS = (PERSONAL, HUB)
FULL = {"connections": 500, "requests": 3000, "commands": 2000, "rounds": 6}
QUICK = {"connections": 200, "requests": 1200, "commands": 1000, "rounds": 2}
CONCURRENCY = 20
TIMEOUT = 15.0  # seconds for any one connect, reply or batch of acks
WITHIN = 1.10  # "overhead within 10%"
WARM_CONNECTIONS = 20
WARM_REQUESTS = 200
WARM_COMMANDS = 200


def log(message: str) -> None:
    print(f"[auth {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the hub -------------------------------------------------------------------------------------


async def start_hub(workdir: Path, db: Path) -> Child:
    """``warroom serve`` with the bulk-limits config; returns once it names both URLs."""
    return await start_child(serve_argv(db, TOKEN), workdir, "hub")


async def reply_to(ws: ClientConnection, rid: int) -> dict[str, Any]:
    """The frame answering request ``rid``; an error frame raises."""
    while True:
        frame = unpackb(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame.get("rid") != rid:
            continue
        if frame.get("t") == "error":
            raise RuntimeError(f"the hub refused request {rid}: {frame!r:.300}")
        return dict(frame)


@dataclass
class Setup:
    token: str  # the personal token
    token_id: str
    room: str


async def setup(hub: Child, auths: Counter[tuple[str, str]]) -> Setup:
    """With the hub token: make a personal responder token and declare the incident to write to."""
    ws = await open_client(hub.ws_url, "bench-admin", TIMEOUT, TOKEN)
    auths[HUB, "sync"] += 1
    try:
        args = {"name": "bench", "level": "responder", "expires": "never"}
        await ws.send(packb({"t": "admin", "rid": 1, "op": "token.create", "args": args}))
        data = (await reply_to(ws, 1))["data"]
        declared = {"title": "Personal-token bench", "severity": "SEV3"}
        command = {"t": "cmd", "rid": 2, "id": str(uuid.uuid4()), "type": "incident.declared"}
        await ws.send(packb({**command, "data": declared}))
        ack = await reply_to(ws, 2)
        return Setup(str(data["token"]), str(data["id"]), str(ack["room"]))
    finally:
        await close_all([ws], 5)


# -- measurements --------------------------------------------------------------------------------


@dataclass
class Sample:
    """One token's share of one measurement, summed over its rounds."""

    latencies: list[float] = field(default_factory=list)  # seconds per operation, or per batch
    wall: float = 0.0  # seconds spent in this token's rounds
    ops: int = 0
    hub_cpu: float = 0.0  # hub CPU seconds during this token's rounds
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ops / self.wall if self.wall else math.nan

    @property
    def cpu_per_op(self) -> float:
        return self.hub_cpu / self.ops if self.ops else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def split(total: int, rounds: int) -> list[int]:
    """``total`` as ``rounds`` near-equal parts (no empty ones)."""
    rounds = max(1, min(rounds, total))
    return [total // rounds + (1 if i < total % rounds else 0) for i in range(rounds)]


def order(round_no: int) -> tuple[str, str]:
    return LABELS if round_no % 2 == 0 else (HUB, PERSONAL)


class Timed:
    """Adds the wall time and hub CPU of a block to a Sample."""

    def __init__(self, hub: Child, sample: Sample, ops: int) -> None:
        self.hub, self.sample, self.ops = hub, sample, ops
        self.cpu = self.start = 0.0

    def __enter__(self) -> None:
        self.cpu = self.hub.cpu_seconds()
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.sample.wall += time.perf_counter() - self.start
        self.sample.hub_cpu += self.hub.cpu_seconds() - self.cpu
        self.sample.ops += self.ops


async def connections(hub: Child, token: str, name: str, n: int, into: Sample | None) -> None:
    """n sequential connect + hello -> welcome + close; the latency is connect to welcome."""
    for _ in range(n):
        start = time.perf_counter()
        ws = await open_client(hub.ws_url, name, TIMEOUT, token)
        welcomed = time.perf_counter()
        await ws.close()
        if into is not None:
            into.latencies.append(welcomed - start)


def http_clients(hub: Child, token: str, concurrency: int) -> list[httpx.AsyncClient]:
    """One keep-alive ``httpx.AsyncClient`` per request in flight.

    Not one client with a pool of ``concurrency`` connections: with 20 that pool costs the
    client three times the CPU (about 300 rather than 1,000 requests/s on 2 cores), and the
    bench would measure httpx.
    """
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {token}"}
    return [
        httpx.AsyncClient(
            base_url=hub.http_url, headers=headers, limits=limits, timeout=TIMEOUT, trust_env=False
        )
        for _ in range(concurrency)
    ]


async def requests(clients: Sequence[httpx.AsyncClient], n: int, into: Sample) -> None:
    """n ``GET /api/v1/incidents``, one in flight per client."""
    left = n

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            start = time.perf_counter()
            response = await client.get("/api/v1/incidents")
            into.latencies.append(time.perf_counter() - start)
            if response.status_code != 200 and len(into.errors) < 5:
                into.errors.append(f"HTTP {response.status_code}: {response.text[:120]}")

    await asyncio.gather(*(worker(client) for client in clients[:n]))


class Pipeline:
    """One hello'd connection that pipelines batches of commands and counts their answers."""

    def __init__(self, ws: ClientConnection, room: str) -> None:
        self.ws, self.room = ws, room
        self.left = 0
        self.done = asyncio.Event()
        self.errors: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                frame = unpackb(message)
                if frame.get("t") == "error" and len(self.errors) < 5:
                    self.errors.append(f"{frame.get('code')}: {frame.get('message')}")
                if frame.get("t") in ("ack", "error") and "id" in frame:
                    self.left -= 1
                    if self.left == 0:
                        self.done.set()
        self.done.set()  # closed under us: wake the batch, which sees what is missing

    def frames(self, n: int) -> list[bytes]:
        """n ``entry.added`` commands, encoded ahead so that the timing holds only the hub's work."""
        return [
            packb(
                {
                    "t": "cmd",
                    "id": str(uuid.uuid4()),
                    "room": self.room,
                    "type": "entry.added",
                    "data": {"text": f"auth bench {i}"},
                }
            )
            for i in range(n)
        ]

    async def batch(self, frames: Sequence[bytes]) -> float:
        """Seconds from sending the first of these commands to the last answer."""
        n = self.left = len(frames)
        self.done.clear()
        start = time.perf_counter()
        for frame in frames:
            await self.ws.send(frame)
        limit = TIMEOUT + n / 100
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), limit)
        seconds = time.perf_counter() - start
        if self.left:
            why = "the connection closed" if self.reader.done() else f"within {limit:.0f} s"
            raise RuntimeError(f"{self.left} of {n} commands got no answer ({why}): is the hub stuck?")
        return seconds

    async def close(self) -> None:
        await close_all([self.ws], 5)
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


# -- the audit table -------------------------------------------------------------------------------


@dataclass
class UsedGroup:
    token: str
    via: str
    remote: str
    rows: int
    uses: int
    span_s: float  # from the first row's time to the last's


@dataclass
class Audit:
    rows: int
    kinds: dict[str, int]
    used: list[UsedGroup]


def read_audit(db: Path) -> Audit:
    """The audit table of the stopped hub's log."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM audit GROUP BY kind ORDER BY kind").fetchall())
        groups = conn.execute(
            "SELECT token, via, remote, COUNT(*), SUM(count), MIN(ts), MAX(ts) FROM audit "
            "WHERE kind = 'token.used' GROUP BY token, via, remote ORDER BY via, token"
        ).fetchall()
    used = []
    for token, via, remote, count, uses, first, last in groups:
        span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
        used.append(UsedGroup(str(token), str(via), str(remote), int(count), int(uses), span))
    return Audit(int(rows), {str(k): int(v) for k, v in kinds.items()}, used)


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Options:
    connections: int
    requests: int
    commands: int
    rounds: int
    concurrency: int
    quick: bool


@dataclass
class Results:
    connect: dict[str, Sample]
    http: dict[str, Sample]
    commands: dict[str, Sample]
    auths: Counter[tuple[str, str]]
    token_id: str
    audit: Audit | None = None


async def measure(hub: Child, opts: Options) -> Results:
    auths: Counter[tuple[str, str]] = Counter()
    made = await setup(hub, auths)
    tokens = {PERSONAL: made.token, HUB: TOKEN}
    names = {PERSONAL: "bench", HUB: "bench-hub"}  # a personal token's name is its own anyway
    connect = {label: Sample() for label in LABELS}
    http = {label: Sample() for label in LABELS}
    commands = {label: Sample() for label in LABELS}
    clients = {label: http_clients(hub, tokens[label], opts.concurrency) for label in LABELS}
    pipes: dict[str, Pipeline] = {}
    try:
        # Each load is warmed up with both tokens just before it is measured: the HTTP
        # connections, say, would otherwise sit idle past the server's keep-alive timeout
        # during (1), and the first round of (2) would pay for reconnecting.
        log(f"1: {opts.connections} sequential connections per token, in {opts.rounds} rounds")
        for label in LABELS:
            await connections(hub, tokens[label], names[label], WARM_CONNECTIONS, None)
            auths[label, "sync"] += WARM_CONNECTIONS
        for r, part in enumerate(split(opts.connections, opts.rounds)):
            for label in order(r):
                with Timed(hub, connect[label], part):
                    await connections(hub, tokens[label], names[label], part, connect[label])
                auths[label, "sync"] += part

        log(f"2: {opts.requests} GET /api/v1/incidents per token, {opts.concurrency} in flight")
        for label in LABELS:
            await requests(clients[label], WARM_REQUESTS, Sample())
            auths[label, "http"] += WARM_REQUESTS
        for r, part in enumerate(split(opts.requests, opts.rounds)):
            for label in order(r):
                with Timed(hub, http[label], part):
                    await requests(clients[label], part, http[label])
                auths[label, "http"] += part

        log(f"3: {opts.rounds} batches of {opts.commands} pipelined entry.added per token")
        for label in LABELS:
            ws = await open_client(hub.ws_url, names[label], TIMEOUT, tokens[label])
            auths[label, "sync"] += 1
            pipes[label] = Pipeline(ws, made.room)
            await pipes[label].batch(pipes[label].frames(WARM_COMMANDS))
        for r in range(opts.rounds):
            for label in order(r):
                frames = pipes[label].frames(opts.commands)
                with Timed(hub, commands[label], opts.commands):
                    seconds = await pipes[label].batch(frames)
                commands[label].latencies.append(seconds)
        for label in LABELS:
            commands[label].errors += pipes[label].errors
    finally:
        for pipe in pipes.values():
            await pipe.close()
        for pool in clients.values():
            for client in pool:
                await client.aclose()
    return Results(connect, http, commands, auths, made.token_id)


# -- report ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.2f} ms"


def us(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1e6:.0f} us"


def per_s(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f} /s"


def compare(
    label: str,
    samples: dict[str, Sample],
    pick: Callable[[Sample], float],
    show: Callable[[float], str],
    higher_is_better: bool = False,
) -> list[str]:
    """A table row: the personal token's figure, the hub token's, their ratio and the verdict."""
    personal, hub = pick(samples[PERSONAL]), pick(samples[HUB])
    ratio = personal / hub if hub else math.nan
    if math.isnan(ratio):
        within = "n/a"
    elif higher_is_better:
        within = "yes" if ratio >= 1 / WITHIN else "no"
    else:
        within = "yes" if ratio <= WITHIN else "no"
    return [label, show(personal), show(hub), f"{ratio:.3f}", within]


def p(q: float) -> Callable[[Sample], float]:
    return lambda sample: percentile(sample.latencies, q)


def rate(sample: Sample) -> float:
    return sample.rate


def cpu(sample: Sample) -> float:
    return sample.cpu_per_op


def table(rows: Sequence[Sequence[str]]) -> str:
    headers = ["measurement", "personal token", "hub token (baseline)", "ratio", "overhead within 10%"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for cells in [headers, ["-" * w for w in widths], *rows]:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def audit_lines(res: Results) -> tuple[list[str], list[str]]:
    """Section 4 as text, and any disagreement between the uses recorded and those made."""
    audit = res.audit
    if audit is None:
        return [], []
    problems: list[str] = []
    kinds = ", ".join(f"{kind} {n}" for kind, n in audit.kinds.items())
    uses = sum(g.uses for g in audit.used)
    lines = [
        f"4. audit table after the run: {audit.rows} rows ({kinds});"
        f" {sum(g.rows for g in audit.used)} token.used rows hold {uses:,} uses"
        f" ({sum(res.auths.values()):,} authentications made by this bench, warm-up included)"
    ]
    labels = {res.token_id: PERSONAL, "hub": HUB}
    coalesced = True
    for g in audit.used:
        label = labels.get(g.token, g.token)
        made = res.auths.get((label, g.via), 0)
        # One row per token, transport and address for each flush, which runs every second.
        coalesced = coalesced and g.rows <= math.ceil(g.span_s) + 2
        lines.append(
            f"   {label:8} token via {g.via:4} from {g.remote}: {g.rows:3} rows for {g.uses:6,} uses"
            f" ({made:,} made) over {g.span_s:4.1f} s, {g.uses / max(1, g.rows):,.0f} uses per row"
        )
        if g.uses != made:
            problems.append(
                f"audit: {label} token via {g.via} holds {g.uses:,} uses; the bench made {made:,}"
            )
    verdict = "yes" if coalesced and audit.used else "no"
    lines.append(f"   token use coalesced, at most one row per token/transport/address per second: {verdict}")
    return lines, problems


def report(res: Results, opts: Options) -> int:
    c, h, m = res.connect, res.http, res.commands
    rows = [
        compare("1. sync connect+hello+welcome+close: conns/s", c, rate, per_s, True),
        compare("1. sync time to welcome p50", c, p(50), ms),
        compare("1. sync time to welcome p99", c, p(99), ms),
        compare("1. hub CPU per connection", c, cpu, us),
        compare("2. HTTP GET /api/v1/incidents: requests/s", h, rate, per_s, True),
        compare("2. HTTP response p50", h, p(50), ms),
        compare("2. HTTP response p99", h, p(99), ms),
        compare("2. hub CPU per request", h, cpu, us),
        compare(f"3. {opts.commands:,} pipelined commands: to last ack", m, p(50), ms),
        compare("3. commands acked/s", m, rate, per_s, True),
        compare("3. hub CPU per command", m, cpu, us),
    ]
    print(
        f"warroom personal token (responder) vs the hub token: {os.cpu_count()} CPUs; hub = a"
        " `python -m warroom serve` process on 127.0.0.1 (SQLite WAL); clients in this process"
    )
    print(
        f"load per token: {opts.connections:,} sequential connections; {opts.requests:,} HTTP GETs,"
        f" {opts.concurrency} in flight on keep-alive connections; {opts.rounds} batches of"
        f" {opts.commands:,} pipelined commands (median batch shown); interleaved in {opts.rounds} rounds"
    )
    print("ratio = personal / hub token; overhead within 10%: a time's ratio <= 1.10, a rate's >= 0.909")
    if opts.quick:
        print("QUICK RUN: smaller load, figures are a smoke test, not a measurement")
    print()
    print(table(rows))
    print()
    lines, problems = audit_lines(res)
    for line in lines:
        print(line)
    problems += [
        f"{what} ({label} token): {err}"
        for what, samples in (("sync", c), ("http", h), ("commands", m))
        for label, sample in samples.items()
        for err in sample.errors[:2]
    ]
    if problems:
        print("\nproblems:")
        for problem in problems:
            print(f"  {problem}")
    return 1 if problems else 0


async def run(opts: Options) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="warroom-bench-auth-"))
    try:
        log("starting the hub")
        db = workdir / "auth.db"
        hub = await start_hub(workdir, db)
        try:
            results = await measure(hub, opts)
        except BaseException:
            log(f"hub stderr, last lines:\n{hub.stderr_tail()}")
            await asyncio.to_thread(hub.stop, 5)
            raise
        log("stopping the hub (a clean stop flushes the audit log)")
        await asyncio.to_thread(hub.stop)
        results.audit = await asyncio.to_thread(read_audit, db)
        return report(results, opts)
    finally:
        cleanup_children()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smaller load: a smoke test")
    parser.add_argument(
        "--connections", type=int, help=f"sync connections per token (default {FULL['connections']})"
    )
    parser.add_argument(
        "--requests", type=int, help=f"HTTP requests per token (default {FULL['requests']:,})"
    )
    parser.add_argument(
        "--commands", type=int, help=f"commands per pipelined batch (default {FULL['commands']:,})"
    )
    parser.add_argument(
        "--rounds", type=int, help=f"interleaved rounds per measurement (default {FULL['rounds']})"
    )
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="HTTP requests in flight")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    opts = Options(
        connections=args.connections or base["connections"],
        requests=args.requests or base["requests"],
        commands=args.commands or base["commands"],
        rounds=args.rounds or base["rounds"],
        concurrency=args.concurrency,
        quick=args.quick,
    )
    if min(opts.connections, opts.requests, opts.commands, opts.rounds, opts.concurrency) < 1:
        parser.error("every count must be at least 1")
    if opts.concurrency > 500:
        parser.error("--concurrency must be at most 500")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    try:
        code = asyncio.run(run(opts))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the hub", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, TimeoutError) as exc:
        print(f"auth bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        cleanup_children()
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
