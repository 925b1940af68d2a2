"""The single writer: commands queued, sequenced in batches, committed, then acknowledged and fanned out.

Nothing is told before the log has it. Several hubs may share one store: a
batch carries the head it saw of each room, and when another hub wrote first
the store refuses it whole (``Behind``); the writer takes in what the other hub
wrote, tells this hub's members, and validates the batch again against it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from server import snapshotting
from server.limits import Limits
from server.members import absence
from server.room import Room
from server.rooms import Rooms
from server.snapshotting import Snapshots, snapshot_due
from server.store import EventStore, StorageError
from server.store.base import Behind
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command, Event
from warroom.core.policy import Policy, authorize
from warroom.core.protocol import Close, encode
from warroom.core.reducer import apply, check, fold
from warroom.core.schema import format_time

log = logging.getLogger("warroom.hub")

MAX_BATCH = 512
RETRIES = 8  # batches validated again after another hub wrote first, before the batch is refused

Follower = Callable[[list[Event]], None]  # told of every committed event, whichever hub wrote it


@dataclass(frozen=True, slots=True)
class Ack:
    id: str
    room: str
    seq: int
    duplicate: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "room": self.room, "seq": self.seq, "duplicate": self.duplicate}


class Rules(Protocol):
    """The role rules and limits in force; a reload replaces them between commands."""

    policy: Policy
    limits: Limits


@dataclass(slots=True)
class _Pending:
    command: Command
    data: dict[str, Any]
    actor: str
    future: asyncio.Future[Ack]
    internal: bool = False
    digest: str = ""  # of the command as sent, to tell a resend from an id reused for something else
    fixed_id: bool = False  # an internal command whose id names its decision: it may have been made before


class Writer:
    """The queue and the one task that turns it into committed, acknowledged events."""

    def __init__(
        self,
        store: EventStore,
        rooms: Rooms,
        snapshots: Snapshots,
        rules: Rules,
        clock: Callable[[], datetime],
        listeners: list[Callable[[Room, list[Event]], None]],
        followers: list[Follower],
        stats: dict[str, int],
        health: Callable[[str | None], None] = lambda error: None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.snapshots = snapshots
        self.rules = rules
        self._clock = clock
        self.listeners = listeners  # told of each batch this hub commits: work done once per event
        self.followers = followers  # told of every room's events, this hub's and other hubs'
        self.lock = asyncio.Lock()  # held while room states may run ahead of the log
        self.health = health  # told whether the log takes writes: None, or why not
        self.stats = stats
        self._pending: asyncio.Queue[_Pending] = asyncio.Queue()
        self._inflight: dict[str, _Pending] = {}  # by command id, until settled
        self._idle = asyncio.Event()
        self._idle.set()

    def queue(
        self,
        command: Command,
        data: dict[str, Any],
        actor: str,
        internal: bool,
        digest: str,
        fixed_id: bool = False,
    ) -> asyncio.Future[Ack]:
        """Queue a validated command; a resend of one in flight waits for the first."""
        loop = asyncio.get_running_loop()
        original = self._inflight.get(command.id)
        if original is not None:
            if original.digest != digest:
                raise id_reused(command.id)
            return _as_duplicate(original.future, loop)
        pending = _Pending(command, data, actor, loop.create_future(), internal, digest, fixed_id)
        self._inflight[command.id] = pending
        self._pending.put_nowait(pending)
        return pending.future

    def in_flight(self, command_id: str) -> bool:
        return command_id in self._inflight

    def quiet(self) -> bool:
        """Nothing queued and no batch in flight."""
        return self._idle.is_set() and self._pending.empty()

    async def settled(self) -> None:
        """Wait until no batch is in flight, so room states hold only committed events."""
        while not self._idle.is_set():
            await self._idle.wait()

    async def drain(self) -> None:
        """Wait until everything queued is committed and acked."""
        while not self._pending.empty() or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            self._idle.clear()
            try:
                async with self.lock:
                    await self._commit_retrying(batch)
            except Exception:  # the writer outlives any bug; whatever is still unanswered is refused
                log.exception("writer failed on a batch")
                for p in batch:
                    self._settle(p, WarroomError(Code.INTERNAL, "the hub failed on this command"))
            finally:
                self._idle.set()

    async def _commit_retrying(self, batch: list[_Pending]) -> None:
        for _ in range(RETRIES):
            batch = [p for p in batch if not p.future.done()]
            if not batch or not await self._commit(batch):
                return
        for p in batch:
            refusal = WarroomError(Code.STORAGE_UNAVAILABLE, "other hubs kept writing first; send again")
            self._settle(p, refusal)

    async def _commit(self, batch: list[_Pending]) -> bool:
        """Commit what of the batch is valid; True when another hub wrote first and it must be tried again."""
        accepted: list[tuple[_Pending, Event]] = []
        new_rooms: dict[str, str] = {}
        touched: dict[str, Room] = {}
        bases: dict[str, int] = {}  # each existing room's head before this batch
        try:
            # The hub's own commands mostly carry ids it has just minted: no earlier use to look
            # up (an alert storm would otherwise look up every alert). Those whose id names a
            # decision (reconciliation's) may have been written already, and are looked up: a
            # twin must be a duplicate, not a UNIQUE(id) failure that refuses the whole batch.
            # One query for the batch: on a networked store, one round trip, not one per command.
            earlier = await self.store.lookup_many(
                [p.command.id for p in batch if not p.internal or p.fixed_id]
            )
            for done in earlier.values():  # written by another hub: what follows it is judged after it
                room = self.rooms.loaded.get(done.room)
                if room is not None and room.state.seq < done.seq:
                    await self._take_in(done.room, touched)
            for p in batch:
                try:
                    event = await self._sequence(p, earlier.get(p.command.id), new_rooms, touched, bases)
                except WarroomError as err:
                    # Refused by a room another hub may have moved on: judged again on the log's state.
                    if p.command.room is None or not await self._take_in(p.command.room, touched):
                        self._settle(p, err)
                        continue
                    try:
                        event = await self._sequence(p, earlier.get(p.command.id), new_rooms, touched, bases)
                    except WarroomError as again:
                        self._settle(p, again)
                        continue
                if event is not None:
                    accepted.append((p, event))
            if not accepted:
                return False
            summaries = {r: room.state.summary_dict() for r, room in touched.items()}
            await self.store.append([event for _, event in accepted], new_rooms, summaries, bases)
        except Behind:
            self.stats["behind"] = self.stats.get("behind", 0) + 1
            await self._rewind(touched, new_rooms)
            for room_id, base in bases.items():
                room = self.rooms.loaded.get(room_id)
                if room is not None and room.state.seq > base:
                    self.announce(room, await self.store.read(room_id, base, room.state.seq - base))
            return True
        except Exception as exc:  # the writer outlives any one batch; the log stays the truth
            if isinstance(exc, StorageError):
                self.stats["storage_errors"] += 1
                self.health(str(exc))
                log.error("store refused a batch of %d commands: %s", len(batch), exc)
                refusal = WarroomError(Code.STORAGE_UNAVAILABLE, f"the event log refused the write: {exc}")
            else:
                log.exception("writer failed on a batch")
                refusal = WarroomError(Code.INTERNAL, "the hub failed on this command")
            for p in batch:
                self._settle(p, refusal)
            await self._rewind(touched, new_rooms)
            return False
        self.health(None)
        events = [event for _, event in accepted]
        self.rooms.committed(summaries)
        self.stats["events"] += len(events)
        self.stats["batches"] += 1
        for p, event in accepted:
            self._settle(p, Ack(event.id, event.room, event.seq))
        now = self._clock()
        for room in touched.values():
            room.touched = now
            room_events = [e for e in events if e.room == room.id]
            self.announce(room, room_events)
            for listener in self.listeners:
                try:
                    listener(room, room_events)
                except Exception:  # a listener's bug must not stop the writer: the log is committed
                    log.exception("listener %r failed on %s", listener, room.id)
            # A snapshot costs in proportion to what the room holds: with thousands of alerts,
            # one every 1,000 events would cost more than the replays it saves.
            behind = room.state.seq - room.snapshot_seq
            if snapshot_due(room.state.seq, room.snapshot_seq) and behind >= len(room.state.alerts) // 2:
                self.snapshots.soon(room)
            elif behind >= snapshotting.QUIET_BEHIND:
                self.snapshots.when_quiet(room)
        return False

    async def _sequence(
        self,
        p: _Pending,
        earlier: Event | None,
        new_rooms: dict[str, str],
        touched: dict[str, Room],
        bases: dict[str, int],
    ) -> Event | None:
        """The command's event, applied to its room; None when ``earlier`` (its id's event) answers it."""
        cmd = p.command
        if earlier is not None:
            if earlier.digest is not None:
                reused = earlier.digest != p.digest
            else:  # logged before digests were kept: compare what the log holds
                reused = earlier.type != cmd.type or cmd.room not in (None, earlier.room)
            if reused:
                raise id_reused(cmd.id)
            self._settle(p, Ack(earlier.id, earlier.room, earlier.seq, duplicate=True))
            return None
        if cmd.type == "incident.declared":
            room = await self.rooms.create(cmd.room, new_rooms, self.rules.limits.rooms)
        else:
            assert cmd.room is not None
            room = await self.rooms.get(cmd.room)
        check(room.state, cmd.type, p.data)
        policy, limits = self.rules.policy, self.rules.limits
        if not p.internal:
            authorize(room.state, p.actor, cmd.type, p.data, policy, absence(room, self._clock()))
        alerts = room.state.alerts
        full = len(alerts) >= limits.alerts_per_room
        if full and cmd.type == "alert.upserted" and p.data["fingerprint"] not in alerts:
            raise WarroomError(
                Code.LIMIT_REACHED, f"this incident holds {limits.alerts_per_room} alerts at most"
            )
        if cmd.type == "checklist.item_added" and len(room.state.checklist) >= limits.checklist_items:
            raise WarroomError(
                Code.LIMIT_REACHED, f"the runbook holds {limits.checklist_items} items at most"
            )
        if cmd.type == "status.broadcast" and "next_update_in" not in p.data:
            cadence = policy.cadence.get(room.state.severity)
            if cadence:  # the severity's cadence sets when the next update is due
                p.data = {**p.data, "next_update_in": cadence}
        holder = room.state.roles.get(p.data.get("role", ""))
        if cmd.type == "role.taken_over" and holder is not None:  # on the record: how long they were gone
            p.data = {**p.data, "absent_for": int(absence(room, self._clock())(holder.name) or 0)}
        if room.id not in touched and room.id not in new_rooms:
            bases[room.id] = room.state.seq
        touched[room.id] = room  # from here on its state may run ahead of the log
        now = format_time(self._clock())
        ts = max(now, room.state.updated_at or now)  # never let a room's clock run backwards
        event = Event(room.id, room.state.seq + 1, cmd.id, p.actor, ts, cmd.type, p.data, p.digest)
        apply(room.state, event)
        return event

    async def _take_in(self, room_id: str, touched: dict[str, Room]) -> bool:
        """Bring a loaded room up to the log another hub wrote to; True if it was behind."""
        room = self.rooms.loaded.get(room_id)
        if room is None or room_id in touched:  # a room this batch changed waits for the store's answer
            return False
        record = await self.store.room(room_id)
        if record is None or record.head <= room.state.seq:
            return False
        events = await self.store.read(room_id, room.state.seq, record.head - room.state.seq)
        fold(room_id, events, room.state)
        self.announce(room, events)
        return True

    async def _rewind(self, touched: dict[str, Room], new_rooms: dict[str, str]) -> None:
        """Put the batch's rooms back to what the log holds, or let them go.

        A room whose log cannot be read back may be ahead of it, so it must not
        be written to again: it is unloaded, and its members are closed to
        resume (from the log, loaded afresh) once the store answers again.
        """
        try:
            await self.rooms.rewind(touched.values(), new_rooms)
        except Exception:
            log.exception("the log could not be read back after a refused batch; unloading %s", list(touched))
            for room in touched.values():
                self.rooms.loaded.pop(room.id, None)
                for member in list(room.members):
                    member.close(Close.GOING_AWAY, "the event log is unavailable; resume shortly")

    def _settle(self, p: _Pending, outcome: Ack | WarroomError) -> None:
        self._inflight.pop(p.command.id, None)
        if p.future.done():
            return
        if isinstance(outcome, Ack):
            p.future.set_result(outcome)
        else:
            p.future.set_exception(outcome)

    def announce(self, room: Room, events: list[Event]) -> None:
        """Send committed events to the room's members, and tell the followers."""
        if not events:
            return
        self.rooms.heads[room.id] = events[-1].seq
        frame = encode({"t": "events", "room": room.id, "events": [e.to_wire() for e in events]})
        first, last = events[0].seq, events[-1].seq
        for member in list(room.members):
            member.deliver(room.id, first, last, frame)
        self.stats["deliveries"] += len(events) * len(room.members)
        self.follow(events)

    def follow(self, events: list[Event]) -> None:
        for follower in self.followers:
            try:
                follower(events)
            except Exception:  # a follower's bug must not stop the writer: the log is committed
                log.exception("follower %r failed on %s", follower, events[0].room)


def id_reused(command_id: str) -> WarroomError:
    """The answer to an id used before for other content; it names no incident, in scope or not."""
    return WarroomError(Code.ID_REUSED, f"id {command_id} was already used for a different command", "id")


def _as_duplicate(original: asyncio.Future[Ack], loop: asyncio.AbstractEventLoop) -> asyncio.Future[Ack]:
    """A second submission of an in-flight id waits for the first and is marked duplicate."""
    future: asyncio.Future[Ack] = loop.create_future()

    def copy(done: asyncio.Future[Ack]) -> None:
        if future.done():
            return
        if done.cancelled():
            future.cancel()
        elif (exc := done.exception()) is not None:
            future.set_exception(exc)
        else:
            future.set_result(replace(done.result(), duplicate=True))

    original.add_done_callback(copy)
    return future
