"""``warroom drill``: play a scenario (or a past incident) into a new drill incident, and debrief it.

``warroom drill SCENARIO`` declares a drill, prints its id first (one line, for
scripts), then plays the scenario's steps on its clock divided by ``--speed``:
alerts go through the hub's own HTTP intake, in Alertmanager or PagerDuty
shape, exactly as a monitoring system would send them; lines go in as
timeline entries. A broken scenario prints ``FILE:LINE: message`` and exits 2
before anything is declared.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from warroom.core.schema import format_time
from warroom.core.text import visible
from warroom.drills import (
    Scenario,
    ScenarioError,
    Step,
    debrief,
    load_scenario,
    render_debrief,
    replay_of,
    shipped,
)

HTTP_ENV = "WARROOM_HTTP"
EXIT_ERROR = 2


def add_parser(sub: Any) -> Any:
    """Register ``drill``; returns its parser, for the hub options."""
    drill = sub.add_parser(
        "drill",
        help="run a drill: SCENARIO (file or shipped name), replay INCIDENT, report INCIDENT; --list",
    )
    drill.add_argument(
        "target",
        nargs="*",
        metavar="SCENARIO | replay INCIDENT | report INCIDENT",
        help="a scenario file or a shipped scenario's name; or replay/report and an incident id",
    )
    drill.add_argument("--list", action="store_true", help="list the shipped scenarios")
    drill.add_argument("--speed", type=float, default=1.0, help="play this many times faster (default 1)")
    drill.add_argument("--json", action="store_true", help="report: the debrief as JSON")
    drill.add_argument(
        "--http", help=f"the hub's HTTP API URL for intake (default: ${HTTP_ENV}, else the hub's port + 1)"
    )
    return drill


class _Fail(Exception):
    """One line on stderr, exit 2."""


async def run(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    try:
        return await _run(args)
    except ScenarioError as err:
        print(visible(str(err)), file=sys.stderr)
        return EXIT_ERROR
    except _Fail as err:
        raise cli.UserError(str(err)) from None


async def _run(args: argparse.Namespace) -> int:
    if args.list:
        for name, path in shipped().items():
            scenario = load_scenario(path)
            print(visible(f"{name}  {scenario.severity}  {scenario.title}"))
        return 0
    target = args.target
    if not target:
        raise _Fail("name a scenario (file or shipped name), or replay/report INCIDENT; --list lists them")
    if args.speed <= 0:
        raise _Fail("--speed must be above 0")
    if target[0] in ("replay", "report"):
        if len(target) != 2:
            raise _Fail(f"drill {target[0]} takes one incident id")
        return await (_replay if target[0] == "replay" else _report)(args, target[1])
    if len(target) != 1:
        raise _Fail("drill takes one scenario")
    return await _play(args, _scenario(target[0]))


def _scenario(name: str) -> Scenario:
    path = Path(name)
    if not path.is_file():
        known = shipped()
        if name not in known:
            raise _Fail(
                f"no scenario file or shipped scenario {name!r}; shipped: {', '.join(known) or 'none'}"
            )
        path = known[name]
    return load_scenario(path)


def http_url(hub: str, given: str | None) -> str:
    """The HTTP API beside a ``ws://HOST:PORT`` hub: ``warroom serve`` puts it on PORT + 1."""
    if given := given or os.environ.get(HTTP_ENV):
        return given.rstrip("/")
    parts = urlsplit(hub.split(",")[0].strip())  # beside the first of several hubs
    scheme = "https" if parts.scheme == "wss" else "http"
    port = (parts.port or (443 if scheme == "https" else 80)) + 1
    return urlunsplit((scheme, f"{parts.hostname}:{port}", "", "", ""))


async def _play(args: argparse.Namespace, scenario: Scenario) -> int:
    import httpx  # here, not at the top: every warroom command would pay for its import

    from warroom.cli import main as cli
    from warroom.client import HubClient
    from warroom.config import client_settings
    from warroom.scenario_play import IntakeRefused, play

    data: dict[str, Any] = {"title": scenario.title, "severity": scenario.severity, "drill": True}
    if scenario.summary:
        data["summary"] = scenario.summary
    cli._checked("incident.declared", data)
    settings = client_settings(args.hub, args.token, args.name, args.ca)
    base = http_url(settings.hub, args.http)

    async def work(client: HubClient) -> int:
        room = (await client.send("incident.declared", data))["room"]
        print(room, flush=True)  # first, alone on its line: scripts join it

        async def say(step: Step, _when: str) -> None:
            await client.send("entry.added", {"text": step.text, "kind": step.kind}, room)

        headers = {"Authorization": f"Bearer {settings.token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            try:
                await play(scenario.steps, room, http, say, speed=args.speed)
            except IntakeRefused as err:
                raise _Fail(str(err)) from None
        cli._say(f"{room}: drill played, {len(scenario.steps)} steps")
        return 0

    return await cli._with_client(args, work)


async def _state(args: argparse.Namespace, incident: str) -> Any:
    from warroom.cli import main as cli
    from warroom.client import HubClient

    got: list[Any] = []

    async def work(client: HubClient) -> int:
        got.append((await client.join(incident, observe=True)).state)
        return 0

    await cli._with_client(args, work)
    return got[0]


async def _replay(args: argparse.Namespace, incident: str) -> int:
    return await _play(args, replay_of(await _state(args, incident)))


async def _report(args: argparse.Namespace, incident: str) -> int:
    from warroom.cli import main as cli

    report = debrief(await _state(args, incident), format_time(datetime.now(UTC)))
    if args.json:
        cli._json(report)
    else:
        cli._print_block(render_debrief(report))
    return 0
