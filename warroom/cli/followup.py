"""``warroom action``, ``warroom actions``, ``warroom services`` and ``warroom impact``.

Action items are named ``INCIDENT/A-n``; a bare ``A-n`` is looked up in the
incident summaries and taken only when exactly one incident has it. The list
across incidents reads the same summaries, so it never folds a log.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from datetime import UTC, date, datetime
from typing import Any

from warroom.client import HubClient
from warroom.core.events import ACTION_STATUSES, Event
from warroom.review import actions as items

EVENT_WAIT = 30.0  # seconds for the added item to reach this observer after the hub's ack


def add_parsers(sub: Any) -> list[Any]:
    """Register the commands; returns the parsers that talk to a hub, for the hub options."""
    action = sub.add_parser("action", help="action items: add one, mark one done, update one")
    verbs = action.add_subparsers(dest="action_command", required=True, parser_class=type(action))
    add = verbs.add_parser("add", help="add an action item to an incident; prints INCIDENT/A-n")
    add.add_argument("incident")
    add.add_argument("text", help="what is to be done")
    add.add_argument("--owner", help="who does it")
    add.add_argument("--due", metavar="YYYY-MM-DD", help="the day it is due")
    done = verbs.add_parser("done", help="mark an action item done (--at back-dates it)")
    done.add_argument("action", metavar="ID", help="INCIDENT/A-n, or A-n when one incident has it")
    done.add_argument("--at", metavar="TIME", help="when it was done (ISO time, UTC if no offset)")
    update = verbs.add_parser("update", help="change an action item's status, owner, due day or text")
    update.add_argument("action", metavar="ID", help="INCIDENT/A-n, or A-n when one incident has it")
    update.add_argument("--status", choices=ACTION_STATUSES)
    update.add_argument("--reason", help="why (needed for wont_do)")
    update.add_argument("--owner")
    update.add_argument("--due", metavar="YYYY-MM-DD")
    update.add_argument("--text")

    listing = sub.add_parser("actions", help="action items across incidents: still to do, overdue first")
    listing.add_argument("--owner", metavar="NAME", help="only this owner's")
    listing.add_argument("--overdue", action="store_true", help="only those past their due day")
    listing.add_argument("--all", action="store_true", help="done and won't-do items too")
    listing.add_argument("--now", metavar="DATE", help="judge overdue as of this day (default: today, UTC)")
    listing.add_argument("--json", action="store_true")

    services = sub.add_parser("services", help="set the services an incident touches (replaces the list)")
    services.add_argument("incident")
    services.add_argument("services", nargs="+", metavar="SERVICE")

    impact = sub.add_parser("impact", help="set the share of users hurt, 0 to 1 (commander only)")
    impact.add_argument("incident")
    impact.add_argument("fraction", type=_fraction, help="0 to 1, such as 0.3")
    impact.add_argument("--reason")
    return [add, done, update, listing, services, impact]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def moment(text: str, flag: str) -> datetime:
    """A day (``2026-12-01``, midnight UTC) or an ISO time (UTC when it has no offset)."""
    from warroom.cli.main import UserError

    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{flag}: {text!r} is not a date like 2026-12-01 or an ISO time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def today(given: str | None) -> date:
    return moment(given, "--now").astimezone(UTC).date() if given else datetime.now(UTC).date()


async def run(args: argparse.Namespace) -> int:
    if args.command == "actions":
        return await _list(args)
    if args.command == "services":
        return await _set(args, "incident.services_set", {"services": args.services})
    if args.command == "impact":
        data: dict[str, Any] = {"fraction": args.fraction}
        if args.reason:
            data["reason"] = args.reason
        return await _set(args, "incident.impact_set", data)
    if args.action_command == "add":
        return await _add(args)
    return await _update(args)


async def _set(args: argparse.Namespace, type_: str, data: dict[str, Any]) -> int:
    from warroom.cli import main as cli

    return await cli._send(args, type_, data)


async def _add(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    data: dict[str, Any] = {"text": args.text}
    for key in ("owner", "due"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    cli._checked("action.added", data)

    async def work(client: HubClient) -> int:
        view = await client.join(args.incident, observe=True)
        added: dict[int, str] = {}  # seq -> the id the core gave the item that event added
        heard = asyncio.Event()

        def on_event(room: str, event: Event) -> None:
            if room == args.incident and event.type == "action.added":
                added[event.seq] = next(reversed(view.state.actions))  # just applied: the newest
                heard.set()

        stop = client.listen_events(on_event)
        try:
            seq = (await client.send("action.added", data, args.incident))["seq"]
            while seq not in added:  # the ack can come before the event itself
                heard.clear()
                await asyncio.wait_for(heard.wait(), EVENT_WAIT)
        finally:
            stop()
        cli._say(f"{args.incident}/{added[seq]}")
        return 0

    return await cli._with_client(args, work)


async def _update(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    data: dict[str, Any] = {}
    if args.action_command == "done":
        data["status"] = "done"
        if args.at:
            data["at"] = args.at
    else:
        for key in ("status", "reason", "owner", "due", "text"):
            if getattr(args, key) is not None:
                data[key] = getattr(args, key)
        if not set(data) - {"reason"}:
            raise cli.UserError("say what changes: --status, --owner, --due or --text")
    incident, action = _split_ref(args.action)
    cli._checked("action.updated", {"action": action or "A-1", **data})

    async def work(client: HubClient) -> int:
        room, action_id = incident, action
        if room is None:
            try:
                room, action_id = items.resolve(args.action, await client.incidents())
            except items.ActionRefError as err:
                raise cli.UserError(str(err)) from None
        ack = await client.send("action.updated", {"action": action_id, **data}, room)
        what = "done" if data.get("status") == "done" else "updated"
        cli._say(f"{ack['room']} #{ack['seq']}: {action_id} {what}")
        return 0

    return await cli._with_client(args, work)


def _split_ref(ref: str) -> tuple[str | None, str | None]:
    """``INCIDENT/A-n`` split now; a bare ``A-n`` is looked up once connected: (None, None)."""
    from warroom.cli.main import UserError

    if "/" not in ref and items.is_action_id(ref):
        return None, None
    try:
        room, action = items.resolve(ref, ())
    except items.ActionRefError as err:
        raise UserError(str(err)) from None
    return room, action


async def _list(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    day = today(args.now)

    async def work(client: HubClient) -> int:
        rows = items.listing(
            await client.incidents(), day, owner=args.owner, overdue=args.overdue, closed=args.all
        )
        if args.json:
            cli._json([row.to_dict(day) for row in rows])
        else:
            cli._print_block(render(rows, day))
        return 0

    return await cli._with_client(args, work)


def render(rows: list[items.ActionRow], day: date) -> str:
    from warroom.cli.render import table

    if not rows:
        return "no action items"
    lines = [("ACTION", "STATUS", "OWNER", "DUE", "TEXT")]
    for row in rows:
        late = row.days_overdue(day)
        mark = f"{late}d OVERDUE " if late is not None else ""
        lines.append(
            (
                f"{row.incident}/{row.id}",
                row.status,
                row.owner or "-",
                row.due or "-",
                ("DRILL " if row.drill else "") + mark + row.text,
            )
        )
    return table(lines)
