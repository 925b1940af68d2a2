"""Drills: scenario files and the debrief, both pure.

A scenario is a TOML file with a title, a severity and a script of timed
steps (fire or resolve an alert, say a timeline line). ``parse_scenario``
turns one into a ``Scenario`` or raises ``ScenarioError`` carrying
``FILE:LINE: message``, so a broken file starts nothing. ``debrief`` reads
an incident's state and measures how the team did; it does no I/O.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from warroom.core.events import ENTRY_KINDS, SEVERITIES
from warroom.core.schema import parse_time
from warroom.core.state import IncidentState

SHAPES = ("alertmanager", "pagerduty")
SAY_KINDS = ("note", "finding")  # what a scenario may say; a replay says any kind
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)?")


class ScenarioError(Exception):
    """A scenario that cannot run: its message is ``FILE:LINE: message``."""


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted moment: ``action`` is fire, resolve or say."""

    at: float  # seconds from the start
    action: str
    alertname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    shape: str = "alertmanager"
    text: str = ""
    kind: str = "note"


@dataclass(frozen=True, slots=True)
class Scenario:
    title: str
    severity: str
    summary: str | None
    expect_runbooks: tuple[str, ...]
    steps: tuple[Step, ...]  # in time order


def seconds(value: Any) -> float:
    """``30``, ``"45s"``, ``"2m"`` or ``"1h"`` as seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a time is a number of seconds or a text like 2m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a time cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            unit = {"s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]
            return float(match.group(1)) * unit
    raise ValueError(f"{value!r} is not a time like 30, '45s' or '2m'")


def _step_lines(text: str) -> list[int]:
    """The line number of each ``[[steps]]`` header, in order."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[steps]]")]


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{what} must be a table of strings")
    return dict(value)


def _alert(step: dict[str, Any], action: str, at: float) -> Step:
    body = step[action]
    if not isinstance(body, dict):
        raise ValueError(f"{action} must be a table with alertname, labels, annotations, shape")
    unknown = set(body) - {"alertname", "labels", "annotations", "shape"}
    if unknown:
        raise ValueError(f"{action} has an unknown key {sorted(unknown)[0]!r}")
    name = body.get("alertname")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{action} needs an alertname")
    shape = body.get("shape", "alertmanager")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    labels = _strings(body.get("labels"), f"{action}.labels")
    return Step(
        at,
        action,
        alertname=name,
        labels=labels,
        annotations=_strings(body.get("annotations"), f"{action}.annotations"),
        shape=shape,
    )


def _step(step: Any) -> Step:
    if not isinstance(step, dict):
        raise ValueError("a step must be a table")
    if "at" not in step:
        raise ValueError("a step needs 'at' (seconds from the start, or a text like 2m)")
    at = seconds(step["at"])
    actions = [key for key in ("fire", "resolve", "say") if key in step]
    if len(actions) != 1:
        raise ValueError("a step needs exactly one of fire, resolve or say")
    unknown = set(step) - {"at", "fire", "resolve", "say", "kind"}
    if unknown:
        raise ValueError(f"a step has an unknown key {sorted(unknown)[0]!r}")
    action = actions[0]
    if action != "say":
        return _alert(step, action, at)
    text, kind = step["say"], step.get("kind", "note")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("say needs a line of text")
    if kind not in SAY_KINDS or kind not in ENTRY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SAY_KINDS)}, not {kind!r}")
    return Step(at, "say", text=text, kind=kind)


def parse_scenario(text: str, name: str) -> Scenario:
    """A scenario from TOML text; ``name`` is the file's name for messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # tomllib ends its message with "(at line N, column M)"; newer Pythons also set lineno
        found = _AT_LINE.search(str(err))
        line = getattr(err, "lineno", None) or (int(found.group(1)) if found else 1)
        message = getattr(err, "msg", None) or _AT_LINE.sub("", str(err)).strip()
        raise ScenarioError(f"{name}:{line}: {message}") from None
    lines = _step_lines(text)
    try:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("a scenario needs a title")
        severity = data.get("severity")
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        summary = data.get("summary")
        if summary is not None and not isinstance(summary, str):
            raise ValueError("summary must be text")
        expect = data.get("expect_runbooks", [])
        if not isinstance(expect, list) or not all(isinstance(x, str) for x in expect):
            raise ValueError("expect_runbooks must be a list of runbook ids")
        raw = data.get("steps")
        if not isinstance(raw, list) or not raw:
            raise ValueError("a scenario needs at least one [[steps]]")
    except ValueError as err:
        raise ScenarioError(f"{name}:1: {err}") from None
    steps = []
    for index, item in enumerate(raw):
        try:
            steps.append(_step(item))
        except ValueError as err:
            line = lines[index] if index < len(lines) else 1
            raise ScenarioError(f"{name}:{line}: steps[{index}]: {err}") from None
    ordered = tuple(sorted(steps, key=lambda s: s.at))
    return Scenario(title, severity, summary, tuple(expect), ordered)


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}: cannot read it: {err}") from None
    return parse_scenario(text, str(path))


def shipped_dir() -> Path:
    """The shipped scenarios: ``warroom/scenarios`` in a wheel, ``scenarios/`` in a checkout."""
    packaged = Path(__file__).resolve().parent / "scenarios"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def shipped() -> dict[str, Path]:
    """The shipped scenarios by name (the file's stem)."""
    where = shipped_dir()
    return {p.stem: p for p in sorted(where.glob("*.toml"))} if where.is_dir() else {}


def _since(start: datetime | None, when: str | None) -> float | None:
    if start is None or when is None:
        return None
    return round((parse_time(when) - start).total_seconds(), 3)


def _first_ack(state: IncidentState) -> str | None:
    """The first alert acknowledged (a responder joining is not an acknowledgement here)."""
    return min((a.acked_at for a in state.alerts.values() if a.acked_at), default=None)


def _first_commander(state: IncidentState) -> str | None:
    """When someone other than the drill's driver (who declared it) first held the commander role."""
    terms = (t.since for t in state.role_terms if t.role == "commander" and t.name != state.declared_by)
    return next(terms, None)


def debrief(state: IncidentState, now: str) -> dict[str, Any]:
    """How a (drill) incident went, in seconds from its declaration; ``now`` judges overdue steps."""
    start = parse_time(state.declared_at) if state.declared_at else None
    steps = [s for rb in state.runbooks.values() for s in rb.steps.values()]
    first_broadcast = min((b.ts for b in state.broadcasts), default=None)
    unacked = sorted(
        (a.label for a in state.alerts.values() if a.acked_by is None and a.status == "firing"),
    )
    return {
        "incident": state.room,
        "title": state.title,
        "drill": state.drill,
        "declared_at": state.declared_at,
        "to_first_ack": _since(start, _first_ack(state)),
        "to_commander": _since(start, _first_commander(state)),
        "to_first_broadcast": _since(start, first_broadcast),
        "runbooks": sorted(state.runbooks),
        "steps": {
            "done": sum(s.state == "done" for s in steps),
            "skipped": sum(s.state == "skipped" for s in steps),
            "overdue": sum(s.overdue(now) for s in steps),
            "open": sum(s.state == "open" for s in steps),
        },
        "unacknowledged": unacked,
        "timeline": [
            {"ts": e.ts, "at": _since(start, e.ts), "kind": e.kind, "author": e.author, "text": e.text}
            for e in sorted(state.entries.values(), key=lambda e: e.id)
            if not e.struck
        ],
    }


def render_debrief(report: dict[str, Any]) -> str:
    """The debrief for people (the caller makes every line visible)."""

    def took(key: str) -> str:
        value = report[key]
        return "never" if value is None else f"{value:g}s"

    steps = report["steps"]
    lines = [
        f"{'DRILL ' if report['drill'] else ''}{report['incident']}: {report['title']}",
        f"  first acknowledgement  {took('to_first_ack')}",
        f"  commander              {took('to_commander')}",
        f"  first broadcast        {took('to_first_broadcast')}",
        f"  runbooks               {', '.join(report['runbooks']) or 'none'}",
        f"  steps                  {steps['done']} done, {steps['skipped']} skipped, "
        f"{steps['overdue']} overdue, {steps['open']} open",
        f"  unacknowledged alerts  {', '.join(report['unacknowledged']) or 'none'}",
        "  timeline:",
    ]
    for entry in report["timeline"]:
        at = "" if entry["at"] is None else f"+{entry['at']:g}s"
        lines.append(f"    {at:>8}  {entry['kind']:<8} {entry['author']}: {entry['text']}")
    return "\n".join(lines)


def replay_of(state: IncidentState) -> Scenario:
    """A past incident as a scenario: its alerts and its people's lines, on its own clock.

    Time zero is the earliest alert or the declaration; system lines are the
    hub's own and come back by themselves when the replayed events happen.
    """
    moments = [a.first_seen for a in state.alerts.values()]
    if state.declared_at:
        moments.append(state.declared_at)
    if not moments:
        raise ScenarioError(f"{state.room}: nothing to replay (no alerts and never declared)")
    zero = parse_time(min(moments))

    def at(when: str) -> float:
        return max(0.0, round((parse_time(when) - zero).total_seconds(), 3))

    steps: list[Step] = []
    for alert in state.alerts.values():
        labels = {k: v for k, v in alert.labels.items() if k not in ("alertname", "drill")}
        shape = "pagerduty" if alert.source == "pagerduty" else "alertmanager"
        name = alert.alertname
        fired = Step(at(alert.first_seen), "fire", name, labels, dict(alert.annotations), shape)
        steps.append(fired)
        if alert.status == "resolved":
            ended = max(fired.at, at(alert.ends_at or alert.last_seen))  # a sender's clock may be behind
            steps.append(Step(ended, "resolve", name, labels, shape=shape))
    for entry in state.entries.values():
        if entry.kind in ENTRY_KINDS and not entry.struck:
            steps.append(Step(at(entry.happened_at or entry.ts), "say", text=entry.text, kind=entry.kind))
    title = f"Replay: {state.title}"
    return Scenario(
        title,
        state.severity or "SEV3",
        state.summary,
        tuple(sorted(state.runbooks)),
        tuple(sorted(steps, key=lambda s: s.at)),
    )
