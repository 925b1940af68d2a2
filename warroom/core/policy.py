"""Who may do what in a room: the rules the hub enforces, whatever the client shows.

The hub's config can change the table; these are the defaults. A rule names
the roles allowed. While none of those roles is held, anyone may act, so a
room whose commander stepped away is never locked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.events import ROLE_TITLES, SEVERITIES
from warroom.core.matchers import Matcher
from warroom.core.state import IncidentState

DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "status.broadcast": ("commander", "comms"),
    "incident.severity_changed": ("commander",),
    "incident.status_changed": ("commander",),
    "incident.milestone_corrected": ("commander",),
    "incident.impact_set": ("commander",),
    "review.updated": ("commander", "scribe"),
}
DEFAULT_CADENCE = {"SEV1": 15, "SEV2": 30, "SEV3": 60, "SEV4": 120}  # minutes between broadcasts
DEFAULT_COMMANDER_WITHIN = {"SEV1": 5, "SEV2": 15}  # minutes until a commander is required
DEFAULT_MEANINGS = {
    "SEV1": "Critical: a core service is down or data is at risk for many customers",
    "SEV2": "Major: a core feature is broken or badly degraded for some customers",
    "SEV3": "Minor: a degraded, non-core feature, or a workaround exists",
    "SEV4": "Low: cosmetic or internal impact",
}


@dataclass(frozen=True)
class Policy:
    permissions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    cadence: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CADENCE))
    commander_within: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_COMMANDER_WITHIN))
    meanings: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MEANINGS))
    offer_expires_after: int = 300  # seconds an unanswered role offer stays open
    takeover_after: int = 120  # seconds a role's holder must have been gone before it can be taken
    # Silences made in Alertmanager quiet alerts organisation-wide: how long, and which labels they name.
    silence_max_minutes: int = 24 * 60
    silence_must_match: tuple[str, ...] = ("alertname",)

    def to_wire(self) -> dict[str, Any]:
        """What clients need to show countdowns, warnings and severity meanings."""
        return {
            "permissions": {k: list(v) for k, v in self.permissions.items()},
            "cadence": dict(self.cadence),
            "commander_within": dict(self.commander_within),
            "meanings": {s: self.meanings.get(s, "") for s in SEVERITIES},
            "offer_expires_after": self.offer_expires_after,
            "takeover_after": self.takeover_after,
            "silences": {
                "max_minutes": self.silence_max_minutes,
                "must_match": list(self.silence_must_match),
            },
        }


# Seconds a person has been gone from the room, or None while they are in it.
Absence = Callable[[str], float | None]
EDITORS = ("commander", "scribe")  # who may edit or strike anyone's entry, besides its author


def _holds(state: IncidentState, actor: str, role: str) -> bool:
    holder = state.roles.get(role)
    return holder is not None and holder.name == actor


def _refuse(message: str, field: str | None = None) -> WarroomError:
    return WarroomError(Code.FORBIDDEN, message, field)


def authorize(
    state: IncidentState,
    actor: str,
    type_name: str,
    data: Mapping[str, Any],
    policy: Policy,
    absent_for: Absence = lambda name: float("inf"),
) -> None:
    """Refuse with ``forbidden`` (naming the role it needs) what ``actor`` may not do.

    ``absent_for`` tells how long a person has been out of the room (the hub
    knows; a takeover needs the holder gone for ``policy.takeover_after``).
    """
    if type_name in ("entry.edited", "entry.struck"):
        _may_rewrite(state, actor, type_name, data)
    allowed = policy.permissions.get(type_name, ())
    held = [r for r in allowed if r in state.roles]
    if held and not any(_holds(state, actor, r) for r in allowed):
        needed = " or the ".join(ROLE_TITLES[r] for r in allowed)
        raise _refuse(f"{type_name} needs the {needed}")
    commander = state.roles.get("commander")
    is_commander = commander is not None and commander.name == actor
    role = data.get("role")
    if not isinstance(role, str):
        return
    title = ROLE_TITLES.get(role, role)
    holder = state.roles.get(role)
    if type_name == "role.assigned":
        if holder is not None and holder.name != data["name"]:
            raise _refuse(f"{holder.name} holds the {title}: offer it to {data['name']} instead", "role")
        if data["name"] != actor and not is_commander and commander is not None:
            raise _refuse(f"only the incident commander assigns the {title} to someone else", "role")
    elif type_name == "role.released":
        if holder is not None and holder.name != actor and not is_commander:
            raise _refuse(f"only {holder.name} or the incident commander can release the {title}", "role")
    elif type_name == "role.offered":
        if not (
            is_commander
            or (holder is not None and holder.name == actor)
            or (commander is None and holder is None)
        ):
            who = (
                "the incident commander" if role == "commander" else f"the {title} or the incident commander"
            )
            raise _refuse(f"only {who} can offer it", "role")
    elif type_name in ("role.accepted", "role.declined"):
        offer = state.offers.get(role)
        if offer is not None and offer.to != actor:
            raise _refuse(f"the {title} was offered to {offer.to}, not to {actor}", "role")
    elif type_name == "role.taken_over":
        if holder is None:
            raise _refuse(f"nobody holds the {title}; claim it instead", "role")
        gone = absent_for(holder.name)
        if gone is None:
            raise _refuse(f"{holder.name} is connected: ask them to offer the {title}", "role")
        if gone < policy.takeover_after:
            wait = policy.takeover_after - gone
            raise WarroomError(
                Code.FORBIDDEN,
                f"{holder.name} was here {int(gone)}s ago: the {title} can be taken over after "
                f"{policy.takeover_after}s away, in {wait:.0f}s",
                "role",
                retry_after=round(wait, 3),
            )


def _may_rewrite(state: IncidentState, actor: str, type_name: str, data: Mapping[str, Any]) -> None:
    """An entry is edited or struck by its author, the commander or the scribe; the hub's lines by nobody.

    Striking marks a line as wrong on the record, as much a rewrite as an edit,
    so both follow one rule. The hub's own lines record changes of state; a
    wrong one is answered by a new change, not by rewriting the old.
    """
    entry = state.entries.get(data.get("entry", 0))
    if entry is None:
        return  # the reducer's check names the missing entry
    verb = "edit" if type_name == "entry.edited" else "strike"
    if entry.kind == "system":
        raise _refuse(f"the hub's own lines record what happened: nobody may {verb} them", "entry")
    if entry.author != actor and not any(_holds(state, actor, r) for r in EDITORS):
        raise _refuse(
            f"only {entry.author} (its author), the incident commander or the scribe may {verb} it", "entry"
        )


def assign_or_offer(state: IncidentState, role: str, name: str) -> tuple[str, dict[str, Any]]:
    """What "give ROLE to NAME" means now: fill an empty seat at once, or offer a held one."""
    holder = state.roles.get(role)
    if holder is None or holder.name == name:
        return "role.assigned", {"role": role, "name": name}
    return "role.offered", {"role": role, "to": name}


def check_upstream_silence(policy: Policy, minutes: int, matchers: Sequence[Matcher], field: str) -> None:
    """Refuse a silence upstream beyond the hub's bounds (admins are not asked).

    A silence that names too little, or lasts too long, would quiet far more
    than the alerts in view: each label in ``must_match`` needs a matcher of
    the form ``name=value`` with a value.
    """
    if minutes > policy.silence_max_minutes:
        raise _refuse(
            f"an upstream silence lasts {policy.silence_max_minutes} minutes at most on this hub; "
            "ask an admin for longer",
            "minutes",
        )
    named = {m.name for m in matchers if m.op == "=" and m.value}
    missing = [name for name in policy.silence_must_match if name not in named]
    if missing:
        raise _refuse(
            f"every upstream silence must match {', '.join(missing)} exactly (name=value) on this hub; "
            "ask an admin",
            field,
        )
