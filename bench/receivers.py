"""Receiver processes: many joined connections that time each delivery, for the fan-out and soak benchmarks.

A receiver is a spawned process holding some of the benchmark's connections.
It joins each to its room, and for every entry whose text is
``"<prefix> <phase> <index> <sent_ns> ..."`` hands the send-to-delivery time to
its ``Tally``, the one part each benchmark writes for itself. The parent talks
to it over a pipe: ``ready`` after the joins, any questions the tally answers,
then ``stop``, which it answers with ``stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.process
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.children import WORKERS
from bench.common import Pipe, close_all, open_client, packb, pipe_recv, raise_nofile, unpackb


@dataclass
class ReceiverSpec:
    url: str
    token: str  # a spawned process imports the benchmark's module afresh, with a new TOKEN
    members: list[tuple[str, str, bool]]  # (name, room, a flag the tally reads: the soak's busy rooms)
    timeout: float
    prefix: str  # the first word of the entries this benchmark times


@dataclass
class Member:
    ws: ClientConnection
    flag: bool
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    last_seq: int = 0
    gaps: int = 0
    closed_code: int | None = None
    done: bool = False  # the tally's to set: this member saw what it waited for


class Tally:
    """What one benchmark does with its deliveries; runs inside the receiver process."""

    def __init__(self, conn: Pipe, members: list[Member]) -> None:
        self.conn = conn
        self.members = members

    def entry(self, member: Member, phase: str, latency_ns: int) -> None:
        raise NotImplementedError

    def ended(self, member: Member) -> None:
        """The member's connection ended before the parent said stop."""

    def answer(self, command: tuple[Any, ...]) -> tuple[Any, ...]:
        raise RuntimeError(f"unexpected command {command!r:.100}")

    def report(self) -> tuple[dict[str, Any], Any]:
        """Stats of this tally's own, and the samples to send back."""
        raise NotImplementedError


def receiver_entry(conn: Pipe, spec: ReceiverSpec, tally: type[Tally]) -> None:
    """Body of a receiver process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent cleans up on Ctrl-C
    raise_nofile()
    try:
        asyncio.run(_receive(conn, spec, tally))
    except Exception as exc:  # report, do not traceback into the parent's terminal
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


async def _receive(conn: Pipe, spec: ReceiverSpec, tally_type: type[Tally]) -> None:
    members: list[Member] = []
    tally = tally_type(conn, members)
    readers: list[asyncio.Task[None]] = []
    stopping = False
    errors: list[str] = []
    prefix = spec.prefix + " "

    async def read(m: Member) -> None:
        clock = time.perf_counter_ns
        try:
            async for message in m.ws:
                now = clock()
                frame = unpackb(message)
                kind = frame.get("t")
                if kind == "events":
                    for event in frame["events"]:
                        seq = event["seq"]
                        if m.last_seq and seq != m.last_seq + 1:
                            m.gaps += 1
                        m.last_seq = seq
                        text = event["data"].get("text")
                        if isinstance(text, str) and text.startswith(prefix):
                            _, phase, _index, sent = text.split(" ", 4)[:4]
                            tally.entry(m, phase, now - int(sent))
                elif kind == "synced":
                    m.synced.set()
                elif kind == "error" and len(errors) < 3:
                    errors.append(f"hub error: {frame!r:.200}")
        except ConnectionClosed as exc:
            if not stopping:
                m.closed_code = exc.rcvd.code if exc.rcvd is not None else 1006
        finally:
            if not stopping:
                tally.ended(m)

    gate = asyncio.Semaphore(50)
    failures: list[str] = []

    async def join(name: str, room: str, flag: bool) -> None:
        async with gate:
            try:
                ws = await open_client(spec.url, name, spec.timeout, spec.token)
            except Exception as exc:
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                return
            m = Member(ws, flag)
            members.append(m)
            readers.append(asyncio.create_task(read(m)))
            await ws.send(packb({"t": "join", "rid": 1, "room": room, "after": 0}))
            try:
                await asyncio.wait_for(m.synced.wait(), spec.timeout)
            except TimeoutError:
                failures.append(f"{name}: no synced within {spec.timeout:.0f}s")

    t0 = time.perf_counter()
    await asyncio.gather(*(join(*member) for member in spec.members))
    ready = {
        "ok": len(members) - len(failures),
        "failed": len(failures),
        "join_s": time.perf_counter() - t0,
        "errors": failures[:3],
    }
    conn.send(("ready", ready))
    while True:
        command = await pipe_recv(conn, 3600)  # the parent asks, or says stop (or dies: EOF raises)
        if command[0] == "stop":
            break
        conn.send(tally.answer(command))
    stopping = True
    await close_all([m.ws for m in members], timeout=10)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    own, samples = tally.report()
    stats = {
        "gaps": sum(m.gaps for m in members),
        "disconnected": sum(1 for m in members if m.closed_code is not None),
        "close_codes": sorted({m.closed_code for m in members if m.closed_code is not None}),
        "errors": errors,
        **own,
    }
    conn.send(("stats", stats, samples))


@dataclass
class Receivers:
    procs: list[multiprocessing.process.BaseProcess]
    pipes: list[Pipe]
    stopped: bool = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]


async def start_receivers(
    specs: list[ReceiverSpec], tally: type[Tally], label: str, timeout: float
) -> tuple[Receivers, list[dict[str, Any]]]:
    """One process per spec; returns once each has said ``ready`` (its join report)."""
    ctx = multiprocessing.get_context("spawn")
    receivers = Receivers([], [])
    for k, spec in enumerate(specs):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=receiver_entry, args=(child_end, spec, tally), daemon=True, name=f"{label}-{k}"
        )
        proc.start()
        child_end.close()
        WORKERS.append(proc)
        receivers.procs.append(proc)
        receivers.pipes.append(parent_end)
    reports = []
    for pipe in receivers.pipes:
        reply = await pipe_recv(pipe, timeout)
        if reply[0] != "ready":
            raise RuntimeError(f"a receiver failed: {reply[1] if len(reply) > 1 else reply}")
        reports.append(reply[1])
    return receivers, reports


async def stop_receivers(receivers: Receivers, timeout: float = 60.0) -> list[tuple[dict[str, Any], Any]]:
    """Tell each receiver to stop; its stats and samples, skipping any note it sent unasked."""
    for pipe in receivers.pipes:
        pipe.send(("stop",))
    receivers.stopped = True
    results = []
    for pipe in receivers.pipes:
        reply = await pipe_recv(pipe, timeout)
        while reply[0] == "done":
            reply = await pipe_recv(pipe, timeout)
        if reply[0] != "stats":
            raise RuntimeError(f"a receiver failed: {reply!r:.300}")
        results.append((reply[1], reply[2]))
    return results


def release(receivers: Receivers) -> None:
    """After a run, or when it failed: stop what still runs, and reap every process."""
    if not receivers.stopped:  # an error or Ctrl-C: let the connections go at once
        for pipe in receivers.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(("stop",))
    for proc in receivers.procs:
        proc.join(5)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        if proc in WORKERS:
            WORKERS.remove(proc)
    for pipe in receivers.pipes:
        pipe.close()
