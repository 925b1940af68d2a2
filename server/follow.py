"""Taking in what other hubs sharing the store committed.

The store's doorbell (``wait_changes``) says that something changed; the
rooms' heads say what. Events are always read from the log by seq, so a
missed ring costs a poll's delay, never an event. Rooms in memory are brought
up to the log and their members told; every follower (the alert index,
escalation) hears of every room's events, loaded or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from server.log_health import LogHealth
from server.rooms import Rooms
from server.store import EventStore, StorageError
from server.store.base import Change
from server.writer import Writer
from warroom.core.reducer import fold

log = logging.getLogger("warroom.hub")

POLL = 1.0  # seconds: the longest a change waits when the doorbell does not ring
PAGE = 5000


class LogFollower:
    def __init__(
        self,
        store: EventStore,
        rooms: Rooms,
        writer: Writer,
        stats: dict[str, int],
        health: LogHealth,
        hub_id: str,
    ) -> None:
        self.store = store
        self.health = health
        self.hub_id = hub_id
        self.rooms = rooms
        self.writer = writer
        self.stats = stats
        self.revision = 0

    async def start(self) -> None:
        self.revision = await self.store.revision()

    async def run(self) -> None:
        while True:
            try:
                await self.store.wait_changes(self.revision, POLL)
                await self.take_in()
            except StorageError as exc:  # the store is away: the next look tries again
                log.warning("following the log postponed: %s", exc)
                self.health.read(str(exc))
                await asyncio.sleep(POLL)  # a retry period, not a wait for an event
                continue
            except Exception:  # other hubs' events must keep arriving: outlive any one bug
                log.exception("following the log failed")
                await asyncio.sleep(POLL)
                continue
            self.health.read(None)
            if "write" in self.health.errors:  # a write with nothing in it says whether writes work again
                with contextlib.suppress(StorageError):
                    await self.store.lease(f"probe/{self.hub_id}", self.hub_id, POLL)
                    self.health.wrote(None)

    async def take_in(self) -> None:
        """Bring this hub up to every change since the last look."""
        revision, changes = await self.store.changes(self.revision)
        if changes:
            async with self.writer.lock:  # no batch of ours is half-applied while we apply theirs
                for change in changes:
                    await self._take(change)
        self.revision = revision

    async def _take(self, change: Change) -> None:
        known = self.rooms.heads.get(change.room, 0)
        if change.summary is not None and change.head > known:
            self.rooms.committed({change.room: change.summary})
        room = self.rooms.loaded.get(change.room)
        while known < change.head:
            events = await self.store.read(change.room, known, PAGE)
            if not events:
                break
            known = events[-1].seq
            self.stats["followed"] = self.stats.get("followed", 0) + len(events)
            # A room loaded since the change already holds some of them; followers hear of all.
            held = 0 if room is None else sum(1 for e in events if e.seq <= room.state.seq)
            if held:
                self.writer.follow(events[:held])
            if room is not None and held < len(events):
                fold(room.id, events[held:], room.state)
                self.writer.announce(room, events[held:])
            elif room is None:
                self.writer.follow(events)
        self.rooms.heads[change.room] = max(known, self.rooms.heads.get(change.room, 0))
