"""Handoffs: what the on-call service's once-a-second tick costs, and how fast a restarted hub catches up.

Run from the repository root::

    python -m bench.handoffs

A real hub on a temporary SQLite log (no network), following the 100 schedules
of three layers ``bench.oncall`` builds. Two rows, each beside a baseline
measured in the same run:

1. A tick with nothing due (target: under 20 ms, 2% of the loop). Baseline:
   the first tick after a config reload, which works out every schedule's
   next change from scratch.
2. A day of handoffs recorded at once, as by a hub that was down for a day
   (about 300 over the 100 schedules; target: under 1 s). Baseline: the same
   day recorded one schedule at a time, one commit each.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import verdict
from bench.oncall import schedules_text
from server.escalation import EscalationEngine
from server.hub import Hub
from server.oncall import OncallService
from server.store import SQLiteStore

TICK_TARGET = 0.020
DAY_TARGET = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 3, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def service_on(folder: Path, clock: Clock) -> tuple[Hub, OncallService]:
    hub = Hub(SQLiteStore(folder / "hub.db"), clock=clock)
    await hub.start()
    engine = EscalationEngine(hub, (), folder / "oncall.toml", lambda attempt: 1.0)
    engine.configure(folder / "oncall.toml")
    service = OncallService(hub, engine)
    hub.listeners.append(service.on_events)
    await service.tick()  # the on-call log's room, and every schedule followed from now
    return hub, service


async def a_day(service: OncallService, clock: Clock, one_at_a_time: bool) -> tuple[int, float]:
    """Move the clock a day on and record every handoff of it; how many, and how long it took."""
    first = service.seq
    clock.now += timedelta(days=1)
    t0 = time.perf_counter()
    while True:
        before = service.seq
        if one_at_a_time:
            await service.refresh()
            for name in list(service.chain):
                await service.handoffs.follow(name, clock.now)
        else:
            await service.tick()
        if service.seq == before:
            return service.seq - first, time.perf_counter() - t0


async def run() -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "oncall.toml").write_text(schedules_text(100), encoding="utf-8")
    clock = Clock()
    hub, service = await service_on(folder, clock)
    service.handoffs.quiet_until.clear()
    t0 = time.perf_counter()
    await service.tick()
    first = time.perf_counter() - t0
    ticks = 50
    t0 = time.perf_counter()
    for _ in range(ticks):
        await service.tick()
    steady = (time.perf_counter() - t0) / ticks
    print(
        f"tick over 100 schedules, nothing due: {steady * 1000:6.2f} ms"
        f" (baseline, every schedule worked out: {first * 1000:6.2f} ms);"
        f" target < {TICK_TARGET * 1000:.0f} ms: {verdict(steady < TICK_TARGET)}"
    )
    slow_count, slow = await a_day(service, clock, one_at_a_time=True)
    count, fast = await a_day(service, clock, one_at_a_time=False)
    print(
        f"a day of handoffs ({count}) recorded at once: {fast:5.2f} s"
        f" (baseline, one schedule at a time: {slow_count} in {slow:5.2f} s);"
        f" target < {DAY_TARGET:g} s: {verdict(fast < DAY_TARGET)}"
    )
    await hub.stop()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
