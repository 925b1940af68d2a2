"""``warroom show INCIDENT --at TIME | --seq N``: the incident as it stood then.

The hub sends the nearest checkpoint at or below that point and the events
after it; this folds them with the reducer every client uses. Times are UTC:
a full ISO-8601 time (an offset is honoured, none means UTC), or a bare
``HH:MM[:SS]`` on the day the incident was declared.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, datetime, time

from warroom.client import HubClient
from warroom.core.schema import format_time, parse_time
from warroom.core.state import IncidentState

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


class BadTime(ValueError):
    """A ``--at`` that is not a time; its message is the one line the user sees."""


def add_options(show: argparse.ArgumentParser) -> None:
    when = show.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        metavar="TIME",
        help="as it stood at this UTC time: 2026-11-28T03:12:05Z, '2026-11-28 03:12', "
        "or 03:12 on the day it was declared",
    )
    when.add_argument("--seq", type=int, metavar="N", help="as it stood after event N of its log")


def wanted(args: argparse.Namespace) -> bool:
    return args.at is not None or args.seq is not None


def parse_at(text: str, declared_day: str | None) -> str:
    """``--at`` as a wire time; a bare clock time is on ``declared_day`` (YYYY-MM-DD, UTC)."""
    clock = _CLOCK.fullmatch(text.strip())
    if clock is not None:
        if declared_day is None:
            raise BadTime(f"--at {text}: give a date too (YYYY-MM-DDTHH:MM)")
        hour, minute, second = (int(part or 0) for part in clock.groups())
        try:
            moment = datetime.combine(
                datetime.fromisoformat(declared_day).date(), time(hour, minute, second), tzinfo=UTC
            )
        except ValueError:
            raise BadTime(f"--at {text}: not a time of day") from None
        return format_time(moment)
    try:
        return format_time(parse_time(text.strip()))
    except (ValueError, OverflowError):
        raise BadTime(f"--at {text}: not a time (try 2026-11-28T03:12:05Z or 03:12)") from None


async def past_state(client: HubClient, room: str, args: argparse.Namespace) -> tuple[IncidentState, str]:
    """The state the arguments ask for, and the moment it shows (to judge what was overdue then)."""
    if args.seq is not None:
        past = await client.past(room, seq=args.seq)
        state = await asyncio.to_thread(past.state)
        return state, state.updated_at or ""
    declared_day = None
    if _CLOCK.fullmatch(args.at.strip()):  # the declaration (seq 1) says which day is meant
        first = await asyncio.to_thread((await client.past(room, seq=1)).state)
        declared_day = (first.declared_at or "")[:10] or None
    at = parse_at(args.at, declared_day)
    past = await client.past(room, at=at)
    return await asyncio.to_thread(past.state), at
