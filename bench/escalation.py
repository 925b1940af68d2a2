"""The escalation engine's tick: how long one look at the clock holds the hub's event loop.

Run from the repository root::

    python -m bench.escalation

The engine looks at the clock once a second (server/escalation.py). Its cost
grows with the open incidents it follows; this measures one tick over 100,
1,000 and 10,000 open incidents whose due pages are all sent, beside a
baseline measured in the same run: the first tick, which works out every
plan from scratch (as after a start, a reload, or an event in every room).
Target: a steady tick over 10,000 open incidents under 20 ms (2% of the loop).
No network: a real store is opened only to build the hub.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import verdict
from server.escalation import EscalationEngine, Run, Track
from server.hub import Hub
from server.store import SQLiteStore

FILE = """
[teams]
payments = ["carol", "dave"]
[policies.payments]
repeat = 2
[[policies.payments.levels]]
at = "0m"
notify = ["user:carol"]
[[policies.payments.levels]]
at = "15m"
notify = ["team:payments"]
[[policies.payments.levels]]
at = "30m"
notify = ["user:dave"]
"""
TARGET = 0.020
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def follow(engine: EscalationEngine, count: int) -> None:
    """``count`` open incidents, declared three hours ago, every page of theirs sent."""
    engine.tracks = {}
    for n in range(count):
        track = Track(f"INC-{n}", "ann", "SEV2", set(), False)
        run = Run("incident", "incident", NOW - timedelta(hours=3))
        run.sent = {("payments", level, round_) for level in (1, 2, 3) for round_ in range(3)}
        track.runs["incident"] = run
        engine.tracks[track.room] = track


async def run() -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "oncall.toml").write_text(FILE, encoding="utf-8")
    hub = Hub(SQLiteStore(folder / "hub.db"), clock=lambda: NOW)
    engine = EscalationEngine(hub, (), folder / "oncall.toml", lambda attempt: 1.0)
    engine.configure(folder / "oncall.toml")
    for count in (100, 1_000, 10_000):
        follow(engine, count)
        t0 = time.perf_counter()
        engine.tick()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.tick()
        steady = time.perf_counter() - t0
        judged = f"; target < {TARGET * 1000:.0f} ms: {verdict(steady < TARGET)}" if count == 10_000 else ""
        print(
            f"tick over {count:>6} open incidents: {steady * 1000:7.2f} ms"
            f" (baseline, every plan worked out: {first * 1000:7.2f} ms){judged}"
        )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
