"""When and how a room's snapshot is made, off the writer's path."""

from __future__ import annotations

import asyncio
import logging

from server.room import Room
from server.store import EventStore, StorageError
from warroom.core.reducer import fold
from warroom.core.state import IncidentState
from warroom.snapshots import dump_snapshot, load_snapshot

log = logging.getLogger("warroom.hub")


QUIET_AFTER = 5.0  # seconds without an event before a room behind its snapshot gets one
QUIET_BEHIND = 100  # events past its snapshot that make a quiet room worth one (a replay of fewer is cheap)


def snapshot_due(seq: int, last: int) -> bool:
    """Snapshot every 1,000 events, or every tenth of the log once it is larger.

    The geometric step keeps the cost of snapshotting a huge room constant per
    event, while a joining client never replays more than a tenth of its log.
    """
    return seq - last >= max(1000, seq // 10)


class Snapshots:
    """The snapshots being made, one at a time, each from the log rather than the live state."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._making: dict[str, asyncio.Task[None]] = {}  # room -> its snapshot being made
        self._quiet: dict[str, asyncio.TimerHandle] = {}  # room -> its snapshot once it is quiet
        self._slot = asyncio.Lock()
        self._closing = False

    def when_quiet(self, room: Room) -> None:
        """Snapshot ``room`` once nothing has happened in it for ``QUIET_AFTER`` seconds.

        A room of many alerts is snapshotted only far apart during a storm; the
        storm's tail would otherwise be replayed by every join until the next one.
        """
        if (timer := self._quiet.pop(room.id, None)) is not None:
            timer.cancel()
        self._quiet[room.id] = asyncio.get_running_loop().call_later(QUIET_AFTER, self._quiet_now, room)

    def _quiet_now(self, room: Room) -> None:
        self._quiet.pop(room.id, None)
        self.soon(room)

    def soon(self, room: Room) -> None:
        """Start a snapshot of what the log holds for ``room``, unless one is being made."""
        if room.id not in self._making:
            task = asyncio.create_task(self._from_log(room, room.state.seq))
            self._making[room.id] = task
            task.add_done_callback(lambda _: self._made(room))

    def _made(self, room: Room) -> None:
        """A room that moved on while its snapshot was made gets another once it is quiet."""
        self._making.pop(room.id, None)
        if not self._closing and room.state.seq - room.snapshot_seq >= QUIET_BEHIND:
            self.when_quiet(room)

    async def finish(self) -> None:
        """Wait for the snapshots being made; one that fails is only logged. Quiet ones are not made."""
        self._closing = True
        for timer in self._quiet.values():
            timer.cancel()
        self._quiet.clear()
        await asyncio.gather(*self._making.values(), return_exceptions=True)

    async def _from_log(self, room: Room, seq: int) -> None:
        """The room's state at ``seq``, folded in threads from its last snapshot and the log.

        The live state is never read while the writer changes it, and neither the
        writer nor the event loop waits: a room holding 20,000 alerts takes most of
        a second to encode, which on the loop stalled every caller each 1,000 events.
        """
        async with self._slot:  # one at a time: each holds a copy of its room's state
            await self._build(room, seq)

    async def _build(self, room: Room, seq: int) -> None:
        try:
            snap = await self.store.snapshot(room.id)
            state = IncidentState(room=room.id)
            if snap is not None:
                try:
                    state = await asyncio.to_thread(load_snapshot, snap[1])
                except (ValueError, KeyError, TypeError):  # an older format: fold the log from the start
                    state = IncidentState(room=room.id)
            while state.seq < seq:
                before = state.seq
                await self.store.read_then(
                    room.id, state.seq, min(5000, seq - state.seq), lambda page: fold(room.id, page, state)
                )
                if state.seq == before:
                    return  # the log holds less than it should: leave snapshots to a later batch
            blob = await asyncio.to_thread(dump_snapshot, state)
            await self.store.save_snapshot(room.id, state.seq, blob)
        except StorageError as exc:  # a missed snapshot costs replay time, not data
            log.warning("snapshot of %s failed: %s", room.id, exc)
            return
        room.snapshot_seq = max(room.snapshot_seq, state.seq)

    async def now(self, room: Room) -> None:
        """Snapshot the live state at once: only for a room the writer is not touching."""
        seq, blob = room.state.seq, dump_snapshot(room.state)
        try:
            await self.store.save_snapshot(room.id, seq, blob)
        except StorageError as exc:  # a missed snapshot costs replay time, not data
            log.warning("snapshot of %s failed: %s", room.id, exc)
            return
        room.snapshot_seq = max(room.snapshot_seq, seq)
