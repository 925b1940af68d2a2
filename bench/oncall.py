"""On-call resolution: 100 schedules of 3 layers, asked who is on call and for a year of shifts.

Run from the repository root::

    python -m bench.oncall

No I/O: one schedules file (100 schedules in five zones, each a business-hours
weekly layer, a daily layer and a weekly backstop, with overrides) parsed from
text, then two rows, each beside a baseline measured in the same run:

1. ``who_is_on_call`` at 5,000 instants spread over a year (50 per schedule),
   the issue's "single answer" (target: under 5 ms, judged on the worst one).
   Baseline: resolving by walking every turn of each layer from its start date
   up to the instant, with no restriction, layer order or override (less than
   the real question, and linear in the schedule's age).
2. ``shifts`` over a year, one schedule at a time (target: under 1 s each,
   judged on the worst). Baseline: a naive minute-by-minute scan of one day
   (1,440 point answers through the same resolver), scaled to a year.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import verdict
from warroom.oncall import Schedule, parse_oncall, shifts, who_is_on_call
from warroom.oncall.resolve import turn_start

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC")
SCHEDULES = 100
ASKS_PER_SCHEDULE = 50
ANSWER_TARGET = 0.005
YEAR_TARGET = 1.0
YEAR_FROM = datetime(2026, 1, 1, tzinfo=UTC)


def schedules_text(count: int) -> str:
    """``count`` schedules of three layers, starting 2023-2025, with a few overrides each."""
    rng = random.Random(15)
    parts: list[str] = []
    for n in range(count):
        zone = ZONES[n % len(ZONES)]
        monday = datetime(2023, 1, 2) + timedelta(weeks=rng.randrange(150))
        users = [f"u{n}-{k}" for k in range(6)]
        parts.append(f'[schedules.s{n}]\ntimezone = "{zone}"\n')
        parts.append(
            f'[[schedules.s{n}.layers]]\nname = "business"\nusers = {users[:3]!r}\nrotation = "weekly"\n'
            f'handoff = "monday 09:00"\nstart = "{monday:%Y-%m-%d}"\nrestrict = "mon-fri 09:00-17:00"\n'
        )
        parts.append(
            f'[[schedules.s{n}.layers]]\nname = "nights"\nusers = {users[3:]!r}\nrotation = "daily"\n'
            f'handoff = "02:30"\nstart = "{monday:%Y-%m-%d}"\n'
        )
        parts.append(
            f'[[schedules.s{n}.layers]]\nname = "backstop"\nusers = {users!r}\nrotation = "weekly"\n'
            f'handoff = "monday 09:00"\nstart = "{monday:%Y-%m-%d}"\n'
        )
        for k in range(4):
            day = datetime(2026, 1, 5) + timedelta(days=rng.randrange(360))
            end = day + timedelta(hours=rng.randrange(4, 48))
            parts.append(
                f'[[schedules.s{n}.overrides]]\nuser = "sub{k}"\n'
                f'from = "{day:%Y-%m-%dT%H:%M}"\nto = "{end:%Y-%m-%dT%H:%M}"\n'
            )
    return "\n".join(parts)


def walk_from_start(schedule: Schedule, at: datetime) -> list[str]:
    """The baseline: step through each layer's turns from its start until the one under way."""
    found = []
    for layer in schedule.layers:
        k = 0
        while turn_start(layer, schedule.zone, k + 1) <= at:
            k += 1
        found.append(layer.users[k % len(layer.users)])
    return found


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def main() -> None:
    started = time.perf_counter()
    file = parse_oncall(schedules_text(SCHEDULES), Path("bench.toml"))
    parsed = time.perf_counter() - started
    schedules = list(file.schedules.values())
    print(f"parsed {len(schedules)} schedules of 3 layers in {ms(parsed)}")

    rng = random.Random(1)
    asks = [
        (s, YEAR_FROM + timedelta(seconds=rng.randrange(365 * 86400)))
        for s in schedules
        for _ in range(ASKS_PER_SCHEDULE)
    ]
    answers: list[float] = []
    for s, at in asks:
        t0 = time.perf_counter()
        who_is_on_call(s, at)
        answers.append(time.perf_counter() - t0)
    walks: list[float] = []
    for s, at in asks[::10]:
        t0 = time.perf_counter()
        walk_from_start(s, at)
        walks.append(time.perf_counter() - t0)
    worst = max(answers)
    print(
        f"who is on call, one answer ({len(asks)} asks): p50 {ms(statistics.median(answers))}, "
        f"p99 {ms(sorted(answers)[int(len(answers) * 0.99)])}, worst {ms(worst)}; "
        f"target < {ms(ANSWER_TARGET)}: {verdict(worst < ANSWER_TARGET)}"
    )
    print(
        f"  baseline, walking every layer's turns from its start ({len(walks)} asks): "
        f"p50 {ms(statistics.median(walks))}, worst {ms(max(walks))}"
    )

    years: list[float] = []
    count = 0
    for s in schedules:
        t0 = time.perf_counter()
        count += len(shifts(s, YEAR_FROM, YEAR_FROM + timedelta(days=365)))
        years.append(time.perf_counter() - t0)
    worst = max(years)
    print(
        f"a year of shifts, one schedule ({count // len(schedules)} shifts on average): "
        f"p50 {ms(statistics.median(years))}, worst {ms(worst)}, all 100 {sum(years):.3f} s; "
        f"target < {YEAR_TARGET:g} s: {verdict(worst < YEAR_TARGET)}"
    )
    s = schedules[0]
    day = YEAR_FROM + timedelta(days=40)
    t0 = time.perf_counter()
    for minute in range(24 * 60):
        who_is_on_call(s, day + timedelta(minutes=minute))
    scan = time.perf_counter() - t0
    print(
        f"  baseline, a minute-by-minute scan of one day (1,440 answers): {ms(scan)}; "
        f"a year that way: about {scan * 365:.0f} s"
    )


if __name__ == "__main__":
    main()
