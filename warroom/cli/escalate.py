"""``warroom escalate simulate`` and ``warroom page ack``: escalation from the command line.

``simulate`` needs no hub: it reads the on-call file and prints every page a
policy would send, and the stop an acknowledgement makes; when a hub is named,
the overrides recorded there count too. Bad input is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from warroom.cli.followup import moment
from warroom.cli.oncall import OncallRefused as SchedulesMissing
from warroom.cli.oncall import schedules_path
from warroom.cli.oncall_hub import HubRefused, add_hub_options, with_hub
from warroom.core.events import SEVERITIES
from warroom.core.text import visible
from warroom.oncall.bundle import load_escalations
from warroom.oncall.escalation import Page, file_resolver, simulate
from warroom.oncall.policies import PolicyError
from warroom.oncall.resolve import who_is_on_call


def add_parsers(sub: Any) -> list[Any]:
    """``escalate simulate`` (no hub) and ``page ack`` (through the hub, which the caller wires)."""
    escalate = sub.add_parser("escalate", help="escalation policies: what would be paged, and when")
    esc_sub = escalate.add_subparsers(dest="escalate_command", required=True)
    sim = esc_sub.add_parser("simulate", help="print every page a policy would send, sending nothing")
    sim.add_argument("policy")
    sim.add_argument(
        "--at", required=True, metavar="TIME", help="the trigger's time (ISO; UTC without an offset)"
    )
    sim.add_argument("--severity", default="SEV2", choices=SEVERITIES)
    sim.add_argument(
        "--ack",
        action="append",
        default=[],
        metavar="NAME@TIME",
        help="someone acknowledges then (repeatable)",
    )
    sim.add_argument("--json", action="store_true")
    sim.add_argument(
        "--schedules",
        metavar="FILE",
        help="the on-call file: schedules, teams, policies (default: $WARROOM_SCHEDULES, else the config's)",
    )
    add_hub_options(sim)  # the hub's overrides count for schedule: targets, when a hub is named
    page = sub.add_parser("page", help="answer a page")
    page_sub = page.add_subparsers(dest="page_command", required=True)
    ack = page_sub.add_parser("ack", help="acknowledge the incident's page: its escalation stops")
    ack.add_argument("incident")
    return [ack, sim]


def run_simulate(args: argparse.Namespace) -> int:
    from warroom.cli.main import UserError

    at = moment(args.at, "--at")
    acks = []
    for given in args.ack:
        name, sep, when = given.rpartition("@")
        if not sep or not name:
            raise UserError(f"--ack: {given!r} is not NAME@TIME")
        acks.append((name, moment(when, "--ack")))
    try:
        path = schedules_path(args.schedules)  # the flag, $WARROOM_SCHEDULES, then the client config
    except SchedulesMissing as exc:
        raise UserError(str(exc)) from None
    try:
        loaded = load_escalations(path)
    except PolicyError as exc:
        raise UserError(str(exc)) from None
    try:
        oncall = with_hub(args, loaded.oncall, list(loaded.oncall.schedules))
    except HubRefused as exc:
        raise UserError(str(exc)) from None

    def on_call(name: str, at: datetime) -> str | None:
        schedule = oncall.schedules.get(name)
        return who_is_on_call(schedule, at).user if schedule is not None else None

    resolver = file_resolver(oncall.raw, on_call)
    policy = loaded.policies.get(args.policy)
    if policy is None:
        known = ", ".join(sorted(loaded.policies)) or "none"
        raise UserError(f"no policy {args.policy!r} in {path} (known: {known})")
    steps = simulate(policy, at, args.severity, acks, resolver)
    if args.json:
        print(json.dumps([step.to_json() for step in steps], indent=2))
        return 0
    for step in steps:
        shown = step.to_json()
        if isinstance(step, Page):
            people = ", ".join(step.notify) or "nobody"
            line = f"{shown['at']}  level {step.level}  {' '.join(step.targets)} → {people}"
            if step.round:
                line += f"  (repeat {step.round})"
        else:
            line = f"{shown['at']}  stopped: {step.stopped_by} acknowledged"
        print(visible(line))
    return 0


async def run_page_ack(args: argparse.Namespace) -> int:
    """Send ``page.acked``: the incident's escalation stops, on the record, under your name."""
    from warroom.cli.main import _say, _with_client
    from warroom.client import HubClient

    async def work(client: HubClient) -> int:
        ack = await client.send("page.acked", {}, args.incident)
        _say(f"{ack['room']} #{ack['seq']}: page acknowledged; escalation stops")
        return 0

    return await _with_client(args, work)
