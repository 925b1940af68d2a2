"""Read a schedules file: ``[schedules.*]`` and ``[teams]``, every mistake as ``FILE:LINE: message``.

The format (docs/oncall.md)::

    [schedules.platform]
    timezone = "Europe/Berlin"

    [[schedules.platform.layers]]
    name = "primary"
    users = ["alice", "bob", "carol"]
    rotation = "weekly"                 # or "daily"
    handoff = "monday 09:00"            # daily: "09:00"
    start = "2026-10-19"                # users[0]'s first turn begins this day at the handoff
    restrict = "mon-fri 09:00-17:00"    # optional

    [[schedules.platform.overrides]]
    user = "dave"
    from = "2026-12-01T00:00"           # wall clock in the schedule's zone
    to = "2026-12-02T00:00"

    [teams]
    payments = ["carol", "dave"]

Other sections (``[policies.*]``) are left to their own parsers, through ``OncallFile.raw``.
Nothing here does I/O but ``load_oncall_file`` reading the one file.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warroom.oncall.lines import Lines
from warroom.oncall.model import (
    DAYS,
    FIRST_YEAR,
    LAST_YEAR,
    OVERRIDE,
    ROTATIONS,
    Layer,
    OncallFile,
    OncallFileError,
    Override,
    Schedule,
    Window,
    local_instant,
)

_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
SCHEDULE_KEYS = {"timezone", "layers", "overrides", "description"}
LAYER_KEYS = {"name", "users", "rotation", "handoff", "start", "restrict"}
OVERRIDE_KEYS = {"user", "from", "to", "reason"}


class _Bad(Exception):
    """A mistake at a line; the caller adds the file name."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def load_oncall_file(path: Path) -> OncallFile:
    """Read and check a schedules file; raises ``OncallFileError`` (``FILE:LINE: message``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OncallFileError(f"{path}:1: cannot read it: {reason}") from None
    return parse_oncall(text, path)


def parse_oncall(text: str, path: Path) -> OncallFile:
    """Parse a schedules file's text; ``path`` only names it in errors and in the result."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = _AT_LINE.search(str(err))
        line = getattr(err, "lineno", None) or (int(found.group(1)) if found else 1)
        message = _AT_LINE.sub("", getattr(err, "msg", None) or str(err))
        raise OncallFileError(f"{path}:{line}: {message}") from None
    lines = Lines(text)
    try:
        schedules = _schedules(raw.get("schedules", {}), lines)
        teams = _teams(raw.get("teams", {}), lines)
    except _Bad as bad:
        raise OncallFileError(f"{path}:{bad.line}: {bad.message}") from None
    return OncallFile(path=path, schedules=schedules, teams=teams, raw=raw)


def _schedules(section: Any, lines: Lines) -> dict[str, Schedule]:
    if not isinstance(section, dict):
        raise _Bad(lines.key((), "schedules"), "schedules must be tables: [schedules.NAME]")
    return {name: _schedule(name, body, lines) for name, body in section.items()}


def _unknown(body: dict[str, Any], allowed: set[str], where: tuple[str, ...], lines: Lines, n: int) -> None:
    for key in body:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise _Bad(lines.key(where, key, n), f"unknown key {key!r} (known: {known})")


def _schedule(name: str, body: Any, lines: Lines) -> Schedule:
    where = ("schedules", name)
    if not isinstance(body, dict):
        raise _Bad(lines.key(("schedules",), name), f"schedule {name!r} must be a table")
    _unknown(body, SCHEDULE_KEYS, where, lines, 0)
    zone_name = body.get("timezone")
    if not isinstance(zone_name, str) or not zone_name:
        raise _Bad(lines.key(where, "timezone"), f'schedule {name!r} needs timezone = "Area/City"')
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(lines.key(where, "timezone"), f"unknown timezone {zone_name!r}") from None
    layers_raw = body.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise _Bad(lines.table(where), f"schedule {name!r} needs at least one [[schedules.{name}.layers]]")
    layers = tuple(_layer(name, n, layer, lines) for n, layer in enumerate(layers_raw))
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen or layer.name == OVERRIDE:
            why = "is reserved" if layer.name == OVERRIDE else "is used twice"
            raise _Bad(layer.line, f"layer name {layer.name!r} {why}")
        seen.add(layer.name)
    overrides_raw = body.get("overrides", [])
    if not isinstance(overrides_raw, list):
        raise _Bad(lines.key(where, "overrides"), "overrides must be [[schedules.NAME.overrides]] tables")
    overrides = tuple(_override(name, n, o, zone, lines) for n, o in enumerate(overrides_raw))
    return Schedule(name=name, zone=zone, layers=layers, overrides=overrides, line=lines.table(where))


def _users(value: Any, line: int, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Bad(line, f"{what} must be a non-empty list of names")
    for user in value:
        if not isinstance(user, str) or not user.strip():
            raise _Bad(line, f"{what}: every name must be a non-empty string, not {user!r}")
    return tuple(value)


def _clock(text: str, line: int, what: str, *, end: bool = False) -> int:
    """Minutes after midnight of ``HH:MM`` (``24:00`` allowed for the end of a window)."""
    found = _CLOCK.match(text.strip())
    if not found:
        raise _Bad(line, f"{what}: {text!r} is not a time HH:MM")
    hours, minutes = int(found.group(1)), int(found.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise _Bad(line, f"{what}: {text!r} is not a time of day")
    return hours * 60 + minutes


def _day(text: str, line: int, what: str) -> int:
    word = text.strip().lower()
    for n, day in enumerate(DAYS):
        if len(word) >= 3 and day.startswith(word):
            return n
    raise _Bad(line, f"{what}: {text!r} is not a day (monday … sunday, or mon … sun)")


def _time_of(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def _layer(schedule: str, n: int, body: Any, lines: Lines) -> Layer:
    where = ("schedules", schedule, "layers")
    header = lines.table(where, n)
    if not isinstance(body, dict):
        raise _Bad(header, "a layer must be a table")
    _unknown(body, LAYER_KEYS, where, lines, n)

    def line(key: str) -> int:
        return lines.key(where, key, n)

    name = body.get("name", f"layer {n + 1}")
    if not isinstance(name, str) or not name.strip():
        raise _Bad(line("name"), "a layer's name must be a non-empty string")
    users = _users(body.get("users"), line("users"), "users")
    rotation = body.get("rotation")
    if rotation not in ROTATIONS:
        raise _Bad(line("rotation"), f'rotation must be "daily" or "weekly", not {rotation!r}')
    handoff_raw = body.get("handoff")
    if not isinstance(handoff_raw, str):
        example = "monday 09:00" if rotation == "weekly" else "09:00"
        raise _Bad(line("handoff"), f'handoff must be a string such as "{example}"')
    parts = handoff_raw.split()
    weekday: int | None = None
    if rotation == "weekly":
        if len(parts) != 2:
            raise _Bad(
                line("handoff"), f'a weekly handoff is "DAY HH:MM" ("monday 09:00"), not {handoff_raw!r}'
            )
        weekday = _day(parts[0], line("handoff"), "handoff")
    elif len(parts) != 1:
        raise _Bad(line("handoff"), f'a daily handoff is "HH:MM" ("09:00"), not {handoff_raw!r}')
    handoff = _time_of(_clock(parts[-1], line("handoff"), "handoff"))
    start = _date(body.get("start"), line("start"))
    if weekday is not None and start.weekday() != weekday:
        raise _Bad(
            line("start"),
            f"start {start.isoformat()} is a {DAYS[start.weekday()]}, "
            f"but the weekly handoff is on {DAYS[weekday]}",
        )
    restrict = _restrict(body.get("restrict"), line("restrict"))
    return Layer(
        name=name,
        users=users,
        rotation=rotation,
        handoff=handoff,
        start=start,
        weekday=weekday,
        restrict=restrict,
        line=header,
    )


def _date(value: Any, line: int) -> date:
    if isinstance(value, datetime):
        raise _Bad(line, 'start is a date ("2026-10-19"); the time is the handoff\'s')
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = date.fromisoformat(value.strip())
    if not isinstance(value, date):
        raise _Bad(line, f"start must be a date YYYY-MM-DD, not {value!r}")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _Bad(line, f"start must be between {FIRST_YEAR} and {LAST_YEAR}, not {value.isoformat()}")
    return value


def _restrict(value: Any, line: int) -> tuple[Window, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise _Bad(line, 'restrict must be a string such as "mon-fri 09:00-17:00" (or a list of them)')
    return tuple(_window(item, line) for item in items)


def _window(text: str, line: int) -> Window:
    """``"mon-fri 09:00-17:00"``, ``"sat"``, ``"fri-mon 18:00-08:00"`` (past midnight), ``"09:00-17:00"``."""
    what = f"restrict {text!r}"
    days = set(range(7))
    start, length = 0, 24 * 60
    parts = text.split()
    if not parts or len(parts) > 2:
        raise _Bad(line, f'{what}: write DAYS HH:MM-HH:MM, such as "mon-fri 09:00-17:00"')
    if not _CLOCK.match(parts[0].split("-")[0]):
        days = set()
        for piece in parts.pop(0).split(","):
            ends = piece.split("-")
            if len(ends) > 2 or not all(ends):
                raise _Bad(line, f"{what}: {piece!r} is not a day or a range of days (mon-fri)")
            first, last = _day(ends[0], line, what), _day(ends[-1], line, what)
            span = (last - first) % 7  # a range may wrap past Sunday: fri-mon
            days.update((first + k) % 7 for k in range(span + 1))
    if parts:
        ends = parts[0].split("-")
        if len(ends) != 2:
            raise _Bad(line, f"{what}: {parts[0]!r} is not a span of time HH:MM-HH:MM")
        start = _clock(ends[0], line, what)
        stop = _clock(ends[1], line, what, end=True)
        length = (stop - start) % (24 * 60) or 24 * 60  # past midnight when it ends before it starts
    return Window(days=frozenset(days), start=_time_of(start), length=timedelta(minutes=length))


def _moment(value: Any, line: int, key: str, zone: ZoneInfo) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _Bad(line, f'{key} must be a time such as "2026-12-01T00:00", not {value!r}') from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise _Bad(line, f'{key} must be a time such as "2026-12-01T00:00", not {value!r}')
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _Bad(line, f"{key} must be between {FIRST_YEAR} and {LAST_YEAR}, not {value.isoformat()}")
    return local_instant(value, zone)


def _override(schedule: str, n: int, body: Any, zone: ZoneInfo, lines: Lines) -> Override:
    where = ("schedules", schedule, "overrides")
    header = lines.table(where, n)
    if not isinstance(body, dict):
        raise _Bad(header, "an override must be a table")
    _unknown(body, OVERRIDE_KEYS, where, lines, n)
    user = body.get("user")
    if not isinstance(user, str) or not user.strip():
        raise _Bad(lines.key(where, "user", n), 'an override needs user = "NAME"')
    for key in ("from", "to"):
        if key not in body:
            raise _Bad(header, f'an override needs {key} = "2026-12-01T00:00"')
    start = _moment(body["from"], lines.key(where, "from", n), "from", zone)
    end = _moment(body["to"], lines.key(where, "to", n), "to", zone)
    if end <= start:
        raise _Bad(lines.key(where, "to", n), "an override must end after it starts")
    return Override(user=user, start=start, end=end, line=header)


def _teams(section: Any, lines: Lines) -> dict[str, list[str]]:
    if not isinstance(section, dict):
        raise _Bad(lines.key((), "teams"), 'teams must be a table: [teams] NAME = ["user", …]')
    return {
        name: list(_users(members, lines.key(("teams",), name), f"team {name!r}"))
        for name, members in section.items()
    }
