"""Fan-out benchmark: the warroom hub against a bare websockets broadcast server.

Run from the repository root::

    python bench/fanout.py            # full run, about 3-4 minutes on 2 cores
    python bench/fanout.py --quick    # a smoke run, well under a minute

Three sections, each printed as a table with its baseline and target:

1. Fan-out. One writer connection sends ``entry.added`` commands to one room at a
   fixed, paced rate (default 100 events/s) while N subscribers (1, 10, 50, 200)
   are joined to it. The same load is driven against the hub (a separate
   ``warroom serve`` process, durable SQLite log in a temp dir) and against a raw
   ``websockets`` broadcast server with no persistence (this script re-invoked with
   ``--raw-server``). Latency is **send-to-delivery**: the writer puts
   ``time.perf_counter_ns()`` (CLOCK_MONOTONIC, shared by every process on the
   machine) into the entry text just before sending the command, and a subscriber
   subtracts it from ``perf_counter_ns()`` taken right after the frame holding the
   event arrives. For the hub that includes validation, group commit (fsync) and
   the fan-out; for the raw server, only the relay. Subscribers run in separate
   processes from the writer.
2. Memory per idle connection: open many hello'd and joined connections and read
   the server's VmRSS before and after.
3. Join of a 100,000-event room: pre-fill the log through the hub's own command
   path, restart the hub, then time ``HubClient.join`` from a fresh client.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.children import (
    Child,
    cleanup_children,
    cpu_seconds,
    serve_argv,
    start_child,
)
from bench.common import (
    Pipe,
    close_all,
    open_client,
    packb,
    pipe_recv,
    raise_nofile,
    settle_rss,
    status_kib,
    terminate,
    unpackb,
    verdict,
)
from bench.receivers import Member, Receivers, ReceiverSpec, Tally, release, start_receivers, stop_receivers

TOKEN = "bench-" + uuid.uuid4().hex
MS = 1e6  # nanoseconds per millisecond
TARGET_P99_MS = 25.0
TARGET_RATIO_P99 = 2.5
TARGET_KIB_PER_CONN = 32.0
TARGET_JOIN_S = 1.0
PHASE_WARMUP, PHASE_MEASURE, PHASE_END = "w", "m", "e"

SCRIPT = Path(__file__).resolve()


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the result tables."""
    print(f"[fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- child processes -------------------------------------------------------------------


def hub_argv(db: Path) -> list[str]:
    return serve_argv(db, TOKEN)


async def start_hub(db: Path, workdir: Path, label: str = "hub") -> Child:
    return await start_child(hub_argv(db), workdir, label, want=("sync",), stdin=subprocess.PIPE)


async def start_raw(workdir: Path, label: str = "raw") -> Child:
    """The baseline server: it prints ``raw-server ws://...`` and exits when its stdin closes."""
    argv = [sys.executable, str(SCRIPT), "--raw-server"]
    return await start_child(argv, workdir, label, want=("raw-server",), stdin=subprocess.PIPE)


# -- /proc readings -------------------------------------------------------------------


CLK_TCK = os.sysconf("SC_CLK_TCK")


def box_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


@dataclass
class CpuMeter:
    """CPU used by a set of processes, and by the whole machine, over a window."""

    pids: dict[str, list[int]]
    start: dict[str, float] = field(default_factory=dict)
    box_start: tuple[int, int] = (0, 0)
    wall_start: float = 0.0
    result: dict[str, float] = field(default_factory=dict)  # name -> % of one core

    def begin(self) -> None:
        self.wall_start = time.perf_counter()
        self.start = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}
        self.box_start = box_ticks()

    def end(self) -> None:
        wall = max(1e-9, time.perf_counter() - self.wall_start)
        for name, pids in self.pids.items():
            used = sum(cpu_seconds(p) for p in pids) - self.start.get(name, 0.0)
            self.result[name] = 100.0 * used / wall
        busy, total = box_ticks()
        dt = max(1, total - self.box_start[1])
        self.result["box"] = 100.0 * (busy - self.box_start[0]) / dt
        ours = sum(self.result[name] for name in self.pids)
        self.result["other"] = max(0.0, self.result["box"] * (os.cpu_count() or 1) - ours)


# -- small async helpers ----------------------------------------------------------------


def percentile(sorted_values: Sequence[int] | Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return float(sorted_values[rank - 1])


# -- the raw broadcast server (this script with --raw-server) ------------------------------


def iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


async def raw_server_main() -> None:
    """No persistence, no validation: relay each command as an events frame to the room.

    It speaks just enough of the hub's protocol (hello, join, cmd) that the very same
    clients drive it, and each relayed frame has the hub's shape and size.
    """
    rooms: dict[str, set[ServerConnection]] = {}
    heads: dict[str, int] = {}
    numbers = itertools.count(1)

    async def handler(ws: ServerConnection) -> None:
        name = "?"
        joined: list[str] = []
        try:
            async for message in ws:
                frame = unpackb(message)
                kind = frame.get("t")
                if kind == "cmd":
                    room = frame.get("room") or f"RAW-{next(numbers)}"
                    seq = heads[room] = heads.get(room, 0) + 1
                    event = {
                        "room": room,
                        "seq": seq,
                        "id": frame["id"],
                        "actor": name,
                        "ts": iso_now(),
                        "type": frame["type"],
                        "data": frame.get("data") or {},
                    }
                    members = rooms.get(room)
                    if members:
                        broadcast(members, packb({"t": "events", "room": room, "events": [event]}))
                    await ws.send(
                        packb(
                            {
                                "t": "ack",
                                "rid": frame.get("rid"),
                                "id": frame["id"],
                                "room": room,
                                "seq": seq,
                                "duplicate": False,
                            }
                        )
                    )
                elif kind == "hello":
                    name = str(frame.get("name", "?"))
                    await ws.send(
                        packb({"t": "welcome", "v": 1, "hub": "raw", "time": iso_now(), "max_frame": 65536})
                    )
                elif kind == "join":
                    room = frame["room"]
                    rooms.setdefault(room, set()).add(ws)
                    joined.append(room)
                    head = heads.get(room, 0)
                    await ws.send(
                        packb(
                            {
                                "t": "joined",
                                "rid": frame.get("rid"),
                                "room": room,
                                "epoch": "raw",
                                "head": head,
                                "mode": "replay",
                            }
                        )
                    )
                    await ws.send(packb({"t": "synced", "room": room, "seq": head}))
        except ConnectionClosed:
            pass
        finally:
            for room in joined:
                rooms.get(room, set()).discard(ws)

    raise_nofile()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent holds our stdin open; EOF means it is gone.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(sys.stdin.fileno(), 4096) else None)
    async with serve(
        handler, "127.0.0.1", 0, compression=None, max_size=1 << 20, server_header="raw"
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"raw-server ws://127.0.0.1:{port}", flush=True)
        await stop.wait()


# -- subscribers (separate processes) --------------------------------------------------------


class FanoutTally(Tally):
    """Times the measured phase; says ``done`` once every member has seen the end marker (or left)."""

    def __init__(self, conn: Pipe, members: list[Member]) -> None:
        super().__init__(conn, members)
        self.latencies = array.array("q")
        self.finished = 0

    def entry(self, member: Member, phase: str, latency_ns: int) -> None:
        if phase == PHASE_MEASURE:
            self.latencies.append(latency_ns)
        elif phase == PHASE_END:
            self.ended(member)

    def ended(self, member: Member) -> None:
        if not member.done:
            member.done = True
            self.finished += 1
            if self.finished == len(self.members):
                self.conn.send(("done",))

    def report(self) -> tuple[dict[str, Any], Any]:
        own = {"measured": len(self.latencies), "incomplete": sum(1 for m in self.members if not m.done)}
        return own, self.latencies.tobytes()


# -- section 1: fan-out ----------------------------------------------------------------------


@dataclass
class FanoutResult:
    server: str
    clients: int
    ok: bool = True
    note: str = ""
    events_per_s: float = 0.0
    deliveries_per_s: float = 0.0
    delivered_pct: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    p999_ms: float = float("nan")
    max_ms: float = float("nan")
    ack_p50_ms: float = float("nan")
    ack_p99_ms: float = float("nan")
    writer_lag_p99_ms: float = float("nan")
    join_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


async def run_fanout(server: Child, clients: int, args: argparse.Namespace) -> FanoutResult:
    result = FanoutResult(server.label, clients)
    writer = await open_client(server.ws_url, "writer", 15.0, TOKEN)
    pending: dict[str, tuple[str, int]] = {}  # command id -> (phase, send time)
    acks: dict[str, list[int]] = {PHASE_WARMUP: [], PHASE_MEASURE: [], PHASE_END: []}
    refused: list[str] = []
    all_acked = asyncio.Event()
    declared: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read_acks() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in writer:
                now = time.perf_counter_ns()
                frame = unpackb(message)
                if frame["t"] == "ack":
                    if not declared.done():
                        declared.set_result(frame["room"])
                        continue
                    phase, sent = pending.pop(frame["id"], ("?", now))
                    if phase in acks:
                        acks[phase].append(now - sent)
                elif frame["t"] == "error":
                    refused.append(str(frame.get("message")))
                    pending.pop(str(frame.get("id")), None)
                if declared.done() and not pending and acks[PHASE_END]:
                    all_acked.set()

    ack_task = asyncio.create_task(read_acks())
    receivers: Receivers | None = None
    try:
        await writer.send(
            packb(
                {
                    "t": "cmd",
                    "id": str(uuid.uuid4()),
                    "type": "incident.declared",
                    "data": {"title": f"fan-out bench N={clients}", "severity": "SEV2"},
                }
            )
        )
        room = await asyncio.wait_for(declared, 15)

        # Subscribers, split over up to --receiver-procs processes.
        nprocs = max(1, min(args.receiver_procs, clients))
        members = [(f"sub-{i}", room, False) for i in range(clients)]
        join_timeout = 30.0 + clients * 0.2
        specs = [
            ReceiverSpec(server.ws_url, TOKEN, members[k::nprocs], join_timeout, "fo") for k in range(nprocs)
        ]
        receivers, reports = await start_receivers(specs, FanoutTally, "fanout-receiver", join_timeout + 30)
        joined = 0
        for info in reports:
            joined += info["ok"]
            result.join_s = max(result.join_s, info["join_s"])
            if info["failed"]:
                result.note += f"{info['failed']} subscribers failed to join ({info['errors'][:1]}); "
        if joined < clients:
            raise RuntimeError(f"only {joined}/{clients} subscribers joined: {result.note}")

        meter = CpuMeter({"server": [server.pid], "recv": receivers.pids, "writer": [os.getpid()]})
        interval_ns = int(1e9 / args.rate)
        warm = int(args.rate * args.warmup)
        measure = int(args.rate * args.duration)
        lags: list[int] = []
        t_first = t_last = 0
        start = time.perf_counter_ns() + 50_000_000
        for i in range(warm + measure + 1):
            phase = PHASE_WARMUP if i < warm else PHASE_MEASURE if i < warm + measure else PHASE_END
            due = start + i * interval_ns
            now = time.perf_counter_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
            if i == warm:
                meter.begin()
            sent = time.perf_counter_ns()
            if phase == PHASE_MEASURE:
                lags.append(sent - due)
                t_first = t_first or sent
                t_last = sent
            command_id = str(uuid.uuid4())
            pending[command_id] = (phase, sent)
            await writer.send(
                packb(
                    {
                        "t": "cmd",
                        "id": command_id,
                        "room": room,
                        "type": "entry.added",
                        "data": {"text": f"fo {phase} {i} {sent}"},
                    }
                )
            )
            if i == warm + measure - 1:
                meter.end()
        window_s = (t_last - t_first + interval_ns) / 1e9

        # Wait for the tail: every ack, and every subscriber's end marker.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_acked.wait(), 15)
        for pipe in receivers.pipes:
            with contextlib.suppress(TimeoutError):
                reply = await pipe_recv(pipe, 15)
                if reply[0] == "error":
                    result.note += f"receiver error: {reply[1]}; "
        stats: list[dict[str, Any]] = []
        samples = array.array("q")
        for stat, raw in await stop_receivers(receivers, 30):
            stats.append(stat)
            samples.frombytes(raw)

        accepted = len(acks[PHASE_MEASURE])
        delivered = sum(s["measured"] for s in stats)
        result.events_per_s = accepted / window_s
        result.deliveries_per_s = delivered / window_s
        result.delivered_pct = 100.0 * delivered / max(1, measure * clients)
        ordered = sorted(samples)
        result.p50_ms = percentile(ordered, 50) / MS
        result.p99_ms = percentile(ordered, 99) / MS
        result.p999_ms = percentile(ordered, 99.9) / MS
        result.max_ms = (ordered[-1] / MS) if ordered else float("nan")
        ack_sorted = sorted(acks[PHASE_MEASURE])
        result.ack_p50_ms = percentile(ack_sorted, 50) / MS
        result.ack_p99_ms = percentile(ack_sorted, 99) / MS
        result.writer_lag_p99_ms = percentile(sorted(lags), 99) / MS
        result.cpu = meter.result
        disconnected = sum(s["disconnected"] for s in stats)
        if disconnected:
            codes = sorted({c for s in stats for c in s["close_codes"]})
            result.note += f"{disconnected} subscribers were disconnected (close codes {codes}); "
        gaps = sum(s["gaps"] for s in stats)
        if gaps:
            result.note += f"{gaps} seq gaps; "
        if refused:
            result.note += f"{len(refused)} commands refused ({refused[0]}); "
        if accepted < measure:
            result.note += f"only {accepted}/{measure} commands acked; "
        if result.delivered_pct < 99.99 or disconnected or refused:
            result.ok = False
    finally:
        if receivers is not None:
            release(receivers)
        await close_all([writer], 5)
        ack_task.cancel()
        await asyncio.gather(ack_task, return_exceptions=True)
    return result


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(
        h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(out)


def print_fanout(results: list[FanoutResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"== 1. Fan-out: one writer paced at {args.rate:g} events/s into one room, N subscribers "
        f"({args.duration:g} s measured after {args.warmup:g} s warm-up, per run) =="
    )
    print(
        "latency = send-to-delivery: perf_counter_ns() taken by the writer just before sending the "
        "command,\n          subtracted from perf_counter_ns() in the subscriber process when the "
        "frame arrives"
    )
    print("ack = writer send to ack received (hub: validated + committed with fsync; raw: relayed)")
    print(
        "CPU = % of one core during the measured window: server process, subscriber processes, "
        "writer (this process),\n      other = everything else on the machine, box = whole machine "
        "(100% = all cores)"
    )
    print(
        "join s = time for the N subscribers to connect, hello, join and be synced "
        "(the hub also broadcasts presence to the room on each join)"
    )
    headers = [
        "server",
        "N",
        "events/s",
        "deliv/s",
        "deliv%",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "ack p50",
        "ack p99",
        "lag p99",
        "join s",
        "srv CPU",
        "sub CPU",
        "wr CPU",
        "other",
        "box CPU",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                r.server,
                str(r.clients),
                fmt(r.events_per_s, 1),
                fmt(r.deliveries_per_s, 0),
                fmt(r.delivered_pct, 2),
                fmt(r.p50_ms),
                fmt(r.p99_ms),
                fmt(r.p999_ms),
                fmt(r.max_ms),
                fmt(r.ack_p50_ms),
                fmt(r.ack_p99_ms),
                fmt(r.writer_lag_p99_ms),
                fmt(r.join_s, 2),
                fmt(r.cpu.get("server", float("nan")), 0) + "%",
                fmt(r.cpu.get("recv", float("nan")), 0) + "%",
                fmt(r.cpu.get("writer", float("nan")), 0) + "%",
                fmt(r.cpu.get("other", float("nan")), 0) + "%",
                fmt(r.cpu.get("box", float("nan")), 0) + "%",
            ]
        )
    print(table(headers, rows))
    notes = [f"  {r.server} N={r.clients}: {r.note}" for r in results if r.note]
    if notes:
        print("notes:")
        print("\n".join(notes))

    by_key = {(r.server, r.clients): r for r in results}
    ratio_rows = []
    for n in args.clients:
        hub, raw = by_key.get(("hub", n)), by_key.get(("raw", n))
        if hub is None or raw is None:
            continue
        ratio_rows.append(
            [
                str(n),
                fmt(hub.p50_ms),
                fmt(raw.p50_ms),
                fmt(hub.p50_ms / raw.p50_ms),
                fmt(hub.p99_ms),
                fmt(raw.p99_ms),
                fmt(hub.p99_ms / raw.p99_ms),
            ]
        )
    print()
    print(table(["N", "hub p50", "raw p50", "p50 hub/raw", "hub p99", "raw p99", "p99 hub/raw"], ratio_rows))

    # Honest flags about the load generator itself.
    warnings = []
    for r in results:
        if r.cpu.get("recv", 0) > 90 * max(1, min(args.receiver_procs, r.clients)):
            warnings.append(
                f"{r.server} N={r.clients}: subscriber processes near saturation ({r.cpu['recv']:.0f}% CPU)"
            )
        if r.writer_lag_p99_ms > 5:
            warnings.append(
                f"{r.server} N={r.clients}: writer fell behind its schedule "
                f"(p99 lag {r.writer_lag_p99_ms:.1f} ms)"
            )
        if r.cpu.get("box", 0) > 90:
            warnings.append(
                f"{r.server} N={r.clients}: the machine was CPU-bound "
                f"({r.cpu['box']:.0f}% of all {os.cpu_count()} cores busy); "
                "latency includes waiting for a core"
            )
        if r.cpu.get("other", 0) > 15:
            warnings.append(
                f"{r.server} N={r.clients}: other processes used {r.cpu['other']:.0f}% of a core "
                "during the run (numbers disturbed)"
            )
    print(
        "load generator: "
        + (
            "; ".join(warnings)
            if warnings
            else "not saturated (writer on schedule, subscribers below 90% CPU, box below 90%)"
        )
    )

    n_top = max(args.clients)
    hub, raw = by_key.get(("hub", n_top)), by_key.get(("raw", n_top))
    print()
    print(f"targets (N={n_top}, {args.rate:g} events/s):")
    if hub is not None:
        want = args.rate * n_top
        print(
            f"  hub deliveries/s >= {want * 0.99:,.0f} (99% of {want:,.0f}), none lost: "
            f"{fmt(hub.deliveries_per_s, 0)}/s, {fmt(hub.delivered_pct)}% delivered  "
            f"{verdict(hub.ok and hub.deliveries_per_s >= 0.99 * want)}"
        )
        print(
            f"  hub p99 <= {TARGET_P99_MS:g} ms: {fmt(hub.p99_ms)} ms  "
            f"{verdict(hub.ok and hub.p99_ms <= TARGET_P99_MS)}"
        )
        if raw is not None:
            ratio = hub.p99_ms / raw.p99_ms
            print(
                f"  hub p99 <= {TARGET_RATIO_P99:g}x raw p99 (same run): {fmt(hub.p99_ms)} / "
                f"{fmt(raw.p99_ms)} ms = {fmt(ratio)}x  "
                f"{verdict(hub.ok and raw.ok and ratio <= TARGET_RATIO_P99)}"
            )
        print(
            f"  (raw baseline: {fmt(raw.deliveries_per_s, 0) if raw else '-'} deliveries/s, "
            f"p99 {fmt(raw.p99_ms) if raw else '-'} ms)"
        )


# -- section 2: memory per idle connection -----------------------------------------------------


@dataclass
class MemoryResult:
    server: str
    wanted: int
    opened: int = 0
    rooms: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    open_s: float = 0.0
    note: str = ""

    @property
    def kib_per_conn(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.opened if self.opened else float("nan")


async def declare_rooms(url: str, count: int, title: str) -> list[str]:
    ws = await open_client(url, "declarer", 15.0, TOKEN)
    try:
        for _ in range(count):
            await ws.send(
                packb(
                    {
                        "t": "cmd",
                        "id": str(uuid.uuid4()),
                        "type": "incident.declared",
                        "data": {"title": title, "severity": "SEV3"},
                    }
                )
            )
        rooms: list[str] = []
        deadline = time.monotonic() + 60
        while len(rooms) < count and time.monotonic() < deadline:
            frame = unpackb(await asyncio.wait_for(ws.recv(), 30))
            if frame["t"] == "ack":
                rooms.append(frame["room"])
            elif frame["t"] == "error":
                raise RuntimeError(f"declare refused: {frame!r:.200}")
        return rooms
    finally:
        await ws.close()


async def open_idle(
    url: str, rooms: list[str], count: int, room_size: int, deadline: float, prefix: str
) -> tuple[list[ClientConnection], list[asyncio.Task[None]], list[str]]:
    """Open ``count`` connections (hello'd, joined, synced); each keeps draining what it is sent."""
    sockets: list[ClientConnection] = []
    drains: list[asyncio.Task[None]] = []
    failures: list[str] = []
    gate = asyncio.Semaphore(64)

    async def drain(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async def one(i: int) -> None:
        if time.monotonic() > deadline:
            failures.append("deadline")
            return
        async with gate:
            try:
                ws = await open_client(url, f"{prefix}-{i}", 20, TOKEN)
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            sockets.append(ws)
            room = rooms[(i // room_size) % len(rooms)]
            try:
                await ws.send(packb({"t": "join", "rid": i, "room": room, "after": 0}))
                while True:
                    left = deadline - time.monotonic()
                    frame = unpackb(await asyncio.wait_for(ws.recv(), max(0.1, min(30.0, left))))
                    if frame["t"] == "synced":
                        break
                    if frame["t"] == "error":
                        raise RuntimeError(f"join refused: {frame!r:.200}")
            except Exception as exc:
                failures.append(f"join: {type(exc).__name__}: {exc}")
                return
            drains.append(asyncio.create_task(drain(ws)))

    await asyncio.gather(*(one(i) for i in range(count)))
    return sockets, drains, failures


async def run_memory(server: Child, count: int, room_size: int, is_hub: bool) -> MemoryResult:
    result = MemoryResult(server.label, count)
    nrooms = max(1, -(-count // room_size))
    if is_hub:
        rooms = await declare_rooms(server.ws_url, nrooms, "idle bench")
    else:
        rooms = [f"RAW-idle-{k}" for k in range(nrooms)]
    result.rooms = len(rooms)
    # Warm the server's code paths (imports, first allocations) before the baseline reading.
    warm, warm_drains, _ = await open_idle(server.ws_url, rooms, 20, room_size, time.monotonic() + 30, "warm")
    await close_all(warm)
    for task in warm_drains:
        task.cancel()
    result.rss_before_kib = await settle_rss(server.pid)  # waits until the reading stops moving
    t0 = time.perf_counter()
    sockets, drains, failures = await open_idle(
        server.ws_url, rooms, count, room_size, time.monotonic() + 150, "idle"
    )
    result.open_s = time.perf_counter() - t0
    result.opened = len(sockets) - sum(1 for f in failures if f.startswith("join"))
    if failures:
        result.note = f"{len(failures)} connections failed ({failures[0]})"
    result.rss_after_kib = await settle_rss(server.pid)
    alive = sum(1 for t in drains if not t.done())
    if alive < result.opened:
        result.note += f" {result.opened - alive} connections were closed by the server while idle"
    await close_all(sockets, 30)
    for task in drains:
        task.cancel()
    await asyncio.gather(*drains, return_exceptions=True)
    return result


def print_memory(results: list[MemoryResult], room_size: int) -> None:
    print()
    print(
        f"== 2. Memory per idle connection (authenticated, hello'd, joined, synced; "
        f"{room_size} per room; server VmRSS from /proc) =="
    )
    headers = [
        "server",
        "conns",
        "rooms",
        "RSS before MiB",
        "RSS after MiB",
        "KiB/conn",
        "open+join s",
        "target",
    ]
    rows = []
    for r in results:
        target = (
            f"<= {TARGET_KIB_PER_CONN:g} KiB  {verdict(r.kib_per_conn <= TARGET_KIB_PER_CONN)}"
            if r.server == "hub"
            else "(baseline)"
        )
        rows.append(
            [
                r.server,
                f"{r.opened:,}",
                str(r.rooms),
                fmt(r.rss_before_kib / 1024, 1),
                fmt(r.rss_after_kib / 1024, 1),
                fmt(r.kib_per_conn, 1),
                fmt(r.open_s, 2),
                target,
            ]
        )
    print(table(headers, rows))
    by = {r.server: r for r in results}
    if "hub" in by and "raw" in by and by["raw"].kib_per_conn > 0:
        print(f"hub/raw per connection: {fmt(by['hub'].kib_per_conn / by['raw'].kib_per_conn)}x")
    print(
        f"(spread over rooms of {room_size}: each member still receives the whole member list, at most "
        "once per 50 ms burst of joins;\n see 'join s' in section 1)"
    )
    for r in results:
        if r.note:
            print(f"note: {r.server}: {r.note.strip()}")


# -- section 3: joining a 100,000-event room ------------------------------------------------------


@dataclass
class JoinResult:
    events: int
    prefilled: int = 0
    prefill_s: float = 0.0
    refused: int = 0
    cold_s: float = float("nan")
    cold_entries: int = 0
    cold_seq: int = 0
    warm_s: float = float("nan")
    warm_entries: int = 0
    restart_s: float = 0.0
    db_mib: float = 0.0
    note: str = ""
    cold_snapshot_s: float = float("nan")  # when the client had decoded the snapshot
    warm_snapshot_s: float = float("nan")
    wire_s: float = float("nan")  # raw-protocol join: frames received, state not decoded
    wire_mib: float = 0.0
    stalls: list[tuple[float, int]] = field(default_factory=list)  # (ping RTT s, room size then)


async def prefill(
    url: str, total: int, conns: int, window: int, deadline: float, progress: Callable[[int], None]
) -> tuple[str, int, int]:
    """Fill one room with ``total`` events through the hub's command path, pipelined."""
    ws = await open_client(url, "prefill-declare", 15.0, TOKEN)
    try:
        await ws.send(
            packb(
                {
                    "t": "cmd",
                    "id": str(uuid.uuid4()),
                    "type": "incident.declared",
                    "data": {"title": "a very long incident", "severity": "SEV1"},
                }
            )
        )
        while True:
            frame = unpackb(await asyncio.wait_for(ws.recv(), 30))
            if frame["t"] == "ack":
                room = str(frame["room"])
                break
            if frame["t"] == "error":
                raise RuntimeError(f"declare refused: {frame!r:.200}")
    finally:
        await ws.close()
    acked = 1
    refused = 0
    filler = "rolled back the canary; error rate back under the SLO, watching p99 for ten more minutes"

    async def writer(k: int, indices: range) -> None:
        nonlocal acked, refused
        client = await open_client(url, f"prefill-{k}", 15.0, TOKEN)
        credit = asyncio.Semaphore(window)
        outstanding = 0
        finished = asyncio.Event()

        async def read_acks() -> None:
            nonlocal acked, refused, outstanding
            with contextlib.suppress(ConnectionClosed):
                async for message in client:
                    frame = unpackb(message)
                    if frame["t"] in ("ack", "error"):
                        if frame["t"] == "ack":
                            acked += 1
                            progress(acked)
                        else:
                            refused += 1
                        outstanding -= 1
                        credit.release()
                        if outstanding == 0 and finished.is_set():
                            return

        reader = asyncio.create_task(read_acks())
        try:
            for i in indices:
                if time.monotonic() > deadline:
                    break
                await credit.acquire()
                outstanding += 1
                await client.send(
                    packb(
                        {
                            "t": "cmd",
                            "id": str(uuid.uuid4()),
                            "room": room,
                            "type": "entry.added",
                            "data": {"text": f"#{i} {filler}", "kind": "note"},
                        }
                    )
                )
            finished.set()
            if outstanding:
                await asyncio.wait_for(reader, max(1.0, deadline - time.monotonic()))
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await client.close()

    rest = range(2, total + 1)
    await asyncio.gather(*(writer(k, rest[k::conns]) for k in range(conns)))
    return room, acked, refused


def files_mib(folder: Path, pattern: str) -> float:
    return sum(p.stat().st_size for p in folder.glob(pattern)) / 2**20


async def run_join(workdir: Path, events: int, prefill_conns: int, prefill_timeout: float) -> JoinResult:
    from warroom.client import HubClient  # the reference client; imported only for this section

    result = JoinResult(events)
    db = workdir / "bigroom.db"
    hub = await start_hub(db, workdir, "hub-prefill")
    try:
        t0 = time.perf_counter()
        last_log = [time.monotonic()]
        current = [0]

        def progress(done: int) -> None:
            current[0] = done
            if time.monotonic() - last_log[0] > 10:
                last_log[0] = time.monotonic()
                log(f"  prefill {done:,}/{events:,} ({done / (time.perf_counter() - t0):,.0f}/s)")

        stop_probe = asyncio.Event()
        probe = asyncio.create_task(ping_probe(hub.ws_url, stop_probe, current, result.stalls))
        try:
            room, acked, refused = await prefill(
                hub.ws_url, events, prefill_conns, 200, time.monotonic() + prefill_timeout, progress
            )
        finally:
            stop_probe.set()
            await asyncio.gather(probe, return_exceptions=True)
        result.prefill_s = time.perf_counter() - t0
        result.prefilled, result.refused = acked, refused
    except Exception:
        report_servers((hub,))
        raise
    finally:
        hub.stop(15)
    result.db_mib = files_mib(workdir, "bigroom.db*")
    if result.prefilled < events:
        result.note = (
            f"prefill stopped at {result.prefilled:,} events after {prefill_timeout:.0f}s (--prefill-timeout)"
        )

    t0 = time.perf_counter()
    hub = await start_hub(db, workdir, "hub-join")
    result.restart_s = time.perf_counter() - t0
    try:
        for attempt in ("cold", "warm"):
            client = HubClient(hub.ws_url, TOKEN, f"joiner-{attempt}")
            await client.connect()
            first_state: list[float] = []

            def on_change(kind: str, _room: str | None, marks: list[float] = first_state) -> None:
                if kind == "state" and not marks:
                    marks.append(time.perf_counter())

            client.listen(on_change)
            try:
                t0 = time.perf_counter()
                view = await client.join(room, timeout=120)
                elapsed = time.perf_counter() - t0
            finally:
                await client.close()
            snap_s = (first_state[0] - t0) if first_state else float("nan")
            if attempt == "cold":
                result.cold_s, result.cold_entries, result.cold_seq = (
                    elapsed,
                    len(view.state.entries),
                    view.state.seq,
                )
                result.cold_snapshot_s = snap_s
            else:
                result.warm_s, result.warm_entries = elapsed, len(view.state.entries)
                result.warm_snapshot_s = snap_s
        result.wire_s, result.wire_mib = await wire_join(hub.ws_url, room)
    except Exception:
        report_servers((hub,))
        raise
    finally:
        hub.stop(15)
    return result


async def ping_probe(url: str, stop: asyncio.Event, current: list[int], out: list[tuple[float, int]]) -> None:
    """Ping the hub every 0.1 s on an idle connection: the RTT shows how long its loop stalls."""
    ws = await open_client(url, "probe", 15.0, TOKEN)
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            pong = await ws.ping()
            await asyncio.wait_for(pong, 60)
            out.append((time.perf_counter() - t0, current[0]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    finally:
        await ws.close()


async def wire_join(url: str, room: str) -> tuple[float, float]:
    """Join with a raw client that receives every frame up to synced but decodes no state."""
    ws = await open_client(url, "wire-joiner", 15.0, TOKEN)
    try:
        t0 = time.perf_counter()
        received = 0
        await ws.send(packb({"t": "join", "rid": 1, "room": room, "after": 0}))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            message = await asyncio.wait_for(ws.recv(), 60)
            received += len(message)
            if len(message) < 256 and unpackb(message).get("t") == "synced":
                break
        return time.perf_counter() - t0, received / 2**20
    finally:
        await ws.close()


def print_join(r: JoinResult, full_size: bool) -> None:
    print()
    print(
        f"== 3. Join a room of {r.events:,} events and hold its full state "
        "(HubClient.join, from a fresh connected client) =="
    )
    rate = r.prefilled / r.prefill_s if r.prefill_s else float("nan")
    print(
        f"prefill through the hub's command path: {r.prefilled:,} events in {r.prefill_s:.1f} s "
        f"({rate:,.0f} events/s, pipelined), {r.refused} refused; log {r.db_mib:.1f} MiB; "
        f"hub restart {r.restart_s:.2f} s"
    )
    # >=: the hub may add events of its own to the room (on a join, say) after the prefill.
    complete = r.cold_entries >= r.prefilled and r.warm_entries >= r.prefilled
    rows = [
        [
            "cold (first join after hub restart)",
            fmt(r.cold_s, 3),
            f"{r.cold_entries:,}",
            f"<= {TARGET_JOIN_S:g} s  {verdict(complete and r.cold_s <= TARGET_JOIN_S)}",
        ],
        [
            "warm (room already live in the hub)",
            fmt(r.warm_s, 3),
            f"{r.warm_entries:,}",
            f"<= {TARGET_JOIN_S:g} s  {verdict(complete and r.warm_s <= TARGET_JOIN_S)}",
        ],
    ]
    rows.append(
        [
            "breakdown: raw-protocol join, warm (frames in, no decode)",
            fmt(r.wire_s, 3),
            f"{r.wire_mib:.1f} MiB",
            "(hub + transfer share)",
        ]
    )
    print(table(["join", "seconds", "held / received", "target"], rows))
    print(
        f"breakdown: the HubClient had decoded the snapshot at {fmt(r.cold_snapshot_s, 3)} s (cold) / "
        f"{fmt(r.warm_snapshot_s, 3)} s (warm) after join() was called"
    )
    if r.stalls:
        rtts = sorted(rtt for rtt, _ in r.stalls)
        worst = sorted(r.stalls, reverse=True)[:3]
        print(
            f"hub responsiveness while filling: ping RTT on an idle connection p50 "
            f"{percentile(rtts, 50) * 1e3:.1f} ms, p99 {percentile(rtts, 99) * 1e3:.1f} ms, "
            f"max {rtts[-1] * 1e3:.0f} ms; longest stalls at room size "
            + ", ".join(f"{size:,} ({rtt * 1e3:.0f} ms)" for rtt, size in worst)
        )
    if not complete:
        print(f"note: expected at least {r.prefilled:,} entries; state seq {r.cold_seq:,}")
    if not full_size:
        print("note: reduced room size (--quick or --big-room); the target is for 100,000 events")
    if r.note:
        print(f"note: {r.note}")


# -- driver -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="short runs and smaller sizes (a smoke test, not a measurement)"
    )
    parser.add_argument("--duration", type=float, help="measured seconds per fan-out run (default 15)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per fan-out run (default 2)")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s from the writer (default 100)")
    parser.add_argument("--clients", default="1,10,50,200", help="subscriber counts (default 1,10,50,200)")
    parser.add_argument(
        "--receiver-procs", type=int, default=2, help="subscriber processes per fan-out run (default 2)"
    )
    parser.add_argument("--idle", type=int, help="idle connections for the memory test (default 2000)")
    parser.add_argument(
        "--idle-room-size",
        type=int,
        default=20,
        help="idle connections per room in the memory test (default 20)",
    )
    parser.add_argument("--big-room", type=int, help="events in the join test's room (default 100000)")
    parser.add_argument(
        "--prefill-conns", type=int, default=4, help="pipelined connections filling the big room (default 4)"
    )
    parser.add_argument(
        "--prefill-timeout",
        type=float,
        default=150.0,
        help="give up filling the big room after this many seconds (default 150)",
    )
    parser.add_argument(
        "--sections", default="fanout,memory,join", help="comma-separated subset of fanout,memory,join"
    )
    parser.add_argument("--raw-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration if args.duration is not None else (4.0 if quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    args.idle = args.idle if args.idle is not None else (300 if quick else 2000)
    args.big_room = args.big_room if args.big_room is not None else (10_000 if quick else 100_000)
    args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    args.sections = {s.strip() for s in str(args.sections).split(",") if s.strip()}
    unknown = args.sections - {"fanout", "memory", "join"}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.rate <= 0 or args.duration <= 0 or min(args.clients, default=0) <= 0:
        parser.error("--rate, --duration and --clients must be positive")
    return args


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="warroom-fanout-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def guarded(label: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run one section; if it fails, say so and carry on with the next one."""
    try:
        await work()
    except Exception as exc:
        print(f"\n!! section {label} failed: {type(exc).__name__}: {exc}", flush=True)


def report_servers(procs: Sequence[Child]) -> None:
    """After a failure: how each server ended, and the last lines it logged."""
    for server in procs:
        if server.proc.poll() is not None:
            print(f"!! {server.label} exited with {server.proc.returncode}")
        tail = server.stderr_tail(8)
        if tail:
            print(f"!! {server.label} stderr tail:\n{tail}")


@contextlib.asynccontextmanager
async def servers(work: Path, tag: str) -> AsyncIterator[tuple[Child, Child]]:
    """A fresh hub (its own SQLite file) and a fresh raw server, stopped on the way out."""
    hub = await start_hub(work / f"hub-{tag}.db", work, f"hub-{tag}")
    try:
        raw = await start_raw(work, f"raw-{tag}")
    except BaseException:
        hub.stop(15)
        raise
    hub.label, raw.label = "hub", "raw"
    log(f"{tag}: hub pid {hub.pid} at {hub.ws_url}; raw server pid {raw.pid} at {raw.ws_url}")
    try:
        yield hub, raw
    except Exception:
        report_servers((hub, raw))
        raise
    finally:
        hub.stop(15)
        raw.stop(15)


async def bench(args: argparse.Namespace) -> None:
    nofile = raise_nofile()
    print(
        f"warroom fan-out benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"RLIMIT_NOFILE {nofile}, {'QUICK (smoke sizes)' if args.quick else 'full run'}"
    )
    with workspace() as work:
        if "fanout" in args.sections:

            async def fanout() -> None:
                async with servers(work, "fanout") as (hub, raw):
                    results: list[FanoutResult] = []
                    rss_start = {s.label: status_kib(s.pid, "VmRSS") for s in (hub, raw)}
                    for n in args.clients:
                        for server in (raw, hub):  # interleaved, so both see the same conditions
                            log(f"fan-out: {server.label} with {n} subscribers")
                            try:
                                results.append(await run_fanout(server, n, args))
                            except Exception as exc:
                                note = f"run failed: {type(exc).__name__}: {exc}"
                                results.append(FanoutResult(server.label, n, ok=False, note=note))
                    print_fanout(results, args)
                    print(
                        "server memory over the fan-out runs: "
                        + "; ".join(
                            f"{s.label} RSS {rss_start[s.label] / 1024:.0f} MiB at start, "
                            f"{status_kib(s.pid, 'VmRSS') / 1024:.0f} MiB after, "
                            f"peak {status_kib(s.pid, 'VmHWM') / 1024:.0f} MiB"
                            for s in (hub, raw)
                        )
                    )

            await guarded("fan-out", fanout)
        if "memory" in args.sections:

            async def idle() -> None:
                # Fresh servers: memory the fan-out runs freed would be reused and hide the cost.
                async with servers(work, "memory") as (hub, raw):
                    memory: list[MemoryResult] = []
                    if args.idle + 200 > nofile:
                        log(f"warning: RLIMIT_NOFILE {nofile} is low for {args.idle} connections")
                    for server, is_hub in ((raw, False), (hub, True)):
                        log(f"memory: {args.idle} idle connections to {server.label}")
                        memory.append(await run_memory(server, args.idle, args.idle_room_size, is_hub))
                    print_memory(memory, args.idle_room_size)

            await guarded("memory", idle)
        if "join" in args.sections:

            async def join() -> None:
                log(f"join: pre-filling a room with {args.big_room:,} events")
                outcome = await run_join(work, args.big_room, args.prefill_conns, args.prefill_timeout)
                print_join(outcome, args.big_room >= 100_000)

            await guarded("join", join)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.raw_server:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
        asyncio.run(raw_server_main())
        return 0
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    try:
        asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping child processes", file=sys.stderr)
        return 130
    finally:
        cleanup_children()
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
