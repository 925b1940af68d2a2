"""One websocket connection to the hub: its frames in, and one ordered send path out.

Everything the connection is sent (replies, catch-up, live events, presence)
goes through a single bounded queue drained by one task, so frames never
reorder and a client that stops reading is cut off instead of growing the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from server.access import Access
from server.hub import Hub
from server.room import OBSERVER, RESPONDER, VIEWER
from server.store import StorageError
from server.tokens import Identity, Level
from server.writer import Ack
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command, Event
from warroom.core.protocol import (
    MAX_FRAME,
    PROTOCOL_VERSION,
    Close,
    decode,
    encode,
    error_frame,
    parse_client_frame,
    request_id,
)
from warroom.core.schema import format_time

log = logging.getLogger("warroom.session")

QUEUE_SIZE = 1024  # frames waiting for one client before it counts as a slow consumer
QUEUE_BYTES = 4 * 1024 * 1024  # ...or bytes: group commit packs many events into one frame
MAX_INFLIGHT = 256  # commands from one client awaiting their ack before reading pauses
PAGE = 500  # events per catch-up frame
REPLAY_LIMIT = 2000  # further behind than this, a snapshot is cheaper than a replay
CLOSE_WAIT = 10.0  # seconds a closing client gets to take its close frame before the socket is cut
MAX_PAST = 4  # state_at answers being made at once for one connection

_Item = tuple[Any, ...]


def _counted(item: _Item) -> int:
    """Bytes an item counts against ``QUEUE_BYTES``.

    A reply the client asked for (the state at a seq: a snapshot and up to a
    few thousand events) is not: its size is bounded by the room, and
    counting it would cut off the client that asked.
    """
    return len(item[-1]) if item[0] != "reply" and isinstance(item[-1], bytes) else 0


@dataclass(slots=True)
class _Subscription:
    sent: int = 0  # the last seq this client has been sent in the room


class Session:
    def __init__(
        self,
        hub: Hub,
        ws: ServerConnection,
        identity: Identity,
        access: Access,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.hub = hub
        self.ws = ws
        self.identity = identity
        self.access = access
        self.remote = ws.remote_address[0] if ws.remote_address else None
        self.name = ""
        self.since = format_time(hub._clock())
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._queued_bytes = 0
        self._busy = False  # the send loop is in the middle of an item
        self._subs: dict[str, _Subscription] = {}
        self._inflight = asyncio.Semaphore(MAX_INFLIGHT)
        self._closed = False
        self._closer: asyncio.Task[None] | None = None
        self._answering: set[asyncio.Task[None]] = set()  # replies being made (the state at a seq)

    @property
    def queued(self) -> int:
        """Frames waiting for this client (its send queue's depth, for the metrics)."""
        return self._queue.qsize()

    # -- the Subscriber interface the hub fans out through ---------------------------

    def deliver(self, room: str, first: int, last: int, frame: bytes) -> None:
        self._put(("events", room, first, last, frame))

    def send(self, frame: dict[str, Any]) -> None:
        self._put(("frame", encode(frame)))

    def send_encoded(self, frame: bytes) -> None:
        """A frame already encoded once for many members (presence, say)."""
        self._put(("frame", frame))

    def _put(self, item: _Item) -> None:
        if self._closed:
            return
        if self._queue.empty() and not self._busy and not self.ws.paused and self._write_now(item):
            return
        size = _counted(item)
        if self._queue.full() or self._queued_bytes + size > QUEUE_BYTES:
            self.hub.stats["slow_consumers"] += 1
            self.close(Close.SLOW_CONSUMER, "slow consumer: send queue full; resume later")
            return
        self._queued_bytes += size
        self._queue.put_nowait(item)

    def close(self, code: int, reason: str) -> None:
        """Stop sending and close the connection; the client resumes from its last seq."""
        if self._closed:
            return
        self._closed = True
        log.info("closing %s (%s): %d %s", self.name or "?", self.ws.remote_address, code, reason)
        self._leave_all()
        self._discard_queue()
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        """The close frame waits behind unread data; a peer that never reads is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(code, reason), CLOSE_WAIT)
        except TimeoutError:
            self.ws.transport.abort()

    def _discard_queue(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        self._queued_bytes = 0

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to the socket."""
        await self._queue.join()

    # -- running ---------------------------------------------------------------------

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            async for message in self.ws:
                await self._handle(message)
        except ConnectionClosed:
            pass
        finally:
            self._closed = True
            self._leave_all()
            for task in list(self._answering):
                task.cancel()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def _write_now(self, item: _Item) -> bool:
        """The fast path: a caught-up client whose socket keeps up gets the frame written at once.

        This is what ``websockets.broadcast`` does, without a task switch per
        member. Anything else (a catch-up in progress, a socket past its write
        limit, frames already queued) takes the queue, so order and the
        slow-consumer limit are kept.
        """
        kind = item[0]
        if kind == "events":
            _, room, first, last, _ = item
            sub = self._subs.get(room)
            if sub is None or last <= sub.sent:
                return True  # nothing this client still needs
            if first != sub.sent + 1:
                return False
            sub.sent = last
        elif kind not in ("frame", "reply"):
            return False
        broadcast([self.ws], item[-1])
        return True

    async def _send_loop(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                self._busy = True
                try:
                    await self._send_item(item)
                except ConnectionClosed:
                    raise
                except Exception:  # a catch-up that cannot be read: the client resumes on a new connection
                    log.exception("sending %s to %s failed", item[0], self.name or "?")
                    self.close(Close.GOING_AWAY, "the hub could not send this room; resume shortly")
                finally:
                    self._busy = False
                    self._queued_bytes -= _counted(item)
                    self._queue.task_done()
        except ConnectionClosed:
            self._closed = True
            self._discard_queue()

    async def _send_item(self, item: _Item) -> None:
        kind = item[0]
        if kind in ("frame", "reply"):
            await self.ws.send(item[1])
        elif kind == "events":
            _, room, first, last, frame = item
            sub = self._subs.get(room)
            if sub is None or last <= sub.sent:
                return  # left the room, or already sent during catch-up
            if first != sub.sent + 1:  # cannot happen; refill from the log rather than gap
                await self._replay(room, sub)
                return
            await self.ws.send(frame)
            sub.sent = last
        elif kind == "catchup":
            await self._catch_up(*item[1:])

    # -- frames in -------------------------------------------------------------------

    async def _handle(self, raw: bytes | str) -> None:
        rid: str | int | None = None
        command_id: str | None = None
        kind = "?"
        try:
            frame = decode(raw)
            rid = request_id(frame)
            if frame["t"] == "cmd" and isinstance(frame.get("id"), str) and len(frame["id"]) <= 64:
                command_id = frame["id"]  # so even a refused frame settles the command it carries
            kind, fields = parse_client_frame(frame)
            if kind == "hello":
                self._hello(fields)
            elif not self.name:
                raise WarroomError(Code.HELLO_REQUIRED, "the first frame must be hello")
            elif kind == "cmd":
                await self._command(fields, rid)
            elif kind == "join":
                self.hub.join_rate.check((self.identity.token_id, self.name))
                self.access.require(self.identity, Level.VIEWER, fields["room"], doing="joining a room")
                await self._join(fields["room"], fields.get("epoch"), fields["after"], rid, fields["observe"])
            elif kind == "leave":
                if fields["room"] not in self._subs:
                    raise WarroomError(Code.NOT_JOINED, f"not in {fields['room']}", field="room")
                self._leave(fields["room"])
                self.send({"t": "left", "rid": rid, "room": fields["room"]})
            elif kind == "list":
                self.hub.join_rate.check((self.identity.token_id, self.name))
                listed = self.access.visible(self.identity, await self.hub.incidents())
                self.send({"t": "incidents", "rid": rid, "incidents": listed})
            elif kind == "state_at":
                self.hub.join_rate.check((self.identity.token_id, self.name))
                room = fields["room"]
                self.access.require(self.identity, Level.VIEWER, room, doing="reading an incident's past")
                if len(self._answering) >= MAX_PAST:
                    raise WarroomError(
                        Code.RATE_LIMITED,
                        f"{MAX_PAST} state_at requests are being answered; wait for one",
                        None,
                        1,
                    )
                task = asyncio.create_task(self._state_at(fields, rid))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
            elif kind == "admin":
                data = await self.access.admin(
                    self.identity, self.name, fields["op"], fields.get("args"), via="sync", remote=self.remote
                )
                self.send({"t": "result", "rid": rid, "op": fields["op"], "data": data})
        except WarroomError as err:
            self._refuse(err, rid, command_id, doing=kind)
        except StorageError as exc:  # the log is away (a join loads the room from it): try again later
            unavailable = WarroomError(Code.STORAGE_UNAVAILABLE, f"the event log could not be read: {exc}")
            self._refuse(unavailable, rid, command_id, doing=kind)
        except Exception:  # a bug answers the frame, and the connection and the hub go on
            log.exception("%s frame from %s failed", kind, self.name or "?")
            self._refuse(WarroomError(Code.INTERNAL, f"the hub failed on this {kind} frame"), rid, command_id)

    def _refuse(
        self, err: WarroomError, rid: str | int | None, command_id: str | None = None, **detail: Any
    ) -> None:
        """Answer with an error frame; a refused permission goes to the audit log too."""
        self.access.refused(self.identity, self.name or None, err, via="sync", remote=self.remote, **detail)
        frame = error_frame(err, rid)
        if command_id is not None:
            frame["id"] = command_id
        self.send(frame)
        if err.code == Code.UNAUTHORIZED:
            self.close(Close.UNAUTHORIZED, err.message)

    def _hello(self, fields: dict[str, Any]) -> None:
        if self.name:
            raise WarroomError(Code.BAD_FRAME, "hello may be sent only once")
        if fields["v"] != PROTOCOL_VERSION:
            self.send(
                error_frame(
                    WarroomError(
                        Code.UNSUPPORTED_VERSION,
                        f"protocol version {fields['v']} is not supported; "
                        f"this hub speaks {PROTOCOL_VERSION}",
                        field="v",
                    )
                )
            )
            self._closer = asyncio.create_task(self._close_after_flush(Close.UNSUPPORTED_VERSION))
            return
        self.name = self.identity.name or fields["name"]  # a personal token's name, whatever hello says
        self.send(
            {
                "t": "welcome",
                "name": self.name,
                "access": self.identity.describe(),
                "v": PROTOCOL_VERSION,
                "hub": self.hub.hub_id,
                "time": format_time(self.hub._clock()),
                "max_frame": MAX_FRAME,
                "policy": self.hub.policy.to_wire(),
                "alertmanager": "alert.silenced" in self.hub.preparers and self.hub.has_alertmanager,
                "runbooks": self.hub.runbook_listing,
                "log": self.hub.log_error,
            }
        )

    async def _state_at(self, fields: dict[str, Any], rid: str | int | None) -> None:
        """Answer a ``state_at`` frame off the read loop: a first look at a long log makes checkpoints."""
        try:
            past = await self.hub.history.past(fields["room"], fields.get("seq"), fields.get("at"))
            frame = await asyncio.to_thread(encode, past.to_frame(rid))
        except WarroomError as err:
            self._refuse(err, rid, doing="state_at", room=fields["room"])
            return
        except StorageError as exc:
            failed = WarroomError(Code.STORAGE_UNAVAILABLE, f"the event log could not be read: {exc}")
            self._refuse(failed, rid, doing="state_at", room=fields["room"])
            return
        except Exception:  # a bug answers the frame, and the connection goes on
            log.exception("state_at from %s failed", self.name or "?")
            self._refuse(WarroomError(Code.INTERNAL, "the hub failed on this state_at frame"), rid)
            return
        self._put(("reply", frame))

    async def _close_after_flush(self, code: int) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), 2)
        self.close(code, "unsupported protocol version")

    async def _command(self, fields: dict[str, Any], rid: str | int | None) -> None:
        command = Command(fields["id"], fields["type"], fields.get("data") or {}, fields.get("room"))
        await self._inflight.acquire()
        try:
            self.access.require_command(self.identity, command)
            self.hub.command_rate.check((self.identity.token_id, self.name))
            # Prepared in line (a silence reaching Alertmanager), so this client's commands keep their order.
            # Going beyond the hub's bounds reaches the whole organisation: an admin of every incident only.
            admin = self.identity.level >= Level.ADMIN and self.identity.scope is None
            future = await self.hub.dispatch(command, self.name, admin=admin)
        except Exception as exc:
            self._inflight.release()
            failed = WarroomError(Code.INTERNAL, "the hub failed on this command")
            refusal = exc if isinstance(exc, WarroomError) else failed
            if refusal is failed:  # a bug still answers the command, and frees its slot
                log.exception("%s from %s failed", command.type, self.name)
            self._refuse(refusal, rid, command.id, doing=command.type, room=command.room)
            return
        future.add_done_callback(lambda done: self._acked(done, command, rid))

    def _acked(self, done: asyncio.Future[Ack], command: Command, rid: str | int | None) -> None:
        self._inflight.release()
        if done.cancelled():
            return
        exc = done.exception()
        if isinstance(exc, WarroomError):
            self._refuse(exc, rid, command.id, doing=command.type, room=command.room)
        elif exc is None:
            self.send({"t": "ack", "rid": rid, **done.result().to_wire()})

    async def _join(
        self, room_id: str, epoch: str | None, after: int, rid: str | int | None, observe: bool = False
    ) -> None:
        """Join a room; an observer (a CLI reading it) is sent everything and recorded nowhere."""
        room = await self.hub.room(room_id)  # raises unknown_room
        kind = OBSERVER if observe else RESPONDER if self.identity.level >= Level.RESPONDER else VIEWER
        key = (self.identity.token_id, self.name)
        self.hub.admit(room, self, kind, key)  # raises limit_reached
        self._leave(room_id)
        self._subs[room_id] = _Subscription()
        # The catch-up item goes in before any live event can: the sender streams the
        # log up to wherever it is by then, and skips the live frames it already sent.
        self._put(("catchup", room_id, rid, epoch, after))
        self.hub.add_member(room, self, kind, key)

    def _leave(self, room_id: str) -> None:
        if self._subs.pop(room_id, None) is not None:
            self.hub.remove_member(room_id, self)

    def _leave_all(self) -> None:
        for room_id in list(self._subs):
            self._leave(room_id)

    # -- catch-up --------------------------------------------------------------------

    async def _catch_up(self, room_id: str, rid: Any, epoch: str | None, after: int) -> None:
        sub = self._subs.get(room_id)
        record = await self.hub.store.room(room_id)
        if sub is None or record is None:
            return
        snap = None
        reset = (epoch is not None and epoch != record.epoch) or after > record.head
        if reset or record.head - after > REPLAY_LIMIT:
            snap = await self.hub.store.snapshot(room_id)
            if snap is not None and snap[0] <= after and not reset:
                snap = None  # the client already has everything the snapshot holds
        mode = "snapshot" if reset or snap is not None else "replay"
        await self.ws.send(
            encode(
                {
                    "t": "joined",
                    "rid": rid,
                    "room": room_id,
                    "epoch": record.epoch,
                    "head": record.head,
                    "mode": mode,
                }
            )
        )
        if mode == "snapshot":
            seq, state = snap if snap is not None else (0, None)
            await self.ws.send(
                encode(
                    {
                        "t": "snapshot",
                        "room": room_id,
                        "epoch": record.epoch,
                        "seq": seq,
                        "state": state,
                    }
                )
            )
            sub.sent = seq
        else:
            sub.sent = after
        await self._replay(room_id, sub)
        await self.ws.send(encode({"t": "synced", "room": room_id, "seq": sub.sent}))

    async def _replay(self, room_id: str, sub: _Subscription) -> None:
        """Page through the log; each page is read and encoded in a store thread, off the loop.

        Catch-ups run one at a time per connection (the send loop takes them in turn),
        and at most ``limits.catch_ups`` pages are being read at once across the hub, so
        joins cannot crowd out live traffic. The slot is not held while a page is sent:
        a client that stops reading holds up only itself.
        """
        while True:
            async with self.hub.catch_ups:
                count, last, frame = await self.hub.store.read_then(
                    room_id, sub.sent, PAGE, lambda events: _page(room_id, events)
                )
            if count:
                await self.ws.send(frame)
                sub.sent = last
            if count < PAGE:
                return


def _page(room_id: str, events: list[Event]) -> tuple[int, int, bytes]:
    """One catch-up frame: how many events, the last seq, and the encoded frame."""
    if not events:
        return 0, 0, b""
    frame = encode({"t": "events", "room": room_id, "events": [e.to_wire() for e in events]})
    return len(events), events[-1].seq, frame
