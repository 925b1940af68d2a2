"""The demo incident: the shipped drill scenario, played into a real-looking SEV2 with its people.

The alerts are the shipped scenario's and come through the hub's own HTTP
intake, so the shipped runbooks attach exactly as they would for real; the
people write through the hub's command path as a handful of named responders
would. The first part of the script is already told when the app opens; the
rest plays live, and then alerts keep repeating and resolving.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server.config import HubConfig
from server.runner import HubServer
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.schema import format_time
from warroom.drills import Step, load_scenario, shipped
from warroom.runbooks.library import shipped_dir as library_dir
from warroom.scenario_play import play, send_alert

SCENARIO = "checkout-errors"
TOLD = 100.0  # seconds of the script already played when the app opens
TITLE = "Checkout returning 5xx in eu-west-1"
SERVICES = ["checkout", "postgres"]
# What the people in the room said, with the script second they said it at.
STORY = [
    ("maria", "action", 10, "Paged payments and database on-call; opened this room"),
    ("sam", "finding", 50, "checkout-api logs: connection refused to db-1:5432"),
    ("priya", "note", 70, "Support reports ~40 tickets about failed payments, all EU"),
    ("maria", "decision", 95, "Fail over to replica db-2 rather than wait for db-1 to come back"),
]
PINNED = ("Fail over to replica db-2",)  # the room's key facts
# Steps already worked when the app opens: (runbook, step, who, skip reason or None).
WORKED = [
    ("high-error-rate", "dashboard", "sam", None),
    ("high-error-rate", "recent-deploys", "sam", "no deploy since yesterday"),
    ("database-failover", "confirm-down", "sam", None),
    ("database-failover", "decide", "maria", None),
]
INSTANCES = ["web-1", "web-2", "web-3", "web-4"]


def demo_config() -> HubConfig:
    """The embedded hub's: the shipped runbooks as its library."""
    return HubConfig(runbooks=library_dir())


@dataclass
class Demo:
    """A seeded demo room and what it needs to keep moving."""

    server: HubServer
    room: str
    zero: datetime  # the script's second 0
    rest: tuple[Step, ...]  # the script still to play

    def intake(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.server.token}"}
        return httpx.AsyncClient(base_url=self.server.http_url, headers=headers, timeout=10)

    async def do(self, actor: str, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        ack = await self.server.hub.execute(Command(new_id(), type_, data, self.room), actor)
        return ack.to_wire()

    async def say(self, step: Step, when: str) -> None:
        """The script's lines: the tech lead's findings, the comms lead's news from customers."""
        who = "sam" if step.kind == "finding" else "priya"
        await self.do(who, "entry.added", {"kind": step.kind, "text": step.text, "happened_at": when})

    async def run(self, rng: random.Random | None = None) -> None:
        """The rest of the script in real time, then a stream that never ends: cancel it."""
        rng = rng or random.Random()
        async with self.intake() as http:
            await play(self.rest, self.room, http, self.say, zero=self.zero, drill=False)
            progress = 20
            while True:
                await _pause(rng)
                roll = rng.random()
                now = format_time(datetime.now(UTC))
                if roll < 0.6:
                    labels = {"severity": "critical", "job": "checkout", "instance": rng.choice(INSTANCES)}
                    action = "fire" if roll < 0.4 else "resolve"
                    step = Step(0, action, "HighErrorRate", labels, {"summary": "checkout 5xx above 5%"})
                    await send_alert(http, step, now, self.room, drill=False)
                elif progress < 100:
                    progress = min(100, progress + 20)
                    text = f"Rebuild of db-1 as a replica {progress}% complete"
                    await self.do("db-bot", "entry.added", {"kind": "action", "text": text})


async def _pause(rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(2.0, 5.0))  # the pace of a real alert stream


async def seed(server: HubServer, me: str, now: datetime | None = None) -> Demo:
    """Declare the demo incident and tell the first part of its script; the hub needs the shipped runbooks."""
    script = load_scenario(shipped()[SCENARIO])
    zero = (now or datetime.now(UTC)) - timedelta(seconds=TOLD)
    told = tuple(s for s in script.steps if s.at <= TOLD)
    demo = Demo(server, "", zero, tuple(s for s in script.steps if s.at > TOLD))
    declared = await server.hub.execute(
        Command(
            new_id(),
            "incident.declared",
            {"title": TITLE, "severity": "SEV2", "summary": script.summary or "", "services": SERVICES},
        ),
        "maria",
    )
    demo.room = str(declared.to_wire()["room"])
    for role, name in (("tech", "sam"), ("comms", "priya"), ("scribe", me)):
        await demo.do("maria", "role.assigned", {"role": role, "name": name})
    async with demo.intake() as http:
        for step in told:
            await play((step,), demo.room, http, demo.say, zero=zero, drill=False)
            await server.runbooks.settled()  # what the alert attaches comes before the next line
    for actor, kind, second, text in STORY:
        when = format_time(zero + timedelta(seconds=second))
        added = await demo.do(actor, "entry.added", {"kind": kind, "text": text, "happened_at": when})
        if text.startswith(PINNED):
            await demo.do("maria", "entry.pinned", {"entry": added["seq"]})
    for runbook, step_id, who, skipped in WORKED:
        ref = {"runbook": runbook, "step": step_id}
        if skipped:
            await demo.do(who, "step.skipped", {**ref, "reason": skipped})
        else:
            await demo.do(who, "step.checked", ref)
    message = "Checkout is failing for about 8% of EU customers. We are failing the database over."
    broadcast = {"message": message, "impact": "EU card payments", "next_update_in": 30}
    await demo.do("priya", "status.broadcast", broadcast)
    identified = {"status": "identified", "reason": "database primary down"}
    await demo.do("maria", "incident.status_changed", identified)
    return demo
