"""The on-call file as escalation needs it: its policies and a resolver for their targets.

The one place that reads the file for escalation, shared by ``warroom escalate``
and the hub's engine. Schedules are resolved through the schedule core
(``warroom.oncall.schedules``) when the file has any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from warroom.oncall.escalation import Resolver, file_resolver
from warroom.oncall.policies import EscalationPolicy, PolicyError, load_policies


@dataclass(frozen=True)
class Escalations:
    path: Path
    policies: dict[str, EscalationPolicy]
    resolver: Resolver


def load_escalations(path: Path) -> Escalations:
    """Raises ``PolicyError`` (``FILE:LINE: message``) for a file that cannot be used."""
    policies, raw = load_policies(path)
    return Escalations(path, policies, file_resolver(raw, _on_call(path, raw)))


def _on_call(path: Path, raw: dict[str, Any]) -> Callable[[str, datetime], str | None]:
    """Who is on call for a schedule at a moment, by the schedule core; a file without
    schedules needs none of it."""
    if not raw.get("schedules"):
        return lambda name, at: None
    from warroom.oncall import schedules as core  # the schedule helper's module

    try:
        loaded = core.load_oncall_file(path)
    except core.OncallFileError as exc:
        raise PolicyError(str(exc)) from None

    def on_call(name: str, at: datetime) -> str | None:
        schedule = loaded.schedules.get(name)
        return core.who_is_on_call(schedule, at).user if schedule is not None else None

    return on_call
