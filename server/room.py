"""A live room: who is in it, how, and the incident state it serves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from server.intake import INBOX, ONCALL
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command
from warroom.core.state import IncidentState

ROOM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Subscriber(Protocol):
    """A room member: a websocket connection, or anything else that wants live events."""

    name: str

    def deliver(self, room: str, first: int, last: int, frame: bytes) -> None: ...

    def send_encoded(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


RESPONDER, VIEWER, OBSERVER = "responder", "viewer", "observer"


@dataclass(frozen=True, slots=True)
class Membership:
    """How one connection is in a room.

    A responder counts against the room's member limit; a viewer is listed but
    not counted; an observer (a CLI reading the room) is neither, and does not
    make its name present for takeovers either.
    """

    since: str
    kind: str  # RESPONDER, VIEWER or OBSERVER
    key: tuple[str, str]  # (token id, name): whose connections these are, for the per-room cap


@dataclass(eq=False)
class Room:
    id: str
    epoch: str
    state: IncidentState
    snapshot_seq: int = 0
    members: dict[Subscriber, Membership] = field(default_factory=dict)
    presence_due: bool = False
    touched: datetime | None = None  # by the hub's clock: the last command, join or leave
    loaded: datetime | None = None  # by the hub's clock: nobody's absence is known from before this
    left: dict[str, datetime] = field(default_factory=dict)  # name -> when their last connection left
    elsewhere: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # hub id -> who is in through it

    def present(self) -> set[str]:
        """Who is in the room, observers aside, through this hub or any other."""
        return {p["name"] for p in self.people()}

    def people_here(self) -> list[dict[str, Any]]:
        """Who is in the room through this hub: what it tells the other hubs."""
        return [
            {"name": m.name, "since": how.since} for m, how in self.members.items() if how.kind != OBSERVER
        ]

    def people(self) -> list[dict[str, Any]]:
        people = self.people_here()
        for there in self.elsewhere.values():
            people.extend(there)
        return people

    def presence(self) -> dict[str, Any]:
        return {"t": "presence", "room": self.id, "members": self.people()}


def check_room(command: Command, internal: bool) -> None:
    """Refuse a command naming no room, or one no incident may have: the inbox is the hub's own."""
    if command.room is None and command.type != "incident.declared":
        raise WarroomError(Code.MISSING_FIELD, "room is required", field="room")
    if command.room is not None and not ROOM_ID.match(command.room):
        raise WarroomError(Code.INVALID_VALUE, "room: not a valid incident id", field="room")
    if command.room == INBOX and command.type == "incident.declared" and not internal:
        raise WarroomError(Code.INVALID_VALUE, f"room: {INBOX!r} is reserved for the alert inbox", "room")
    if command.room == ONCALL and not internal:
        raise WarroomError(
            Code.INVALID_VALUE, f"room: {ONCALL!r} is the hub's on-call log, written by the hub", "room"
        )
