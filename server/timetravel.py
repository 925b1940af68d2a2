"""The hub's side of time travel: checkpoints kept along each log, and "the state at seq N" from them.

A checkpoint is the room's state after every ``CHECKPOINT_EVERY`` events
(further apart past ``FIXED_UNTIL``), folded from the log (never taken from
the live room) and stored compressed. Any hub sharing the store may make
one, and a checkpoint is only a cache of the log: one that is missing (a log
another hub or an older version wrote) or unreadable is made again from the
log before an answer needs it. So the state at N costs one checkpoint and
fewer than ``CHECKPOINT_EVERY`` events (a fortieth of a longer log).
"""

from __future__ import annotations

import asyncio
import logging

from server.room import Room
from server.store import EventStore, StorageError
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import Event
from warroom.core.reducer import fold
from warroom.core.state import IncidentState
from warroom.timetravel import Past, checkpoint_readable, pack_checkpoint, unpack_checkpoint

log = logging.getLogger("warroom.hub")

# Events between checkpoints, up to FIXED_UNTIL. At 2,500 the state at any point of a
# 100,000-event log is a checkpoint and at most 2,500 events: python bench/timetravel.py
# measured it at 0.24 s median, 0.79 s at worst on a loaded machine, where 5,000 took
# 0.37 s and 1.27 s, for half the stored checkpoints (28 MB against 14 MB).
CHECKPOINT_EVERY = 2500
FIXED_UNTIL = 100_000  # then the same share of the log apart: every / FIXED_UNTIL of it
PAGE = 5000  # events read at once while folding


def next_checkpoint(seq: int, every: int = CHECKPOINT_EVERY) -> int:
    """Where the first checkpoint after ``seq`` goes; every hub places them alike.

    Every ``every`` events up to ``FIXED_UNTIL``, then growing with the log
    (a fortieth of it, for 2,500): a fixed spacing would store a
    million-event log's state 400 times over, the growing one some 130
    times, and a reader still folds at most that share of the log.
    """
    at = every
    while at <= seq:
        at += _spacing(at, every)
    return at


def _spacing(at: int, every: int) -> int:
    return max(every, at * every // FIXED_UNTIL)


def last_checkpoint(seq: int, every: int = CHECKPOINT_EVERY) -> int:
    """Where the last checkpoint at or before ``seq`` goes; 0 when none does."""
    at, last = every, 0
    while at <= seq:
        at, last = at + _spacing(at, every), at
    return last


class History:
    """Checkpoints made off the writer's path, and the past of any room read from them and the log."""

    def __init__(self, store: EventStore, every: int = CHECKPOINT_EVERY) -> None:
        self.store = store
        self.every = every
        # One fill at a time, hub-wide: each holds a copy of a room's state, and a second
        # request for the same room finds the first one's checkpoints made when it gets in.
        self._slot = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- making checkpoints ----------------------------------------------------------

    def committed(self, room: Room, events: list[Event]) -> None:
        """A writer listener: a batch that passed a checkpoint's place gets that checkpoint made."""
        if self._closing or not events:
            return
        last = events[-1].seq
        if next_checkpoint(events[0].seq - 1, self.every) <= last:
            task = asyncio.create_task(self._fill_quietly(room.id, last))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fill_quietly(self, room_id: str, upto: int) -> None:
        try:
            await self.fill(room_id, upto)
        except StorageError as exc:  # a log that cannot be read now: a later reader makes them
            log.warning("checkpoints of %s failed: %s", room_id, exc)
        except Exception:  # a bug costs readers time, never the writer that started this
            log.exception("checkpoints of %s failed", room_id)

    async def finish(self) -> None:
        """Stop making checkpoints: the ones under way are dropped (the log still has it all)."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def fill(self, room_id: str, upto: int) -> None:
        """Make every checkpoint of ``room_id`` up to ``upto`` that is missing or unreadable.

        Folded in the store's reader threads from the newest readable
        checkpoint below, and encoded in a thread: neither the writer nor the
        event loop waits for it.
        """
        async with self._slot:
            state = await self._start(room_id, upto)

            def step(page: list[Event]) -> IncidentState:
                return fold(room_id, page, state)

            while (stop := next_checkpoint(state.seq, self.every)) <= upto:
                while state.seq < stop:
                    before = state.seq
                    await self.store.read_then(room_id, state.seq, min(PAGE, stop - state.seq), step)
                    if state.seq == before:
                        return  # the log holds less than it said: leave it to a later call
                blob = await asyncio.to_thread(pack_checkpoint, state)
                try:
                    await self.store.save_checkpoint(room_id, stop, blob)
                except StorageError as exc:  # a cache that cannot be written: readers fold a longer tail
                    log.warning("checkpoint %s@%d not saved: %s", room_id, stop, exc)
                    return

    async def _start(self, room_id: str, upto: int) -> IncidentState:
        """The newest readable checkpoint at or below ``upto``, decoded; an empty incident if none."""
        at_most = upto
        while (found := await self.store.checkpoint(room_id, at_most)) is not None:
            seq, blob = found
            if checkpoint_readable(blob):
                try:
                    return await asyncio.to_thread(unpack_checkpoint, blob)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning(
                        "checkpoint %s@%d unreadable (%s); made again from the log", room_id, seq, exc
                    )
            at_most = seq - 1
        return IncidentState(room=room_id)

    # -- reading the past --------------------------------------------------------------

    async def target(self, room_id: str, seq: int | None, at: str | None) -> tuple[int, int]:
        """The seq a request means, and the log's head; refuses a seq past the head or a time too early."""
        if seq is not None and at is not None:
            raise WarroomError(Code.INVALID_VALUE, "give seq or at, not both", "at")
        if seq is None and at is None:
            raise WarroomError(Code.MISSING_FIELD, "give seq (a point of the log) or at (a time)", "seq")
        record = await self.store.room(room_id)
        if record is None:
            raise unknown_room(room_id)
        head = record.head
        if seq is not None:
            if not 1 <= seq <= head:
                raise WarroomError(
                    Code.INVALID_VALUE, f"seq {seq} is outside {room_id}'s log (1..{head})", "seq"
                )
            return seq, head
        assert at is not None
        found = await self.store.seq_at(room_id, at)
        if found == 0:
            declared = record.summary.get("declared_at") or "its first event"
            raise WarroomError(
                Code.INVALID_VALUE, f"{at} is before {room_id} was declared ({declared})", "at"
            )
        return min(found, head), head

    async def past(self, room_id: str, seq: int | None = None, at: str | None = None) -> Past:
        """The room at ``seq``, or at its last event stamped at or before ``at``."""
        target, head = await self.target(room_id, seq, at)
        found = await self._readable(room_id, target)
        if (found[0] if found else 0) < last_checkpoint(target, self.every):
            await self.fill(room_id, target)  # a log from elsewhere, or an older version's checkpoints
            found = await self._readable(room_id, target)
        base_seq, base = (found[0], found[1][1:]) if found is not None else (0, None)
        events = await self.store.read_then(room_id, base_seq, target - base_seq, tuple)
        if len(events) != target - base_seq:
            raise WarroomError(
                Code.STORAGE_UNAVAILABLE, f"the log of {room_id} could not be read to {target}"
            )
        return Past(room_id, target, head, base_seq, base, events)

    async def _readable(self, room_id: str, at_most: int) -> tuple[int, bytes] | None:
        """The newest checkpoint at or below ``at_most`` in a format this version reads."""
        while (found := await self.store.checkpoint(room_id, at_most)) is not None:
            if checkpoint_readable(found[1]):
                return found
            at_most = found[0] - 1
        return None

    async def state_at(self, room_id: str, seq: int | None = None, at: str | None = None) -> IncidentState:
        """The state itself, decoded and folded in a thread (for the HTTP API)."""
        past = await self.past(room_id, seq, at)
        return await asyncio.to_thread(past.state)
