"""Moving one incident between hubs: its whole log out as JSON lines, and back in, all or nothing.

The first line says what follows (the incident, its epoch, how many events);
each line after it is one event as the log holds it: id, seq, actor and time
intact, so a client's resend of a command the old hub acknowledged is still
recognised on the new one. An import is checked whole before anything is
written: every event must be one the hub could have accepted at that point
(the same validation and reducer checks the writer runs), in order from 1
with no gap; then it is one store transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from server.hub import Hub
from server.room import ROOM_ID
from server.store import StorageError
from server.store.base import Behind
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import NAME_MAX, Event, validate_command
from warroom.core.reducer import apply, check
from warroom.core.schema import parse_time
from warroom.core.state import IncidentState

log = logging.getLogger("warroom.transfer")

FORMAT = 1  # the export format's version: an importer refuses one it does not know
PAGE = 2000  # events read per page while exporting
MAX_IMPORT = 64 * 1024 * 1024  # bytes: an incident with a storm's worth of alerts fits
ID_MAX = 64


async def export_lines(hub: Hub, room_id: str) -> AsyncIterator[bytes]:
    """The incident's log as it stands when the export begins: later events are left out."""
    record = await hub.store.room(room_id)
    if record is None:
        raise unknown_room(room_id)
    head = {
        "warroom_export": FORMAT,
        "room": room_id,
        "epoch": record.epoch,
        "created_at": record.created_at,
        "events": record.head,
    }
    yield _line(head)
    after = 0
    while after < record.head:
        try:
            page = await hub.store.read(room_id, after, min(PAGE, record.head - after))
        except StorageError as exc:  # the body ends short of the header's count: no importer takes it
            log.warning("export of %s cut short after seq %d: %s", room_id, after, exc)
            return
        if not page:
            return
        for event in page:
            yield _line({**event.to_wire(), "digest": event.digest})
        after = page[-1].seq


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _fail(line: int, message: str, code: Code = Code.INVALID_VALUE) -> WarroomError:
    return WarroomError(code, f"line {line}: {message}; nothing was imported")


def parse_export(body: bytes) -> tuple[dict[str, Any], list[Event], IncidentState]:
    """The header, the events and the state they fold to; a WarroomError naming the line otherwise."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    if not lines:
        raise WarroomError(Code.MISSING_FIELD, "the body is empty: send what warroom export wrote")
    head = _object(lines[0], 1)
    if head.get("warroom_export") != FORMAT:
        raise _fail(1, f"not a warroom export (format {FORMAT}): the first line is its header")
    room, epoch, count = head.get("room"), head.get("epoch"), head.get("events")
    if not isinstance(room, str) or not ROOM_ID.match(room):
        raise _fail(1, "room must be an incident id")
    if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
        raise _fail(1, "epoch must be text")
    if not isinstance(count, int) or isinstance(count, bool) or count != len(lines) - 1:
        raise _fail(1, f"the header promises {count!r} events and {len(lines) - 1} follow")
    state = IncidentState(room=room)
    events: list[Event] = []
    ids: set[str] = set()
    last_ts = ""
    for n, raw in enumerate(lines[1:], start=2):
        item = _object(raw, n)
        event = _event(item, n, room, len(events) + 1)
        if event.id in ids:
            raise _fail(n, f"id {event.id} appears twice", Code.ID_REUSED)
        if event.ts < last_ts:
            raise _fail(n, "ts runs backwards")
        if not events and event.type != "incident.declared":
            raise _fail(n, "the first event must be incident.declared")
        try:
            data = validate_command(event.type, event.data, from_client=False, filled=True)
            check(state, event.type, data)
            apply(state, event)
        except WarroomError as err:
            raise _fail(n, f"{event.type}: {err.message}", err.code) from None
        ids.add(event.id)
        last_ts = event.ts
        events.append(event)
    return head, events, state


def _object(raw: bytes, n: int) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _fail(n, f"not JSON: {exc}", Code.BAD_JSON) from None
    if not isinstance(value, dict):
        raise _fail(n, "must be a JSON object", Code.WRONG_TYPE)
    return value


def _event(item: dict[str, Any], n: int, room: str, seq: int) -> Event:
    if item.get("room") != room:
        raise _fail(n, f"room must be {room}, as the header says")
    if item.get("seq") != seq:
        raise _fail(n, f"seq must be {seq}: events run from 1 with no gap")
    for key, most in (("id", ID_MAX), ("actor", NAME_MAX), ("type", 64), ("ts", 40)):
        value = item.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= most:
            raise _fail(n, f"{key} must be text of 1 to {most} characters")
    try:
        parse_time(item["ts"])
    except ValueError:
        raise _fail(n, f"ts {item['ts']!r} is not a time") from None
    data, digest = item.get("data"), item.get("digest")
    if not isinstance(data, dict):
        raise _fail(n, "data must be an object")
    if digest is not None and (not isinstance(digest, str) or len(digest) > 128):
        raise _fail(n, "digest must be text or null")
    return Event(room, seq, item["id"], item["actor"], item["ts"], item["type"], data, digest)


async def import_incident(hub: Hub, body: bytes) -> dict[str, Any]:
    """Check the export whole, then write it in one transaction; the hub lists it at once."""
    head, events, state = parse_export(body)
    room = head["room"]
    if room in hub.rooms.loaded or await hub.store.room(room) is not None:
        raise WarroomError(
            Code.ROOM_EXISTS, f"{room} already exists on this hub; nothing was imported", "room"
        )
    for event in events:
        if await hub.store.lookup(event.id) is not None:
            raise WarroomError(
                Code.ID_REUSED,
                f"event id {event.id} is already in this hub's log; nothing was imported",
                "id",
            )
    most = hub.limits.rooms
    if len(hub.rooms.summaries) >= most:
        raise WarroomError(Code.LIMIT_REACHED, f"this hub holds {most} incidents at most")
    summary = state.summary_dict()
    try:
        # No heads: the room is new. Another hub (or a declare here) taking its id, or one of
        # its event ids, meanwhile is Behind, and nothing is stored.
        await hub.store.append(events, {room: head["epoch"]}, {room: summary}, {})
    except Behind:
        raise WarroomError(
            Code.ROOM_EXISTS,
            f"{room} or one of its events was written meanwhile; nothing was imported",
            "room",
        ) from None
    except StorageError as exc:
        raise WarroomError(Code.STORAGE_UNAVAILABLE, f"the log refused the import: {exc}") from None
    hub.rooms.committed({room: summary})  # listed at once; the log follower tells the alert index
    return {"id": room, "events": len(events), "epoch": head["epoch"]}
