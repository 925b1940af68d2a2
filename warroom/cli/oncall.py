"""``warroom oncall`` and ``warroom schedule check``: who is on call, from the schedules file alone.

No hub is involved. The file is ``--schedules FILE``, else ``$WARROOM_SCHEDULES``,
else ``schedules = "PATH"`` in the client config file (relative to that file).
Times given on the command line (``--at``, ``--from``, ``--to``) are ISO 8601:
with ``Z`` or an offset they are instants; without, wall-clock times in the
schedule's zone. Every mistake is one line on stderr and exit 2;
``schedule check`` prints ``FILE:LINE: message`` for a bad file (exit 2), its
warnings one a line (exit 1), or that the file is fine (exit 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from warroom.cli.oncall_hub import HubRefused, add_hub_options, run_override, run_overrides, with_hub
from warroom.config import ConfigError, config_dir, load_file
from warroom.core.text import json_safe, visible
from warroom.oncall import OncallFile, OncallFileError, Schedule, Shift, load_oncall_file, shifts
from warroom.oncall.check import CheckWarning, check
from warroom.oncall.model import FIRST_YEAR, LAST_YEAR, OVERRIDE, local_instant
from warroom.oncall.resolve import who_is_on_call

EXIT_USAGE = 2
EXIT_WARNINGS = 1
SHIFTS, EXPORT, CHECK = "shifts", "export", "check"
OVERRIDE_CMD, OVERRIDES = "override", "overrides"  # through the hub (warroom/cli/oncall_hub.py)
EXPORT_DAYS = 90  # ``export`` without --to covers this many days
CHECK_DAYS = 90  # ``schedule check`` looks this far ahead


class OncallRefused(Exception):
    """One line on stderr, exit 2."""


def add_parsers(sub: Any) -> list[argparse.ArgumentParser]:
    """Register ``oncall`` and ``schedule``; returns the parsers that may reach a hub."""
    oncall = sub.add_parser(
        "oncall",
        help="who is on call for a schedule; 'oncall shifts', 'oncall export --ical', "
        "'oncall override' and 'oncall overrides' (through the hub)",
    )
    oncall.add_argument(
        "schedule",
        metavar="SCHEDULE | shifts | export | override | overrides",
        help="a schedule, or shifts, export, override, overrides",
    )
    oncall.add_argument(
        "subject",
        nargs="?",
        metavar="SCHEDULE",
        help="with shifts, export, override, overrides: the schedule",
    )
    oncall.add_argument("user", nargs="?", metavar="NAME", help="override: who is on call instead")
    oncall.add_argument("--reason", help="override: why")
    oncall.add_argument("--remove", metavar="ID", help="override --remove ID: take an override back")
    add_hub_options(oncall)
    oncall.add_argument("--at", metavar="TIME", help="who is on call at TIME instead of now")
    oncall.add_argument(
        "--from", dest="start", metavar="TIME", help="shifts, export: from TIME (default now)"
    )
    oncall.add_argument("--to", dest="end", metavar="TIME", help="shifts, export: to TIME")
    oncall.add_argument("--json", action="store_true", help="print JSON for scripts")
    oncall.add_argument("--explain", action="store_true", help="name the layer or override that decided")
    oncall.add_argument("--ical", action="store_true", help="export: an iCalendar feed")
    oncall.add_argument("-o", "--output", metavar="FILE", help="export: write the feed here, not stdout")
    _file_option(oncall)
    schedule = sub.add_parser(
        "schedule", help="'schedule check FILE': validate a schedules file, warn of gaps"
    )
    schedule.add_argument("action", choices=(CHECK,))
    schedule.add_argument("file", metavar="FILE")
    schedule.add_argument("--at", metavar="TIME", help="look ahead from TIME instead of now")
    schedule.add_argument(
        "--days", type=int, default=CHECK_DAYS, help=f"how far ahead (default {CHECK_DAYS})"
    )
    return [oncall]


def _file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schedules",
        metavar="FILE",
        help="the schedules file (default: $WARROOM_SCHEDULES, else schedules in the config file)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "schedule":
            return _check(args)
        return _oncall(args)
    except OncallFileError as exc:
        return _fail(str(exc))
    except (OncallRefused, ConfigError, HubRefused) as exc:
        return _fail(str(exc))


def _fail(message: str) -> int:
    print(f"warroom: {visible(message)}", file=sys.stderr)
    return EXIT_USAGE


def schedules_path(given: str | None) -> Path:
    """Where the schedules file is: the flag, the environment, then the client config."""
    if given:
        return Path(given)
    if os.environ.get("WARROOM_SCHEDULES"):
        return Path(os.environ["WARROOM_SCHEDULES"])
    configured = load_file().get("schedules")
    if configured:
        return config_dir() / Path(configured).expanduser()  # an absolute path stays itself
    raise OncallRefused(
        "no schedules file: pass --schedules FILE, set WARROOM_SCHEDULES, or put schedules in the config"
    )


def _pick(file: OncallFile, name: str) -> Schedule:
    if name not in file.schedules:
        known = ", ".join(sorted(file.schedules)) or "none"
        raise OncallRefused(f"no schedule {name!r} in {file.path} (schedules: {known})")
    return file.schedules[name]


def parse_when(value: str | None, schedule: Schedule | None, flag: str) -> datetime:
    """A command-line time as a UTC instant: now when absent; naive means the schedule's wall clock."""
    if value is None or value == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise OncallRefused(
            f"{flag} {value!r} is not a time: write 2026-10-26T09:00 (or with Z, or +01:00)"
        ) from None
    if not FIRST_YEAR < moment.year < LAST_YEAR:
        raise OncallRefused(f"{flag} {value!r} is out of range: between {FIRST_YEAR} and {LAST_YEAR}, please")
    if moment.tzinfo is None and schedule is None:
        return moment.replace(tzinfo=UTC)
    return local_instant(moment, schedule.zone) if schedule else moment.astimezone(UTC)


def zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall(moment: datetime, schedule: Schedule) -> str:
    return moment.astimezone(schedule.zone).strftime("%Y-%m-%d %H:%M %Z")


def _print_json(value: Any) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(json_safe(json.dumps(value, ensure_ascii=False).encode()) + b"\n")
    sys.stdout.buffer.flush()


def _oncall(args: argparse.Namespace) -> int:
    if args.schedule == OVERRIDE_CMD:
        return run_override(args)
    if args.schedule == OVERRIDES and not args.user:
        return run_overrides(args, _print_json)
    action = args.schedule if args.schedule in (SHIFTS, EXPORT) and args.subject else None
    name = args.subject if action else args.schedule
    if (args.subject and not action) or args.user:
        usage = "write 'oncall SCHEDULE' or 'oncall shifts|export SCHEDULE'"
        raise OncallRefused(f"unexpected {args.user if action else args.subject!r}: {usage}")
    file = load_oncall_file(schedules_path(args.schedules))
    file = with_hub(args, file, [name])  # the hub's overrides too, when a hub is named
    if not action and name in (SHIFTS, EXPORT) and name not in file.schedules:
        raise OncallRefused(f"oncall {name}: name the schedule: warroom oncall {name} SCHEDULE")
    schedule = _pick(file, name)
    if action == SHIFTS:
        return _shifts(args, schedule)
    if action == EXPORT:
        return _export(args, schedule)
    at = parse_when(args.at, schedule, "--at")
    answer = who_is_on_call(schedule, at)
    if args.json:
        out: dict[str, Any] = {
            "schedule": schedule.name,
            "now": answer.user,
            "next": answer.next_user,
            "handoff": zulu(answer.handoff) if answer.handoff else None,
        }
        if args.explain:
            out["decided_by"] = answer.decided_by or None
        _print_json(out)
        return 0
    who = answer.user or "nobody"
    line = f"{schedule.name}: {who} on call"
    if answer.handoff:
        then = answer.next_user or "nobody"
        line += f" until {wall(answer.handoff, schedule)} ({zulu(answer.handoff)}), then {then}"
    print(visible(line))
    if args.explain:
        print(visible(_explain(schedule, answer.decided_by, at)))
    return 0


def _explain(schedule: Schedule, decided_by: str, at: datetime) -> str:
    when = wall(at, schedule)
    if decided_by == OVERRIDE:
        for o in reversed(schedule.overrides):
            if o.start <= at < o.end:
                span = f"from {wall(o.start, schedule)} to {wall(o.end, schedule)}"
                where = f"line {o.line}" if o.line else "recorded through the hub"
                return f"decided by an override: {o.user} {span} ({where})"
    if decided_by:
        layers = [layer.name for layer in schedule.layers]
        before = layers[: layers.index(decided_by)]
        tail = f" (no one in {', '.join(before)} at {when})" if before else ""
        return f"decided by layer {decided_by}{tail}"
    return f"no override and no layer has anyone at {when}"


def _range(args: argparse.Namespace, schedule: Schedule, days: int | None) -> tuple[datetime, datetime]:
    start = parse_when(args.start, schedule, "--from")
    if args.end is None and days is None:
        raise OncallRefused("shifts: say until when with --to TIME")
    end = parse_when(args.end, schedule, "--to") if args.end else start + timedelta(days=days or 0)
    if end <= start:
        raise OncallRefused("--to must come after --from")
    return start, end


def _shifts(args: argparse.Namespace, schedule: Schedule) -> int:
    start, end = _range(args, schedule, None)
    found = shifts(schedule, start, end)
    if args.json:
        _print_json([_shift_json(s) for s in found])
        return 0
    if not found:
        print(
            visible(f"{schedule.name}: nobody on call from {wall(start, schedule)} to {wall(end, schedule)}")
        )
    for s in found:
        print(visible(f"{wall(s.start, schedule)}  {wall(s.end, schedule)}  {s.user}  ({s.source})"))
    return 0


def _shift_json(shift: Shift) -> dict[str, str]:
    return {"user": shift.user, "start": zulu(shift.start), "end": zulu(shift.end), "source": shift.source}


def _export(args: argparse.Namespace, schedule: Schedule) -> int:
    from warroom.oncall.ical import calendar  # icalendar loads only for this command

    if not args.ical:
        raise OncallRefused("export: say the format: --ical")
    start, end = _range(args, schedule, EXPORT_DAYS)
    feed = calendar(schedule, shifts(schedule, start, end), datetime.now(UTC))
    if args.output:
        try:
            Path(args.output).write_bytes(feed)
        except OSError as exc:
            raise OncallRefused(f"cannot write {args.output}: {exc.strerror or exc}") from None
        return 0
    sys.stdout.flush()
    sys.stdout.buffer.write(feed)
    sys.stdout.buffer.flush()
    return 0


def _check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        file = load_oncall_file(path)
    except OncallFileError as exc:
        print(visible(str(exc)), file=sys.stderr)  # FILE:LINE: message, as an editor jumps to it
        return EXIT_USAGE
    if args.days < 1:
        raise OncallRefused("--days must be at least 1")
    start = parse_when(args.at, None, "--at")
    warnings: list[CheckWarning] = check(file, start, start + timedelta(days=args.days))
    for warning in warnings:
        print(visible(f"{path}:{warning.line}: warning: {warning.message}"))
    if warnings:
        return EXIT_WARNINGS
    print(visible(f"{path}: ok: {len(file.schedules)} schedules, {len(file.teams)} teams"))
    return 0
