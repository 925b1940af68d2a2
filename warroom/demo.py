"""The demo incident: a realistic SEV2, and a small scenario that keeps it moving.

It writes through the hub's own command path as a handful of named people and
bots would, so the demo shows exactly what a real room shows.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from server.hub import Hub
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.schema import format_time

RUNBOOK = "checkout-5xx"
CHECKLIST = [
    ("Confirm customer impact on the checkout dashboard", True),
    ("Page the payments on-call", True),
    ("Check the last deploy and feature flags", True),
    ("Roll back the last checkout deploy", False),
    ("Verify error rate is back under 1%", False),
    ("Post a status page update", False),
    ("Confirm with support that tickets have stopped", False),
    ("Schedule the post-mortem", False),
]
INSTANCES = ["checkout-api-7f9c4", "checkout-api-2b81d", "checkout-api-c55e0", "checkout-api-91aa3"]


async def seed(hub: Hub, me: str, now: datetime | None = None) -> str:
    """Declare the demo incident and fill it; returns its id."""
    started = (now or datetime.now(UTC)) - timedelta(minutes=23)

    async def do(actor: str, type_: str, data: dict[str, Any], room: str | None = None) -> dict[str, Any]:
        ack = await hub.execute(Command(new_id(), type_, data, room), actor)
        return ack.to_wire()

    def at(minutes: float) -> str:
        return format_time(started + timedelta(minutes=minutes))

    room = str(
        (
            await do(
                "maria",
                "incident.declared",
                {
                    "title": "Checkout API returning 502s in eu-west-1",
                    "severity": "SEV2",
                    "summary": "Elevated 502s on POST /checkout since the 2026.11.28-2 deploy.",
                },
            )
        )["room"]
    )
    await do("maria", "role.assigned", {"role": "comms", "name": "priya"}, room)
    await do("maria", "role.assigned", {"role": "scribe", "name": me}, room)
    for text, _ in CHECKLIST:
        await do("maria", "checklist.item_added", {"text": text, "runbook": RUNBOOK}, room)
    for fingerprint, instance in zip(("a1f0", "b2e1", "c3d2"), INSTANCES, strict=False):
        await _alert(hub, room, fingerprint, "HighErrorRate", "critical", instance, at(0))
    await _alert(hub, room, "d4c3", "LatencyP99High", "warning", INSTANCES[0], at(2))
    story = [
        ("alertmanager", "finding", 0, "HighErrorRate firing on 3 checkout-api pods (5xx 8.2%)"),
        ("maria", "action", 2, "Paged payments on-call; opened this room"),
        ("sam", "finding", 5, "502s come from the upstream pool: connection resets from payments-gateway"),
        ("sam", "finding", 9, "Deploy 2026.11.28-2 raised the gateway client timeout from 2s to 20s"),
        ("maria", "decision", 12, "Roll back checkout to 2026.11.28-1 rather than hotfix the timeout"),
        ("deploy-bot", "action", 14, "Rollback of checkout-api to 2026.11.28-1 started"),
        ("priya", "note", 16, "Support reports ~40 tickets about failed payments, all EU"),
    ]
    key_facts = ("Roll back checkout", "Deploy 2026.11.28-2")  # pinned: the room's key facts
    for actor, kind, minute, text in story:
        added = await do(actor, "entry.added", {"kind": kind, "text": text, "happened_at": at(minute)}, room)
        if text.startswith(key_facts):
            await do("maria", "entry.pinned", {"entry": added["seq"]}, room)
    state = await hub.settled_state(room)
    for item_id, (_, done) in zip(state.checklist, CHECKLIST, strict=True):
        if done:
            await do("maria", "checklist.item_checked", {"item": item_id, "checked": True}, room)
    await do(
        "priya",
        "status.broadcast",
        {
            "message": "Checkout is failing for about 8% of EU customers. "
            "We are rolling back the latest deploy.",
            "impact": "EU card payments",
            "next_update_in": 30,
        },
        room,
    )
    await do("maria", "incident.status_changed", {"status": "identified", "reason": "bad deploy"}, room)
    return room


async def _alert(
    hub: Hub,
    room: str,
    fingerprint: str,
    name: str,
    severity: str,
    instance: str,
    starts_at: str,
    status: str = "firing",
) -> None:
    data = {
        "fingerprint": fingerprint,
        "alertname": name,
        "status": status,
        "severity": severity,
        "labels": {
            "alertname": name,
            "severity": severity,
            "service": "checkout-api",
            "instance": instance,
            "region": "eu-west-1",
        },
        "annotations": {"summary": f"{name} on {instance}"},
        "starts_at": starts_at,
        "source": "alertmanager",
    }
    await hub.execute(Command(new_id(), "alert.upserted", data, room), "alertmanager", internal=True)


async def scenario(hub: Hub, room: str, rng: random.Random | None = None) -> None:
    """Alerts keep arriving, repeating and resolving while the demo runs."""
    rng = rng or random.Random()
    progress = 40
    while True:
        await asyncio.sleep(rng.uniform(2.0, 5.0))  # the pace of a real alert stream
        roll = rng.random()
        now = format_time(datetime.now(UTC))
        if roll < 0.5:
            n = rng.randrange(len(INSTANCES))
            await _alert(hub, room, f"e{n}", "HighErrorRate", "critical", INSTANCES[n], now)
        elif roll < 0.7:
            n = rng.randrange(len(INSTANCES))
            await _alert(
                hub, room, f"e{n}", "HighErrorRate", "critical", INSTANCES[n], now, status="resolved"
            )
        elif roll < 0.85 and progress < 100:
            progress = min(100, progress + 20)
            await hub.execute(
                Command(
                    new_id(),
                    "entry.added",
                    {"kind": "action", "text": f"Rollback of checkout-api {progress}% complete"},
                    room,
                ),
                "deploy-bot",
            )
        else:
            await _alert(hub, room, "f5", "PodCrashLooping", "warning", INSTANCES[rng.randrange(4)], now)
