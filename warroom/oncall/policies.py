"""Escalation policies (``[policies.*]`` in the on-call file): who is paged, when, and for what.

Pure: parses the TOML the on-call file already holds, names every unknown
user, team, schedule or sink, and reports errors as ``FILE:LINE: message``.

    [policies.payments]
    repeat = 1                     # run the levels again this many times if nobody acknowledges
    every = "45m"                  # a round's length (default: the last level's ``at`` + 15m)
    triggers = ["incident"]        # what starts it: "incident", "alert", "broadcast" (default: incident)
    services = ["checkout"]        # incidents touching one of these (default: any)
    severities = ["SEV1", "SEV2"]  # incidents of these severities (default: any)
    sinks = ["#pages"]             # the hub's sinks its pages go through (default: every sink)
    [[policies.payments.levels]]
    at = "0m"                      # offset from the trigger: "0m", "90s", "15m", "1h"
    notify = ["schedule:platform", "team:payments", "user:erin"]
    severities = ["SEV1"]          # optional: this level only for these severities
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from warroom.oncall.lines import Lines

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
TRIGGERS = ("incident", "alert", "broadcast")
TARGET_KINDS = ("schedule", "team", "user")
DEFAULT_GAP = timedelta(minutes=15)
REPEAT_MAX = 20
_OFFSET = re.compile(r"(\d{1,5})([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class PolicyError(Exception):
    """A policy cannot be used; the message is ``FILE:LINE: message``."""


@dataclass(frozen=True)
class Level:
    at: timedelta
    notify: tuple[str, ...]  # "schedule:X", "team:X", "user:X"
    severities: tuple[str, ...] = ()  # empty: every severity


@dataclass(frozen=True)
class EscalationPolicy:
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0
    every: timedelta = DEFAULT_GAP
    triggers: tuple[str, ...] = ("incident",)
    services: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ()  # empty: every sink

    def covers(self, trigger: str, severity: str, services: Iterable[str]) -> bool:
        """Whether this trigger (an incident of this severity touching these services) starts it."""
        if trigger not in self.triggers:
            return False
        if self.severities and severity not in self.severities:
            return False
        return not self.services or bool(set(self.services) & set(services))


def parse_offset(text: Any) -> timedelta | None:
    """``"15m"``, ``"90s"``, ``"1h"``, ``"2d"``; None when it is not one."""
    if not isinstance(text, str):
        return None
    found = _OFFSET.fullmatch(text.strip())
    return timedelta(seconds=int(found.group(1)) * _UNIT[found.group(2)]) if found else None


def known_names(raw: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """Users, teams and schedules the file names, read from its raw TOML."""
    teams = raw.get("teams", {})
    teams = teams if isinstance(teams, dict) else {}
    schedules = raw.get("schedules", {})
    schedules = schedules if isinstance(schedules, dict) else {}
    users: set[str] = set()
    for members in teams.values():
        if isinstance(members, list):
            users.update(m for m in members if isinstance(m, str))
    for schedule in schedules.values():
        if not isinstance(schedule, dict):
            continue
        for layer in schedule.get("layers", []) if isinstance(schedule.get("layers"), list) else []:
            if isinstance(layer, dict) and isinstance(layer.get("users"), list):
                users.update(u for u in layer["users"] if isinstance(u, str))
        for override in schedule.get("overrides", []) if isinstance(schedule.get("overrides"), list) else []:
            if isinstance(override, dict) and isinstance(override.get("user"), str):
                users.add(override["user"])
    return users, set(teams), set(schedules)


def parse_policies(
    raw: dict[str, Any], text: str = "", where: str = "policies"
) -> dict[str, EscalationPolicy]:
    """Every ``[policies.NAME]`` of the file, checked against its users, teams and schedules."""
    table = raw.get("policies", {})
    lines = Lines(text)
    if not isinstance(table, dict):
        raise PolicyError(f"{where}:{lines.key((), 'policies')}: policies must be a table ([policies.NAME])")
    users, teams, schedules = known_names(raw)
    return {name: _policy(name, body, lines, where, users, teams, schedules) for name, body in table.items()}


def check_sinks(policies: dict[str, EscalationPolicy], sinks: Iterable[str], where: str) -> None:
    """Refuse a policy that names a sink the hub does not have."""
    have = set(sinks)
    for policy in policies.values():
        for sink in policy.sinks:
            if sink not in have:
                known = ", ".join(sorted(have)) or "none"
                raise PolicyError(
                    f"{where}: policy {policy.name!r} names unknown sink {sink!r} (known: {known})"
                )


def _policy(
    name: str, body: Any, lines: Lines, where: str, users: set[str], teams: set[str], schedules: set[str]
) -> EscalationPolicy:
    path = ("policies", name)
    head = lines.table(path)

    def at(key: str) -> int:
        return lines.key(path, key)

    def fail(message: str, line: int = head) -> PolicyError:
        return PolicyError(f"{where}:{line}: policy {name!r}: {message}")

    if not isinstance(body, dict):
        raise fail("must be a table")
    unknown = set(body) - {"repeat", "every", "triggers", "services", "severities", "sinks", "levels"}
    if unknown:
        key = sorted(unknown)[0]
        raise fail(f"unknown setting {key!r}", at(key))
    repeat = body.get("repeat", 0)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 0 <= repeat <= REPEAT_MAX:
        raise fail(f"repeat is a count from 0 to {REPEAT_MAX}", at("repeat"))
    triggers = _names(body, "triggers", ["incident"], fail, at)
    for trigger in triggers:
        if trigger not in TRIGGERS:
            raise fail(
                f"unknown trigger {trigger!r} (one of {', '.join(TRIGGERS)})",
                at("triggers"),
            )
    severities = _names(body, "severities", [], fail, at)
    for severity in severities:
        if severity not in SEVERITIES:
            raise fail(f"unknown severity {severity!r}", at("severities"))
    levels_raw = body.get("levels")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise fail("needs at least one [[policies.NAME.levels]]")
    levels = []
    for n, item in enumerate(levels_raw):
        levels.append(_level(item, (*path, "levels"), n, lines, fail, users, teams, schedules))
    every_raw = body.get("every")
    last = max(level.at for level in levels)
    every = last + DEFAULT_GAP
    if every_raw is not None:
        given = parse_offset(every_raw)
        if given is None or given <= last:
            raise fail(
                "every is a round's length, after the last level's at, like \"45m\"",
                at("every"),
            )
        every = given
    return EscalationPolicy(
        name,
        tuple(levels),
        repeat,
        every,
        tuple(triggers),
        tuple(_names(body, "services", [], fail, at)),
        tuple(severities),
        tuple(_names(body, "sinks", [], fail, at)),
    )


def _level(
    item: Any,
    path: tuple[str, ...],
    n: int,
    lines: Lines,
    fail: Any,
    users: set[str],
    teams: set[str],
    schedules: set[str],
) -> Level:
    line = lines.table(path, n)

    def at_key(key: str) -> int:
        return lines.key(path, key, n)

    if not isinstance(item, dict):
        raise fail("a level must be a table", line)
    unknown = set(item) - {"at", "notify", "severities"}
    if unknown:
        key = sorted(unknown)[0]
        raise fail(f"unknown level setting {key!r}", at_key(key))
    at = parse_offset(item.get("at"))
    if at is None:
        raise fail(f'at {item.get("at")!r} is not an offset like "0m", "15m" or "1h"', at_key("at"))
    notify = item.get("notify")
    if not isinstance(notify, list) or not notify or not all(isinstance(t, str) for t in notify):
        raise fail(
            'notify is a list of targets like "schedule:X", "team:X", "user:X"',
            at_key("notify"),
        )
    for target in notify:
        kind, _, who = target.partition(":")
        known = {"schedule": schedules, "team": teams, "user": users}.get(kind)
        if known is None or not who:
            raise fail(f"target {target!r} is not schedule:X, team:X or user:X", at_key("notify"))
        if who not in known:
            raise fail(f"unknown {kind} {who!r}", at_key("notify"))
    severities = item.get("severities", [])
    if not isinstance(severities, list) or any(s not in SEVERITIES for s in severities):
        raise fail(f"severities is a list from {', '.join(SEVERITIES)}", at_key("severities"))
    return Level(at, tuple(notify), tuple(severities))


def _names(body: dict[str, Any], key: str, default: list[str], fail: Any, at: Any) -> list[str]:
    value = body.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(f"{key} is a list of names", at(key))
    return list(value)
