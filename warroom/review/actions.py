"""Action items across incidents, read from the hub's incident summaries.

The list, the overdue marks and the lookup of a bare ``A-n`` all read the
summaries every hub keeps, so none of them folds an incident's log. A summary
came over the network: a field of the wrong type counts as absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

OPEN = ("open", "in_progress")


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One action item, with the incident it belongs to."""

    incident: str
    id: str
    text: str
    owner: str | None
    due: str | None
    status: str
    done_at: str | None
    drill: bool

    def days_overdue(self, today: date) -> int | None:
        """Days past its due day while still to do, as of ``today``; None when it is not overdue."""
        due = _day(self.due)
        if self.status not in OPEN or due is None or due >= today:
            return None
        return (today - due).days

    def on_time(self) -> bool:
        """Done on or before its due day (UTC); done with no due day is on time."""
        if self.status != "done":
            return False
        return self.due is None or (self.done_at or "")[:10] <= self.due

    def to_dict(self, today: date) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "id": self.id,
            "text": self.text,
            "owner": self.owner,
            "due": self.due,
            "status": self.status,
            "done_at": self.done_at,
            "drill": self.drill,
            "days_overdue": self.days_overdue(today),
        }


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def of(summary: Mapping[str, Any]) -> list[ActionRow]:
    """An incident summary's action items, in the order they were added."""
    incident = str(summary.get("id", "?"))
    listed = summary.get("actions")
    rows = []
    for raw in listed if isinstance(listed, list) else ():
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        rows.append(
            ActionRow(
                incident=incident,
                id=raw["id"],
                text=_str(raw, "text") or "",
                owner=_str(raw, "owner"),
                due=_str(raw, "due"),
                status=_str(raw, "status") or "open",
                done_at=_str(raw, "done_at"),
                drill=summary.get("drill") is True,
            )
        )
    return rows


def overdue_count(summary: Mapping[str, Any], today: date) -> int:
    """How many of an incident's action items are past due (the picker's and the room's mark)."""
    return sum(row.days_overdue(today) is not None for row in of(summary))


def late_mark(count: int) -> str:
    """How the picker and the room's header say it: ``2 ACTIONS LATE``."""
    return f"{count} ACTION{'S' * (count != 1)} LATE"


def listing(
    summaries: Iterable[Mapping[str, Any]],
    today: date,
    *,
    owner: str | None = None,
    overdue: bool = False,
    closed: bool = False,
) -> list[ActionRow]:
    """Action items across incidents: still to do (``closed`` adds done and won't-do ones),
    of one owner, or only overdue; the most overdue first, then by due day, undated last."""
    rows = [
        row
        for summary in summaries
        for row in of(summary)
        if (closed or row.status in OPEN)
        and (owner is None or row.owner == owner)
        and (not overdue or row.days_overdue(today) is not None)
    ]
    rows.sort(key=lambda r: (r.due is None, r.due or "", r.incident, _number(r.id)))
    return rows


def is_action_id(text: str) -> bool:
    """``A-1``, ``A-2``, ...: the shape the core gives action items."""
    return _number(text) > 0


def _number(action_id: str) -> int:
    head, _, number = action_id.partition("-")
    return int(number) if head == "A" and number.isdigit() else 0


class ActionRefError(Exception):
    """An action id that names no item, or more than one."""


def resolve(ref: str, summaries: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """``INCIDENT/A-n`` as given, or a bare ``A-n`` that exactly one incident has: (incident, id).

    A bare id several incidents share is refused, naming them: a done mark on
    the wrong incident's item is worse than a second try.
    """
    incident, slash, action = ref.rpartition("/")
    if slash:
        if not incident or not is_action_id(action):
            raise ActionRefError(f"{ref!r} is not an action id like INC-3/A-2 or A-2")
        return incident, action
    if not is_action_id(ref):
        raise ActionRefError(f"{ref!r} is not an action id like INC-3/A-2 or A-2")
    having = sorted(
        {row.incident for summary in summaries for row in of(summary) if row.id == ref},
    )
    if not having:
        raise ActionRefError(f"no incident has an action item {ref}")
    if len(having) > 1:
        raise ActionRefError(
            f"{ref} is in {len(having)} incidents: {', '.join(having)}; say which, as {having[0]}/{ref}"
        )
    return having[0], ref
