"""The ``warroom`` command.

Every failure a user can cause (an unreachable hub, a bad token, an unknown
incident, a bad argument) ends in one line on stderr and exit status 2. What
it prints for people passes through ``visible``: incidents, names, alerts and
the hub's own messages are data, never terminal control. ``--json`` keeps the
exact strings (JSON escapes them). A reader that goes away (``| head``) ends
the command quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import orjson

from warroom import __version__
from warroom.cli import drill as drill_cli
from warroom.cli import followup as followup_cli
from warroom.cli import report as report_cli
from warroom.cli import runbook as runbook_cli
from warroom.cli import timetravel
from warroom.cli.render import (
    json_form,
    render_alert_groups,
    render_alerts,
    render_audit,
    render_config,
    render_incidents,
    render_state,
    render_tokens,
)
from warroom.client import CommandRejected, HubClient, HubUnavailable
from warroom.config import ConfigError, client_settings, default_db, load_file
from warroom.core.alert_groups import group_alerts, silenced_now
from warroom.core.errors import WarroomError
from warroom.core.events import ENTRY_KINDS, ROLES, SEVERITIES, STATUSES, validate_command
from warroom.core.matchers import Matcher, group_matchers, parse_matchers
from warroom.core.policy import assign_or_offer
from warroom.core.reducer import covered
from warroom.core.schema import format_time
from warroom.core.state import Alert, IncidentState, origin_title
from warroom.core.text import json_safe, visible

EXIT_USAGE = 2
MIN_HUB_TOKEN = 16  # characters; a generated token has 32
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


class UserError(Exception):
    """Ends the command with its message and exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {visible(message)}\n")  # it may quote the arguments


def _say(line: str, *, err: bool = False) -> None:
    """Print one line for people: every control character in it made visible, a newline too."""
    print(visible(line), file=sys.stderr if err else sys.stdout)


def _print_block(rendered: str) -> None:
    """Print a rendered table or incident (its fields were made visible one by one)."""
    print(visible(rendered, multiline=True))


def _json(value: Any) -> None:
    """Print exact data for scripts, inert on a terminal (``json_safe``).

    orjson, because a storm's 50,000 alerts take json's encoder half a second;
    it writes dataclasses (an ``Alert``) as the maps of their fields.
    """
    sys.stdout.flush()
    out = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    sys.stdout.buffer.write(json_safe(out) + b"\n")
    sys.stdout.buffer.flush()


class _VisibleFormatter(logging.Formatter):
    """Log lines quote the hub and the network: they obey the same rule as output."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record), multiline=True)


def _hub_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hub", help="hub URL, ws://HOST:PORT (default: $WARROOM_HUB)")
    parser.add_argument("--token", help="hub token (default: $WARROOM_TOKEN)")
    parser.add_argument(
        "--ca", help="CA bundle to verify a wss:// hub (default: $WARROOM_CA, else the system's)"
    )
    parser.add_argument(
        "--as", dest="name", metavar="NAME", help="who is acting (default: $WARROOM_NAME, then your login)"
    )


def _match_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--match",
        action="append",
        metavar="MATCHER",
        help=f"{verb} every alert these cover (Alertmanager syntax: name=value, !=, =~, !~; repeatable)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask first (needed without a terminal)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="warroom", description="A terminal war room for live incidents.")
    parser.add_argument("--version", action="version", version=f"warroom {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_serve_command, _incident_commands, _app_commands, _alert_commands, _admin_commands):
        add(sub)
    _record_commands(sub)
    _oncall_commands(sub)
    _store_commands(sub)
    from warroom.cli import ops as ops_cli  # running a hub: upgrades, backups, moving incidents

    for ops_parser in ops_cli.add_parsers(sub):
        _hub_options(ops_parser)
    return parser


def _store_commands(sub: Any) -> None:
    """Moving a hub's whole store between engines."""
    store = sub.add_parser("store", help="the hub's store: store copy moves it between SQLite and PostgreSQL")
    store_sub = store.add_subparsers(dest="store_command", required=True, parser_class=_Parser)
    copy = store_sub.add_parser(
        "copy", help="copy every table into an empty store, then check both logs match"
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="sqlite:PATH or postgresql://…"
    )
    copy.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="an empty store: sqlite:PATH or postgresql://…",
    )
    copy.add_argument("--password-file", help="a PostgreSQL password, if not in the URL or PGPASSWORD")


def _serve_command(sub: Any) -> None:
    """The hub itself."""
    serve = sub.add_parser("serve", help="run a hub")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="sync (websocket) port")
    serve.add_argument("--http-port", type=int, default=8766, help="HTTP API port")
    serve.add_argument(
        "--db", help=f"SQLite event log, and the signing secret beside it (default: {default_db()})"
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        help="the event log elsewhere: postgresql://USER@HOST/DB (several hubs may share it) or sqlite:PATH",
    )
    serve.add_argument("--token", help="shared token (default: $WARROOM_TOKEN, else generated)")
    serve.add_argument(
        "--insecure-token",
        action="store_true",
        help=f"accept a hub token under {MIN_HUB_TOKEN} characters (tests and demos only)",
    )
    serve.add_argument("--config", help="hub config file (TOML): severities, cadence, roles, sinks")
    serve.add_argument("--tls-cert", help="certificate chain (PEM): serve wss:// and https://")
    serve.add_argument("--tls-key", help="the certificate's private key (PEM)")
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text for people, json for a log pipeline: one object a line (default: the config's, else text)",
    )


def _incident_commands(sub: Any) -> None:
    """Declaring and moving an incident along, and writing to it."""
    declare = sub.add_parser("declare", help="declare an incident and print its id")
    declare.add_argument("title")
    declare.add_argument("--severity", default="SEV2", choices=SEVERITIES)
    declare.add_argument("--summary")
    declare.add_argument("--public", action="store_true", help="show it on the status page")
    declare.add_argument("--drill", action="store_true", help="a drill: kept off the status page and sinks")
    declare.add_argument(
        "--service", action="append", dest="services", metavar="S", help="a service it touches (repeatable)"
    )
    _hub_options(declare)

    status = sub.add_parser("status", help="move an incident along (commander only)")
    status.add_argument("incident")
    status.add_argument("status", choices=STATUSES)
    status.add_argument("--reason")
    _hub_options(status)

    severity = sub.add_parser("severity", help="change an incident's severity (commander only)")
    severity.add_argument("incident")
    severity.add_argument("severity", choices=SEVERITIES)
    severity.add_argument("--reason")
    _hub_options(severity)

    role = sub.add_parser("role", help="give a role (offered if someone holds it), or answer an offer")
    role.add_argument("incident")
    role.add_argument("role", choices=ROLES)
    role.add_argument("person", nargs="?", metavar="NAME", help="who gets the role")
    answer = role.add_mutually_exclusive_group()
    for flag, text in (
        ("--accept", "accept the role offered to you"),
        ("--decline", "turn the offer down"),
        ("--release", "leave the role empty"),
        ("--take-over", "take the role from a holder who is disconnected"),
    ):
        answer.add_argument(flag, action="store_true", help=text)
    _hub_options(role)

    broadcast = sub.add_parser("broadcast", help="send a status broadcast (commander or comms lead)")
    broadcast.add_argument("incident")
    broadcast.add_argument("message", help="what is happening")
    broadcast.add_argument("--impact", help="customer impact")
    broadcast.add_argument("--doing", help="what we are doing")
    broadcast.add_argument("--next-update", metavar="30m", type=_minutes, help="when the next update is due")
    _hub_options(broadcast)

    log_ = sub.add_parser("log", help="add a timeline entry; exits 0 once the hub has it")
    log_.add_argument("incident")
    log_.add_argument("text")
    log_.add_argument("--kind", default="note", choices=ENTRY_KINDS)
    _hub_options(log_)

    incidents = sub.add_parser("incidents", help="list incidents")
    incidents.add_argument("--json", action="store_true")
    _hub_options(incidents)


def _app_commands(sub: Any) -> None:
    """The terminal app, on a hub or an embedded demo one."""
    join = sub.add_parser("join", help="open the war room on an incident (a picker without one)")
    join.add_argument("incident", nargs="?")
    join.add_argument("--name", "--as", dest="name", metavar="NAME", help="your name in the room")
    join.add_argument("--hub", help="hub URL, ws://HOST:PORT (default: $WARROOM_HUB)")
    join.add_argument("--token", help="hub token (default: $WARROOM_TOKEN)")
    join.add_argument("--ca", help="CA bundle to verify a wss:// hub (default: $WARROOM_CA)")
    join.add_argument("--theme", help="colour theme (default: warroom-dark)")

    demo = sub.add_parser("demo", help="an embedded hub with a live example incident, and the app on it")
    demo.add_argument("--name", "--as", dest="name", metavar="NAME", help="your name in the room")
    demo.add_argument("--theme", help="colour theme (default: warroom-dark)")


def _alert_commands(sub: Any) -> None:
    """An incident's alerts: list, acknowledge, silence."""
    alerts = sub.add_parser(
        "alerts", help="an incident's alerts: one line per alertname, worst severity and newest first"
    )
    alerts.add_argument("incident")
    shape = alerts.add_mutually_exclusive_group()
    shape.add_argument("--all", action="store_true", help="one line per alert")
    shape.add_argument("--json", action="store_true", help="every field of every alert")
    _hub_options(alerts)

    ack = sub.add_parser("ack", help="acknowledge an alert, or every alert matchers cover: I am on it")
    ack.add_argument("incident")
    ack.add_argument(
        "fingerprint",
        nargs="?",
        help="the alert's fingerprint, a unique prefix of it, or its alertname (or use --match)",
    )
    _match_options(ack, "acknowledge")
    _hub_options(ack)

    silence = sub.add_parser(
        "silence", help="silence an alert, or every alert matchers cover (where it came from, too)"
    )
    silence.add_argument("incident")
    silence.add_argument(
        "fingerprint",
        nargs="?",
        help="the alert's fingerprint, a unique prefix of it, or its alertname (or use --match)",
    )
    silence.add_argument("--for", dest="duration", type=_minutes, metavar="2h", help="how long")
    silence.add_argument("--reason", help="why, for the timeline and the silence's comment")
    silence.add_argument("--room-only", action="store_true", help="do not touch Alertmanager")
    silence.add_argument("--expire", action="store_true", help="end the silence now")
    _match_options(silence, "silence")
    _hub_options(silence)


def _admin_commands(sub: Any) -> None:
    """Tokens, the audit log and the hub's config (admin)."""
    token = sub.add_parser("token", help="personal tokens: create, list, revoke (admin)")
    token_sub = token.add_subparsers(dest="token_command", required=True, parser_class=_Parser)
    create = token_sub.add_parser("create", help="issue a token bound to NAME; prints it once, on stdout")
    create.add_argument("token_name", metavar="NAME", help="whose token: events it signs carry this name")
    create.add_argument(
        "--scope",
        nargs="+",
        default=["all"],
        metavar="INCIDENT",
        help="incidents it may reach (default: all); metrics: may read /metrics, and no incident",
    )
    create.add_argument(
        "--role",
        "--level",
        dest="level",
        default="responder",
        choices=("viewer", "responder", "admin"),
        help="viewer reads; responder acts within the role rules; admin also manages tokens",
    )
    create.add_argument("--expires", default="90d", help="30d, 12h, 2w or never (default: 90d)")
    _hub_options(create)
    listing = token_sub.add_parser("list", help="every personal token, and whether it still works")
    listing.add_argument("--json", action="store_true")
    _hub_options(listing)
    revoke = token_sub.add_parser("revoke", help="revoke a token now; its open connections close")
    revoke.add_argument("token_id", metavar="ID")
    _hub_options(revoke)

    audit = sub.add_parser("audit", help="the audit log: sign-ins, refusals, admin actions (admin)")
    audit.add_argument("--since", default="24h", help="a duration back (1h, 7d) or a time (default: 24h)")
    audit.add_argument("--kind", help="only this kind, such as auth.rejected or permission.denied")
    audit.add_argument("--limit", type=int, default=1000, help="newest lines to show (default: 1000)")
    audit.add_argument("--json", action="store_true")
    _hub_options(audit)

    config = sub.add_parser("config", help="the hub's config: show it, or reload its file (admin)")
    config_sub = config.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    shown = config_sub.add_parser("show", help="the config in force: rules, limits, routes, sinks")
    shown.add_argument("--json", action="store_true")
    _hub_options(shown)
    reload = config_sub.add_parser("reload", help="read the hub's config file again and apply it")
    _hub_options(reload)


def _record_commands(sub: Any) -> None:
    """Reading an incident back, working its runbooks, drills, follow-up, reports and reviews."""
    show = sub.add_parser("show", help="print an incident's full state, now or as it stood then")
    show.add_argument("incident")
    show.add_argument("--json", action="store_true")
    timetravel.add_options(show)
    _hub_options(show)
    for runbook_parser in runbook_cli.add_parser(sub):
        _hub_options(runbook_parser)
    _hub_options(drill_cli.add_parser(sub))
    for followup_parser in followup_cli.add_parsers(sub):
        _hub_options(followup_parser)
    _hub_options(report_cli.add_parser(sub))
    step = sub.add_parser(
        "step", help="work a step of an attached runbook: check, uncheck, skip, assign, note"
    )
    step.add_argument("incident")
    step.add_argument("runbook", help="the attached runbook's id")
    step.add_argument("step", help="the step's id")
    doing = step.add_mutually_exclusive_group(required=True)
    doing.add_argument("--check", action="store_true", help="mark it done")
    doing.add_argument("--uncheck", action="store_true", help="open it again")
    doing.add_argument("--skip", metavar="REASON", help="skip it, saying why")
    doing.add_argument("--assign", metavar="NAME", help="give it to someone")
    doing.add_argument("--note", metavar="TEXT", help="add a note to it")
    _hub_options(step)
    from warroom.cli import postmortem as postmortem_cli  # the review document: its own module

    _hub_options(postmortem_cli.add_parser(sub))


def _oncall_commands(sub: Any) -> None:
    """Schedules, who is on call, escalation policies and pages: modules of their own."""
    from warroom.cli import oncall as oncall_cli

    for hub_parser in oncall_cli.add_parsers(sub):
        _hub_options(hub_parser)
    from warroom.cli import escalate as escalate_cli  # escalation policies and paging

    for page_parser in escalate_cli.add_parsers(sub):
        _hub_options(page_parser)


async def _with_client(args: argparse.Namespace, work: Callable[[HubClient], Awaitable[int]]) -> int:
    settings = client_settings(args.hub, args.token, args.name, args.ca)
    client = HubClient(settings.hub, settings.token, settings.name, ssl_context=settings.tls())
    await client.connect()
    try:
        return await _unless_dropped(client, work(client))
    finally:
        await client.close()


async def _unless_dropped(client: HubClient, work: Awaitable[int]) -> int:
    """``work``'s result, or HubUnavailable as soon as the hub closes the connection.

    The client keeps a command queued to resend it after a reconnect; a
    command-line run does not reconnect, so it must not wait for that.
    """
    dropped = asyncio.Event()

    def on_change(kind: str, _room: str | None) -> None:
        if kind == "connection" and client.state.status == "reconnecting":
            dropped.set()

    client.listen(on_change)
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(dropped.wait())
    await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    watch.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise HubUnavailable("the hub closed the connection before it answered")
    return task.result()


def _checked(type_: str, data: dict[str, Any]) -> None:
    """Refuse what the hub would refuse (too long, control characters) before connecting."""
    try:
        validate_command(type_, data)
    except WarroomError as err:
        raise UserError(err.message) from None


def _minutes(text: str) -> int:
    """``30m``, ``2h`` or ``45`` (minutes)."""
    match = re.fullmatch(r"(\d+)\s*([mh]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m or 2h")
    return int(match.group(1)) * (60 if match.group(2) == "h" else 1)


async def _send(args: argparse.Namespace, type_: str, data: dict[str, Any]) -> int:
    _checked(type_, data)

    async def work(client: HubClient) -> int:
        ack = await client.send(type_, data, args.incident)
        _say(f"{ack['room']} #{ack['seq']}")
        return 0

    return await _with_client(args, work)


async def _status(args: argparse.Namespace) -> int:
    data = {"status": args.status, **({"reason": args.reason} if args.reason else {})}
    return await _send(args, "incident.status_changed", data)


async def _severity(args: argparse.Namespace) -> int:
    data = {"severity": args.severity, **({"reason": args.reason} if args.reason else {})}
    return await _send(args, "incident.severity_changed", data)


async def _broadcast(args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"message": args.message}
    for key in ("impact", "doing"):
        if getattr(args, key):
            data[key] = getattr(args, key)
    if args.next_update:
        data["next_update_in"] = args.next_update
    return await _send(args, "status.broadcast", data)


async def _role(args: argparse.Namespace) -> int:
    answers = {
        "accept": "role.accepted",
        "decline": "role.declined",
        "release": "role.released",
        "take_over": "role.taken_over",
    }
    chosen = [type_ for flag, type_ in answers.items() if getattr(args, flag)]
    if chosen and args.person:
        raise UserError(f"give a name or {'/'.join('--' + f.replace('_', '-') for f in answers)}, not both")
    if chosen:
        return await _send(args, chosen[0], {"role": args.role})
    if not args.person:
        raise UserError("say who gets the role, or answer an offer with --accept or --decline")

    async def work(client: HubClient) -> int:
        view = await client.join(args.incident, observe=True)
        type_, data = assign_or_offer(view.state, args.role, args.person)
        ack = await client.send(type_, data, args.incident)
        verb = "offered to" if type_ == "role.offered" else "given to"
        _say(f"{ack['room']} #{ack['seq']}: {args.role} {verb} {args.person}")
        return 0

    return await _with_client(args, work)


def _find_alert(state: IncidentState, wanted: str, verb: str = "ack") -> str:
    """An alert by fingerprint, unique fingerprint prefix, or unique alertname.

    A name several alerts share is refused with the way to act on them all.
    """
    if wanted in state.alerts:
        return wanted
    found = [fp for fp, a in state.alerts.items() if fp.startswith(wanted) or a.alertname == wanted]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(f"no alert matches {wanted!r} in {state.room}")
    named = sum(1 for fp in found if state.alerts[fp].alertname == wanted)
    if named == len(found):
        offer = group_matchers(wanted, [])[0]
        raise UserError(
            f"more than one alert matches {wanted!r} in {state.room}: {named} alerts are named so; "
            f"to {verb} them all, pass --match '{offer}'"
        )
    raise UserError(f"more than one alert matches {wanted!r} in {state.room}; give more of the fingerprint")


def _target(args: argparse.Namespace) -> tuple[Matcher, ...] | None:
    """The matchers of ``--match``, parsed before connecting; None when one alert is named instead."""
    if args.match and args.fingerprint:
        raise UserError("name one alert or give --match, not both")
    if not args.match:
        if not args.fingerprint:
            raise UserError("name an alert (fingerprint, prefix or alertname), or give --match NAME=VALUE")
        return None
    try:
        return parse_matchers(args.match, "--match")
    except WarroomError as err:
        raise UserError(f"--match: {err.message}") from None


def _alert_line(alert: Alert) -> str:
    marks = [alert.status]
    if alert.acked_by:
        marks.append(f"acked by {alert.acked_by}")
    if alert.silenced_until and silenced_now(alert, format_time(datetime.now(UTC))):
        marks.append(f"silenced until {alert.silenced_until[11:16]}")
    return f"  {alert.fingerprint}  {alert.label}  ({', '.join(marks)})"


async def _confirm(args: argparse.Namespace, alerts: list[Alert], question: str) -> None:
    """Print what the matchers cover, then ask; without a terminal, only --yes goes on."""
    _say(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} in {args.incident} covered:")
    for alert in alerts:
        _say(_alert_line(alert))
    sys.stdout.flush()
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"not a terminal, so nothing was asked and nothing done: pass --yes to {question}")
    answer = await asyncio.to_thread(input, f"{question}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UserError("nothing done")


async def _alerts(args: argparse.Namespace) -> int:
    async def work(client: HubClient) -> int:
        state = (await client.join(args.incident, observe=True)).state
        now = datetime.now(UTC)
        groups = group_alerts(state.alerts.values(), now)  # the alert panel's order and counts
        if args.json:
            _json([a for g in groups for a in g.alerts])
        elif args.all:
            _print_block(render_alerts((a for g in groups for a in g.alerts), format_time(now)))
        else:
            _print_block(render_alert_groups(groups))
        return 0

    # A one-shot read of a room that may hold 50,000 alerts: the collector would walk
    # them again and again while the replay and the output make objects, and find
    # nothing to free (a third of the run).
    gc.disable()
    try:
        return await _with_client(args, work)
    finally:
        gc.enable()


async def _ack(args: argparse.Namespace) -> int:
    matchers = _target(args)

    async def work(client: HubClient) -> int:
        state = (await client.join(args.incident, observe=True)).state
        if matchers is None:
            fingerprint = _find_alert(state, args.fingerprint, "ack")
            ack = await client.send("alert.acknowledged", {"fingerprint": fingerprint}, args.incident)
            _say(f"{ack['room']} #{ack['seq']}: {fingerprint} acknowledged")
            return 0
        alerts = covered(state, matchers, ackable=True)
        if not alerts:
            raise UserError(
                f"the matchers cover no firing, unacknowledged alert in {args.incident}: nothing done"
            )
        await _confirm(args, alerts, f"acknowledge these {len(alerts)}")
        ack = await client.send("alerts.acknowledged", {"matchers": args.match}, args.incident)
        _say(f"{ack['room']} #{ack['seq']}: acknowledged {len(alerts)} alerts")
        return 0

    return await _with_client(args, work)


async def _silence(args: argparse.Namespace) -> int:
    if not args.expire and (not args.duration or not args.reason):
        raise UserError("say how long and why: --for 2h --reason TEXT (or --expire)")
    matchers = _target(args)
    if matchers is not None and args.expire:
        raise UserError("--expire ends one alert's silence; name the alert instead of --match")

    async def work(client: HubClient) -> int:
        state = (await client.join(args.incident, observe=True)).state
        upstream = client.alertmanager and not args.room_only
        if matchers is not None:
            return await _silence_matching(args, client, state, matchers, upstream)
        fingerprint = _find_alert(state, args.fingerprint, "silence")
        if args.expire:
            ack = await client.send("alert.unsilenced", {"fingerprint": fingerprint}, args.incident)
            _say(f"{ack['room']} #{ack['seq']}: silence on {fingerprint} ended")
            return 0
        data = {
            "fingerprint": fingerprint,
            "minutes": args.duration,
            "reason": args.reason,
            "upstream": upstream,
        }
        ack = await client.send("alert.silenced", data, args.incident)
        alert = client.rooms[args.incident].state.alerts[fingerprint]
        where = f" in {origin_title(alert.silence_origin)}"
        if alert.upstream_silence:
            where += f" (silence {alert.silence_id})"
        _say(f"{ack['room']} #{ack['seq']}: {fingerprint} silenced for {args.duration}m{where}")
        return 0

    return await _with_client(args, work)


async def _silence_matching(
    args: argparse.Namespace,
    client: HubClient,
    state: IncidentState,
    matchers: tuple[Matcher, ...],
    upstream: bool,
) -> int:
    alerts = covered(state, matchers)
    if not alerts:
        raise UserError(f"the matchers cover no alert in {args.incident}: nothing silenced")
    await _confirm(args, alerts, f"silence these {len(alerts)} for {args.duration}m")
    data = {"matchers": args.match, "minutes": args.duration, "reason": args.reason, "upstream": upstream}
    _checked("alerts.silenced", data)
    ack = await client.send("alerts.silenced", data, args.incident)
    now = client.rooms[args.incident].state.alerts
    places = sorted(
        {
            f"{origin_title(a.silence_origin)} (silence {a.silence_id})"
            for a in (now.get(x.fingerprint) for x in alerts)
            if a is not None and a.silence_origin is not None and a.silence_id
        }
    )
    where = " and in " + ", ".join(places) if places else " in the room only"
    _say(f"{ack['room']} #{ack['seq']}: silenced {len(alerts)} alerts for {args.duration}m{where}")
    return 0


async def _declare(args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"title": args.title, "severity": args.severity}
    if args.summary:
        data["summary"] = args.summary
    for flag in ("public", "drill"):
        if getattr(args, flag):
            data[flag] = True
    if args.services:
        data["services"] = args.services
    _checked("incident.declared", data)

    async def work(client: HubClient) -> int:
        ack = await client.send("incident.declared", data)
        _say(ack["room"])
        return 0

    return await _with_client(args, work)


async def _log(args: argparse.Namespace) -> int:
    return await _send(args, "entry.added", {"text": args.text, "kind": args.kind})


async def _incidents(args: argparse.Namespace) -> int:
    async def work(client: HubClient) -> int:
        items = await client.incidents()
        if args.json:
            _json(items)
        else:
            _print_block(render_incidents(items, format_time(datetime.now(UTC))))
        return 0

    return await _with_client(args, work)


async def _show(args: argparse.Namespace) -> int:
    async def work(client: HubClient) -> int:
        heading = None
        if timetravel.wanted(args):
            try:
                state, now, head = await timetravel.past_state(client, args.incident, args)
            except timetravel.BadTime as exc:
                raise UserError(str(exc)) from None
            heading = timetravel.heading(state, now, head)
        else:
            state = (await client.join(args.incident, observe=True)).state
            now = format_time(datetime.now(UTC))
        if args.json:
            _json(json_form(state))
        else:
            if heading is not None:
                _say(heading)
            _print_block(render_state(state, now))
        return 0

    return await _with_client(args, work)


async def _token(args: argparse.Namespace) -> int:
    async def work(client: HubClient) -> int:
        if args.token_command == "create":
            scope = args.scope if args.scope != ["all"] else None
            made = await client.admin(
                "token.create",
                {"name": args.token_name, "level": args.level, "scope": scope, "expires": args.expires},
            )
            reach = "every incident" if made["scope"] == "all" else ", ".join(made["scope"])
            _say(
                f"token {made['id']} for {made['name']}: {made['level']} on {reach}, "
                f"expires {made['expires_at'] or 'never'}. Shown once; the hub keeps no copy.",
                err=True,
            )
            _say(made["token"])
        elif args.token_command == "list":
            items = await client.admin("token.list")
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            if args.json:
                _json(items)
            else:
                _print_block(render_tokens(items, now))
        else:
            revoked = await client.admin("token.revoke", {"id": args.token_id})
            _say(f"revoked {revoked['id']} ({revoked['name']}); its open connections are closed")
        return 0

    return await _with_client(args, work)


async def _audit(args: argparse.Namespace) -> int:
    async def work(client: HubClient) -> int:
        query: dict[str, Any] = {"since": args.since, "limit": args.limit}
        if args.kind:
            query["kind"] = args.kind
        items = await client.admin("audit", query)
        if args.json:
            _json(items)
        else:
            _print_block(render_audit(items))
        return 0

    return await _with_client(args, work)


async def _config(args: argparse.Namespace) -> int:
    async def work(client: HubClient) -> int:
        if args.config_command == "reload":
            result = await client.admin("config.reload")
            changed = ", ".join(result["changed"]) or "nothing"
            _say(f"reloaded {result['config']['file']}; changed: {changed}")
        else:
            view = await client.admin("config.show")
            if args.json:
                _json(view)
            else:
                _print_block(render_config(view))
        return 0

    return await _with_client(args, work)


async def _store(args: argparse.Namespace) -> int:
    from server.store.copy import CopyRefused, copy

    try:
        copied = await copy(args.source, args.target, args.password_file)
    except CopyRefused as exc:
        raise UserError(f"store copy: {exc}") from None
    rows = copied.rows
    print(
        f"copied {rows['events']} events in {rows['rooms']} incidents, {rows['tokens']} tokens and "
        f"{rows['audit']} audit lines; both logs match (sha256 {copied.digest[:16]})"
    )
    return 0


async def _postmortem(args: argparse.Namespace) -> int:
    from warroom.cli import postmortem as postmortem_cli

    return await postmortem_cli.run(args)


async def _ops(args: argparse.Namespace) -> int:
    from warroom.cli import ops as ops_cli

    return await ops_cli.run(args)


def _serve(args: argparse.Namespace) -> int:
    from server.serve import run_serve

    return run_serve(
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        db=args.db or str(default_db()),
        store=args.store,
        token=_hub_token(args.token, args.insecure_token),
        config=args.config,
        tls=_tls_pair(args.tls_cert, args.tls_key),
        log_format=args.log_format,
    )


def _hub_token(given: str | None, insecure: bool) -> str | None:
    """The hub token from --token or $WARROOM_TOKEN (None: the hub makes one); a guessable one is refused."""
    where, token = ("--token", given)
    if given is None:
        where, token = ("WARROOM_TOKEN", os.environ.get("WARROOM_TOKEN"))
    if token is None:
        return None
    if not token.strip():
        raise UserError(f"{where} is empty; leave it unset and the hub makes a token")
    if len(token) < MIN_HUB_TOKEN and not insecure:
        raise UserError(
            f"{where} is {len(token)} characters; a hub token needs {MIN_HUB_TOKEN} or more "
            f"(make one with {MAKE_TOKEN}), or pass --insecure-token"
        )
    return token


def _tls_pair(cert: str | None, key: str | None) -> tuple[str, str] | None:
    if (cert is None) != (key is None):
        raise UserError("give both --tls-cert and --tls-key, or neither")
    return (cert, key) if cert is not None and key is not None else None


async def _runbook(args: argparse.Namespace) -> int:
    if args.runbook_command == "run":
        return await _runbook_run(args)
    return await _send(args, "runbook.attached", {"runbook": args.id})


async def _runbook_run(args: argparse.Namespace) -> int:
    """Run a step's command here: text from the local library, values from the room's alert.

    The room is read, then left while the command runs (a hub that goes
    away cannot cut a run short), then joined again to record the finding.
    """
    from warroom.cli import runbook_run as rr
    from warroom.runbooks.library import load_library

    try:
        library = load_library(runbook_cli.library_dir(args.library))
    except runbook_cli.UsageError as exc:
        raise UserError(str(exc)) from None
    chosen: list[tuple[str, str, str]] = []

    async def look(client: HubClient) -> int:
        state = (await client.join(args.incident, observe=True)).state
        runbook_id, step_id = rr.split_step(args.step, args.runbook, state)
        fingerprint = _find_alert(state, args.alert, "run with") if args.alert else None
        chosen.append((runbook_id, step_id, rr.prepare(state, library, runbook_id, step_id, fingerprint)))
        return 0

    try:
        await _with_client(args, look)
        runbook_id, step_id, command = chosen[0]
        _say(f"{runbook_id}/{step_id} in {args.incident} runs here, with /bin/sh -c:")
        for line in command.splitlines() or [""]:
            _say(f"  {line}")
        sys.stdout.flush()
        if args.dry_run:
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise UserError("not a terminal, so nothing was asked and nothing run: pass --yes to run it")
            answer = await asyncio.to_thread(input, "run it? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise UserError("nothing run")
    except rr.RunRefused as exc:
        raise UserError(str(exc)) from None

    def echo(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    outcome = await rr.run_local(command, args.timeout, echo)
    _say(f"{runbook_id}/{step_id}: {rr.result_line(outcome)}", err=True)
    text = rr.finding(runbook_id, step_id, command, outcome)
    note = rr.step_note(outcome)

    async def record(client: HubClient) -> int:
        await client.send("entry.added", {"kind": "finding", "text": text}, args.incident)
        await client.send("step.noted", {"runbook": runbook_id, "step": step_id, "text": note}, args.incident)
        return 0

    await _with_client(args, record)
    return rr.exit_status(outcome)


async def _step(args: argparse.Namespace) -> int:
    where = {"runbook": args.runbook, "step": args.step}
    if args.check or args.uncheck:
        return await _send(args, "step.checked", {**where, "checked": bool(args.check)})
    if args.skip is not None:
        return await _send(args, "step.skipped", {**where, "reason": args.skip})
    if args.assign is not None:
        return await _send(args, "step.assigned", {**where, "to": args.assign})
    return await _send(args, "step.noted", {**where, "text": args.note})


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "runbook": _runbook,
    "drill": drill_cli.run,
    "action": followup_cli.run,
    "actions": followup_cli.run,
    "services": followup_cli.run,
    "impact": followup_cli.run,
    "report": report_cli.run,
    "step": _step,
    "declare": _declare,
    "log": _log,
    "incidents": _incidents,
    "show": _show,
    "alerts": _alerts,
    "ack": _ack,
    "silence": _silence,
    "status": _status,
    "severity": _severity,
    "role": _role,
    "broadcast": _broadcast,
    "token": _token,
    "audit": _audit,
    "config": _config,
    "postmortem": _postmortem,
    "store": _store,
    **dict.fromkeys(("db", "backup", "restore", "export", "import"), _ops),
}


def _join(args: argparse.Namespace) -> int:
    from warroom.cli.tui import run_join

    settings = client_settings(args.hub, args.token, args.name, args.ca)
    return run_join(settings, args.incident, args.theme or load_file().get("theme"))


def _demo(args: argparse.Namespace) -> int:
    from warroom.cli.tui import run_demo

    name = args.name or os.environ.get("WARROOM_NAME") or load_file().get("name") or "you"
    return run_demo(name, args.theme or load_file().get("theme"))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): what it wanted it has. Later writes,
        # and the interpreter's flush at exit, go nowhere instead of failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "join":
            return _join(args)
        if args.command == "demo":
            return _demo(args)
        if args.command in ("escalate", "page"):
            from warroom.cli import escalate as escalate_cli

            if args.command == "escalate":
                return escalate_cli.run_simulate(args)
            return asyncio.run(escalate_cli.run_page_ack(args))
        if args.command == "runbook" and args.runbook_command not in ("attach", "run"):
            return runbook_cli.run(args)
        if args.command in ("oncall", "schedule"):
            from warroom.cli import oncall as oncall_cli

            return oncall_cli.run(args)
        return asyncio.run(COMMANDS[args.command](args))
    except (UserError, ConfigError, HubUnavailable) as exc:
        return _fail(str(exc))
    except CommandRejected as exc:
        return _fail(exc.error.message)
    except WarroomError as exc:  # refused here, before anything was sent
        return _fail(exc.message)
    except TimeoutError:
        return _fail("the hub did not answer in time")
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> int:
    print(f"warroom: {visible(message)}", file=sys.stderr)
    return EXIT_USAGE
