"""Soak: a steady write load with 500 well-behaved clients and a few that stop reading.

Run from the repository root::

    python bench/soak.py            # about 60 s of load (plus ~10 s of setup) on 2 cores
    python bench/soak.py --quick    # a smoke run with fewer connections

One hub process (``warroom serve``, durable SQLite log in a temp dir), 20 rooms,
500 well-behaved websocket clients spread evenly over them (in 2 receiver
processes, so the load generator is not the bottleneck), and one writer
(``HubClient``, in this process) that sends ``entry.added`` commands at a paced,
steady rate. Four rooms are *busy*: they take 80% of the writes.

Phases, in order, with the same writer and the same 500 clients throughout:

1. warm-up (not measured);
2. baseline, before: no slow clients;
3. soak: 5 slow clients join every busy room, read until ``synced``, then never
   read again. The hub's per-connection send queue (1024 frames or 4 MiB) fills
   and the hub closes them with 4008 (slow consumer);
4. baseline, after: the slow clients have been drained and are gone.

The two baselines bracket the soak, so a drift over the run (the log and the
rooms' state grow) does not flatter either side of the comparison.

Latency is send-to-delivery, as in bench/fanout.py: the writer puts
``time.perf_counter_ns()`` (CLOCK_MONOTONIC, shared by every process on the
machine) into the entry text just before submitting it, and a client subtracts
it from ``perf_counter_ns()`` taken when the frame holding the event arrives.

Memory is the hub's VmRSS from /proc: at the start of the soak (after all
connections are up, the warm-up and the first baseline, and the slow clients
have joined) and at its end, each read once the figure stops moving.

The slow clients are raw websockets with ``max_queue=1``, keepalive off (a
stalled client does not ping) and a socket shaped like a client on a slow link:
an Ethernet-sized MSS (1460) and a 4 KiB receive buffer. They join as a client
resuming would, after the last seq the writer was acked in each room, so the
join replays only a few events. Without all that, Linux sizes the hub's kernel
send buffer for loopback's 64 KiB MSS (up to tcp_wmem's maximum, often 4 MiB),
and a fast replay of the whole room grows it towards 1 MiB even at Ethernet MSS;
either would swallow minutes of this load before the hub's own queue even starts
to count. This way the hub's kernel holds ~150 KiB per slow client.

Slow clients cut off are counted on both sides: the hub logs each close it makes
(``closing NAME (...): 4008 ...`` on its stderr), and after the soak each slow
client is drained to read the close code the hub sent it. In between, the hub's
TCP sockets for them are read from /proc/net/tcp to see whether the hub still
holds them open.

Everything runs on 127.0.0.1 and every process this starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import functools
import itertools
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.children import Child, cpu_seconds, run_guarded, serve_argv, start_child
from bench.common import (
    Pipe,
    close_all,
    open_client,
    packb,
    pipe_recv,
    poll_until,
    raise_nofile,
    settle_rss,
    status_kib,
    terminate,
    unpackb,
    verdict,
)
from bench.receivers import Member, Receivers, ReceiverSpec, Tally, release, start_receivers, stop_receivers
from warroom.client import HubClient

TOKEN = "soak-" + uuid.uuid4().hex
MS = 1e6  # nanoseconds per millisecond
SLOW_CONSUMER = 4008
TARGET_RSS_GROWTH_PCT = 10.0
TARGET_P99_RATIO = 2.0
SLOW_MSS = 1460  # an Ethernet path's MSS, not loopback's 64 KiB
SLOW_RCVBUF = 4 * 1024
ENTRY_OVERHEAD = 300  # bytes an entry costs in a room's state beyond its text (measured with tracemalloc)

PHASE_WARMUP, PHASE_BEFORE, PHASE_SOAK, PHASE_AFTER = "w", "a", "s", "z"
PHASE_LABELS = {
    PHASE_WARMUP: "warm-up",
    PHASE_BEFORE: "baseline, before",
    PHASE_SOAK: "soak, slow clients in",
    PHASE_AFTER: "baseline, after",
}
FILLER = (
    "rolled back the canary in eu-west; error rate back under the SLO, p99 still high on checkout, "
    "watching the dashboards for ten more minutes before we call it; paging storage on-call for the "
    "replica lag alert that fired at the same time, probably unrelated but worth a look. "
)


def log(message: str) -> None:
    """Progress goes to stderr, so that stdout holds only the report."""
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return float(sorted_values[rank - 1])


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


# -- /proc readings ----------------------------------------------------------------------------


def box_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class CpuMeter:
    """CPU used by named groups of processes, and by the whole machine, over a window."""

    pids: dict[str, list[int]]
    start: dict[str, float] = field(default_factory=dict)
    box_start: tuple[int, int] = (0, 0)
    wall_start: float = 0.0

    def begin(self) -> None:
        self.wall_start = time.perf_counter()
        self.start = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}
        self.box_start = box_ticks()

    def end(self) -> dict[str, float]:
        """% of one core per group, and "box": % of all cores busy."""
        wall = max(1e-9, time.perf_counter() - self.wall_start)
        out = {
            name: 100.0 * (sum(cpu_seconds(p) for p in pids) - self.start.get(name, 0.0)) / wall
            for name, pids in self.pids.items()
        }
        busy, total = box_ticks()
        out["box"] = 100.0 * (busy - self.box_start[0]) / max(1, total - self.box_start[1])
        return out


TCP_STATES = {
    "01": "ESTABLISHED",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "08": "CLOSE_WAIT",
}


def hub_side_sockets(hub_port: int, peer_ports: set[int]) -> dict[int, tuple[str, int]]:
    """The hub's end of each loopback connection from ``peer_ports``: peer port -> (state, unsent bytes).

    /proc/net/tcp lists every IPv4 socket in this network namespace; the hub's end
    of a connection has the hub's port as its local one. tx_queue is what its kernel
    still holds unsent (or unacknowledged) for the peer.
    """
    out: dict[int, tuple[str, int]] = {}
    try:
        with open("/proc/net/tcp") as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        cols = line.split()
        if len(cols) < 5:
            continue
        local_port = int(cols[1].rsplit(":", 1)[1], 16)
        peer_port = int(cols[2].rsplit(":", 1)[1], 16)
        if local_port == hub_port and peer_port in peer_ports:
            state = TCP_STATES.get(cols[3], cols[3])
            out[peer_port] = (state, int(cols[4].split(":")[0], 16))
    return out


# -- the hub process ---------------------------------------------------------------------------


async def start_hub(work: Path) -> Child:
    """Start ``warroom serve`` and wait for the line that names its sync URL."""
    return await start_child(serve_argv(work / "hub.db", TOKEN), work, "hub", want=("sync",))


CLOSE_LINE = re.compile(r"^(\S+ \S+) \S+ warroom\.session: closing (\S+) \((.*)\): (\d+) ")


@dataclass
class HubClose:
    name: str
    code: int
    at: float  # wall-clock seconds


def hub_closes(log_text: str) -> list[HubClose]:
    """Each connection the hub closed itself, from its log (``Session.close`` logs every one)."""
    out = []
    for line in log_text.splitlines():
        found = CLOSE_LINE.match(line)
        if found is None:
            continue
        try:
            at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            at = float("nan")
        out.append(HubClose(found.group(2), int(found.group(4)), at))
    return out


# -- small async helpers -----------------------------------------------------------------------


# -- well-behaved clients (receiver processes) -------------------------------------------------


class SoakTally(Tally):
    """Send-to-delivery times by phase and by room kind ("<phase>b" busy, "<phase>q" quiet)."""

    def __init__(self, conn: Pipe, members: list[Member]) -> None:
        super().__init__(conn, members)
        self.latencies: dict[str, array.array[int]] = {}

    def entry(self, member: Member, phase: str, latency_ns: int) -> None:
        key = phase + ("b" if member.flag else "q")
        bucket = self.latencies.get(key)
        if bucket is None:
            bucket = self.latencies[key] = array.array("q")
        bucket.append(latency_ns)

    def answer(self, command: tuple[Any, ...]) -> tuple[Any, ...]:
        if command[0] != "count":  # deliveries so far of one phase's entries
            return super().answer(command)
        return ("count", sum(len(self.latencies.get(command[1] + side, ())) for side in "bq"))

    def report(self) -> tuple[dict[str, Any], Any]:
        return {}, {key: values.tobytes() for key, values in self.latencies.items()}


async def start_soak_receivers(
    url: str, members: list[tuple[str, str, bool]], nprocs: int, timeout: float
) -> Receivers:
    specs = [ReceiverSpec(url, TOKEN, members[k::nprocs], timeout, "sk") for k in range(nprocs)]
    receivers, reports = await start_receivers(specs, SoakTally, "soak-recv", timeout + 60)
    failed = [info for info in reports if info["failed"]]
    if failed:
        raise RuntimeError(
            f"{sum(i['failed'] for i in failed)} clients failed to join: {failed[0]['errors']}"
        )
    joined = sum(info["ok"] for info in reports)
    if joined < len(members):
        raise RuntimeError(f"only {joined}/{len(members)} well-behaved clients joined")
    return receivers


async def delivered(receivers: Receivers, phase: str, owed: int, timeout: float = 30.0) -> bool:
    """Whether the receivers came to hold every delivery of ``phase`` the acks owed them."""

    async def all_in() -> bool:
        got = 0
        for pipe in receivers.pipes:
            pipe.send(("count", phase))
            got += int((await pipe_recv(pipe, timeout))[1])
        return got >= owed

    return await poll_until(all_in, timeout)


async def stop_soak_receivers(receivers: Receivers) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Stats from each receiver, and every latency (nanoseconds) by phase key."""
    stats: list[dict[str, Any]] = []
    samples: dict[str, array.array[int]] = {}
    for stat, raw in await stop_receivers(receivers):
        stats.append(stat)
        for key, values in raw.items():
            samples.setdefault(key, array.array("q")).frombytes(values)
    return stats, {key: sorted(values) for key, values in samples.items()}


# -- slow clients ------------------------------------------------------------------------------


@dataclass
class SlowClient:
    name: str
    ws: ClientConnection
    port: int  # its local port: the hub's socket for it has this as its peer port
    stopped_at: float = 0.0  # wall clock: when it stopped reading
    close_code: int | None = None  # what the hub sent it, read when drained
    drained_bytes: int = 0


async def open_slow(url: str, name: str, rooms: dict[str, int], timeout: float) -> SlowClient:
    """Join ``rooms`` (room -> seq to resume after), read until synced in each, then never read again."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError, AttributeError):  # Linux has both; elsewhere, defaults
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SLOW_MSS)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
        sock.setblocking(False)
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, (parts.hostname or "127.0.0.1", parts.port or 0)),
            timeout,
        )
        port = sock.getsockname()[1]
        # max_queue=1: the library itself stops reading the socket once one message waits.
        ws = await open_client(url, name, timeout, TOKEN, sock=sock, max_queue=1, ping_interval=None)
    except BaseException:
        sock.close()
        raise
    client = SlowClient(name, ws, port)
    try:
        for rid, (room, after) in enumerate(rooms.items(), 1):
            await ws.send(packb({"t": "join", "rid": rid, "room": room, "after": after}))
        waiting = set(rooms)
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            frame = unpackb(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
            if frame.get("t") == "synced":
                waiting.discard(frame.get("room"))
            elif frame.get("t") == "error":
                raise RuntimeError(f"{name}: join refused: {frame!r:.200}")
        if waiting:
            raise RuntimeError(f"{name}: not synced in {sorted(waiting)} within {timeout:.0f}s")
    except BaseException:
        await ws.close()
        raise
    client.stopped_at = time.time()
    return client


async def drain_slow(client: SlowClient, idle: float = 3.0, limit: float = 20.0) -> None:
    """Read everything the hub sent, up to its close frame; None if it never closed the connection."""
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            message = await asyncio.wait_for(client.ws.recv(), idle)
            client.drained_bytes += len(message)
    except TimeoutError:
        client.close_code = None  # nothing more, and no close: the hub never cut it off
    except ConnectionClosed as exc:
        client.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.ws.close(), 5)


# -- the write load ----------------------------------------------------------------------------


def room_schedule(weights: Sequence[float], period: int = 1000) -> Iterator[int]:
    """Room indices in smooth weighted round-robin (exact shares, evenly interleaved), repeated."""
    current = [0.0] * len(weights)
    total = sum(weights)
    picks = []
    for _ in range(period):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=current.__getitem__)
        current[best] -= total
        picks.append(best)
    return itertools.cycle(picks)


@dataclass
class Phase:
    key: str
    seconds: float
    submitted: int = 0
    acked: int = 0
    refused: int = 0
    unacked: int = 0
    expected: int = 0  # deliveries owed to well-behaved clients for the acked events
    window_s: float = 0.0
    ack_ns: list[int] = field(default_factory=list)
    lag_ns: list[int] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    first_refusal: str = ""


@dataclass
class Load:
    writer: HubClient
    rooms: list[str]
    members: list[int]  # well-behaved members per room
    schedule: Iterator[int]
    rate: float
    text_bytes: int
    receivers: Receivers
    heads: dict[str, int] = field(default_factory=dict)  # room -> highest seq acked to the writer


async def drive(load: Load, phase: Phase, meter: CpuMeter) -> Phase:
    """Submit entries at a steady rate for ``phase.seconds``; wait for every ack."""
    interval_ns = int(1e9 / load.rate)
    count = max(1, int(load.rate * phase.seconds))
    futures: list[asyncio.Future[dict[str, Any]]] = []

    def record(done: asyncio.Future[dict[str, Any]], room: int, sent: int) -> None:
        if done.cancelled():
            return
        exc = done.exception()
        if exc is None:
            phase.acked += 1  # a CommandRejected or a lost connection counts as refused
            ack = done.result()
            load.heads[ack["room"]] = max(load.heads.get(ack["room"], 0), int(ack["seq"]))
            phase.expected += load.members[room]
            phase.ack_ns.append(time.perf_counter_ns() - sent)
        else:
            phase.refused += 1
            if not phase.first_refusal:
                phase.first_refusal = f"{type(exc).__name__}: {exc}"

    start = time.perf_counter_ns() + 20_000_000
    meter.begin()
    for i in range(count):
        due = start + i * interval_ns
        now = time.perf_counter_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        room = next(load.schedule)
        sent = time.perf_counter_ns()
        phase.lag_ns.append(sent - due)
        head = f"sk {phase.key} {i} {sent} "
        text = head + FILLER * (1 + load.text_bytes // len(FILLER))
        future = load.writer.submit(
            "entry.added", {"text": text[: max(len(head) + 1, load.text_bytes)]}, load.rooms[room]
        )
        future.add_done_callback(functools.partial(record, room=room, sent=sent))
        futures.append(future)
        phase.submitted += 1
    phase.window_s = (time.perf_counter_ns() - start) / 1e9
    phase.cpu = meter.end()
    if futures:
        _, pending = await asyncio.wait(futures, timeout=30)
        phase.unacked = len(pending)
    await delivered(load.receivers, phase.key, phase.expected)  # the phase's last fan-out has landed
    return phase


async def sample_rss(pid: int, out: list[int], stop: asyncio.Event, every: float = 0.5) -> None:
    while not stop.is_set():
        out.append(status_kib(pid, "VmRSS"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    phases: dict[str, Phase] = field(default_factory=dict)
    samples: dict[str, list[int]] = field(default_factory=dict)
    receiver_stats: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[str, int] = field(default_factory=dict)  # KiB at named moments
    rss_samples: list[int] = field(default_factory=list)
    peak_kib: int = 0
    slow: list[SlowClient] = field(default_factory=list)
    closes: list[HubClose] = field(default_factory=list)
    held_at_end: dict[int, tuple[str, int]] = field(default_factory=dict)
    held_after_drain: dict[int, tuple[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def run(args: argparse.Namespace, work: Path, out: Outcome) -> None:
    hub = await start_hub(work)
    log(f"hub pid {hub.pid} at {hub.ws_url}")
    try:
        await run_on(hub, args, out)
    except Exception:
        if hub.proc.poll() is not None:
            print(f"!! the hub exited with {hub.proc.returncode}")
        print(f"!! hub stderr tail:\n{hub.stderr_tail(10)}")
        raise
    finally:
        out.closes = hub_closes(hub.stderr_text())


async def run_on(hub: Child, args: argparse.Namespace, out: Outcome) -> None:
    writer = HubClient(hub.ws_url, TOKEN, "soak-writer")
    await writer.connect()
    receivers: Receivers | None = None
    try:
        rooms = []
        for k in range(args.rooms):
            ack = await writer.send("incident.declared", {"title": f"soak room {k}", "severity": "SEV3"})
            rooms.append(str(ack["room"]))
        busy = rooms[: args.busy_rooms]
        quiet_count = len(rooms) - len(busy)
        share = args.busy_share if quiet_count else 1.0
        weights = [share / len(busy)] * len(busy) + [(1 - share) / max(1, quiet_count)] * quiet_count
        members = [
            (f"wb-{i}", rooms[i % len(rooms)], i % len(rooms) < len(busy)) for i in range(args.clients)
        ]
        per_room = [sum(1 for _, r, _ in members if r == room) for room in rooms]

        log(f"{len(rooms)} rooms declared; opening {args.clients} well-behaved connections")
        join_timeout = 30.0 + args.clients * 0.05
        receivers = await start_soak_receivers(hub.ws_url, members, args.receiver_procs, join_timeout)
        out.rss["connected"] = await settle_rss(hub.pid)
        meter = CpuMeter({"hub": [hub.pid], "recv": receivers.pids, "writer": [os.getpid()]})
        load = Load(writer, rooms, per_room, room_schedule(weights), args.rate, args.text_bytes, receivers)

        for key, seconds in ((PHASE_WARMUP, args.warmup), (PHASE_BEFORE, args.baseline)):
            log(f"{PHASE_LABELS[key]}: {seconds:g} s at {args.rate:g} events/s")
            out.phases[key] = await drive(load, Phase(key, seconds), meter)
        out.rss["warm"] = await settle_rss(hub.pid)

        log(f"{args.slow} slow clients join the {len(busy)} busy rooms, then stop reading")
        for k in range(args.slow):
            resume = {room: load.heads.get(room, 0) for room in busy}
            out.slow.append(await open_slow(hub.ws_url, f"slow-{k}", resume, 30))
        out.rss["start"] = await settle_rss(hub.pid)

        log(f"{PHASE_LABELS[PHASE_SOAK]}: {args.duration:g} s")
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(hub.pid, out.rss_samples, stop_sampling))
        try:
            out.phases[PHASE_SOAK] = await drive(load, Phase(PHASE_SOAK, args.duration), meter)
        finally:
            stop_sampling.set()
            await sampler
        out.rss["end"] = await settle_rss(hub.pid)
        out.peak_kib = status_kib(hub.pid, "VmHWM")
        slow_ports = {s.port for s in out.slow}
        out.held_at_end = hub_side_sockets(hub.port, slow_ports)

        log("draining the slow clients to read how the hub closed them")
        await asyncio.gather(*(drain_slow(s) for s in out.slow))

        async def hub_closed_them() -> bool:  # the hub's side of each closing handshake
            return not hub_side_sockets(hub.port, slow_ports)

        await poll_until(hub_closed_them, 5.0, 0.05)
        out.held_after_drain = hub_side_sockets(hub.port, slow_ports)

        log(f"{PHASE_LABELS[PHASE_AFTER]}: {args.baseline:g} s")
        out.phases[PHASE_AFTER] = await drive(load, Phase(PHASE_AFTER, args.baseline), meter)

        out.receiver_stats, out.samples = await stop_soak_receivers(receivers)
    finally:
        if receivers is not None:
            release(receivers)
        await close_all([s.ws for s in out.slow], 5)
        await writer.close()


# -- the report --------------------------------------------------------------------------------


def latency_row(label: str, phase: Phase | None, ns: Sequence[int], deliveries_owed: int) -> list[str]:
    window = phase.window_s if phase else float("nan")
    events = phase.acked if phase else 0
    cpu = phase.cpu if phase else {}
    return [
        label,
        fmt(window, 1),
        f"{events:,}",
        fmt(events / window if window else float("nan"), 1),
        f"{len(ns):,}",
        fmt(100.0 * len(ns) / deliveries_owed, 2) if deliveries_owed else "-",
        fmt(percentile(ns, 50) / MS),
        fmt(percentile(ns, 99) / MS),
        fmt(percentile(ns, 99.9) / MS),
        fmt(ns[-1] / MS if ns else float("nan")),
        fmt(percentile(sorted(phase.ack_ns), 99) / MS) if phase else "-",
        fmt(cpu.get("hub", float("nan")), 0) + "%",
        fmt(cpu.get("recv", float("nan")), 0) + "%",
        fmt(cpu.get("box", float("nan")), 0) + "%",
    ]


def report(args: argparse.Namespace, out: Outcome) -> bool:
    s = out.samples
    ph = out.phases

    def both(phase: str) -> list[int]:
        return sorted([*s.get(phase + "b", []), *s.get(phase + "q", [])])

    def owed(phase: str) -> int:
        return ph[phase].expected if phase in ph else 0

    soak = both(PHASE_SOAK)
    base = sorted([*both(PHASE_BEFORE), *both(PHASE_AFTER)])
    base_owed = owed(PHASE_BEFORE) + owed(PHASE_AFTER)

    print()
    print(
        f"== Soak: {args.clients} well-behaved clients over {args.rooms} rooms, {args.slow} slow clients; "
        f"{args.rate:g} events/s of {args.text_bytes}-byte entries, {args.busy_rooms} busy rooms take "
        f"{args.busy_share:.0%} =="
    )
    print(
        "latency = send-to-delivery (writer's perf_counter_ns() in the entry text, subtracted by the "
        "receiving\n          process when the frame arrives); deliv% = of what the acked events owed "
        "the well-behaved clients"
    )
    print("CPU = % of one core in the phase: hub, receiver processes; box = whole machine (100% = all cores)")
    headers = [
        "phase",
        "secs",
        "events",
        "ev/s",
        "deliveries",
        "deliv%",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "ack p99",
        "hub CPU",
        "recv CPU",
        "box",
    ]
    rows = [
        latency_row(PHASE_LABELS[PHASE_BEFORE], ph.get(PHASE_BEFORE), both(PHASE_BEFORE), owed(PHASE_BEFORE)),
        latency_row(PHASE_LABELS[PHASE_SOAK], ph.get(PHASE_SOAK), soak, owed(PHASE_SOAK)),
        latency_row(PHASE_LABELS[PHASE_AFTER], ph.get(PHASE_AFTER), both(PHASE_AFTER), owed(PHASE_AFTER)),
    ]
    print(table(headers, rows))
    busy_soak, busy_base = (
        s.get(PHASE_SOAK + "b", []),
        sorted([*s.get(PHASE_BEFORE + "b", []), *s.get(PHASE_AFTER + "b", [])]),
    )
    print(
        f"baselines together: p50 {fmt(percentile(base, 50) / MS)} ms, "
        f"p99 {fmt(percentile(base, 99) / MS)} ms "
        f"({len(base):,} deliveries); in the busy rooms only (where the slow clients were): "
        f"soak p99 {fmt(percentile(busy_soak, 99) / MS)} ms vs baseline p99 "
        f"{fmt(percentile(busy_base, 99) / MS)} ms"
    )

    # Slow clients: the hub's log, the hub's sockets, and what each client read.
    slow_names = {c.name for c in out.slow}
    cut = [c for c in out.closes if c.name in slow_names and c.code == SLOW_CONSUMER]
    cut_names = {c.name for c in cut}
    other_cuts = [c for c in out.closes if c.name not in slow_names]
    client_codes: dict[str, int] = {}
    for c in out.slow:
        label = "never closed" if c.close_code is None else str(c.close_code)
        client_codes[label] = client_codes.get(label, 0) + 1
    after = sorted(
        c.at - slow.stopped_at for c in cut for slow in out.slow if slow.name == c.name and c.at == c.at
    )
    print()
    print(
        f"slow clients cut off by the hub with {SLOW_CONSUMER} (slow consumer): {len(cut_names)} of "
        f"{len(out.slow)}"
        + (f", {fmt(after[0], 1)}-{fmt(after[-1], 1)} s after they stopped reading" if after else "")
    )
    print(
        "  hub side: its log has "
        f"{len(cut)} 'closing slow-N ...: {SLOW_CONSUMER}' lines; client side, close codes read when "
        "drained after the soak: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(client_codes.items()))
        + (" (1006: the connection ended without a close frame)" if "1006" in client_codes else "")
    )
    held = {p: v for p, v in out.held_at_end.items() if v[0] == "ESTABLISHED"}
    if out.slow:
        unsent = sum(v[1] for v in held.values()) / 1024
        still_open = sum(1 for v in out.held_after_drain.values() if v[0] == "ESTABLISHED")
        print(
            f"  when the soak ended the hub still had {len(held)} of the {len(out.slow)} slow connections "
            f"open (TCP ESTABLISHED, {unsent:,.0f} KiB unsent in its kernel buffers); "
            f"after the clients drained: {still_open}"
        )
        if cut_names and len(held) >= len(cut_names):
            out.notes.append(
                "the hub logged the 4008 closes but kept those connections open until the client read again: "
                "its close frame waits behind the unread data, and the close timeout starts only once "
                "that drains"
            )
    if other_cuts:
        print(
            f"  !! the hub also closed {len(other_cuts)} other connections: "
            + ", ".join(f"{c.name} {c.code}" for c in other_cuts[:5])
        )

    # Memory.
    start, end = out.rss.get("start", 0), out.rss.get("end", 0)
    growth = 100.0 * (end - start) / start if start else float("nan")
    peak_soak = max(out.rss_samples) if out.rss_samples else 0
    print()
    print(
        f"hub RSS: {out.rss.get('connected', 0) / 1024:.1f} MiB with all connections up, "
        f"{out.rss.get('warm', 0) / 1024:.1f} MiB after warm-up + baseline; soak start "
        f"{start / 1024:.1f} MiB (slow clients joined), end {end / 1024:.1f} MiB ({growth:+.1f}%); "
        f"highest sample in the soak {peak_soak / 1024:.1f} MiB, VmHWM {out.peak_kib / 1024:.1f} MiB"
    )
    events_in_soak = ph[PHASE_SOAK].acked if PHASE_SOAK in ph else 0
    state_kib = events_in_soak * (args.text_bytes + ENTRY_OVERHEAD) / 1024
    print(
        f"  the hub keeps every room's whole state in memory: the soak added {events_in_soak:,} entries "
        f"(~{state_kib / 1024:.1f} MiB at ~{args.text_bytes + ENTRY_OVERHEAD} bytes each); growth beyond "
        f"that: {(end - start - state_kib) / 1024:+.1f} MiB "
        f"({100.0 * (end - start - state_kib) / start if start else float('nan'):+.1f}%)"
    )

    # Health of the well-behaved side and of the load generator.
    gaps = sum(st["gaps"] for st in out.receiver_stats)
    disconnected = sum(st["disconnected"] for st in out.receiver_stats)
    errors = [e for st in out.receiver_stats for e in st["errors"]]
    refused = sum(p.refused for p in ph.values())
    unacked = sum(p.unacked for p in ph.values())
    complete = base_owed > 0 and len(base) >= base_owed and len(soak) >= owed(PHASE_SOAK) > 0
    healthy = complete and not gaps and not disconnected and not refused and not unacked
    print()
    print(
        f"well-behaved clients: {disconnected} disconnected, {gaps} seq gaps, "
        f"{'every' if complete else 'NOT every'} delivery made; writer: {refused} refused, {unacked} unacked"
        + (f" ({next(p.first_refusal for p in ph.values() if p.first_refusal)})" if refused else "")
        + (f"; receiver errors: {errors[:2]}" if errors else "")
    )
    warnings = []
    for p in ph.values():
        lag = percentile(sorted(p.lag_ns), 99) / MS
        if lag > 5:
            warnings.append(f"{PHASE_LABELS[p.key]}: writer behind schedule (p99 lag {lag:.1f} ms)")
        if p.cpu.get("box", 0) > 90:
            warnings.append(f"{PHASE_LABELS[p.key]}: machine CPU-bound ({p.cpu['box']:.0f}%)")
        if p.cpu.get("recv", 0) > 90 * args.receiver_procs:
            warnings.append(f"{PHASE_LABELS[p.key]}: receiver processes saturated")
    print("load generator: " + ("; ".join(warnings) if warnings else "on schedule, not CPU-bound"))
    for note in out.notes:
        print(f"note: {note}")

    base_p99 = percentile(base, 99) / MS
    soak_p99 = percentile(soak, 99) / MS
    ratio = soak_p99 / base_p99 if base_p99 > 0 else float("nan")
    rss_ok = growth < TARGET_RSS_GROWTH_PCT
    p99_ok = healthy and ratio <= TARGET_P99_RATIO
    print()
    print("targets:")
    print(
        f"  hub RSS growth over the soak < {TARGET_RSS_GROWTH_PCT:g}% once warm: "
        f"{start / 1024:.1f} -> {end / 1024:.1f} MiB = {growth:+.1f}%  {verdict(rss_ok)}"
    )
    print(
        f"  well-behaved p99 with slow clients <= {TARGET_P99_RATIO:g}x p99 without: "
        f"{fmt(soak_p99)} / {fmt(base_p99)} ms = {fmt(ratio)}x  {verdict(p99_ok)}"
        + ("" if healthy else "  (deliveries incomplete or clients lost: see above)")
    )
    print(f"  (slow clients cut off: {len(cut_names)}/{len(out.slow)}; not a target)")
    return rss_ok and p99_ok


# -- driver ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 connections, short phases")
    parser.add_argument("--duration", type=float, help="seconds of the soak phase (default 45; quick 20)")
    parser.add_argument("--baseline", type=float, help="seconds of each baseline phase (default 8; quick 4)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default 4; quick 2)")
    parser.add_argument("--rate", type=float, help="events/s in total (default 50; quick 100)")
    parser.add_argument("--clients", type=int, help="well-behaved connections (default 500; quick 100)")
    parser.add_argument("--rooms", type=int, default=20, help="rooms (default 20)")
    parser.add_argument("--busy-rooms", type=int, default=4, help="rooms the slow clients join (default 4)")
    parser.add_argument(
        "--busy-share", type=float, default=0.8, help="share of the writes the busy rooms take (default 0.8)"
    )
    parser.add_argument("--slow", type=int, default=5, help="slow clients (default 5)")
    parser.add_argument("--text-bytes", type=int, default=600, help="bytes of text per entry (default 600)")
    parser.add_argument("--receiver-procs", type=int, default=2, help="receiver processes (default 2)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration if args.duration is not None else (20.0 if quick else 45.0)
    args.baseline = args.baseline if args.baseline is not None else (4.0 if quick else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if quick else 4.0)
    args.rate = args.rate if args.rate is not None else (100.0 if quick else 50.0)
    args.clients = args.clients if args.clients is not None else (100 if quick else 500)
    if min(args.duration, args.baseline, args.warmup, args.rate) <= 0:
        parser.error("--duration, --baseline, --warmup and --rate must be positive")
    if args.rooms < 1 or not 1 <= args.busy_rooms <= args.rooms or args.clients < args.rooms:
        parser.error("need 1 <= --busy-rooms <= --rooms <= --clients")
    if not 0 < args.busy_share <= 1 or args.slow < 0 or args.receiver_procs < 1:
        parser.error("--busy-share must be in (0, 1]; --slow >= 0; --receiver-procs >= 1")
    if not 40 <= args.text_bytes <= 4000:
        parser.error("--text-bytes must be 40..4000 (the hub's entry limit)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, terminate)
    nofile = raise_nofile()
    print(
        f"warroom soak benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"RLIMIT_NOFILE {nofile}, {'QUICK (smoke sizes)' if args.quick else 'full run'}",
        flush=True,
    )
    if args.clients + args.slow + 100 > nofile:
        log(f"warning: RLIMIT_NOFILE {nofile} is low for {args.clients + args.slow} connections")
    out = Outcome()

    def work(folder: Path) -> bool:
        asyncio.run(run(args, folder, out))
        return report(args, out)

    return run_guarded("soak", work)


if __name__ == "__main__":
    sys.exit(main())
