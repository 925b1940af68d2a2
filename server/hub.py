"""The hub: one command path for every transport, and the rooms it serves.

A command is validated here, then queued for the writer (server/writer.py),
which sequences it, commits it with the rest of its batch, and only then
acknowledges and fans it out. Nothing is told before the log has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from server import members
from server.follow import LogFollower
from server.limits import Limits, RateLimiter
from server.log_health import LogHealth
from server.presence import SharedPresence
from server.room import RESPONDER, Room, Subscriber, check_room
from server.rooms import IDLE_ROOM, Rooms
from server.snapshotting import Snapshots
from server.store import EventStore, StorageError
from server.timetravel import History
from server.writer import Ack, Follower, Writer, id_reused
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command, Event, validate_command
from warroom.core.policy import Policy, authorize
from warroom.core.reducer import check
from warroom.core.schema import parse_time
from warroom.core.state import IncidentState

log = logging.getLogger("warroom.hub")


class Hub:
    """The one object every transport calls; the rooms, the writer and snapshots are its parts."""

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
        self.listeners: list[Callable[[Room, list[Event]], None]] = []  # told of each batch this hub commits
        self.followers: list[Follower] = []  # told of every room's events, whichever hub committed them
        # Work a command type needs before it can be sequenced (reaching Alertmanager, say):
        # called with the command, the actor, and whether they are an admin (beyond the hub's bounds).
        self.preparers: dict[str, Callable[[Command, str, bool], Awaitable[Command]]] = {}
        # Data only the hub has, filled in before the room checks the command (a runbook's
        # snapshot from the library): no I/O, so no wait.
        self.fillers: dict[str, Callable[[Command], Command]] = {}
        self.runbook_listing: list[dict[str, str]] = []  # the library's {id, title, owner}, for welcome
        self.has_alertmanager = False  # whether silences can be made in a real Alertmanager
        self.hub_id = uuid.uuid4().hex[:12]
        self._clock = clock or (lambda: datetime.now(UTC))
        self.rooms = Rooms(store, self._clock)
        self.snapshots = Snapshots(store)
        self.stats = {"events": 0, "batches": 0, "deliveries": 0, "storage_errors": 0, "slow_consumers": 0}
        # The writer reads the rules from the hub at each command, so a reload reaches it.
        self.log_health = LogHealth()
        self.writer = Writer(
            store,
            self.rooms,
            self.snapshots,
            self,
            self._clock,
            self.listeners,
            self.followers,
            self.stats,
            self.log_health.wrote,
        )
        self.follower = LogFollower(store, self.rooms, self.writer, self.stats, self.log_health, self.hub_id)
        self.presence = SharedPresence(store, self.rooms, self.hub_id)
        self.history = History(store)  # checkpoints along each log, for the state at any seq
        self.listeners.append(self.history.committed)
        self._writing: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None
        self._sharing: asyncio.Task[None] | None = None
        self.closing = False
        # Commands whose preparer runs now, by id: the digest as sent, and the prepared command.
        self._preparing: dict[str, tuple[str, asyncio.Future[Command]]] = {}

    @property
    def log_error(self) -> str | None:
        """Why the event log does not answer now; None while it does."""
        return self.log_health.error

    @property
    def _rooms(self) -> dict[str, Room]:
        """The rooms in memory, by id."""
        return self.rooms.loaded

    @property
    def listing_version(self) -> int:
        """Bumped whenever an incident's listing changes."""
        return self.rooms.listing_version

    def set_rules(self, policy: Policy, limits: Limits) -> None:
        """New role rules and limits from a reloaded config; they hold from the next command."""
        self.policy, self.limits = policy, limits
        self.command_rate.configure(limits.commands_per_second, limits.command_burst)
        self.http_rate.configure(limits.http_per_second, limits.http_burst)
        self.join_rate.configure(limits.joins_per_second, limits.join_burst)
        self.catch_ups = asyncio.Semaphore(limits.catch_ups)  # running catch-ups finish on the old one

    async def start(self) -> None:
        await self.store.open()
        await self.follower.start()  # before the rooms are read: what lands meanwhile is taken in after
        for record in await self.store.rooms():
            self.rooms.summaries[record.room] = record.summary
            self.rooms.heads[record.room] = record.head
            if record.summary.get("open_offers"):
                await self.room(record.room)  # loaded, so the sweep expires offers nobody answers
        self._writing = asyncio.create_task(self.writer.run(), name="warroom-writer")
        self._sweeper = asyncio.create_task(self.sweep_forever(), name="warroom-sweeper")
        self._following = asyncio.create_task(self.follower.run(), name="warroom-follower")
        self._sharing = asyncio.create_task(self.presence.run(), name="warroom-presence")

    async def drain(self) -> None:
        """Refuse new commands, then wait until everything queued is committed and acked."""
        self.closing = True
        await self.writer.drain()

    async def stop(self) -> None:
        for task in (self._sweeper, self._following, self._sharing):
            if task is not None:
                task.cancel()
        await self.drain()
        with contextlib.suppress(StorageError):
            await self.presence.leave_all()
        for task in (self._writing, self._sweeper, self._following, self._sharing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.snapshots.finish()
        await self.history.finish()
        await self.store.close()

    # -- the command path ------------------------------------------------------------

    def submit(
        self,
        command: Command,
        actor: str,
        *,
        internal: bool = False,
        digest: str | None = None,
        prepared: bool = False,
        fixed_id: bool = False,
    ) -> asyncio.Future[Ack]:
        """Validate and queue a command; the future resolves once it is durable.

        Raises ``WarroomError`` at once for a command that can never be valid.
        ``internal`` marks the hub's own events and alert intake's, which skip
        the role rules and may be of types clients cannot send. ``digest`` is
        that of the command as the client sent it, when a preparer changed it
        (``prepared``: and filled in the fields only the hub may set).
        ``fixed_id``: an internal command whose id is derived from what it
        decides (reconciliation's), so the same decision made twice is looked
        up and answered as a duplicate, as a client's resend is.
        """
        if self.closing:
            raise WarroomError(Code.SHUTTING_DOWN, "the hub is shutting down; retry shortly")
        data = validate_command(command.type, command.data, from_client=not internal, filled=prepared)
        digest = digest or command.digest()
        check_room(command, internal)
        return self.writer.queue(command, data, actor, internal, digest, fixed_id)

    async def prepare(
        self, command: Command, actor: str, *, admin: bool = False, internal: bool = False
    ) -> Command:
        """Run the command type's preparer, if it has one; it may refuse, or fill in data.

        Everything that can refuse the command runs first, so nothing happens
        outside the hub (a silence in Alertmanager, say) for a command the
        room would refuse, or for a resend of one already accepted. ``admin``
        lets the preparer go beyond the hub's bounds (a longer silence, say).
        """
        preparer = self.preparers.get(command.type)
        fill = self.fillers.get(command.type)
        if preparer is None and fill is None:
            return command
        data = validate_command(command.type, command.data, from_client=not internal)
        if command.room is None:
            raise WarroomError(Code.MISSING_FIELD, "room is required", field="room")
        if self.writer.in_flight(command.id) or await self.store.lookup(command.id) is not None:
            return command  # a resend: the command path answers it as a duplicate
        room = await self.room(command.room)
        if fill is not None:
            command = fill(command)
            data = validate_command(command.type, command.data, from_client=False, filled=True)
        check(room.state, command.type, data)
        if not internal:  # the hub's own commands skip the role rules, as on the command path
            absent = members.absence(room, self._clock())
            authorize(room.state, actor, command.type, data, self.policy, absent)
        return command if preparer is None else await preparer(command, actor, admin)

    async def dispatch(
        self, command: Command, actor: str, *, internal: bool = False, admin: bool = False
    ) -> asyncio.Future[Ack]:
        """Prepare a command and queue it; the future resolves once it is durable.

        The digest is taken before any preparer fills data in, so a resend of
        the command as sent is recognised, and an id reused for another is not.
        """
        digest = None
        if command.type in self.preparers or command.type in self.fillers:
            validate_command(command.type, command.data, from_client=not internal)
            digest = command.digest()
            command = await self._prepare_once(command, digest, actor, admin, internal)
        return self.submit(command, actor, internal=internal, digest=digest, prepared=digest is not None)

    async def _prepare_once(
        self, command: Command, digest: str, actor: str, admin: bool, internal: bool = False
    ) -> Command:
        """Prepare a command once, however often it is resent meanwhile.

        A client that reconnects resends what was not acked; while the first
        copy still waits on Alertmanager, the resend waits for it too, rather
        than making a second silence that nothing would ever expire.
        """
        earlier = self._preparing.get(command.id)
        if earlier is not None:
            if earlier[0] != digest:
                raise id_reused(command.id)
            return await asyncio.shield(earlier[1])
        preparing: asyncio.Future[Command] = asyncio.get_running_loop().create_future()
        self._preparing[command.id] = (digest, preparing)
        try:
            prepared = await self.prepare(command, actor, admin=admin, internal=internal)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled: a resend waiting on it is refused, not cancelled
                exc = WarroomError(Code.SHUTTING_DOWN, "the first copy of this command was cut off; resend")
            preparing.set_exception(exc)
            preparing.exception()  # retrieved here: a refusal nobody else waited for is not an error
            raise
        else:
            preparing.set_result(prepared)
            return prepared
        finally:
            del self._preparing[command.id]

    async def execute(
        self, command: Command, actor: str, *, internal: bool = False, admin: bool = False
    ) -> Ack:
        return await (await self.dispatch(command, actor, internal=internal, admin=admin))

    # -- rooms and reads -------------------------------------------------------------

    async def room(self, room_id: str) -> Room:
        """The live room, loaded from its newest snapshot plus the tail of its log."""
        return await self.rooms.get(room_id)

    async def unload_idle(self, idle_for: float = IDLE_ROOM) -> list[str]:
        """Let go of rooms nobody has used for ``idle_for`` seconds, snapshotted first."""
        return await self.rooms.unload_idle(idle_for, self.writer.quiet, self.snapshots.now)

    async def committed_state(self, room_id: str) -> tuple[IncidentState, int]:
        """Fold the log from its newest snapshot: the state as the store holds it."""
        return await self.rooms.committed_state(room_id)

    async def settled_state(self, room_id: str) -> IncidentState:
        """A room's state with no batch in flight, so it holds only committed events."""
        await self.writer.settled()
        room = await self.room(room_id)
        await self.writer.settled()
        return room.state

    async def incidents(self) -> list[dict[str, Any]]:
        """Every incident's listing, from memory: sorted once per change, not once per request."""
        return self.rooms.incidents()

    # -- membership ------------------------------------------------------------------

    def admit(self, room: Room, member: Subscriber, kind: str, key: tuple[str, str]) -> None:
        """Refuse a join past the room's limits; a role holder always gets into their own room."""
        members.admit(room, member, kind, key, self.limits)

    def add_member(
        self, room: Room, member: Subscriber, kind: str = RESPONDER, key: tuple[str, str] | None = None
    ) -> None:
        """Add a live member; a responder's first join goes on the record, a viewer's does not."""
        self.presence.mark(room.id)
        if members.join(room, member, kind, key, self._clock()):
            self.emit(room.id, "responder.joined", {"name": member.name}, member.name)

    def remove_member(self, room_id: str, member: Subscriber) -> None:
        room = self.rooms.loaded.get(room_id)
        if room is not None:
            self.presence.mark(room_id)
            members.leave(room, member, self._clock())

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
        for room in list(self.rooms.loaded.values()):
            for role, offer in list(room.state.offers.items()):
                if (now - parse_time(offer.at)).total_seconds() >= limit:
                    self.emit(room.id, "role.offer_expired", {"role": role})

    async def sweep_forever(self, every: float = 5.0) -> None:
        while True:
            await asyncio.sleep(every)  # a periodic job, not a wait for an event
            try:
                self.sweep()
                await self.unload_idle()
            except Exception:  # offers must keep expiring: the sweep outlives a failing store or a bug
                log.exception("sweep failed; trying again in %g s", every)


def _log_refusal(done: asyncio.Future[Ack]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.info("hub event refused: %s", exc)
