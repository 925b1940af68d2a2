"""TUI benchmark: the real war room app, headless under Pilot, against a real hub.

Run from the repository root::

    python bench/tui.py            # full run: 100,000 entries and 50,000 alerts, a few minutes on 2 cores
    python bench/tui.py --storm    # also 5,000 alerts through Alertmanager webhooks under key presses
    python bench/tui.py --quick    # a smoke run with a 10,000-entry room (not a measurement)
    python bench/tui.py --actions  # only the keys-per-action table (bench/actions.py), in seconds
    python bench/tui.py --profile DIR  # also where the app's time went (pyinstrument), per stream

Each figure is printed beside its baseline from the same run: the first screen and
"fully interactive" (every entry and alert in, a key answered) beside a warm bare
``HubClient`` join; 1,000 live appends painted beside the bare client's receipt; key
press -> repaint p99 under 100 entries/s, 100 alert updates/s (one alert a webhook) and
the storm beside the idle p99; the app's CPU per event beside a bare client's (the
observer); the longest GC pause while keys are pressed, with its CPU time.

What runs where (everything on 127.0.0.1, every file in a fresh temp dir):

* builder (this script with ``--build-room``, a child process): writes the big room
  through the hub's own command path (``HubServer`` in process, ``hub.submit`` futures
  pipelined and awaited in chunks so the hub group-commits) and its alerts through the
  hub's intake, then stops. The hub takes its snapshots on the way, as in production.
* hub: ``python -m warroom serve --port 0 --http-port 0 --db FILE --token T`` in its own
  process, so the app's RSS is the app's alone.
* writer (this script with ``--writer``, a child process): a bare ``HubClient`` that joins
  the room (the no-UI baseline for a join), then on request sends bursts or a paced
  stream of ``entry.added`` commands, or Alertmanager webhooks, and reports when its own
  copy of the room saw them.
* observer (the same, doing nothing else): a bare client's CPU per event.
* this process: ``WarroomApp`` driven by Pilot (``run_test``), measured from outside.

How "shown" is decided. Two read-only probes are installed in this process:
``Timeline.render_line`` is wrapped to note when the timeline's last line, or its
cursor line, is rendered; and the app's ``post_display_hook`` (Textual calls it after
every screen update handed to the driver) evaluates the condition being waited for.
A time is taken at the first screen update at which the condition holds, i.e. after
the timeline line was rendered and the screen refreshed. Headless, Textual renders
every strip but skips encoding them into escape codes for a terminal; that last step
is not in these figures.

Times across processes use ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux,
shared by every process on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.strip import Strip

from bench.actions import TARGET_KEYS, Count, count_keys
from bench.alerts import ALERTNAMES, CLI_CHUNK, Connection, envelope, make_alert
from bench.children import Child as ServeChild
from bench.children import cleanup_children, cpu_seconds, die_with_parent, serve_argv, start_child
from bench.common import status_kib, terminate, verdict
from server.config import HubConfig
from server.hub import Hub
from server.intake import parse_alertmanager
from server.limits import Limits
from server.runner import HubServer
from server.store import SQLiteStore
from warroom.app.app import WarroomApp
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.timeline import Timeline
from warroom.client import HubClient
from warroom.core.events import Command, Event
from warroom.core.protocol import new_id
from warroom.core.reducer import fold
from warroom.core.state import IncidentState

SCRIPT = Path(__file__).resolve()
NS = 1_000_000_000
MS = 1_000_000

# Targets, each against a figure of the same run (issue: the app stays light in a storm).
TARGET_FIRST_X = 1.2  # first screen of the big room / warm bare HubClient join
TARGET_READY_X = 2.0  # fully interactive / warm bare join
TARGET_APPEND_X = 1.2  # 1,000 live appends painted / the bare client's receipt
TARGET_IDLE_P99_MS = 33.0  # two frames
TARGET_LOADED_X = 1.3  # key press -> repaint p99 under load / idle p99
TARGET_CPU_MS = 1.0  # app CPU per incoming event
TARGET_GC_MS = 10.0  # the longest GC pause while keys are pressed
TARGET_RSS_MB = 300.0  # decimal megabytes: 300 * 10**6 bytes

SIZE = (120, 40)
FULL_ENTRIES = 100_000
FULL_ALERTS = 50_000
STORM_ALERTS = 5_000
STORM_RATE = 500.0  # alerts per second in the storm, Alertmanager-style in bodies of STORM_BODY
STORM_BODY = 10
ALERT_RATE = 100.0  # alert updates per second, one alert a webhook
STORM_FIRST = 10_000_000  # the storm's alert numbers, apart from the room's
BUILD_CHUNK = 4096  # pipelined submits awaited together; the hub commits them in batches of up to 512
APPEND_N = 1000
LIVE_RATE = 100.0  # entries per second while keys are pressed


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the results."""
    print(f"[tui-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now_ns() -> int:
    return time.perf_counter_ns()


def mb(kib: int | float) -> float:
    """KiB to decimal megabytes."""
    return kib * 1024 / 1e6


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return float(sorted_values[rank - 1])


# -- what the room holds ---------------------------------------------------------------

AUTHORS = ("maria", "dev", "priya", "tomasz", "sam-oncall")
PHRASES = (
    "checked api-{n} logs: 502s from the upstream pool, p99 {ms} ms",
    "rolled deploy {n} back on eu-west-1; error rate falling",
    "db replica lag {ms} ms on shard {n}; read traffic moved to primary",
    "paged the payments on-call, ticket PAY-{n}",
    "cache hit ratio down to {pct}% after the config push",
    "customer reports from support: checkout spins for {ms} ms then fails",
    "scaled the checkout deployment to {n} replicas",
    "synthetic probe in us-east green again ({ms} ms)",
)


def entry_data(n: int) -> dict[str, Any]:
    """A realistic timeline entry: 50-90 characters, mostly notes."""
    kind = "note"
    if n % 29 == 0:
        kind = "decision"
    elif n % 13 == 0:
        kind = "action"
    elif n % 7 == 0:
        kind = "finding"
    text = PHRASES[n % len(PHRASES)].format(n=n % 997, ms=40 + n % 900, pct=50 + n % 50)
    return {"kind": kind, "text": text}


def author(n: int) -> str:
    return AUTHORS[n % len(AUTHORS)]


# -- child processes -------------------------------------------------------------------------


_CHILD_PIDS: set[int] = set()


@dataclass
class Child:
    label: str
    proc: asyncio.subprocess.Process
    stderr_path: Path | None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def line(self, timeout: float) -> str:
        """The next line the child prints on stdout; raises if it exits or stays silent."""
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.label}: nothing on stdout for {timeout:.0f} s{self.tail()}") from None
        if not raw:
            await asyncio.wait_for(self.proc.wait(), 10)
            raise RuntimeError(f"{self.label} exited with {self.proc.returncode}{self.tail()}")
        return raw.decode(errors="replace").rstrip("\n")

    async def reply(self, timeout: float) -> dict[str, Any]:
        """The next JSON line from the child."""
        deadline = time.monotonic() + timeout
        while True:
            text = await self.line(max(0.1, deadline - time.monotonic()))
            if text.startswith("{"):
                value = json.loads(text)
                assert isinstance(value, dict)
                if "error" in value:
                    raise RuntimeError(f"{self.label}: {value['error']}{self.tail()}")
                return value

    async def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        await self.tell(request)
        return await self.reply(timeout)

    async def tell(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        await self.proc.stdin.drain()

    def tail(self, lines: int = 12) -> str:
        if self.stderr_path is None:
            return ""
        try:
            text = self.stderr_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return ("\n" + "\n".join(f"  {self.label}: {line}" for line in text)) if text else ""

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaps."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                log(f"{self.label} did not stop within {timeout:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 10)
        _CHILD_PIDS.discard(self.pid)


def _stderr_file(path: Path | None) -> Any:
    return open(path, "wb") if path is not None else None  # the caller closes it


async def spawn(label: str, argv: list[str], stderr_path: Path | None) -> Child:
    """A child in its own session (Ctrl-C reaches only us; we stop it); stdout is a pipe."""
    err = _stderr_file(stderr_path)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            start_new_session=True,
            preexec_fn=die_with_parent,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    finally:
        if err is not None:
            err.close()
    _CHILD_PIDS.add(proc.pid)
    return Child(label, proc, stderr_path)


def kill_leftovers() -> None:
    """Last resort after the event loop is gone: SIGKILL any child still registered."""
    for pid in list(_CHILD_PIDS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    _CHILD_PIDS.clear()


def emit(value: dict[str, Any]) -> None:
    """A child's answer to its parent: one JSON line on stdout."""
    print(json.dumps(value), flush=True)


# -- the builder (a child process) --------------------------------------------------------


def room_limits(alerts: int) -> Limits:
    """The hub's limits, with room for the bench's alerts (its default cap is 20,000 a room)."""
    return Limits(alerts_per_room=max(Limits().alerts_per_room, 2 * alerts + 2 * STORM_ALERTS))


async def build_room(db: Path, token: str, entries: int, alerts: int) -> dict[str, Any]:
    """Declare an incident, add entries through the hub's command path until it holds ``entries``,
    then ``alerts`` alerts through the hub's own intake (Alertmanager bodies of 10,000)."""
    started = time.perf_counter()
    srv = HubServer(db, token, config=HubConfig(limits=room_limits(alerts)))
    await srv.start()
    try:
        ack = await srv.hub.execute(
            Command(
                new_id(), "incident.declared", {"title": "Checkout 502s in EU", "severity": "SEV2"}, None
            ),
            "maria",
        )
        room = ack.room
        pending: list[asyncio.Future[Any]] = []
        last_report = time.monotonic()
        for n in range(2, entries + 1):  # the declaration is entry 1
            command = Command(new_id(), "entry.added", entry_data(n), room)
            pending.append(srv.hub.submit(command, author(n)))
            if len(pending) >= BUILD_CHUNK or n == entries:
                await asyncio.wait_for(asyncio.gather(*pending), 120)
                pending.clear()
                if time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    rate = n / (time.perf_counter() - started)
                    log(f"  building: {n:,}/{entries:,} entries ({rate:,.0f}/s)")
        base = envelope()
        for start in range(0, alerts, CLI_CHUNK):
            body = {**base, "alerts": [make_alert(n) for n in range(start, min(alerts, start + CLI_CHUNK))]}
            await srv.alerts.ingest(parse_alertmanager(body), room, "alertmanager")
        state = await srv.hub.settled_state(room)
        if len(state.entries) != entries or len(state.alerts) != alerts:
            raise RuntimeError(
                f"the room holds {len(state.entries):,} entries and {len(state.alerts):,} alerts, "
                f"not {entries:,} and {alerts:,}"
            )
        snap = await srv.hub.store.snapshot(room)
        return {
            "room": room,
            "entries": len(state.entries),
            "alerts": len(state.alerts),
            "seq": state.seq,
            "snapshot_seq": snap[0] if snap else 0,
            "seconds": time.perf_counter() - started,
        }
    finally:
        await srv.stop()


def builder_main(db: str, token: str, entries: int, alerts: int) -> int:
    try:
        result = asyncio.run(build_room(Path(db), token, entries, alerts))
    except Exception as exc:
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit(result)
    return 0


# -- the writer (a child process) ---------------------------------------------------------


class Writer:
    """A bare HubClient in the room: the no-UI baseline, and the source of live entries and webhooks."""

    def __init__(self, url: str, http_url: str, token: str, room: str) -> None:
        self.url, self.http_url, self.token, self.room = url, http_url, token, room
        self.client = HubClient(url, token, "bench-writer")
        self.counter = 10_000_000  # entry numbers for text, apart from the built ones
        self.updates = 0  # alert updates sent: each changes its alert's summary
        self._watch: tuple[Callable[[IncidentState], bool], asyncio.Future[int]] | None = None
        self._pace: asyncio.Task[dict[str, Any]] | None = None
        self._stop_pace = asyncio.Event()
        self._conns: asyncio.Queue[Connection] = asyncio.Queue()
        self._envelope = envelope()

    def _on_change(self, kind: str, room: str | None) -> None:
        watch = self._watch
        if watch is None or room != self.room or kind != "state":
            return
        holds, future = watch
        view = self.client.rooms.get(self.room)
        if view is not None and holds(view.state) and not future.done():
            future.set_result(now_ns())

    def watch(self, holds: Callable[[IncidentState], bool]) -> asyncio.Future[int]:
        """A future for when this client's copy of the room first satisfies ``holds``."""
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._watch = (holds, seen)
        return seen

    async def join(self) -> dict[str, Any]:
        rss0 = status_kib("self", "VmRSS")
        await self.client.connect()
        self.client.listen(self._on_change)
        t0 = time.perf_counter()
        view = await self.client.join(self.room, timeout=120)
        cold = time.perf_counter() - t0
        gc.collect()
        rss1 = status_kib("self", "VmRSS")
        second = HubClient(self.url, self.token, "bench-writer-2")
        try:
            await second.connect()
            t0 = time.perf_counter()
            view2 = await second.join(self.room, timeout=120)
            warm = time.perf_counter() - t0
            warm_entries = len(view2.state.entries)
        finally:
            await second.close()
        return {
            "cold_s": cold,
            "warm_s": warm,
            "entries": len(view.state.entries),
            "alerts": len(view.state.alerts),
            "warm_entries": warm_entries,
            "seq": view.state.seq,
            "rss_before_kib": rss0,
            "rss_joined_kib": rss1,
        }

    def _submit(self) -> asyncio.Future[dict[str, Any]]:
        self.counter += 1
        return self.client.submit("entry.added", entry_data(self.counter), self.room)

    async def _post(self, alerts: list[dict[str, Any]]) -> None:
        """One Alertmanager webhook into the room, on a free keep-alive connection."""
        conn = self._conns.get_nowait() if not self._conns.empty() else Connection(self.http_url, self.token)
        try:
            body = json.dumps({**self._envelope, "alerts": alerts}).encode()
            posted = await conn.request("POST", f"/api/v1/alerts/alertmanager?incident={self.room}", body)
        finally:
            self._conns.put_nowait(conn)
        if posted.status != 202:
            raise RuntimeError(posted.refusal())

    def _update(self, n: int) -> Awaitable[None]:
        """Fire alert ``n`` of the room again with a new summary: an update every row shows."""
        self.updates += 1
        alert = make_alert(n)
        alert["annotations"]["summary"] += f" (update {self.updates})"
        return self._post([alert])

    async def burst(self, n: int) -> dict[str, Any]:
        """Send ``n`` entries as fast as the client can queue them; report when they were seen."""
        view = self.client.rooms[self.room]
        target = view.state.seq + n
        seen = self.watch(lambda state: state.seq >= target)
        first = now_ns()
        futures = [self._submit() for _ in range(n)]
        queued = now_ns()
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 60)
        acked = now_ns()
        seen_ns = await asyncio.wait_for(seen, 60)
        self._watch = None
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        return {
            "first_ns": first,
            "queued_ns": queued,
            "acked_ns": acked,
            "seen_ns": seen_ns,
            "refused": len(refused),
            "why": str(refused[0]) if refused else "",
        }

    async def _paced(
        self, rate: float, seconds: float, send: Callable[[int], Awaitable[Any]], count: int | None = None
    ) -> dict[str, Any]:
        """Call ``send(n)`` ``rate`` times a second until stopped, ``seconds`` pass, or ``count`` are sent."""
        futures: list[asyncio.Future[Any]] = []
        late: list[float] = []
        start = time.perf_counter()
        first_ns = now_ns()
        sent = 0
        while not self._stop_pace.is_set() and (count is None or sent < count):
            due = start + sent / rate
            if due - start > seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_pace.wait(), delay)
                if self._stop_pace.is_set():
                    break
            else:
                late.append(-delay)
            futures.append(asyncio.ensure_future(send(sent)))
            sent += 1
        elapsed = time.perf_counter() - start
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 60)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        return {
            "sent": sent,
            "seconds": elapsed,
            "first_ns": first_ns,
            "done_ns": now_ns(),
            "refused": len(refused),
            "why": str(refused[0]) if refused else "",
            "late_max_ms": max(late, default=0.0) * 1e3,
        }

    def pace(self, what: str, rate: float, seconds: float, alerts: int) -> None:
        """Start a paced stream: ``entries``, alert ``updates`` of the room's ``alerts``, or a ``storm``."""
        self._stop_pace.clear()
        if what == "entries":
            stream = self._paced(rate, seconds, lambda n: self._submit())
        elif what == "updates":
            stream = self._paced(rate, seconds, lambda n: self._update(n * 7919 % alerts))
        else:
            view = self.client.rooms[self.room]
            target = len(view.state.alerts) + STORM_ALERTS
            self.watch(lambda state: len(state.alerts) >= target)

            def body(n: int) -> Awaitable[None]:
                first = STORM_FIRST + n * STORM_BODY
                return self._post([make_alert(first + k) for k in range(STORM_BODY)])

            stream = self._paced(rate / STORM_BODY, seconds, body, STORM_ALERTS // STORM_BODY)
        self._pace = asyncio.create_task(stream)

    async def stop_pace(self, wait: bool) -> dict[str, Any]:
        """Stop the stream, or with ``wait`` let it run to its end (a storm); what was sent."""
        if not wait:
            self._stop_pace.set()
        if self._pace is None:
            return {"sent": 0, "seconds": 0.0, "refused": 0, "late_max_ms": 0.0}
        result = await self._pace
        self._pace = None
        if self._watch is not None:  # a storm: when this bare client held all of it
            result["seen_ns"] = await asyncio.wait_for(self._watch[1], 60)
            self._watch = None
        return result


async def writer_loop(url: str, http_url: str, token: str, room: str) -> None:
    writer = Writer(url, http_url, token, room)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        emit(await writer.join())
        while True:
            line = await reader.readline()
            if not line:
                return  # the parent is gone
            request = json.loads(line)
            op = request.get("op")
            if op == "burst":
                emit(await writer.burst(int(request["n"])))
            elif op == "pace":
                writer.pace(
                    str(request["what"]),
                    float(request["rate"]),
                    float(request["seconds"]),
                    int(request.get("alerts", 0)),
                )
                emit({"pacing": True})
            elif op == "stop_pace":
                emit(await writer.stop_pace(bool(request.get("wait"))))
            elif op == "rss":
                emit({"rss_kib": status_kib("self", "VmRSS")})
            elif op == "quit":
                emit({"bye": True})
                return
    finally:
        await writer.client.close()
        while not writer._conns.empty():
            await writer._conns.get_nowait().close()


def writer_main(url: str, http_url: str, token: str, room: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        asyncio.run(writer_loop(url, http_url, token, room))
    except Exception as exc:
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


# -- probes in the app's process ------------------------------------------------------------


class Probe:
    """Read-only instrumentation: which timeline lines were rendered, and each screen update."""

    def __init__(self) -> None:
        self.displays = 0
        self.painted_total = 0  # Timeline.line_count when its last line was last rendered
        self.cursor_painted: int | None = None  # the cursor index last rendered as the cursor line
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[int]]] = []

    def on_line(self, timeline: Timeline, y: int) -> None:
        index = round(timeline.scroll_offset.y) + y
        total = timeline.line_count
        if total and index == total - 1:
            self.painted_total = total
        if index == timeline.cursor and timeline.has_focus:
            self.cursor_painted = index

    def on_display(self) -> None:
        """Called by Textual right after each screen update is handed to the driver."""
        stamp = now_ns()
        self.displays += 1
        if not self._waiters:
            return
        keep = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                holds = predicate()
            except Exception:
                holds = False
            if holds:
                future.set_result(stamp)
            else:
                keep.append((predicate, future))
        self._waiters = keep

    def when(self, predicate: Callable[[], bool]) -> asyncio.Future[int]:
        """A future for the perf_counter_ns of the first screen update at which ``predicate`` holds."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future


@contextlib.contextmanager
def line_probe(probe: Probe) -> Any:
    """Wrap Timeline.render_line (class-wide, for this process only) to report rendered lines."""
    original = Timeline.render_line

    def render_line(self: Timeline, y: int) -> Strip:
        strip = original(self, y)
        probe.on_line(self, y)
        return strip

    Timeline.render_line = render_line  # type: ignore[method-assign]
    try:
        yield
    finally:
        Timeline.render_line = original  # type: ignore[method-assign]


def timeline_of(app: WarroomApp) -> Timeline:
    screen = app.screen
    if not isinstance(screen, IncidentScreen):
        raise LookupError("the incident screen is not up yet")
    return screen.query_one(Timeline)


def all_shown(timeline: Timeline, probe: Probe, total: int) -> Callable[[], bool]:
    """The timeline holds ``total`` lines and its last line has been rendered at that size."""
    return lambda: timeline.line_count >= total and probe.painted_total >= total


def cursor_shown(timeline: Timeline, probe: Probe, index: int) -> Callable[[], bool]:
    """The cursor is on line ``index`` and that line has been rendered as the cursor line."""
    return lambda: timeline.cursor == index and probe.cursor_painted == index


async def until(future: asyncio.Future[int], timeout: float, what: str) -> int:
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}") from None


# -- the measurements ----------------------------------------------------------------------


@dataclass
class Phase:
    """A stream arriving at a fixed rate: what it costs the app, beside a bare client, and keys under it."""

    label: str
    events: int = 0  # events the app's client received in the CPU window
    displays: int = 0  # screen updates in the CPU window
    seconds: float = float("nan")  # the CPU window (no keys pressed in it)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in the window, by process
    keys_ms: list[float] = field(default_factory=list)
    gc_longest_ms: tuple[float, float] = (0.0, 0.0)  # any generation, while keys were pressed: wall, CPU
    gc: str = ""
    sent: dict[str, Any] = field(default_factory=dict)
    shown_s: float = float("nan")  # a storm: from its first webhook until the feed held all of it
    bare_s: float = float("nan")  # ... and until the bare client held all of it

    def per_event_ms(self, who: str) -> float:
        return self.cpu.get(who, float("nan")) / self.events * 1e3 if self.events else float("nan")

    def p99(self) -> float:
        return percentile(sorted(self.keys_ms), 99)


@dataclass
class Results:
    quick: bool
    entries: int
    alerts: int
    build: dict[str, Any] = field(default_factory=dict)
    join: dict[str, Any] = field(default_factory=dict)
    hub_rss_kib: int = 0
    hub_rss_after_kib: int = 0
    # show
    first_s: float = float("nan")  # the first screen: the newest lines painted
    ready_s: float = float("nan")  # fully interactive: every entry and alert in, a key answered
    show_steps: dict[str, float] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_shown_kib: int = 0
    rss_shown_gc_kib: int = 0
    rss_end_kib: int = 0
    peak_kib: int = 0
    gc_show: str = ""
    tracked_objects: int = 0
    # append
    append_s: list[float] = field(default_factory=list)
    append_bare_s: list[float] = field(default_factory=list)
    append_ack_s: list[float] = field(default_factory=list)
    append_gc_ms: list[list[float]] = field(default_factory=list)  # full GC pauses in each round
    append_snapshots: list[int] = field(default_factory=list)  # rounds during which the hub snapshotted
    # keys
    key_idle_ms: list[float] = field(default_factory=list)
    idle_cpu_per_s: float = float("nan")  # the app's CPU share with nothing arriving (its clock ticks)
    gc_idle_ms: tuple[float, float] = (0.0, 0.0)
    key_timeouts: int = 0
    phases: list[Phase] = field(default_factory=list)
    actions: list[Count] = field(default_factory=list)  # keys per action, walked in the real app
    # baselines in this process
    read_log_s: float = float("nan")
    fold_s: float = float("nan")
    fold_events: int = 0
    hub_load_s: float = float("nan")
    hub_load_seq: int = 0
    snapshot_seq: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    url: str
    token: str
    room: str
    entries: int
    db: Path


class Keyboard:
    """Presses keys from its own thread, as a terminal driver's input thread does.

    The time of a press is taken on that thread, just before the key event is posted to
    the app (``App.simulate_key``, which is thread-safe: it hands the event to the loop
    with ``call_soon_threadsafe``, like Textual's drivers). A press therefore lands at a
    random moment of whatever the app is doing, and waits for it like a real key would.
    """

    def __init__(self, app: WarroomApp) -> None:
        self.app = app
        self._requests: queue.Queue[tuple[str, float, list[int]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bench-keyboard", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (request := self._requests.get()) is not None:
            key, delay, stamp = request
            time.sleep(delay)  # this thread's own pacing; the app's loop keeps running
            stamp.append(now_ns())
            self.app.simulate_key(key)

    def press(self, key: str, delay: float) -> list[int]:
        """Press ``key`` after ``delay`` seconds; the returned list receives the press time."""
        stamp: list[int] = []
        self._requests.put((key, delay, stamp))
        return stamp

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(5)


async def key_samples(
    app: WarroomApp, probe: Probe, keyboard: Keyboard, count: int, budget_s: float, results: Results
) -> list[float]:
    """Alternate down/up between the first two lines; ms from each press to its repaint."""
    samples: list[float] = []
    timeline = timeline_of(app)
    deadline = time.monotonic() + budget_s
    rng = random.Random(7)
    while len(samples) < count and time.monotonic() < deadline:
        key, expected = ("down", 1) if timeline.cursor == 0 else ("up", 0)
        probe.cursor_painted = None
        shown = probe.when(cursor_shown(timeline, probe, expected))
        pressed = keyboard.press(key, rng.uniform(0.005, 0.03))  # a typist's gap, at a random moment
        try:
            stamp = await until(shown, 5, f"the cursor to reach {expected} after {key!r}")
        except RuntimeError:
            results.key_timeouts += 1
            if results.key_timeouts > 5:
                raise
            continue
        samples.append((stamp - pressed[0]) / MS)
    return samples


class GcWatch:
    """Read-only: the pauses of the cyclic garbage collector, by generation, with when they began.

    Each pause is timed on the wall clock and in the CPU time of the thread that collected: on
    a shared 2-core machine the wall time also holds the moments another process had the core.
    """

    def __init__(self) -> None:
        self.pauses: list[tuple[int, int, int, int]] = []  # (start ns, generation, wall ns, CPU ns)
        self._start = self._cpu = 0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start, self._cpu = now_ns(), time.thread_time_ns()
        else:
            wall, cpu = now_ns() - self._start, time.thread_time_ns() - self._cpu
            self.pauses.append((self._start, info["generation"], wall, cpu))

    def longest(self, start_ns: int, end_ns: int) -> tuple[float, float]:
        """The longest pause (ms, any generation) that began in the window: wall, and its CPU time."""
        within = [(w, c) for t, _, w, c in self.pauses if start_ns <= t <= end_ns]
        wall, cpu = max(within, default=(0, 0))
        return wall / MS, cpu / MS

    def full(self, start_ns: int, end_ns: int) -> list[float]:
        """Durations (ms) of the full collections that began in the window."""
        return [w / MS for t, g, w, _ in self.pauses if g == 2 and start_ns <= t <= end_ns]

    def summary(self, start_ns: int, end_ns: int) -> str:
        full = [w / MS for t, g, w, _ in self.pauses if g == 2 and start_ns <= t <= end_ns]
        young = [w / MS for t, g, w, _ in self.pauses if g < 2 and start_ns <= t <= end_ns]
        return (
            f"{len(full)} full (gen 2) collections, {sum(full):.0f} ms in all, "
            f"longest {max(full, default=0):.0f} ms; "
            f"{len(young)} young ones, {sum(young):.0f} ms in all, longest {max(young, default=0):.1f} ms"
        )


def snapshot_seq(db: Path, room: str) -> int:
    """The seq of the hub's newest snapshot of ``room`` (a read-only look at its SQLite file)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            row = conn.execute("SELECT seq FROM snapshots WHERE room = ?", (room,)).fetchone()
    except sqlite3.Error:
        return -1
    return int(row[0]) if row else 0


@contextlib.asynccontextmanager
async def running_app(app: WarroomApp) -> AsyncIterator[Any]:
    async with app.run_test(size=SIZE) as pilot:
        yield pilot


def feed_total(app: WarroomApp) -> int:
    """The alerts the feed's group rows count (the bench's alerts all carry one of ALERTNAMES)."""
    feed = app.screen.query_one(AlertFeed)
    return sum(s.total for name in ALERTNAMES if (s := feed.group_stats(name)) is not None)


class Counter:
    """Events the app's client received for the room (a listener beside the app's own)."""

    def __init__(self, client: HubClient, room: str) -> None:
        self.n = 0
        self.room = room
        client.listen_events(self._on_event)

    def _on_event(self, room: str, event: Event) -> None:
        if room == self.room:
            self.n += 1


@dataclass
class Rig:
    """What every phase of the measurement uses."""

    app: WarroomApp
    probe: Probe
    keyboard: Keyboard
    gcw: GcWatch
    counter: Counter
    writer: Child
    procs: dict[str, int]  # label -> pid of the hub, the writer and the bare observer
    results: Results

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of this process (the app) and of the others."""
        return {"app": time.process_time(), **{k: cpu_seconds(pid) for k, pid in self.procs.items()}}


@contextlib.contextmanager
def profiled(directory: Path | None, label: str) -> Any:
    """With --profile: pyinstrument (not a dependency: pip install pyinstrument) samples the app's
    process meanwhile, and its call tree goes to DIRECTORY/LABEL.txt."""
    if directory is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / (label.replace(" ", "-").replace("/", "-per-") + ".txt")
        path.write_text(profiler.output_text(unicode=True, show_all=True))


async def loaded(rig: Rig, label: str, request: dict[str, Any], args: argparse.Namespace) -> Phase:
    """Start a stream in the writer; measure the CPU it costs (no keys), then keys pressed under it."""
    phase = Phase(label)
    storm = request["what"] == "storm"
    shown = (
        rig.probe.when(lambda: feed_total(rig.app) >= rig.results.alerts + STORM_ALERTS) if storm else None
    )
    await rig.writer.ask({"op": "pace", **request}, 30)
    try:
        if not storm:
            await asyncio.sleep(1.0)  # a warm-up second of the stream, not measured
            e0, t0, cpu0, d0 = rig.counter.n, now_ns(), rig.cpu(), rig.probe.displays
            with profiled(args.profile, label):
                await asyncio.sleep(args.cpu_seconds)
            e1, t1, cpu1 = rig.counter.n, now_ns(), rig.cpu()
            phase.events, phase.seconds = e1 - e0, (t1 - t0) / NS
            phase.displays = rig.probe.displays - d0
            phase.cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
            budget = args.live_seconds_max
        else:
            e0, t0, cpu0 = rig.counter.n, now_ns(), rig.cpu()
            budget = STORM_ALERTS / STORM_RATE
        k0 = now_ns()
        with profiled(args.profile if storm else None, label):  # a storm's CPU is taken under its keys
            keys = await key_samples(rig.app, rig.probe, rig.keyboard, args.keys, budget, rig.results)
        phase.keys_ms = keys
        k1 = now_ns()
        phase.gc_longest_ms, phase.gc = rig.gcw.longest(k0, k1), rig.gcw.summary(k0, k1)
    finally:
        phase.sent = await rig.writer.ask({"op": "stop_pace", "wait": storm}, 120)
    if storm:
        assert shown is not None
        stamp = await until(shown, 60, f"the feed to hold the {STORM_ALERTS:,} storm alerts")
        e1, cpu1 = rig.counter.n, rig.cpu()
        phase.events, phase.seconds = e1 - e0, (stamp - t0) / NS
        phase.cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
        phase.shown_s = (stamp - phase.sent["first_ns"]) / NS
        phase.bare_s = (phase.sent["seen_ns"] - phase.sent["first_ns"]) / NS
    if phase.sent.get("refused"):
        rig.results.notes.append(f"{label}: {phase.sent['refused']} refused: {phase.sent['why']}")
    log(f"{label}: {len(phase.keys_ms)} key samples, app {phase.per_event_ms('app'):.2f} ms CPU an event")
    return phase


async def measure_app(
    ctx: Context,
    writer: Child,
    procs: dict[str, int],
    args: argparse.Namespace,
    results: Results,
) -> None:
    probe = Probe()
    room, entries = ctx.room, ctx.entries
    gc.collect()
    results.rss_before_kib = status_kib("self", "VmRSS")
    client = HubClient(ctx.url, ctx.token, "bench")
    counter = Counter(client, room)
    steps: dict[str, int] = {}

    def mark(kind: str, which: str | None) -> None:
        view = client.rooms.get(room)
        if kind == "connection" and client.connected:
            steps.setdefault("connected", now_ns())
        if view is not None and kind == "state":
            if view.state.seq > 0:
                steps.setdefault("first state (snapshot decoded)", now_ns())
            if view.synced:
                steps.setdefault("synced (all events folded)", now_ns())

    client.listen(mark)
    app = WarroomApp(client, room, load_themes(shipped_dir()))
    app.post_display_hook = probe.on_display  # type: ignore[method-assign]

    def first_screen() -> bool:
        view = client.rooms.get(room)
        return view is not None and view.state.seq > 0 and probe.painted_total > 1

    def whole_room() -> bool:
        view = client.rooms.get(room)
        return (
            view is not None
            and view.synced
            and timeline_of(app).line_count >= entries
            and probe.painted_total >= entries
            and feed_total(app) >= results.alerts
        )

    keyboard = Keyboard(app)
    with line_probe(probe), GcWatch() as gcw:
        rig = Rig(app, probe, keyboard, gcw, counter, writer, procs, results)
        first, whole = probe.when(first_screen), probe.when(whole_room)
        t0 = now_ns()
        try:
            async with running_app(app) as pilot:
                steps["app mounted (run_test entered)"] = now_ns()
                with profiled(args.profile, "opening"):
                    stamp = await until(first, 120, "the first screen")
                    results.first_s = (stamp - t0) / NS
                    # A key pressed the moment the first screen shows: answered once the app is free.
                    timeline = timeline_of(app)
                    answered = probe.when(
                        lambda: timeline.cursor >= 0 and probe.cursor_painted == timeline.cursor
                    )
                    keyboard.press("up", 0)
                    ready = max(
                        await until(whole, 120, f"all {entries:,} entries"),
                        await until(answered, 120, "a key"),
                    )
                results.ready_s = (ready - t0) / NS
                results.show_steps = {
                    k: (v - t0) / NS for k, v in sorted(steps.items(), key=lambda kv: kv[1])
                }
                results.gc_show = gcw.summary(t0, ready)
                log(f"first screen {results.first_s:.3f} s, fully interactive {results.ready_s:.3f} s")
                back = probe.when(all_shown(timeline, probe, timeline.line_count))
                app.simulate_key("end")
                await until(back, 10, "end")

                await pilot.pause(0.5)
                results.rss_shown_kib = status_kib("self", "VmRSS")
                gc.collect()
                results.rss_shown_gc_kib = status_kib("self", "VmRSS")
                results.hub_rss_kib = status_kib(procs["hub"], "VmRSS")
                results.tracked_objects = len(gc.get_objects())

                # -- bursts of 1,000 live entries (the timeline follows the newest) -----------------
                for round_ in range(args.append_rounds):
                    target = timeline.line_count + APPEND_N
                    done = probe.when(all_shown(timeline, probe, target))
                    snap_before = snapshot_seq(ctx.db, room)
                    report = await writer.ask({"op": "burst", "n": APPEND_N}, 90)
                    stamp = await until(done, 30, f"{APPEND_N} live entries to show")
                    if snapshot_seq(ctx.db, room) != snap_before:
                        results.append_snapshots.append(round_ + 1)
                    if report["refused"]:
                        results.notes.append(
                            f"append round {round_ + 1}: {report['refused']} refused: {report['why']}"
                        )
                    results.append_s.append((stamp - report["first_ns"]) / NS)
                    results.append_bare_s.append((report["seen_ns"] - report["first_ns"]) / NS)
                    results.append_ack_s.append((report["acked_ns"] - report["first_ns"]) / NS)
                    results.append_gc_ms.append(gcw.full(report["first_ns"], stamp))
                    log(
                        f"append round {round_ + 1}: app {results.append_s[-1]:.3f} s, "
                        f"bare client {results.append_bare_s[-1]:.3f} s"
                    )
                    await pilot.pause(0.3)

                # -- key presses, idle and then while streams arrive ---------------------------
                timeline.focus()
                home = probe.when(lambda: timeline.cursor == 0 and timeline.scroll_y == 0)
                app.simulate_key("home")
                await until(home, 10, "home")
                await pilot.pause(0.2)
                c0, w0 = time.process_time(), now_ns()
                await asyncio.sleep(args.cpu_seconds)
                results.idle_cpu_per_s = (time.process_time() - c0) / ((now_ns() - w0) / NS)
                k0 = now_ns()
                results.key_idle_ms = await key_samples(app, probe, keyboard, args.idle_keys, 30, results)
                results.gc_idle_ms = gcw.longest(k0, now_ns())
                log(f"idle key presses: {len(results.key_idle_ms)} samples")
                streams = [
                    (f"{LIVE_RATE:g} entries/s", {"what": "entries", "rate": LIVE_RATE}),
                    (
                        f"{ALERT_RATE:g} alert updates/s",
                        {"what": "updates", "rate": ALERT_RATE, "alerts": results.alerts},
                    ),
                ]
                if args.storm:
                    streams.append(
                        (f"storm of {STORM_ALERTS:,} alerts", {"what": "storm", "rate": STORM_RATE})
                    )
                for label, request in streams:
                    request["seconds"] = args.live_seconds_max
                    results.phases.append(await loaded(rig, label, request, args))
                    await pilot.pause(0.5)
                results.rss_end_kib = status_kib("self", "VmRSS")
                results.peak_kib = status_kib("self", "VmHWM")
                results.hub_rss_after_kib = status_kib(procs["hub"], "VmRSS")
        finally:
            keyboard.close()


async def fold_baseline(db: Path, room: str, results: Results) -> None:
    """The reducer alone on the same events, and the hub's own load of the room (snapshot + tail)."""
    store = SQLiteStore(db)
    await store.open()
    try:
        t0 = time.perf_counter()
        events: list[Event] = []
        while True:
            page = await store.read(room, len(events), 5000)
            events.extend(page)
            if len(page) < 5000:
                break
        results.read_log_s = time.perf_counter() - t0
        events = events[: results.entries]  # the built room; the live entries came after
        gc.collect()
        t0 = time.perf_counter()
        state = fold(room, events)
        results.fold_s = time.perf_counter() - t0
        results.fold_events = len(events)
        del state, events
        gc.collect()
        t0 = time.perf_counter()
        loaded, snap_seq = await Hub(store).committed_state(room)  # decode the newest snapshot, fold the rest
        results.hub_load_s = time.perf_counter() - t0
        results.snapshot_seq, results.hub_load_seq = snap_seq, loaded.seq
    finally:
        await store.close()


# -- the report ------------------------------------------------------------------------------


def fmt(value: float, digits: int = 3) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(out)


def actions_table(counts: Sequence[Count]) -> str:
    rows = [
        [
            c.action,
            str(c.keys),
            f"{c.typed} chars" if c.typed else "-",
            c.recipe,
            f"<= {TARGET_KEYS}",
            verdict(c.ok) if c.worked else f"FAILED, the hub never saw it: {c.why}",
        ]
        for c in counts
    ]
    return table(["action (from the timeline)", "keys", "typed text", "presses", "target", "verdict"], rows)


def ratio(value: float, base: float) -> str:
    return "-" if not base or value != value or base != base else f"{value / base:.2f}x"


def report(r: Results) -> None:
    n, a = f"{r.entries:,}", f"{r.alerts:,}"
    warm = r.join.get("warm_s", float("nan"))
    idle = percentile(sorted(r.key_idle_ms), 99)
    append = statistics.median(r.append_s) if r.append_s else float("nan")
    bare_append = statistics.median(r.append_bare_s) if r.append_bare_s else float("nan")
    rows: list[list[str]] = [
        [
            f"first screen of the room ({n} entries, {a} alerts)",
            f"{fmt(r.first_s)} s",
            f"warm bare join {fmt(warm)} s",
            ratio(r.first_s, warm),
            f"<= {TARGET_FIRST_X:g}x",
            verdict(r.first_s <= TARGET_FIRST_X * warm),
        ],
        [
            "fully interactive (every entry and alert in, a key answered)",
            f"{fmt(r.ready_s)} s",
            f"warm bare join {fmt(warm)} s",
            ratio(r.ready_s, warm),
            f"<= {TARGET_READY_X:g}x",
            verdict(r.ready_s <= TARGET_READY_X * warm),
        ],
        [
            f"{APPEND_N:,} live appends painted (median of {len(r.append_s)})",
            f"{fmt(append)} s",
            f"bare client saw them {fmt(bare_append)} s",
            ratio(append, bare_append),
            f"<= {TARGET_APPEND_X:g}x",
            verdict(append <= TARGET_APPEND_X * bare_append),
        ],
        [
            f"key press -> repaint p99, idle (n={len(r.key_idle_ms)})",
            f"{fmt(idle, 1)} ms",
            "-",
            "-",
            f"<= {TARGET_IDLE_P99_MS:g} ms",
            verdict(idle <= TARGET_IDLE_P99_MS),
        ],
    ]
    gc_wall, gc_cpu = max([r.gc_idle_ms, *(p.gc_longest_ms for p in r.phases)])
    for p in r.phases:
        p99 = p.p99() if r.key_timeouts == 0 else float("inf")
        rows.append(
            [
                f"key press -> repaint p99, {p.label} (n={len(p.keys_ms)})",
                f"{fmt(p99, 1)} ms",
                f"idle p99 {fmt(idle, 1)} ms",
                ratio(p99, idle),
                f"<= {TARGET_LOADED_X:g}x",
                verdict(p99 <= TARGET_LOADED_X * idle),
            ]
        )
        app_ms = p.per_event_ms("app")
        rows.append(
            [
                f"app CPU per event, {p.label} ({p.events:,} events in {p.seconds:.1f} s)",
                f"{fmt(app_ms, 2)} ms",
                f"bare client {fmt(p.per_event_ms('observer'), 2)} ms",
                ratio(app_ms, p.per_event_ms("observer")),
                f"<= {TARGET_CPU_MS:g} ms",
                verdict(app_ms <= TARGET_CPU_MS),
            ]
        )
        if p.shown_s == p.shown_s:
            rows.append(
                [
                    f"{p.label}: all in the alert feed, from the first webhook",
                    f"{fmt(p.shown_s)} s",
                    f"bare client held it {fmt(p.bare_s)} s",
                    ratio(p.shown_s, p.bare_s),
                    "-",
                    "-",
                ]
            )
    rows.append(
        [
            "longest GC pause while keys were pressed (any generation)",
            f"{fmt(gc_wall, 1)} ms",
            f"its CPU time {fmt(gc_cpu, 1)} ms",
            "-",
            f"<= {TARGET_GC_MS:g} ms",
            verdict(gc_wall <= TARGET_GC_MS),
        ]
    )
    j = r.join
    bare_rss = mb(j["rss_joined_kib"] - j["rss_before_kib"]) if j else float("nan")
    rows.append(
        [
            f"app RSS with {n} entries and {a} alerts",
            f"{mb(r.rss_shown_kib):,.1f} MB",
            f"bare client's state +{bare_rss:,.1f} MB",
            "-",
            f"<= {TARGET_RSS_MB:g} MB",
            verdict(mb(r.rss_shown_kib) <= TARGET_RSS_MB),
        ]
    )
    print()
    print(table(["measure", "result", "same-run baseline", "ratio", "target", "verdict"], rows))
    if r.actions:
        print()
        print("keys per action, besides the typed text (walked with Pilot in the real app; the hub checked):")
        print(actions_table(r.actions))
    if r.quick:
        print(f"QUICK run: a {n}-entry room and few samples; a smoke test, not a measurement of the targets.")

    print()
    print("details")
    steps = ", ".join(f"{k} {v:.3f} s" for k, v in r.show_steps.items())
    print(f"  show, from app start (before run_test): {steps}; first screen {r.first_s:.3f} s")
    print(f"  GC in this process while showing: {r.gc_show}")
    print(
        "  append, per round, from the writer's first submit: app painted all "
        + ", ".join(f"{v:.3f}" for v in r.append_s)
        + " s; the writer's own bare HubClient saw all "
        + ", ".join(f"{v:.3f}" for v in r.append_bare_s)
        + " s; all acked "
        + ", ".join(f"{v:.3f}" for v in r.append_ack_s)
        + " s"
    )
    if any(r.append_gc_ms):
        print(
            "  append: full GC pauses in this process: "
            + "; ".join(
                f"round {k}: " + (", ".join(f"{ms:.0f} ms" for ms in pauses) if pauses else "none")
                for k, pauses in enumerate(r.append_gc_ms, 1)
            )
        )
    if r.append_snapshots:
        rounds = ", ".join(str(k) for k in r.append_snapshots)
        print(f"  append: the hub wrote a room snapshot during round {rounds} (its loop stalls meanwhile)")
    print(
        "  key presses are posted from a separate input thread at random moments (App.simulate_key, as a "
        "driver does); the time runs from the post until the screen update that shows the moved cursor"
    )
    print(f"  app CPU with nothing arriving: {r.idle_cpu_per_s * 100:.1f}% of a core (its clocks)")
    for label, values in [("idle", r.key_idle_ms), *((p.label, p.keys_ms) for p in r.phases)]:
        s = sorted(values)
        if s:
            print(
                f"  key press -> repaint, {label}: n={len(s)} p50 {percentile(s, 50):.1f} ms, "
                f"p90 {percentile(s, 90):.1f} ms, p99 {percentile(s, 99):.1f} ms, max {s[-1]:.1f} ms"
            )
    if r.key_timeouts:
        print(f"  key presses that never repainted within 5 s: {r.key_timeouts}")
    for p in r.phases:
        sent = p.sent
        print(
            f"  {p.label}: writer sent {sent.get('sent', 0):,} in {sent.get('seconds', 0):.1f} s "
            f"({sent.get('refused', 0)} refused); {p.displays / p.seconds:.0f} screen updates/s; "
            f"CPU in {p.seconds:.1f} s without keys (share of a core): "
            + ", ".join(f"{k} {v / p.seconds * 100:.0f}%" for k, v in p.cpu.items())
            + f"; GC while keys were pressed: {p.gc}"
        )
    print(
        f"  RSS of this process: {mb(r.rss_before_kib):.1f} MB before the app (interpreter, imports); "
        f"{mb(r.rss_shown_kib):.1f} MB with the room shown "
        f"({mb(r.rss_shown_gc_kib):.1f} MB after gc.collect); "
        f"{mb(r.rss_end_kib):.1f} MB at the end; peak (VmHWM) {mb(r.peak_kib):.1f} MB; "
        f"{r.tracked_objects:,} objects tracked by the GC with the room shown"
    )
    print(
        f"  hub process RSS (separate, not counted): {mb(r.hub_rss_kib):.1f} MB with the room live, "
        f"{mb(r.hub_rss_after_kib):.1f} MB at the end"
    )

    print()
    print("baselines (same run, same machine)")
    if j:
        print(
            f"  bare HubClient join of the room (no UI, its own process): cold {j['cold_s']:.3f} s "
            f"(hub loads the room), warm {j['warm_s']:.3f} s; holds {j['entries']:,} entries and "
            f"{j['alerts']:,} alerts; its RSS "
            f"{mb(j['rss_before_kib']):.1f} -> {mb(j['rss_joined_kib']):.1f} MB"
        )
    print(
        "  the bare client's CPU per event is a second bare HubClient in its own process (the observer), "
        "joined to the room and doing nothing else"
    )
    print(
        f"  reducer: fold {r.fold_events:,} events {fmt(r.fold_s)} s; "
        f"reading them from SQLite {fmt(r.read_log_s)} s; "
        f"the hub's own load of the room at seq {r.hub_load_seq:,} (Hub.committed_state: newest snapshot, "
        f"seq {r.snapshot_seq:,}, decoded, the rest folded) {fmt(r.hub_load_s)} s"
    )
    b = r.build
    if b:
        print(
            f"  room built through the hub's command path and intake: {b['entries']:,} entries and "
            f"{b['alerts']:,} alerts in {b['seconds']:.1f} s; "
            f"newest snapshot at seq {b['snapshot_seq']:,} of {b['seq']:,}"
        )
    for note in r.notes:
        print(f"  note: {note}")


# -- the driver ------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> Results:
    entries, alerts = args.entries, args.alerts
    results = Results(quick=args.quick, entries=entries, alerts=alerts)
    token = "bench-" + uuid.uuid4().hex
    work = Path(tempfile.mkdtemp(prefix="warroom-tui-bench-"))
    db = work / "hub.db"
    children: list[Child] = []
    hub: ServeChild | None = None
    try:
        log(f"building a room of {entries:,} entries and {alerts:,} alerts")
        argv = [sys.executable, str(SCRIPT), "--build-room", str(db), token, str(entries), str(alerts)]
        builder = await spawn("builder", argv, None)
        children.append(builder)
        results.build = await builder.reply(900)
        await asyncio.wait_for(builder.proc.wait(), 60)
        room = str(results.build["room"])
        log(f"built {room} in {results.build['seconds']:.1f} s")

        limits = f"alerts_per_room = {room_limits(alerts).alerts_per_room}"
        hub = await start_child(serve_argv(db, token, limits), work, "hub", want=("sync", "http"))
        log(f"hub pid {hub.pid} at {hub.ws_url}")
        peers = []
        for label in ("writer", "observer"):
            argv = [sys.executable, str(SCRIPT), "--writer", hub.ws_url, hub.http_url, token, room]
            peers.append(await spawn(label, argv, work / f"{label}.stderr.log"))
            children.append(peers[-1])
            joined = await peers[-1].reply(300)
            results.join = results.join or joined
        writer, observer = peers
        log(f"bare client joined: cold {results.join['cold_s']:.3f} s, warm {results.join['warm_s']:.3f} s")

        procs = {"hub": hub.pid, "writer": writer.pid, "observer": observer.pid}
        await measure_app(Context(hub.ws_url, token, room, entries, db), writer, procs, args, results)
        for peer in peers:
            await peer.ask({"op": "quit"}, 30)
            await peer.stop()
        await asyncio.to_thread(hub.stop, 15)
        log("folding the same events with the reducer")
        await fold_baseline(db, room, results)
        # Last: a second app in this process earlier would leave its objects in the heap
        # the timing above is measured in (its young collections grew by a third).
        log("keys per action, in the real app on the demo incident")
        results.actions = await count_keys(SIZE)
        return results
    finally:
        for child in reversed(children):
            try:
                await child.stop()
            except Exception as exc:
                log(f"stopping {child.label}: {type(exc).__name__}: {exc}")
        if hub is not None:
            try:
                await asyncio.to_thread(hub.stop, 15)
            except Exception as exc:
                log(f"stopping {hub.label}: {type(exc).__name__}: {exc}")
        shutil.rmtree(work, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a 10,000-entry, 5,000-alert room and few samples (smoke test)"
    )
    parser.add_argument("--entries", type=int, help=f"entries in the room (default {FULL_ENTRIES:,})")
    parser.add_argument("--alerts", type=int, help=f"alerts in the room (default {FULL_ALERTS:,})")
    parser.add_argument("--keys", type=int, help="key presses sampled under each stream (default 300)")
    parser.add_argument(
        "--storm",
        action="store_true",
        help=f"also replay a {STORM_ALERTS:,}-alert storm through Alertmanager webhooks under key presses",
    )
    parser.add_argument(
        "--actions", action="store_true", help="only count the keys each everyday action takes"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="profile the app under each stream with pyinstrument"
    )
    parser.add_argument("--build-room", nargs=4, metavar=("DB", "TOKEN", "N", "A"), help=argparse.SUPPRESS)
    parser.add_argument("--writer", nargs=4, metavar=("URL", "HTTP", "TOKEN", "ROOM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.entries = args.entries or (10_000 if quick else FULL_ENTRIES)
    args.alerts = FULL_ALERTS if args.alerts is None and not quick else (args.alerts or 5_000)
    args.keys = args.keys or (60 if quick else 300)
    args.idle_keys = 30 if quick else 100
    args.append_rounds = 1 if quick else 5
    args.live_seconds_max = 30.0 if quick else 60.0
    args.cpu_seconds = 3.0 if quick else 5.0
    if args.entries < 2 or args.keys < 1:
        parser.error("--entries must be at least 2 and --keys at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.build_room:
        db, token, n, a = args.build_room
        return builder_main(db, token, int(n), int(a))
    if args.writer:
        return writer_main(*args.writer)
    if args.actions:
        counts = asyncio.run(count_keys(SIZE))
        print(actions_table(counts))
        return 0 if all(c.ok for c in counts) else 1
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    print(
        f"warroom TUI benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"terminal {SIZE[0]}x{SIZE[1]} headless, {'QUICK' if args.quick else 'full run'}, "
        f"room of {args.entries:,} entries",
        flush=True,
    )
    try:
        results = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("\ninterrupted; child processes stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        kill_leftovers()
        cleanup_children()
    report(results)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
