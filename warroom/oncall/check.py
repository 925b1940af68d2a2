"""What ``warroom schedule check`` warns about in a file that parses: gaps and handoffs in DST gaps.

Neither is an error: a business-hours schedule has nobody at night on purpose,
and a handoff in a spring-forward gap has a defined time. But both surprise
people, so the check names each one (the first few gaps of a schedule, then
how many more) with the line of the schedule or layer to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.oncall.model import OncallFile, Schedule, in_gap, instant
from warroom.oncall.resolve import shifts, turn_at

GAPS_SHOWN = 3  # per schedule; the rest are counted


@dataclass(frozen=True)
class CheckWarning:
    line: int
    message: str


def _wall(moment: datetime, schedule: Schedule) -> str:
    return moment.astimezone(schedule.zone).strftime("%Y-%m-%d %H:%M %Z")


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) with nobody on call."""
    out: list[tuple[datetime, datetime]] = []
    edge = start
    for shift in shifts(schedule, start, end):
        if shift.start > edge:
            out.append((edge, shift.start))
        edge = max(edge, shift.end)
    if edge < end:
        out.append((edge, end))
    return out


def _gap_warnings(schedule: Schedule, start: datetime, end: datetime) -> list[CheckWarning]:
    found = gaps(schedule, start, end)
    out = [
        CheckWarning(
            schedule.line,
            f"schedule {schedule.name}: nobody on call from {_wall(a, schedule)} to {_wall(b, schedule)}",
        )
        for a, b in found[:GAPS_SHOWN]
    ]
    if len(found) > GAPS_SHOWN:
        hours = sum((b - a for a, b in found), timedelta()) / timedelta(hours=1)
        more = len(found) - GAPS_SHOWN
        out.append(
            CheckWarning(
                schedule.line,
                f"schedule {schedule.name}: {more} more gaps with nobody on call "
                f"({len(found)} in all, {hours:g} hours, up to {_wall(end, schedule)})",
            )
        )
    return out


def _dst_warnings(schedule: Schedule, start: datetime, end: datetime) -> list[CheckWarning]:
    out: list[CheckWarning] = []
    for layer in schedule.layers:
        k = max(turn_at(layer, schedule.zone, start), 0)
        last = turn_at(layer, schedule.zone, end)
        while k <= last:
            day = layer.start + timedelta(days=k * layer.period_days)
            if in_gap(day, layer.handoff, schedule.zone):
                moved = instant(day, layer.handoff, schedule.zone)
                out.append(
                    CheckWarning(
                        layer.line,
                        f"schedule {schedule.name} layer {layer.name}: the handoff on {day.isoformat()} at "
                        f"{layer.handoff:%H:%M} falls in a DST gap (the clocks jump); "
                        f"it happens at {_wall(moved, schedule)}",
                    )
                )
            k += 1
    return out


def check(file: OncallFile, start: datetime, end: datetime) -> list[CheckWarning]:
    """Every warning for [start, end), schedule by schedule, in file order."""
    out: list[CheckWarning] = []
    for schedule in file.schedules.values():
        out += _gap_warnings(schedule, start, end)
        out += _dst_warnings(schedule, start, end)
    return out
