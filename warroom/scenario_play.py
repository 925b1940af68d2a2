"""Playing a scenario's script into a room, as the monitoring systems and people in it would.

Alerts go through the hub's own HTTP intake in Alertmanager or PagerDuty
shape, so a drill or the demo exercises exactly the path real alerts take
(routing, runbook attachment, silences); lines go in through ``say``. Both
``warroom drill`` and ``warroom demo`` play their scenarios here.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from warroom.core.schema import format_time
from warroom.drills import Step

Say = Callable[[Step, str], Awaitable[None]]  # a "say" step and when it happened


class IntakeRefused(Exception):
    """The hub's intake refused a step or did not answer: the message says which and why."""


def _dedup(step: Step, room: str) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(step.labels.items()))
    return "drill-" + hashlib.sha256(f"{room}|{step.alertname}|{labels}".encode()).hexdigest()[:24]


def alert_body(step: Step, now: str, room: str, *, drill: bool = True) -> dict[str, Any]:
    """The body a monitoring system would send for this fire or resolve step.

    A drill's alerts carry its room (a ``drill`` label, or in PagerDuty's
    dedup key): the hub routes a known fingerprint to the room that already
    has it, and a drill must never re-fire a real incident's alert.
    """
    firing = step.action == "fire"
    if step.shape == "pagerduty":
        body: dict[str, Any] = {
            "routing_key": "warroom-drill",
            "event_action": "trigger" if firing else "resolve",
            "dedup_key": _dedup(step, room),
        }
        if firing:
            severity = step.labels.get("severity", "error")
            body["payload"] = {
                "summary": step.annotations.get("summary", step.alertname),
                "source": step.labels.get("instance", "warroom-drill"),
                "severity": severity if severity in ("critical", "error", "warning", "info") else "error",
                "class": step.alertname,
                "timestamp": now,
                # PagerDuty's shape has no free labels: these two are all that carry over
                **{k: step.labels[k] for k in ("component", "group") if k in step.labels},
            }
        return body
    labels = {**step.labels, "alertname": step.alertname}
    if drill:
        labels["drill"] = room
    alert = {
        "status": "firing" if firing else "resolved",
        "labels": labels,
        "annotations": step.annotations,
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z" if firing else now,
    }
    return {"version": "4", "status": alert["status"], "alerts": [alert]}


async def send_alert(http: httpx.AsyncClient, step: Step, now: str, room: str, *, drill: bool = True) -> None:
    """One fire or resolve step through the intake of the hub ``http`` points at."""
    path = "pagerduty" if step.shape == "pagerduty" else "alertmanager"
    body = alert_body(step, now, room, drill=drill)
    try:
        answer = await http.post(f"/api/v1/alerts/{path}", params={"incident": room}, json=body)
    except httpx.HTTPError as err:
        raise IntakeRefused(f"the hub's HTTP API at {http.base_url} did not answer: {err}") from None
    if answer.status_code >= 300:
        raise IntakeRefused(f"the hub refused {step.action} {step.alertname}: {answer.text[:300]}")


async def play(
    steps: Iterable[Step],
    room: str,
    http: httpx.AsyncClient,
    say: Say,
    *,
    zero: datetime | None = None,
    speed: float = 1.0,
    drill: bool = True,
) -> None:
    """Each step at ``zero`` + its time / ``speed``, stamped with that time.

    A step whose moment is already past plays at once, stamped in the past:
    the demo starts part-way into its script with that part already told.
    """
    zero = zero or datetime.now(UTC)
    for step in steps:
        moment = zero + timedelta(seconds=step.at / speed)
        wait = (moment - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)  # the script's clock, not a wait for an event
        stamp = format_time(moment)
        if step.action == "say":
            await say(step, stamp)
        else:
            await send_alert(http, step, stamp, room, drill=drill)
