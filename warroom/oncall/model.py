"""What a schedules file says, as plain values: schedules, layers, restrictions, overrides.

Times a person wrote (a handoff, a restriction, an override) are wall-clock
times in the schedule's zone; ``instant`` turns one into a UTC instant by the
file format's rules, so every other module works in UTC only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
OVERRIDE = "override"  # what ``decided_by`` says when an override decided
ROTATIONS = {"daily": 1, "weekly": 7}  # a turn's length in calendar days
# Dates a schedule may name, and instants one may be asked about: far from the ends of
# ``datetime``'s range, so that no offset or look-ahead overflows it.
FIRST_YEAR, LAST_YEAR = 1970, 2200


class OncallFileError(Exception):
    """A schedules file that cannot be used; its str is ``FILE:LINE: message``."""


def instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``.

    ``fold=0`` gives both rules of the format at once (PEP 495): an ambiguous
    time (a fall-back hour) means its first occurrence, and a time in a
    spring-forward gap is read with the offset in force before the gap, which
    lands as far past the gap's end as it was into the gap (02:30 on a night
    that jumps from 02:00 to 03:00 happens at 03:30).
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_instant(moment: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock datetime read in ``zone`` (aware ones are already instants)."""
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment.replace(tzinfo=zone, fold=0).astimezone(UTC)


def in_gap(day: date, at: time, zone: ZoneInfo) -> bool:
    """Whether this wall-clock time never happens in ``zone`` (a spring-forward gap)."""
    wall = datetime.combine(day, at)
    back = instant(day, at, zone).astimezone(zone).replace(tzinfo=None)
    return back != wall


@dataclass(frozen=True)
class Window:
    """One restriction: on ``days`` (0 = Monday), from ``start`` for ``length`` (may pass midnight)."""

    days: frozenset[int]
    start: time
    length: timedelta


@dataclass(frozen=True)
class Layer:
    """A rotation: ``users`` take turns of one day or one week, handing off at ``handoff``."""

    name: str
    users: tuple[str, ...]
    rotation: str  # "daily" or "weekly"
    handoff: time
    start: date  # users[0]'s first turn begins on this date at the handoff time
    weekday: int | None = None  # weekly: the handoff's day (0 = Monday), the start date's weekday
    restrict: tuple[Window, ...] = ()  # empty: no restriction
    line: int = 0

    @property
    def period_days(self) -> int:
        return ROTATIONS[self.rotation]


@dataclass(frozen=True)
class Override:
    """``user`` is on call from ``start`` to ``end`` (UTC, half-open), whatever the layers say."""

    user: str
    start: datetime
    end: datetime
    line: int = 0


@dataclass(frozen=True)
class Schedule:
    """A named schedule: layers in order (a later one covers the gaps of earlier ones), and overrides."""

    name: str
    zone: ZoneInfo
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()
    line: int = 0

    @property
    def timezone(self) -> str:
        return self.zone.key


@dataclass(frozen=True)
class OncallFile:
    """A parsed schedules file; ``raw`` keeps every section, for parsers of the others (``[policies.*]``)."""

    path: Path
    schedules: dict[str, Schedule]
    teams: dict[str, list[str]]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OnCall:
    """Who is on call at an instant, who comes next and when (UTC), and what decided it."""

    user: str | None
    next_user: str | None
    handoff: datetime | None
    decided_by: str  # a layer's name, "override", or "" when nobody is on call


@dataclass(frozen=True)
class Shift:
    """A stretch of time (UTC, half-open) with one person on call, and the layer or override behind it."""

    user: str
    start: datetime
    end: datetime
    source: str
