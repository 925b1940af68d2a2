"""Who may do what in a room: the rules the hub enforces, whatever the client shows.

The hub's config can change the table; these are the defaults. A rule names
the roles allowed. While none of those roles is held, anyone may act, so a
room whose commander stepped away is never locked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.events import ROLE_TITLES, SEVERITIES
from warroom.core.state import IncidentState

DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "status.broadcast": ("commander", "comms"),
    "incident.severity_changed": ("commander",),
    "incident.status_changed": ("commander",),
    "incident.milestone_corrected": ("commander",),
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

    def to_wire(self) -> dict[str, Any]:
        """What clients need to show countdowns, warnings and severity meanings."""
        return {
            "permissions": {k: list(v) for k, v in self.permissions.items()},
            "cadence": dict(self.cadence),
            "commander_within": dict(self.commander_within),
            "meanings": {s: self.meanings.get(s, "") for s in SEVERITIES},
            "offer_expires_after": self.offer_expires_after,
        }


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
    present: frozenset[str] = frozenset(),
) -> None:
    """Refuse with ``forbidden`` (naming the role it needs) what ``actor`` may not do."""
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
        if holder.name in present:
            raise _refuse(f"{holder.name} is connected: ask them to offer the {title}", "role")


def assign_or_offer(state: IncidentState, role: str, name: str) -> tuple[str, dict[str, Any]]:
    """What "give ROLE to NAME" means now: fill an empty seat at once, or offer a held one."""
    holder = state.roles.get(role)
    if holder is None or holder.name == name:
        return "role.assigned", {"role": role, "name": name}
    return "role.offered", {"role": role, "to": name}
