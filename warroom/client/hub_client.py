"""An async client of the hub: reconnects, resumes, and never drops a queued command.

The client keeps a copy of each joined room's state, folded by the same
reducer the hub runs. Commands go into the outbox first and leave it only when
the hub acknowledges or refuses them, so a command issued while the hub is
unreachable is sent on reconnect under its original id and lands exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from warroom.client.outbox import Outbox
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command, Event, validate_command
from warroom.core.protocol import (
    MAX_FRAME,
    PROTOCOL_VERSION,
    Close,
    decode,
    encode,
    new_id,
    parse_client_frame,
)
from warroom.core.reducer import apply
from warroom.core.state import IncidentState
from warroom.snapshots import load_snapshot
from warroom.timetravel import Past

log = logging.getLogger("warroom.client")

Status = Literal["connecting", "connected", "reconnecting", "offline"]
# Refusals that say "not now" rather than "never": the command stays queued.
TRANSIENT = {Code.STORAGE_UNAVAILABLE, Code.SHUTTING_DOWN, Code.RATE_LIMITED}


class HubUnavailable(Exception):
    """The hub could not be reached, or the connection failed before it was usable."""


class Unauthorized(HubUnavailable):
    """The hub refused the token, or the hello (a name it does not take); retrying will not help."""


class CommandRejected(Exception):
    def __init__(self, error: WarroomError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Dropped:
    """A queued command that left the outbox unsent, and why: shown to the person who typed it."""

    command: Command
    error: WarroomError

    def describe(self) -> str:
        text = self.command.data.get("text") or self.command.data.get("message")
        what = f"{self.command.type} {str(text)[:40]!r}" if text else self.command.type
        return f"not sent: {what}: {self.error.message}"


def frame_of(command: Command) -> dict[str, Any]:
    frame: dict[str, Any] = {"t": "cmd", "id": command.id, "type": command.type, "data": command.data}
    if command.room is not None:
        frame["room"] = command.room
    return frame


def too_large(command: Command, max_frame: int) -> WarroomError | None:
    """Why the hub could never take this command's frame, or None: it closes the socket on one."""
    size = len(encode(frame_of(command)))
    if size <= max_frame:
        return None
    return WarroomError(
        Code.TOO_LARGE, f"the command is {size:,} bytes; the hub takes at most {max_frame:,} in one frame"
    )


def unsendable(command: Command, max_frame: int) -> WarroomError | None:
    """Why a saved command can never be delivered (too large, or invalid), or None.

    A frame the hub finds malformed is refused without the command's id, so the
    command would never be settled: it too is caught here, before it is sent.
    """
    try:
        parse_client_frame(frame_of(command))
        validate_command(command.type, command.data)
    except WarroomError as exc:
        return exc
    return too_large(command, max_frame)


@dataclass(frozen=True)
class ConnectionState:
    status: Status
    attempt: int = 0
    retry_in: float | None = None
    queued: int = 0
    error: str | None = None
    log_error: str | None = None  # the hub is up but its event log takes no writes

    def describe(self) -> str:
        """What the header says; the queued count shows whenever anything waits to be sent."""
        if self.status == "offline":
            return f"offline, {self.queued} action{'s' if self.queued != 1 else ''} queued"
        if self.status == "connected":
            text = "live, but the hub cannot save: commands wait" if self.log_error else "live"
        elif self.status == "reconnecting":
            text = f"reconnecting (attempt {self.attempt}, next try in {self.retry_in or 0:.0f}s)"
        else:
            text = "connecting"
        return f"{text} · {self.queued} queued" if self.queued else text


@dataclass
class Backoff:
    """Exponential backoff with full jitter, so a restarted hub is not stampeded."""

    base: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int) -> float:
        ceiling: float = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        return random.uniform(0.5, 1.0) * ceiling


@dataclass
class RoomView:
    """The client's copy of one room."""

    room: str
    epoch: str | None = None
    state: IncidentState = field(init=False)
    synced: bool = False
    asked: bool = False  # a join is on its way and the room not yet synced: another would fetch it twice
    observe: bool = False  # joined to read only: the hub records no join
    presence: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, str] = field(default_factory=dict)  # actor -> time of their last event
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = IncidentState(room=self.room)

    def join_frame(self) -> dict[str, Any]:
        """The join that resumes this room where its state stands."""
        frame = {"t": "join", "room": self.room, "epoch": self.epoch, "after": self.state.seq}
        return {**frame, "observe": True} if self.observe else frame


Listener = Callable[[str, str | None], None]
EventListener = Callable[[str, Event], None]


def hub_urls(given: str) -> list[str]:
    """``ws://a:8765,ws://b:8765``: the hubs to try, in order."""
    urls = [part.strip() for part in given.split(",") if part.strip()]
    return urls or [given]


class HubClient:
    def __init__(
        self,
        url: str,
        token: str,
        name: str,
        *,
        outbox: Outbox | None = None,
        backoff: Backoff | None = None,
        open_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context  # for wss://: a private CA's context; None trusts the system's
        # Several hubs on one store: a dropped or unreachable hub sends the client to the next.
        self.urls = hub_urls(url)
        self._at = 0  # which of urls is in use
        self.token = token
        self.name = name
        self.outbox = outbox if outbox is not None else Outbox()
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.rooms: dict[str, RoomView] = {}
        self.max_frame = MAX_FRAME  # until the hub's welcome says otherwise
        self._closed_over: int | None = None  # the smallest frame the hub closed the socket over (1009)
        self.dropped: list[Dropped] = []  # commands that left the outbox unsent; the app shows them
        self._sent_sizes: dict[str, int] = {}  # command id -> frame size, on the current connection
        self.hub_id: str | None = None
        self.policy: dict[str, Any] = {}  # the hub's cadence, commander deadlines and role rules
        self.alertmanager = False  # the hub can make real silences
        self.access: dict[str, Any] = {}  # the token's level, scope and expiry, as the hub sees it
        self.library: list[dict[str, str]] = []  # the hub's runbooks ({id, title, owner}) for the picker
        self.log_error: str | None = None  # the hub's word that its event log takes no writes
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._futures: dict[str, asyncio.Future[Any]] = {}  # command id -> ack future
        self._requests: dict[str | int, asyncio.Future[Any]] = {}  # rid -> reply future
        self._rejoins: dict[int, str] = {}  # rid -> room, for the joins connect() resends
        self._rid = itertools.count(1)
        self._listeners: list[Listener] = []
        self._event_listeners: list[EventListener] = []
        self._closing = False
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._purge()
        self.state = ConnectionState("offline", queued=len(self.outbox))

    # -- observing -------------------------------------------------------------------

    def listen(self, listener: Listener) -> None:
        """``listener(kind, room)`` is called on each change.

        Kinds: "connection", "outbox", "state" and "presence" (the last two name a room),
        and "dropped": a queued command left the outbox unsent (see ``dropped``).
        """
        self._listeners.append(listener)

    def listen_events(self, listener: EventListener) -> Callable[[], None]:
        """``listener(room, event)`` is called for each event folded into a room, after it is applied.

        For views that redraw only what an event changed (the alert panel with
        50,000 alerts); a snapshot replaces ``RoomView.state`` instead, which they
        notice by its identity. Returns the call that stops listening.
        """
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener) if listener in self._event_listeners else None

    def _notify(self, kind: str, room: str | None = None) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, room)
            except Exception:
                log.exception("listener failed")

    def _set_state(self, status: Status, **kw: Any) -> None:
        kw.setdefault("log_error", self.log_error if status == "connected" else None)
        self.state = ConnectionState(status, queued=len(self.outbox), **kw)
        self._notify("connection")

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def url(self) -> str:
        """The hub in use, or tried next."""
        return self.urls[self._at]

    @property
    def connected(self) -> bool:
        return self.state.status == "connected"

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    # -- connecting ------------------------------------------------------------------

    async def connect(self) -> None:
        """One attempt: open, hello, rejoin rooms, resend the outbox. Raises HubUnavailable."""
        self._set_state("connecting")
        try:
            ws = await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                compression=None,
                max_size=None,  # snapshots of big rooms are large; the hub is trusted
                open_timeout=self.open_timeout,
                close_timeout=2,
                **self._tls(),
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            self._set_state("offline", error=f"hub refused the connection ({status})")
            if status in (401, 403):
                why = exc.response.body.decode("utf-8", "replace").strip() or f"HTTP {status}"
                raise Unauthorized(f"the hub refused the connection: {why}") from None
            raise HubUnavailable(f"the hub answered HTTP {status}") from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            self._set_state("offline", error=str(exc) or type(exc).__name__)
            raise HubUnavailable(f"cannot reach the hub at {self.url}: {_reason(exc)}") from None
        self._ws = ws
        self._sent_sizes.clear()
        self._reader = asyncio.create_task(self._read_loop(ws), name="warroom-client-reader")
        try:
            welcome = await self._request(
                {"t": "hello", "v": PROTOCOL_VERSION, "name": self.name, "client": "warroom-py"}, key="hello"
            )
            self.hub_id = welcome.get("hub")
            self.name = welcome.get("name") or self.name  # a personal token fixes the name
            self.access = welcome.get("access") or {}
            self.policy = welcome.get("policy") or {}
            self.alertmanager = bool(welcome.get("alertmanager"))
            self.library = _library(welcome.get("runbooks"))
            self.log_error = welcome.get("log")
            self.max_frame = int(welcome.get("max_frame") or MAX_FRAME)
            if self._closed_over is not None:  # what the socket did outweighs what the welcome says
                self.max_frame = min(self.max_frame, self._closed_over - 1)
            self._purge()
            self._rejoins.clear()
            for view in list(self.rooms.values()):  # a join or leave may change rooms meanwhile
                if self.rooms.get(view.room) is view:
                    await self._send_rejoin(view)
            # A command submitted during these awaits was not sent (not connected yet): send it too.
            sent: set[str] = set()
            while unsent := [c for c in self.outbox.pending() if c.id not in sent]:
                for command in unsent:
                    sent.add(command.id)
                    if command.id in self.outbox:
                        await self._send_command(command)
        except CommandRejected as exc:  # the hub refused hello itself (a bad name): retrying will not help
            await self._drop()
            raise Unauthorized(f"the hub refused hello: {exc.error.message}") from None
        except (ConnectionClosed, HubUnavailable, OSError) as exc:
            await self._drop()
            if ws.close_code == Close.TOO_BIG:  # over a resent command: it must not be resent again
                self._drop_too_big()
            raise HubUnavailable(f"the connection failed during setup: {_reason(exc)}") from None
        self._set_state("connected")
        self._connected.set()

    async def _send_rejoin(self, view: RoomView) -> None:
        """Resume a room; its rid is kept, so a refusal reaches the room's waiters."""
        view.synced, view.asked = False, True
        rid = next(self._rid)
        self._rejoins[rid] = view.room
        await self._send({**view.join_frame(), "rid": rid})

    async def _retry_rejoin(self, room: str, delay: float) -> None:
        await asyncio.sleep(delay)  # a transient refusal: give the hub a moment
        view = self.rooms.get(room)
        if view is None or not self.connected:
            return  # left meanwhile, or the next connection rejoins it
        with contextlib.suppress(ConnectionClosed, HubUnavailable):
            await self._send_rejoin(view)

    def _rejoin_refused(self, rid: int, error: WarroomError) -> None:
        """A resent join was refused: "not now" tries again; anything else fails the room's waiters."""
        room = self._rejoins.pop(rid)
        if error.code in TRANSIENT:
            delay = max(float(error.retry_after or 0), self.backoff.delay(3))
            self._background(self._retry_rejoin(room, delay))
            return
        view = self.rooms.pop(room, None)
        if view is None:
            return
        waiters, view.waiters = view.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(CommandRejected(error))

    def _tls(self) -> dict[str, Any]:
        """A private CA's context for wss://; without one, websockets trusts the system's CAs."""
        if self.ssl_context is not None and self.url.startswith("wss://"):
            return {"ssl": self.ssl_context}
        return {}

    async def run(self) -> None:
        """Stay connected until ``close()``: reconnect with backoff, resuming every room.

        With several hubs, a lost or refused connection moves to the next one at
        once; the backoff starts only when every hub has been tried.
        """
        attempt = 0
        while not self._closing:
            try:
                await self.connect()
            except Unauthorized:
                raise
            except HubUnavailable:
                pass
            else:
                attempt = 0
                assert self._reader is not None
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self._reader)
                if self.closing:
                    break
            self._at = (self._at + 1) % len(self.urls)
            if self._at != 0:
                continue  # another hub not tried yet in this round
            attempt += 1
            delay = self.backoff.delay(attempt)
            self._set_state("reconnecting", attempt=attempt, retry_in=delay)
            await asyncio.sleep(delay)  # backoff between attempts, not a wait for an event

    async def close(self) -> None:
        """Close with 1000 so the hub sees a clean goodbye."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close(Close.NORMAL, "bye")
        await self._drop()
        self._set_state("offline")

    def drop_connection(self) -> None:
        """Cut the connection as a network failure would; ``run()`` then reconnects and resumes."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    async def _drop(self) -> None:
        self._connected.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(Close.NORMAL)
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        self._fail_requests(HubUnavailable("the connection to the hub was lost"))

    def _fail_requests(self, exc: Exception) -> None:
        requests, self._requests = self._requests, {}
        for future in requests.values():
            if not future.done():
                future.set_exception(exc)

    # -- sending ---------------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._ws is None:
            raise HubUnavailable("not connected")
        await self._ws.send(encode(frame))

    async def _request(
        self, frame: dict[str, Any], key: str | int | None = None, timeout: float | None = None
    ) -> Any:
        rid = key if key is not None else next(self._rid)
        if key is None:
            frame["rid"] = rid
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[rid] = future
        try:
            await self._send(frame)
        except BaseException:
            if self._requests.get(rid) is future:  # never sent: nobody will answer it, nor wait for it
                del self._requests[rid]
            future.cancel()
            raise
        return await asyncio.wait_for(future, timeout or self.open_timeout * 2)

    async def _send_command(self, command: Command) -> None:
        frame = encode(frame_of(command))
        if self._ws is None:
            raise HubUnavailable("not connected")
        self._sent_sizes[command.id] = len(frame)
        await self._ws.send(frame)

    def submit(
        self, type_: str, data: dict[str, Any], room: str | None = None, command_id: str | None = None
    ) -> asyncio.Future[dict[str, Any]]:
        """Queue a command; it is sent now if connected, else on reconnect.

        The future resolves with the ack, or raises ``CommandRejected``. A command
        whose frame the hub could never take raises ``CommandRejected`` (too_large)
        here, before it is queued: queued, it would close the connection on every resend.
        """
        command = Command(command_id or new_id(), type_, data, room)
        if (error := too_large(command, self.max_frame)) is not None:
            raise CommandRejected(error)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._futures[command.id] = future
        self.outbox.add(command)
        self._queued_changed()
        if self.connected:
            self._background(self._send_quietly(command))
        return future

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_quietly(self, command: Command, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)  # a transient refusal: give the hub a moment
            if command.id not in self.outbox or not self.connected:
                return
        with contextlib.suppress(ConnectionClosed, HubUnavailable):
            await self._send_command(command)

    def _purge(self) -> None:
        """Take out of the outbox what can never be sent (a file saved by an older client, say)."""
        for command in self.outbox.pending():
            if (error := unsendable(command, self.max_frame)) is not None:
                self._drop_command(command, error)

    def _drop_command(self, command: Command, error: WarroomError) -> None:
        """The command leaves the outbox unsent; whoever waits on it is told, or the app is."""
        self.outbox.remove(command.id)
        self._sent_sizes.pop(command.id, None)
        future = self._futures.pop(command.id, None)
        if future is not None and not future.done():
            future.set_exception(CommandRejected(error))
        else:
            self.dropped.append(Dropped(command, error))
            self._notify("dropped", command.room)

    def _queued_changed(self) -> None:
        self.state = replace(self.state, queued=len(self.outbox))
        self._notify("outbox")

    async def send(self, type_: str, data: dict[str, Any], room: str | None = None) -> dict[str, Any]:
        """Submit and wait for the hub's acknowledgement."""
        return await self.submit(type_, data, room)

    async def join(self, room: str, timeout: float | None = 30.0, *, observe: bool = False) -> RoomView:
        """Join a room and return once its state has caught up with the hub (None: however long).

        ``observe`` reads without taking part: the hub records no join (a CLI reading a room).
        """
        view = self.expect(room, observe=observe)
        if view.synced and self.connected:
            return view  # joined on this connection, and up to date
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        view.waiters.append(waiter)
        if self.connected and not view.asked:
            view.asked = True
            try:
                await self._request(view.join_frame())
            except CommandRejected as exc:
                self.rooms.pop(room, None)
                raise exc from None
        await asyncio.wait_for(waiter, timeout)
        return view

    def expect(self, room: str, *, observe: bool = False) -> RoomView:
        """The room's view, joined as soon as a connection opens.

        A terminal opened on one incident asks for it right after its hello, so the
        hub sends the room while the app is still starting, not after its first draw.
        """
        view = self.rooms.get(room)
        if view is None:
            view = self.rooms[room] = RoomView(room, observe=observe)
        return view

    async def leave(self, room: str) -> None:
        if self.rooms.pop(room, None) is not None and self.connected:
            await self._request({"t": "leave", "room": room})

    async def admin(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """An admin operation (tokens, the audit log); raises CommandRejected when refused."""
        reply = await self._request({"t": "admin", "op": op, "args": args or {}})
        return reply["data"]

    async def past(self, room: str, *, seq: int | None = None, at: str | None = None) -> Past:
        """The incident as its log stood at ``seq``, or at its last event at or before time ``at``.

        Raises ``CommandRejected`` for a seq past the log or a time before the
        declaration. ``Past.state()`` folds it (in a thread, for a long timeline).
        A first look into a long log that no hub has checkpointed takes a few seconds.
        """
        frame: dict[str, Any] = {"t": "state_at", "room": room}
        if seq is not None:
            frame["seq"] = seq
        if at is not None:
            frame["at"] = at
        return Past.from_frame(await self._request(frame, timeout=max(30.0, self.open_timeout * 2)))

    async def incidents(self) -> list[dict[str, Any]]:
        reply = await self._request({"t": "list"})
        return list(reply["incidents"])

    # -- receiving -------------------------------------------------------------------

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._dispatch(decode(message))
        except ConnectionClosed:
            pass
        except WarroomError as exc:  # the hub sent something we cannot read
            log.error("bad frame from hub: %s", exc)
        finally:
            if ws.close_code == Close.TOO_BIG:
                self._drop_too_big()
            if self._ws is ws:
                self._ws = None
                self._connected.clear()
                self._fail_requests(HubUnavailable("the connection to the hub was lost"))
                if not self._closing:
                    self._set_state("reconnecting", attempt=0, retry_in=0)

    def _drop_too_big(self) -> None:
        """The hub closed the connection over a frame too big for it: drop that command, not resend it.

        It is the largest unacknowledged command sent on the connection; the
        local limit drops below it, so nothing as large is queued again.
        """
        sent = [(size, cid) for cid, size in self._sent_sizes.items() if cid in self.outbox]
        self._sent_sizes.clear()
        if not sent:
            return
        size, command_id = max(sent)
        command = next(c for c in self.outbox.pending() if c.id == command_id)
        self._closed_over = min(self._closed_over or size, size)
        self.max_frame = min(self.max_frame, size - 1)
        error = WarroomError(
            Code.TOO_LARGE, f"the hub closed the connection over this {size:,}-byte command (1009)"
        )
        self._drop_command(command, error)
        self._queued_changed()

    def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["t"]
        if kind == "events":
            self._apply_events(frame["room"], frame["events"])
        elif kind == "ack":
            self._settle(frame["id"], result=frame)
        elif kind == "error":
            self._on_error(frame)
        elif kind == "welcome":
            self._resolve("hello", frame)
        elif kind == "joined":
            view = self.rooms.get(frame["room"])
            if view is not None:
                if frame["mode"] == "snapshot" or view.epoch not in (None, frame["epoch"]):
                    view.state = IncidentState(room=view.room)
                view.epoch = frame["epoch"]
            if isinstance(rid := frame.get("rid"), int):
                self._rejoins.pop(rid, None)
            self._resolve(rid, frame)
        elif kind == "snapshot":
            view = self.rooms.get(frame["room"])
            if view is not None and frame["state"] is not None:
                view.state = load_snapshot(frame["state"])
                self._notify("state", view.room)
        elif kind == "synced":
            view = self.rooms.get(frame["room"])
            if view is not None:
                view.synced, view.asked = True, False
                waiters, view.waiters = view.waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self._notify("state", view.room)
        elif kind == "presence":
            view = self.rooms.get(frame["room"])
            if view is not None:
                view.presence = frame["members"]
                self._notify("presence", view.room)
        elif kind == "hub":  # the hub's event log stopped or started taking writes
            self.log_error = frame.get("log")
            if self.connected:
                self._set_state("connected")
        elif kind == "policy":  # the hub's config was reloaded
            self.policy = frame["policy"]
            self._notify("connection")
        elif kind in ("incidents", "left", "result", "state_at"):
            self._resolve(frame.get("rid"), frame)

    def _apply_events(self, room: str, events: list[dict[str, Any]]) -> None:
        view = self.rooms.get(room)
        if view is None:
            return
        for raw in events:
            event = Event.from_wire(raw)
            if event.seq <= view.state.seq:
                continue  # already folded in (a resend after reconnect)
            apply(view.state, event)
            view.activity[event.actor] = event.ts
            for listener in self._event_listeners:
                try:
                    listener(room, event)
                except Exception:
                    log.exception("event listener failed")
        self._notify("state", room)

    def _on_error(self, frame: dict[str, Any]) -> None:
        error = WarroomError(
            Code(frame["code"]) if frame["code"] in Code._value2member_map_ else Code.INTERNAL,
            frame.get("message", ""),
            frame.get("field"),
            frame.get("retry_after"),
        )
        command_id = frame.get("id")
        if command_id is not None:
            if error.code in TRANSIENT:
                command = next((c for c in self.outbox.pending() if c.id == command_id), None)
                if command is not None:  # stays queued, and is tried again when the hub said, or shortly
                    delay = max(float(error.retry_after or 0), self.backoff.delay(3))
                    self._background(self._send_quietly(command, delay))
                return
            self._settle(command_id, error=error)
            return
        rid = frame.get("rid")
        if isinstance(rid, int) and rid in self._rejoins:
            self._rejoin_refused(rid, error)
            return
        if rid is None and "hello" in self._requests:
            rid = "hello"  # before its welcome, a client has sent only hello: this refuses it
        future = self._requests.pop(rid, None) if rid is not None else None
        if future is not None and not future.done():
            future.set_exception(CommandRejected(error))
        elif rid is None:
            log.warning("hub error: %s %s", error.code, error.message)

    def _settle(self, command_id: str, *, result: Any = None, error: WarroomError | None = None) -> None:
        self._sent_sizes.pop(command_id, None)
        command = self.outbox.remove(command_id)
        future = self._futures.pop(command_id, None)
        if future is not None and not future.done():
            if error is not None:
                future.set_exception(CommandRejected(error))
            else:
                future.set_result(result)
        elif error is not None and command is not None:
            # Nobody waits for it (typed before a restart): the refusal must still be seen.
            self.dropped.append(Dropped(command, error))
            self._notify("dropped", command.room)
        self._queued_changed()

    def _resolve(self, rid: Any, frame: dict[str, Any]) -> None:
        future = self._requests.pop(rid, None) if rid is not None else None
        if future is not None and not future.done():
            future.set_result(frame)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _library(listed: Any) -> list[dict[str, str]]:
    """The welcome's runbook list, read defensively: a hub without one (or a bad entry) gives none."""
    if not isinstance(listed, list):
        return []
    return [
        {k: str(entry.get(k) or "") for k in ("id", "title", "owner")}
        for entry in listed
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]
    ]
