"""The hub: one command path for every transport, group commit, and fan-out.

A command is validated, queued, sequenced by the single writer task, committed
to the store with the rest of its batch, and only then acknowledged and fanned
out. Nothing is told before the log has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from server.intake import INBOX
from server.limits import Limits, RateLimiter
from server.store import EventStore, StorageError
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import Command, Event, validate_command
from warroom.core.policy import Absence, Policy, authorize
from warroom.core.protocol import encode
from warroom.core.reducer import apply, check, fold
from warroom.core.schema import format_time, parse_time
from warroom.core.state import IncidentState
from warroom.snapshots import dump_snapshot, load_snapshot

log = logging.getLogger("warroom.hub")

MAX_BATCH = 512
PRESENCE_DELAY = 0.05  # joins and leaves within this window share one presence frame
IDLE_ROOM = 600.0  # seconds a room with nobody in it stays in memory before it is unloaded
ROOM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Ack:
    id: str
    room: str
    seq: int
    duplicate: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "room": self.room, "seq": self.seq, "duplicate": self.duplicate}


class Subscriber(Protocol):
    """A room member: a websocket connection, or anything else that wants live events."""

    name: str

    def deliver(self, room: str, first: int, last: int, frame: bytes) -> None: ...

    def send_encoded(self, frame: bytes) -> None: ...


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

    def present(self) -> set[str]:
        """Who is in the room, observers aside."""
        return {m.name for m, how in self.members.items() if how.kind != OBSERVER}

    def presence(self) -> dict[str, Any]:
        people = [
            {"name": m.name, "since": how.since} for m, how in self.members.items() if how.kind != OBSERVER
        ]
        return {"t": "presence", "room": self.id, "members": people}


@dataclass(slots=True)
class _Pending:
    command: Command
    data: dict[str, Any]
    actor: str
    future: asyncio.Future[Ack]
    internal: bool = False
    digest: str = ""  # of the command as sent, to tell a resend from an id reused for something else


def snapshot_due(seq: int, last: int) -> bool:
    """Snapshot every 1,000 events, or every tenth of the log once it is larger.

    The geometric step keeps the cost of snapshotting a huge room constant per
    event, while a joining client never replays more than a tenth of its log.
    """
    return seq - last >= max(1000, seq // 10)


class Hub:
    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], datetime] | None = None,
        policy: Policy | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self.limits = limits or Limits()
        self.command_rate = RateLimiter(
            self.limits.commands_per_second, self.limits.command_burst, "commands"
        )
        self.http_rate = RateLimiter(
            self.limits.http_per_second, self.limits.http_burst, "requests on this token"
        )
        self.join_rate = RateLimiter(self.limits.joins_per_second, self.limits.join_burst, "joins and lists")
        self.catch_ups = asyncio.Semaphore(self.limits.catch_ups)  # log replays at once, hub-wide
        self.listeners: list[Callable[[Room, list[Event]], None]] = []  # told of each committed batch
        # Work a command type needs before it can be sequenced (reaching Alertmanager, say):
        # called with the command, the actor, and whether they are an admin (beyond the hub's bounds).
        self.preparers: dict[str, Callable[[Command, str, bool], Awaitable[Command]]] = {}
        self.has_alertmanager = False  # whether silences can be made in a real Alertmanager
        self.hub_id = uuid.uuid4().hex[:12]
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rooms: dict[str, Room] = {}
        # Every room's listing as committed, kept as batches commit: listing incidents, the
        # status page and counting rooms read this, never every row of the store.
        self._summaries: dict[str, dict[str, Any]] = {}
        self._listing: list[dict[str, Any]] | None = None  # sorted; rebuilt after a change
        self.listing_version = 0  # bumped whenever an incident's listing changes
        self._pending: asyncio.Queue[_Pending] = asyncio.Queue()
        self._inflight: dict[str, _Pending] = {}  # by command id, until settled
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._snapshotting: dict[str, asyncio.Task[None]] = {}  # room -> its snapshot being made
        self._snapshot_slot = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self.closing = False
        self.stats = {"events": 0, "batches": 0, "deliveries": 0, "storage_errors": 0, "slow_consumers": 0}

    def set_rules(self, policy: Policy, limits: Limits) -> None:
        """New role rules and limits from a reloaded config; they hold from the next command."""
        self.policy, self.limits = policy, limits
        self.command_rate.configure(limits.commands_per_second, limits.command_burst)
        self.http_rate.configure(limits.http_per_second, limits.http_burst)
        self.join_rate.configure(limits.joins_per_second, limits.join_burst)
        self.catch_ups = asyncio.Semaphore(limits.catch_ups)  # running catch-ups finish on the old one

    async def start(self) -> None:
        await self.store.open()
        for record in await self.store.rooms():
            self._summaries[record.room] = record.summary
            if record.summary.get("open_offers"):
                await self.room(record.room)  # loaded, so the sweep expires offers nobody answers
        self._writer = asyncio.create_task(self._write_loop(), name="warroom-writer")
        self._sweeper = asyncio.create_task(self.sweep_forever(), name="warroom-sweeper")

    async def drain(self) -> None:
        """Refuse new commands, then wait until everything queued is committed and acked."""
        self.closing = True
        while not self._pending.empty() or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.drain()
        for task in (self._writer, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.gather(*self._snapshotting.values(), return_exceptions=True)
        await self.store.close()

    # -- the command path ------------------------------------------------------------

    def submit(
        self, command: Command, actor: str, *, internal: bool = False, digest: str | None = None
    ) -> asyncio.Future[Ack]:
        """Validate and queue a command; the future resolves once it is durable.

        Raises ``WarroomError`` at once for a command that can never be valid.
        ``internal`` marks the hub's own events and alert intake's, which skip
        the role rules and may be of types clients cannot send. ``digest`` is
        that of the command as the client sent it, when a preparer changed it.
        """
        if self.closing:
            raise WarroomError(Code.SHUTTING_DOWN, "the hub is shutting down; retry shortly")
        data = validate_command(command.type, command.data, from_client=not internal)
        digest = digest or command.digest()
        if command.room is None and command.type != "incident.declared":
            raise WarroomError(Code.MISSING_FIELD, "room is required", field="room")
        if command.room is not None and not ROOM_ID.match(command.room):
            raise WarroomError(Code.INVALID_VALUE, "room: not a valid incident id", field="room")
        if command.room == INBOX and command.type == "incident.declared" and not internal:
            raise WarroomError(Code.INVALID_VALUE, f"room: {INBOX!r} is reserved for the alert inbox", "room")
        loop = asyncio.get_running_loop()
        original = self._inflight.get(command.id)
        if original is not None:
            if original.digest != digest:
                raise id_reused(command.id)
            return _as_duplicate(original.future, loop)
        pending = _Pending(command, data, actor, loop.create_future(), internal, digest)
        self._inflight[command.id] = pending
        self._pending.put_nowait(pending)
        return pending.future

    async def prepare(self, command: Command, actor: str, *, admin: bool = False) -> Command:
        """Run the command type's preparer, if it has one; it may refuse, or fill in data.

        Everything that can refuse the command runs first, so nothing happens
        outside the hub (a silence in Alertmanager, say) for a command the
        room would refuse, or for a resend of one already accepted. ``admin``
        lets the preparer go beyond the hub's bounds (a longer silence, say).
        """
        preparer = self.preparers.get(command.type)
        if preparer is None:
            return command
        data = validate_command(command.type, command.data)
        if command.room is None:
            raise WarroomError(Code.MISSING_FIELD, "room is required", field="room")
        if command.id in self._inflight or await self.store.lookup(command.id) is not None:
            return command  # a resend: the command path answers it as a duplicate
        room = await self.room(command.room)
        check(room.state, command.type, data)
        authorize(room.state, actor, command.type, data, self.policy, self.absence(room))
        return await preparer(command, actor, admin)

    async def dispatch(
        self, command: Command, actor: str, *, internal: bool = False, admin: bool = False
    ) -> asyncio.Future[Ack]:
        """Prepare a command and queue it; the future resolves once it is durable.

        The digest is taken before any preparer fills data in, so a resend of
        the command as sent is recognised, and an id reused for another is not.
        """
        digest = None
        if command.type in self.preparers:
            validate_command(command.type, command.data, from_client=not internal)
            digest = command.digest()
            command = await self.prepare(command, actor, admin=admin)
        return self.submit(command, actor, internal=internal, digest=digest)

    async def execute(
        self, command: Command, actor: str, *, internal: bool = False, admin: bool = False
    ) -> Ack:
        return await (await self.dispatch(command, actor, internal=internal, admin=admin))

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            self._idle.clear()
            try:
                await self._commit(batch)
            finally:
                self._idle.set()

    async def _commit(self, batch: list[_Pending]) -> None:
        accepted: list[tuple[_Pending, Event]] = []
        new_rooms: dict[str, str] = {}
        touched: dict[str, Room] = {}
        try:
            for p in batch:
                try:
                    event = await self._sequence(p, new_rooms, touched)
                except WarroomError as err:
                    self._settle(p, err)
                    continue
                if event is not None:
                    accepted.append((p, event))
            if not accepted:
                return
            summaries = {r: room.state.summary_dict() for r, room in touched.items()}
            await self.store.append([event for _, event in accepted], new_rooms, summaries)
        except Exception as exc:  # the writer outlives any one batch; the log stays the truth
            if isinstance(exc, StorageError):
                self.stats["storage_errors"] += 1
                log.error("store refused a batch of %d commands: %s", len(batch), exc)
                refusal = WarroomError(Code.STORAGE_UNAVAILABLE, f"the event log refused the write: {exc}")
            else:
                log.exception("writer failed on a batch")
                refusal = WarroomError(Code.INTERNAL, "the hub failed on this command")
            await self._rewind(touched.values(), new_rooms)
            for p in batch:
                self._settle(p, refusal)
            return
        events = [event for _, event in accepted]
        self._summaries.update(summaries)
        self._listing = None
        self.listing_version += 1
        self.stats["events"] += len(events)
        self.stats["batches"] += 1
        for p, event in accepted:
            self._settle(p, Ack(event.id, event.room, event.seq))
        now = self._clock()
        for room in touched.values():
            room.touched = now
            room_events = [e for e in events if e.room == room.id]
            self._fan_out(room, room_events)
            for listener in self.listeners:
                try:
                    listener(room, room_events)
                except Exception:  # a listener's bug must not stop the writer: the log is committed
                    log.exception("listener %r failed on %s", listener, room.id)
            # A snapshot costs in proportion to what the room holds: with thousands of alerts,
            # one every 1,000 events would cost more than the replays it saves.
            behind = room.state.seq - room.snapshot_seq
            if snapshot_due(room.state.seq, room.snapshot_seq) and behind >= len(room.state.alerts) // 2:
                self._snapshot_soon(room)

    async def _sequence(
        self, p: _Pending, new_rooms: dict[str, str], touched: dict[str, Room]
    ) -> Event | None:
        cmd = p.command
        # The hub's own commands carry ids it has just minted: no earlier use to look up
        # (an alert storm would otherwise make one query per alert).
        earlier = None if p.internal else await self.store.lookup(cmd.id)
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
            room = await self._create_room(cmd.room, new_rooms)
        else:
            assert cmd.room is not None
            room = await self.room(cmd.room)
        check(room.state, cmd.type, p.data)
        if not p.internal:
            authorize(room.state, p.actor, cmd.type, p.data, self.policy, self.absence(room))
        alerts = room.state.alerts
        full = len(alerts) >= self.limits.alerts_per_room
        if full and cmd.type == "alert.upserted" and p.data["fingerprint"] not in alerts:
            raise WarroomError(
                Code.LIMIT_REACHED, f"this incident holds {self.limits.alerts_per_room} alerts at most"
            )
        if cmd.type == "checklist.item_added" and len(room.state.checklist) >= self.limits.checklist_items:
            raise WarroomError(
                Code.LIMIT_REACHED, f"the runbook holds {self.limits.checklist_items} items at most"
            )
        if cmd.type == "status.broadcast" and "next_update_in" not in p.data:
            cadence = self.policy.cadence.get(room.state.severity)
            if cadence:  # the severity's cadence sets when the next update is due
                p.data = {**p.data, "next_update_in": cadence}
        holder = room.state.roles.get(p.data.get("role", ""))
        if cmd.type == "role.taken_over" and holder is not None:  # on the record: how long they were gone
            p.data = {**p.data, "absent_for": int(self.absence(room)(holder.name) or 0)}
        touched[room.id] = room  # from here on its state may run ahead of the log
        now = format_time(self._clock())
        ts = max(now, room.state.updated_at or now)  # never let a room's clock run backwards
        event = Event(room.id, room.state.seq + 1, cmd.id, p.actor, ts, cmd.type, p.data, p.digest)
        apply(room.state, event)
        return event

    async def _create_room(self, wanted: str | None, new_rooms: dict[str, str]) -> Room:
        if wanted is not None:
            if wanted in self._rooms or await self.store.room(wanted) is not None:
                raise WarroomError(Code.ROOM_EXISTS, f"{wanted} already exists", field="room")
            room_id = wanted
        else:
            room_id = await self.store.reserve_room_id()
        if len(self._summaries) + len(new_rooms) >= self.limits.rooms:
            raise WarroomError(Code.LIMIT_REACHED, f"this hub holds {self.limits.rooms} incidents at most")
        room = Room(room_id, uuid.uuid4().hex, IncidentState(room=room_id), loaded=self._clock())
        self._rooms[room_id] = room
        new_rooms[room_id] = room.epoch
        return room

    async def _rewind(self, rooms: Any, new_rooms: dict[str, str]) -> None:
        """After a refused write, put each room's state back to what the log holds."""
        for room in rooms:
            if room.id in new_rooms:
                self._rooms.pop(room.id, None)
            else:
                room.state, room.snapshot_seq = await self.committed_state(room.id)

    def _settle(self, p: _Pending, outcome: Ack | WarroomError) -> None:
        self._inflight.pop(p.command.id, None)
        if p.future.done():
            return
        if isinstance(outcome, Ack):
            p.future.set_result(outcome)
        else:
            p.future.set_exception(outcome)

    def _fan_out(self, room: Room, events: list[Event]) -> None:
        frame = encode({"t": "events", "room": room.id, "events": [e.to_wire() for e in events]})
        first, last = events[0].seq, events[-1].seq
        for member in list(room.members):
            member.deliver(room.id, first, last, frame)
        self.stats["deliveries"] += len(events) * len(room.members)

    def _snapshot_soon(self, room: Room) -> None:
        """Start a snapshot of what the log holds for ``room``, unless one is being made."""
        if room.id not in self._snapshotting:
            task = asyncio.create_task(self._snapshot_from_log(room, room.state.seq))
            self._snapshotting[room.id] = task
            task.add_done_callback(lambda _: self._snapshotting.pop(room.id, None))

    async def _snapshot_from_log(self, room: Room, seq: int) -> None:
        """The room's state at ``seq``, folded in threads from its last snapshot and the log.

        The live state is never read while the writer changes it, and neither the
        writer nor the event loop waits: a room holding 20,000 alerts takes most of
        a second to encode, which on the loop stalled every caller each 1,000 events.
        """
        async with self._snapshot_slot:  # one at a time: each holds a copy of its room's state
            await self._build_snapshot(room, seq)

    async def _build_snapshot(self, room: Room, seq: int) -> None:
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

    async def _snapshot(self, room: Room) -> None:
        seq, blob = room.state.seq, dump_snapshot(room.state)
        try:
            await self.store.save_snapshot(room.id, seq, blob)
        except StorageError as exc:  # a missed snapshot costs replay time, not data
            log.warning("snapshot of %s failed: %s", room.id, exc)
            return
        room.snapshot_seq = max(room.snapshot_seq, seq)

    # -- rooms and reads -------------------------------------------------------------

    async def room(self, room_id: str) -> Room:
        """The live room, loaded from its newest snapshot plus the tail of its log."""
        room = self._rooms.get(room_id)
        if room is not None:
            return room
        record = await self.store.room(room_id)
        if record is None:
            raise unknown_room(room_id)
        state, snap_seq = await self.committed_state(room_id)
        room = self._rooms.get(room_id)  # another task may have loaded it meanwhile
        if room is None:
            now = self._clock()
            room = Room(room_id, record.epoch, state, snapshot_seq=snap_seq, touched=now, loaded=now)
            self._rooms[room_id] = room
        return room

    async def unload_idle(self, idle_for: float = IDLE_ROOM) -> list[str]:
        """Unload rooms nobody is in and nothing has touched for ``idle_for`` seconds.

        A hub that runs for months would otherwise keep every incident it ever
        loaded. Each is snapshotted first, so loading it again costs a
        snapshot read, not a replay. Rooms with open offers stay, for the sweep.
        """
        unloaded: list[str] = []
        for room in list(self._rooms.values()):
            if room.members or room.state.offers or room.touched is None:
                continue
            if (self._clock() - room.touched).total_seconds() < idle_for:
                continue
            if not self._idle.is_set() or not self._pending.empty():
                return unloaded  # the writer is busy; try again on the next sweep
            seq = room.state.seq
            if room.snapshot_seq < seq:
                await self._snapshot(room)
            # Only what is committed, untouched while the snapshot was written, is let go.
            settled = room.state.seq == seq == room.snapshot_seq and not room.members
            if settled and self._idle.is_set() and self._pending.empty():
                self._rooms.pop(room.id, None)
                unloaded.append(room.id)
        return unloaded

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

    async def settled_state(self, room_id: str) -> IncidentState:
        """A room's state with no batch in flight, so it holds only committed events."""
        while not self._idle.is_set():
            await self._idle.wait()
        room = await self.room(room_id)
        while not self._idle.is_set():
            await self._idle.wait()
        return room.state

    async def incidents(self) -> list[dict[str, Any]]:
        """Every incident's listing, from memory: sorted once per change, not once per request."""
        if self._listing is None:
            out = []
            for room_id, summary in self._summaries.items():
                if room_id == INBOX:
                    continue  # the alert inbox is a room, not an incident
                out.append({**summary, "id": summary.get("id", room_id), "people": 0})
            # open incidents first, the newest on top; resolved ones after, still readable
            out.sort(key=lambda s: s.get("declared_at") or "", reverse=True)
            out.sort(key=lambda s: s.get("status") == "resolved")
            self._listing = out
        listing = []
        for item in self._listing:
            room = self._rooms.get(item["id"])
            if room is not None and room.members:  # only rooms people are in: few, whatever the total
                item = {**item, "people": len(room.present())}
            listing.append(item)
        return listing

    # -- membership ------------------------------------------------------------------

    def admit(self, room: Room, member: Subscriber, kind: str, key: tuple[str, str]) -> None:
        """Refuse a join past the room's limits; a role holder always gets into their own room.

        Only responders count against ``members_per_room``, so nobody can fill a
        room by watching it; every kind counts against the per-token cap, so no
        one token can flood it either.
        """
        if member in room.members or any(h.name == member.name for h in room.state.roles.values()):
            return
        limits = self.limits
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

    def add_member(
        self, room: Room, member: Subscriber, kind: str = RESPONDER, key: tuple[str, str] | None = None
    ) -> None:
        """Add a live member; a responder's first join goes on the record, a viewer's does not."""
        room.touched = self._clock()
        room.members[member] = Membership(format_time(room.touched), kind, key or ("", member.name))
        if kind != OBSERVER:
            room.left.pop(member.name, None)
        self._presence(room)  # an observer is not listed, but is sent the list
        if kind == RESPONDER and room.state.declared and member.name not in room.state.responders:
            self.emit(room.id, "responder.joined", {"name": member.name}, member.name)

    def absence(self, room: Room) -> Absence:
        """Seconds each person has been out of the room, by the hub's clock; None while in it.

        Someone never seen since the room was loaded counts as gone from then,
        and a role is never counted as abandoned from before it was given.
        """
        now = self._clock()

        def absent_for(name: str) -> float | None:  # asked only for takeovers: no cost per command
            if name in room.present():
                return None
            since = room.left.get(name) or room.loaded or now
            holder = next((h for h in room.state.roles.values() if h.name == name), None)
            if holder is not None:
                since = max(since, parse_time(holder.since))
            return max(0.0, (now - since).total_seconds())

        return absent_for

    def emit(self, room_id: str, type_: str, data: dict[str, Any], actor: str = "warroom") -> None:
        """Queue an event of the hub's own; a refusal (already recorded, say) is only logged."""
        try:
            future = self.submit(Command(str(uuid.uuid4()), type_, data, room_id), actor, internal=True)
        except WarroomError as exc:
            log.info("hub event %s for %s not queued: %s", type_, room_id, exc.message)
            return
        future.add_done_callback(_log_refusal)

    def sweep(self) -> None:
        """Expire role offers nobody answered; the hub runs this every few seconds."""
        now = self._clock()
        limit = self.policy.offer_expires_after
        for room in list(self._rooms.values()):
            for role, offer in list(room.state.offers.items()):
                if (now - parse_time(offer.at)).total_seconds() >= limit:
                    self.emit(room.id, "role.offer_expired", {"role": role})

    async def sweep_forever(self, every: float = 5.0) -> None:
        while True:
            await asyncio.sleep(every)  # a periodic job, not a wait for an event
            self.sweep()
            await self.unload_idle()

    def remove_member(self, room_id: str, member: Subscriber) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        how = room.members.pop(member, None)
        if how is None:
            return
        room.touched = self._clock()
        if how.kind != OBSERVER:
            if member.name not in room.present():
                room.left[member.name] = room.touched
            self._presence(room)

    def _presence(self, room: Room) -> None:
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


def id_reused(command_id: str) -> WarroomError:
    """The answer to an id used before for other content; it names no incident, in scope or not."""
    return WarroomError(Code.ID_REUSED, f"id {command_id} was already used for a different command", "id")


def _log_refusal(done: asyncio.Future[Ack]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.info("hub event refused: %s", exc)


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
