"""The rooms a hub holds in memory, and every incident's listing as committed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from server.intake import HUB_ROOMS
from server.room import Room
from server.store import EventStore
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.reducer import fold
from warroom.core.state import IncidentState
from warroom.snapshots import load_snapshot

log = logging.getLogger("warroom.hub")

IDLE_ROOM = 600.0  # seconds a room with nobody in it stays in memory before it is unloaded


class Rooms:
    """Live rooms by id, loaded on first use and let go when idle."""

    def __init__(self, store: EventStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._clock = clock
        self.loaded: dict[str, Room] = {}
        # Every room's listing as committed, kept as batches commit: listing incidents, the
        # status page and counting rooms read this, never every row of the store.
        self.summaries: dict[str, dict[str, Any]] = {}
        self.heads: dict[str, int] = {}  # every room's head as this hub last saw it committed
        self._listing: list[dict[str, Any]] | None = None  # sorted; rebuilt after a change
        self.listing_version = 0  # bumped whenever an incident's listing changes

    async def get(self, room_id: str) -> Room:
        """The live room, loaded from its newest snapshot plus the tail of its log."""
        room = self.loaded.get(room_id)
        if room is not None:
            return room
        record = await self.store.room(room_id)
        if record is None:
            raise unknown_room(room_id)
        state, snap_seq = await self.committed_state(room_id)
        room = self.loaded.get(room_id)  # another task may have loaded it meanwhile
        if room is None:
            now = self._clock()
            room = Room(room_id, record.epoch, state, snapshot_seq=snap_seq, touched=now, loaded=now)
            self.loaded[room_id] = room
        return room

    async def create(self, wanted: str | None, new_rooms: dict[str, str], most: int) -> Room:
        """A new room for ``incident.declared``, counted against the hub's ``most`` incidents."""
        if wanted is not None:
            if wanted in self.loaded or await self.store.room(wanted) is not None:
                raise WarroomError(Code.ROOM_EXISTS, f"{wanted} already exists", field="room")
            room_id = wanted
        else:
            room_id = await self.store.reserve_room_id()
        if len(self.summaries) + len(new_rooms) >= most:
            raise WarroomError(Code.LIMIT_REACHED, f"this hub holds {most} incidents at most")
        room = Room(room_id, uuid.uuid4().hex, IncidentState(room=room_id), loaded=self._clock())
        self.loaded[room_id] = room
        new_rooms[room_id] = room.epoch
        return room

    async def rewind(self, rooms: Iterable[Room], new_rooms: dict[str, str]) -> None:
        """After a refused write, put each room's state back to what the log holds."""
        for room in rooms:
            if room.id in new_rooms:
                self.loaded.pop(room.id, None)
            else:
                room.state, room.snapshot_seq = await self.committed_state(room.id)

    def committed(self, summaries: dict[str, dict[str, Any]]) -> None:
        """Take in the listings of a batch's rooms once the log has it."""
        self.summaries.update(summaries)
        self._listing = None
        self.listing_version += 1

    async def committed_state(self, room_id: str) -> tuple[IncidentState, int]:
        """Fold the log from its newest snapshot: the state as the store holds it."""
        snap = await self.store.snapshot(room_id)
        state, snap_seq = IncidentState(room=room_id), 0
        if snap is not None:
            try:
                state, snap_seq = load_snapshot(snap[1]), snap[0]
            except (ValueError, KeyError, TypeError) as exc:  # an older format: the log is the truth
                log.warning("snapshot of %s unreadable (%s); folding the log from the start", room_id, exc)
        while True:
            page = await self.store.read(room_id, state.seq, 5000)
            fold(room_id, page, state)
            if len(page) < 5000:
                return state, snap_seq

    async def unload_idle(
        self, idle_for: float, quiet: Callable[[], bool], snapshot: Callable[[Room], Awaitable[None]]
    ) -> list[str]:
        """Unload rooms nobody is in and nothing has touched for ``idle_for`` seconds.

        A hub that runs for months would otherwise keep every incident it ever
        loaded. Each is snapshotted first, so loading it again costs a
        snapshot read, not a replay. Rooms with open offers stay, for the sweep.
        ``quiet`` says whether the writer has nothing queued or in flight.
        """
        unloaded: list[str] = []
        for room in list(self.loaded.values()):
            if room.members or room.state.offers or room.touched is None:
                continue
            if (self._clock() - room.touched).total_seconds() < idle_for:
                continue
            if not quiet():
                return unloaded  # the writer is busy; try again on the next sweep
            seq = room.state.seq
            if room.snapshot_seq < seq:
                await snapshot(room)
            # Only what is committed, untouched while the snapshot was written, is let go.
            settled = room.state.seq == seq == room.snapshot_seq and not room.members
            if settled and quiet():
                self.loaded.pop(room.id, None)
                unloaded.append(room.id)
        return unloaded

    def incidents(self) -> list[dict[str, Any]]:
        """Every incident's listing, from memory: sorted once per change, not once per request."""
        if self._listing is None:
            out = []
            for room_id, summary in self.summaries.items():
                if room_id in HUB_ROOMS:
                    continue  # the alert inbox and the on-call log are rooms, not incidents
                out.append({**summary, "id": summary.get("id", room_id), "people": 0})
            # open incidents first, the newest on top; resolved ones after, still readable
            out.sort(key=lambda s: s.get("declared_at") or "", reverse=True)
            out.sort(key=lambda s: s.get("status") == "resolved")
            self._listing = out
        listing = []
        for item in self._listing:
            room = self.loaded.get(item["id"])
            if room is not None and (room.members or room.elsewhere):  # only rooms people are in: few
                item = {**item, "people": len(room.present())}
            listing.append(item)
        return listing
