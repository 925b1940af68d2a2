"""Joining and leaving a room: its limits, presence frames, and how long each person has been gone.

Functions of a room and the hub's clock, so the hub and its writer share them
without either importing the other.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from server.limits import Limits
from server.room import OBSERVER, RESPONDER, Membership, Room, Subscriber
from warroom.core.errors import Code, WarroomError
from warroom.core.policy import Absence
from warroom.core.protocol import encode
from warroom.core.schema import format_time, parse_time

PRESENCE_DELAY = 0.05  # joins and leaves within this window share one presence frame


def admit(room: Room, member: Subscriber, kind: str, key: tuple[str, str], limits: Limits) -> None:
    """Refuse a join past the room's limits; a role holder always gets into their own room.

    Only responders count against ``members_per_room``, so nobody can fill a
    room by watching it; every kind counts against the per-token cap, so no
    one token can flood it either.
    """
    held = room.members.get(member)
    if held is not None and held.kind == kind:
        return  # already counted as this kind (an observer joining again as a responder is counted anew)
    if any(h.name == member.name for h in room.state.roles.values()):
        return
    if kind == RESPONDER:
        counted = sum(1 for how in room.members.values() if how.kind == RESPONDER)
        if counted >= limits.members_per_room:
            raise WarroomError(
                Code.LIMIT_REACHED, f"{room.id} is full: {limits.members_per_room} members", "room"
            )
    mine = sum(1 for how in room.members.values() if how.key == key)
    if mine >= limits.connections_per_token_per_room:
        raise WarroomError(
            Code.LIMIT_REACHED,
            f"this token has {limits.connections_per_token_per_room} connections in {room.id} already",
            "room",
        )


def join(room: Room, member: Subscriber, kind: str, key: tuple[str, str] | None, now: datetime) -> bool:
    """Add a live member; True when it is a responder's first join, which goes on the record."""
    room.touched = now
    room.members[member] = Membership(format_time(room.touched), kind, key or ("", member.name))
    if kind != OBSERVER:
        room.left.pop(member.name, None)
    presence_soon(room)  # an observer is not listed, but is sent the list
    return kind == RESPONDER and room.state.declared and member.name not in room.state.responders


def leave(room: Room, member: Subscriber, now: datetime) -> None:
    how = room.members.pop(member, None)
    if how is None:
        return
    room.touched = now
    if how.kind != OBSERVER:
        if member.name not in room.present():
            room.left[member.name] = room.touched
        presence_soon(room)


def absence(room: Room, now: datetime) -> Absence:
    """Seconds each person has been out of the room, by the hub's clock; None while in it.

    Someone never seen since the room was loaded counts as gone from then,
    and a role is never counted as abandoned from before it was given.
    """

    def absent_for(name: str) -> float | None:  # asked only for takeovers: no cost per command
        if name in room.present():
            return None
        since = room.left.get(name) or room.loaded or now
        holder = next((h for h in room.state.roles.values() if h.name == name), None)
        if holder is not None:
            since = max(since, parse_time(holder.since))
        return max(0.0, (now - since).total_seconds())

    return absent_for


def presence_soon(room: Room) -> None:
    """Send the room its member list, once per burst of joins and leaves, encoded once."""
    if room.presence_due:
        return
    room.presence_due = True

    def send() -> None:
        room.presence_due = False
        frame = encode(room.presence())
        for member in list(room.members):  # observers are told too; they are only not listed
            member.send_encoded(frame)

    asyncio.get_running_loop().call_later(PRESENCE_DELAY, send)
