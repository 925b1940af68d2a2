"""``warroom show INCIDENT --at TIME | --seq N``: the incident as it stood then.

The hub sends the nearest checkpoint at or below that point and the events
after it; this folds them with the reducer every client uses. Times are UTC:
a full ISO-8601 time (an offset is honoured, none means UTC), or a bare
``HH:MM[:SS]`` on the day the incident was declared.
"""

from __future__ import annotations

import argparse
import asyncio

from warroom.client import HubClient
from warroom.core.state import IncidentState
from warroom.timetravel import is_clock_time, parse_moment


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


def heading(state: IncidentState, moment: str, head: int) -> str:
    """The line above a past incident, so it is never mistaken for the present."""
    when = moment[:19].replace("T", " ")
    return f"{state.room} as it stood at {when} UTC: after event {state.seq} of {head}"


async def past_state(
    client: HubClient, room: str, args: argparse.Namespace
) -> tuple[IncidentState, str, int]:
    """The state the arguments ask for, the moment it shows (to judge what was overdue then),
    and how long the log was when the hub read it."""
    if args.seq is not None:
        past = await client.past(room, seq=args.seq)
        state = await asyncio.to_thread(past.state)
        return state, state.updated_at or "", past.head
    day = None
    if is_clock_time(args.at):  # the declaration (seq 1) says which day is meant
        first = await asyncio.to_thread((await client.past(room, seq=1)).state)
        day = (first.declared_at or "")[:10] or None
    try:
        at = parse_moment(args.at, day)
    except ValueError as exc:
        raise BadTime(f"--at {exc}") from None
    past = await client.past(room, at=at)
    return await asyncio.to_thread(past.state), at, past.head
