"""The on-call file as escalation needs it: its policies and a resolver for their targets.

The one place that reads the file for escalation, shared by ``warroom escalate``
and the hub's engine: the schedule core parses schedules and teams
(``parse_oncall``), the policies are parsed from the same TOML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warroom.oncall.escalation import Resolver, file_resolver
from warroom.oncall.model import OncallFile, OncallFileError
from warroom.oncall.policies import EscalationPolicy, PolicyError, parse_policies
from warroom.oncall.resolve import who_is_on_call
from warroom.oncall.schedules import parse_oncall


@dataclass(frozen=True)
class Escalations:
    path: Path
    oncall: OncallFile
    policies: dict[str, EscalationPolicy]
    resolver: Resolver


def load_escalations(path: Path) -> Escalations:
    """Raises ``PolicyError`` (``FILE:LINE: message``) for a file that cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(f"{path}:1: cannot read it: {reason}") from None
    try:
        oncall = parse_oncall(text, path)
    except OncallFileError as exc:
        raise PolicyError(str(exc)) from None
    policies = parse_policies(oncall.raw, text, str(path))

    def on_call(name: str, at: datetime) -> str | None:
        schedule = oncall.schedules.get(name)
        return who_is_on_call(schedule, at).user if schedule is not None else None

    return Escalations(path, oncall, policies, file_resolver(oncall.raw, on_call))
