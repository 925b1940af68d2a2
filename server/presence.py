"""Presence across hubs sharing a store: everyone in a room is listed, whichever hub they are on.

Each hub writes who is in each room through it (at a change, and again
before its word lapses) and reads what the other hubs wrote for the rooms
it serves. A hub that dies stops renewing, and its people drop off the
lists when its word lapses.
"""

from __future__ import annotations

import asyncio
import logging

from server import members
from server.rooms import Rooms
from server.store import EventStore, StorageError

log = logging.getLogger("warroom.hub")

EVERY = 0.5  # seconds between rounds: a join on another hub shows within about this
TTL = 15.0  # seconds a hub's word about a room holds without renewal
RENEW = TTL / 3


class SharedPresence:
    def __init__(self, store: EventStore, rooms: Rooms, hub_id: str) -> None:
        self.store = store
        self.rooms = rooms
        self.hub_id = hub_id
        self.changed: set[str] = set()  # rooms whose members here changed since the last round
        self._said: dict[str, float] = {}  # room -> when this hub last wrote its members there

    def mark(self, room_id: str) -> None:
        self.changed.add(room_id)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(EVERY)  # the round's period, not a wait for an event
            try:
                await self.round()
            except StorageError as exc:
                log.warning("presence not shared this round: %s", exc)
            except Exception:  # lists must keep updating: outlive any one bug
                log.exception("sharing presence failed")

    async def round(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = {r for r, at in self._said.items() if now - at >= RENEW} | self.changed
        self.changed = set()
        for room_id in due:
            room = self.rooms.loaded.get(room_id)
            here = room.people_here() if room is not None else []
            await self.store.save_presence(room_id, self.hub_id, here, TTL)
            if here:
                self._said[room_id] = now
            else:
                self._said.pop(room_id, None)
        served = [r.id for r in self.rooms.loaded.values() if r.members or r.elsewhere]
        if not served:
            return
        others = await self.store.presence(served, self.hub_id)
        for room_id in served:
            room = self.rooms.loaded.get(room_id)
            there = others.get(room_id, {})
            if room is not None and room.elsewhere != there:
                room.elsewhere = there
                members.presence_soon(room)

    async def leave_all(self) -> None:
        """At a clean stop: nobody is here any more, without waiting for the word to lapse."""
        for room_id in list(self._said):
            await self.store.save_presence(room_id, self.hub_id, [], TTL)
        self._said.clear()
