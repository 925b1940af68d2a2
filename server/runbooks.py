"""The hub's runbook library: loaded off the event loop, attached by hand or by the alerts it answers.

Attaching copies the runbook as the file is now (a snapshot the hub fills), so
editing the file later changes no running incident. Auto-attach follows the
committed log, as alert tracking does (server/alerts.py), and submits from a
task of its own: intake never waits for it, and the writer is never re-entered
from inside its commit. Whether a runbook is attached already is read from the
room's state, so several hubs on one store agree (the reducer refuses the
second attach of a race).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from server.hub import Hub
from server.intake import INBOX
from server.room import Room
from warroom.core.errors import WarroomError
from warroom.core.events import Command, Event
from warroom.core.protocol import new_id
from warroom.runbooks.library import Library, load_library

log = logging.getLogger("warroom.runbooks")

ACTOR = "runbooks"  # who auto-attaches, on the timeline
BY_HAND = "attached by hand"
WHY_MAX = 400  # runbook.attached's why: a long match line or runbook_url is cut, not refused
LISTING_BYTES = 48 * 1024  # the welcome frame's runbook list stops here (docs/protocol.md)


class RunbookService:
    """The library in force, the ``runbook.attached`` preparer, and the listener that auto-attaches."""

    def __init__(self, hub: Hub, path: str | Path | None = None) -> None:
        self.hub = hub
        self.path = Path(path) if path is not None else None
        self.library = Library({})
        self._pending: set[tuple[str, str]] = set()  # (room, runbook) queued, not yet committed
        self._refused: set[tuple[str, str]] = set()  # (room, runbook) whose copy the room refuses
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.load(self.path)
        self.hub.fillers["runbook.attached"] = self._fill
        self.hub.listeners.append(self._track)

    async def load(self, path: str | Path | None) -> Library:
        """Read the directory in a thread (a big git checkout takes a while); broken files are logged."""
        self.path = Path(path) if path is not None else None
        library = Library({}) if self.path is None else await asyncio.to_thread(load_library, self.path)
        for problem in library.errors:
            log.warning("runbook left out: %s", problem)
        self.library = library
        self._refused.clear()  # a new library: its copies are asked again
        self.hub.runbook_listing = listing(library)
        if self.path is not None:
            log.info("%d runbooks loaded from %s", len(library.runbooks), self.path)
        return library

    async def settled(self) -> None:
        """Wait until every attach queued so far is committed (or refused)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def describe(self) -> dict[str, Any]:
        """For ``config show``: where the library is, how many loaded, which files were left out."""
        return {
            "dir": str(self.path) if self.path is not None else None,
            "loaded": len(self.library.runbooks),
            "broken": [str(p) for p in self.library.errors],
        }

    # -- attaching by hand ------------------------------------------------------------

    def _fill(self, command: Command) -> Command:
        """Copy the runbook in as the file is now; an unknown id is left bare, for the reducer to refuse."""
        runbook = self.library.runbooks.get(str(command.data.get("runbook")))
        if runbook is None or "snapshot" in command.data:  # unknown, or the hub's own copy already
            return command
        data = {**command.data, "snapshot": runbook.to_dict(), "why": BY_HAND}
        return Command(command.id, command.type, data, command.room)

    # -- attaching on arrival -----------------------------------------------------------

    def _track(self, room: Room, events: list[Event]) -> None:
        """Match each arriving alert (the index remembers answers), and queue what is not attached yet."""
        index = self.library.index
        if not self.library.runbooks or room.id == INBOX:  # the inbox holds alerts, not a response
            return
        wanted: list[dict[str, Any]] = []
        for event in events:
            if event.type != "alert.upserted" or event.data.get("status", "firing") != "firing":
                continue
            labels = event.data.get("labels") or {}
            for attach in index.match(labels, event.data.get("runbook_url")):
                key = (room.id, attach.runbook.id)
                if attach.runbook.id in room.state.runbooks or key in self._pending or key in self._refused:
                    continue
                self._pending.add(key)
                wanted.append(
                    {
                        "runbook": attach.runbook.id,
                        "snapshot": attach.runbook.to_dict(),
                        "why": attach.why[:WHY_MAX],
                        "alert": str(event.data["fingerprint"]),
                    }
                )
        if wanted:
            task = asyncio.get_running_loop().create_task(self._attach(room.id, wanted))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attach(self, room_id: str, wanted: list[dict[str, Any]]) -> None:
        futures = []
        for data in wanted:
            try:
                command = Command(new_id(), "runbook.attached", data, room_id)
                futures.append(self.hub.submit(command, ACTOR, internal=True, prepared=True))
            except WarroomError as exc:  # the copy itself is refused: it would be on every alert
                self._refused.add((room_id, data["runbook"]))
                log.warning("runbook %s cannot be attached to %s: %s", data["runbook"], room_id, exc.message)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for data in wanted:
            self._pending.discard((room_id, data["runbook"]))
        for outcome in outcomes:
            if isinstance(outcome, BaseException):  # attached already by another hub, say
                log.info("runbook attach in %s refused: %s", room_id, outcome)


def listing(library: Library) -> list[dict[str, str]]:
    """``{id, title, owner}`` of each runbook for the welcome frame, sorted by id, cut at LISTING_BYTES."""
    out: list[dict[str, str]] = []
    size = 2
    for runbook_id in sorted(library.runbooks):
        runbook = library.runbooks[runbook_id]
        item = {"id": runbook.id, "title": runbook.title, "owner": runbook.owner or ""}
        size += len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) + 1  # msgpack: less
        if size > LISTING_BYTES:
            break
        out.append(item)
    return out
