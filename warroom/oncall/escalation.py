"""Escalation, worked out without sending anything: which pages go out when, and what stops them.

Pure. The hub's engine (server/escalation.py) and ``warroom escalate simulate``
share ``plan``: the hub sends what is due by its clock, the simulation walks
the whole plan. A ``schedule:`` target is resolved when its page goes out,
never when the trigger happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warroom.oncall.policies import EscalationPolicy

# A target ("schedule:platform", "team:payments", "user:erin") and the moment: the people it reaches.
Resolver = Callable[[str, datetime], list[str]]


@dataclass(frozen=True)
class Planned:
    """One page the policy would send: level is 1-based in the file's order, round 0 is the first run."""

    at: datetime
    level: int
    round: int
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    at: datetime
    level: int
    round: int
    targets: tuple[str, ...]
    notify: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "level": self.level,
            "round": self.round,
            "targets": list(self.targets),
            "notify": list(self.notify),
        }


@dataclass(frozen=True)
class Stop:
    at: datetime
    stopped_by: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "stopped_by": self.stopped_by}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(policy: EscalationPolicy, trigger: datetime, severity: str) -> list[Planned]:
    """Every page of every round for this severity, in time order (ties in the file's order)."""
    out = []
    for round_ in range(policy.repeat + 1):
        start = trigger + policy.every * round_
        for number, level in enumerate(policy.levels, start=1):
            if level.severities and severity not in level.severities:
                continue
            out.append(Planned(start + level.at, number, round_, level.notify))
    return sorted(out, key=lambda p: (p.at, p.round, p.level))


def resolve(targets: Iterable[str], at: datetime, resolver: Resolver) -> tuple[str, ...]:
    """The people the targets reach at ``at``, each once, in the targets' order."""
    seen: dict[str, None] = {}
    for target in targets:
        for person in resolver(target, at):
            seen.setdefault(person, None)
    return tuple(seen)


def simulate(
    policy: EscalationPolicy,
    trigger: datetime,
    severity: str,
    acks: Iterable[tuple[str, datetime]],
    resolver: Resolver,
) -> list[Page | Stop]:
    """The pages that would go out, and the stop when a person already paged acknowledges.

    An ack at the very instant of a page stops that page when its author was
    paged before; an ack by someone not (yet) paged changes nothing.
    """
    pending = sorted(acks, key=lambda a: a[1])
    paged: dict[str, datetime] = {}
    out: list[Page | Stop] = []

    def stop_before(moment: datetime | None) -> Stop | None:
        for name, at in pending:
            if moment is not None and at > moment:
                return None
            if name in paged and paged[name] <= at:
                return Stop(at, name)
        return None

    for planned in plan(policy, trigger, severity):
        stop = stop_before(planned.at)
        if stop is not None:
            return [*out, stop]
        notify = resolve(planned.targets, planned.at, resolver)
        out.append(Page(planned.at, planned.level, planned.round, planned.targets, notify))
        for person in notify:
            paged.setdefault(person, planned.at)
    stop = stop_before(None)
    return [*out, stop] if stop is not None else out


def file_resolver(raw: dict[str, Any], on_call: Callable[[str, datetime], str | None]) -> Resolver:
    """Targets resolved against the on-call file: teams to their members, schedules through
    ``on_call(schedule, at)`` (who is on call then, or None)."""
    teams = raw.get("teams", {}) if isinstance(raw.get("teams"), dict) else {}

    def resolver(target: str, at: datetime) -> list[str]:
        kind, _, name = target.partition(":")
        if kind == "user":
            return [name]
        if kind == "team":
            return [m for m in teams.get(name, []) if isinstance(m, str)]
        if kind == "schedule":
            person = on_call(name, at)
            return [person] if person else []
        return []

    return resolver
