"""The on-call commands' side that talks to a hub: overrides recorded there, added, listed, removed.

When a hub is named (``--hub``, ``$WARROOM_HUB``, or ``hub`` in the config file),
``warroom oncall``, ``oncall shifts``/``export`` and ``escalate simulate`` fetch
the hub's overrides over its HTTP API and put them after the file's (so they
win, a later one first), as the hub itself does; without one, or with
``--no-hub``, they read the file alone. A hub that cannot be asked is one
line and exit 2, never a silent answer from the file alone.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from datetime import datetime
from typing import Any

from warroom.config import ClientSettings, client_settings, load_file
from warroom.core.text import visible
from warroom.oncall.model import OncallFile, Override


class HubRefused(Exception):
    """One line on stderr, exit 2."""


def add_hub_options(parser: argparse.ArgumentParser) -> None:
    """``--http`` and ``--no-hub``; the caller adds ``--hub``, ``--token``, ``--as`` and ``--ca``."""
    parser.add_argument(
        "--http", help="the hub's HTTP API URL (default: $WARROOM_HTTP, else the hub's port + 1)"
    )
    parser.add_argument(
        "--no-hub", action="store_true", help="the schedules file alone, even when a hub is configured"
    )


def hub_named(args: argparse.Namespace) -> bool:
    """Whether the caller named a hub to ask (the default hub address alone does not count)."""
    if getattr(args, "no_hub", False):
        return False
    return bool(args.hub or os.environ.get("WARROOM_HUB") or load_file().get("hub"))


def _settings(args: argparse.Namespace) -> ClientSettings:
    return client_settings(args.hub, args.token, args.name, args.ca)


def _request(args: argparse.Namespace, method: str, path: str, **kw: Any) -> dict[str, Any]:
    import httpx  # only commands that reach a hub pay for it

    from warroom.cli.drill import http_url

    settings = _settings(args)
    base = http_url(settings.hub, args.http)
    headers = {"Authorization": f"Bearer {settings.token}"}
    verify: Any = settings.tls() or True
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=10, verify=verify) as http:
            response = http.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise HubRefused(f"cannot reach the hub's HTTP API at {base}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not response.is_success:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise HubRefused(str(message or f"the hub answered {response.status_code}"))
    if not isinstance(body, dict):
        raise HubRefused("the hub's answer is not a JSON object")
    return body


def fetch_overrides(args: argparse.Namespace, schedule: str | None) -> list[dict[str, Any]]:
    params = {"schedule": schedule} if schedule else {}
    found = _request(args, "GET", "/api/v1/oncall/overrides", params=params).get("overrides")
    return [o for o in found if isinstance(o, dict)] if isinstance(found, list) else []


def with_hub(args: argparse.Namespace, file: OncallFile, names: list[str]) -> OncallFile:
    """The file with the hub's overrides of these schedules added after its own, when a hub is named."""
    if not hub_named(args):
        return file
    schedules = dict(file.schedules)
    for name in names:
        try:
            extra = tuple(_override(o) for o in fetch_overrides(args, name))
        except HubRefused as exc:
            if str(exc).startswith("no schedule") or "no on-call file" in str(exc):
                continue  # the hub does not know this schedule: it can hold no override of it
            raise HubRefused(f"{exc} (--no-hub reads the schedules file alone)") from None
        if extra and name in schedules:
            schedules[name] = replace(schedules[name], overrides=schedules[name].overrides + extra)
    return replace(file, schedules=schedules)


def _override(raw: dict[str, Any]) -> Override:
    try:
        start = datetime.fromisoformat(str(raw["from"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(raw["to"]).replace("Z", "+00:00"))
        return Override(str(raw["user"]), start, end, line=0)
    except (KeyError, ValueError) as exc:
        raise HubRefused(f"the hub sent an override this client cannot read: {exc}") from None


def run_override(args: argparse.Namespace) -> int:
    """``oncall override SCHEDULE NAME --from --to [--reason]``, ``oncall override --remove ID``."""
    if args.remove is not None:
        if args.subject or args.user:
            raise HubRefused("override --remove ID takes no schedule or name")
        if not args.remove.isdigit():
            raise HubRefused(
                f"--remove {args.remove!r}: an override id is a number (warroom oncall overrides)"
            )
        who = {"actor": _settings(args).name}
        gone = _request(args, "DELETE", f"/api/v1/oncall/overrides/{args.remove}", json=who)["removed"]
        print(visible(f"removed override #{gone['id']}: {gone['user']} on call for {gone['schedule']}"))
        return 0
    if not args.subject or not args.user:
        raise HubRefused("write: warroom oncall override SCHEDULE NAME --from TIME --to TIME [--reason TEXT]")
    if args.start is None or args.end is None:
        raise HubRefused("override: say when with --from TIME and --to TIME")
    body: dict[str, Any] = {"schedule": args.subject, "user": args.user, "from": args.start, "to": args.end}
    body["actor"] = _settings(args).name  # counts with the hub token only: a personal token names itself
    if args.reason is not None:
        body["reason"] = args.reason
    made = _request(args, "POST", "/api/v1/oncall/overrides", json=body)["override"]
    print(
        visible(
            f"override #{made['id']}: {made['user']} on call for {made['schedule']} "
            f"from {made['from']} to {made['to']}"
        )
    )
    return 0


def run_overrides(args: argparse.Namespace, as_json: Any) -> int:
    """``oncall overrides [SCHEDULE] [--json]``: what the hub holds, oldest first (a later one wins)."""
    found = fetch_overrides(args, args.subject)
    if args.json:
        as_json(found)
        return 0
    if not found:
        print(visible(f"no overrides recorded in the hub{' for ' + args.subject if args.subject else ''}"))
    for o in found:
        why = f"  {o['reason']}" if o.get("reason") else ""
        print(visible(f"#{o['id']}  {o['schedule']}  {o['user']}  {o['from']}  {o['to']}  by {o['by']}{why}"))
    return 0
