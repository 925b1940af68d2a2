"""Commands the hub has not acknowledged yet, kept in order under their original ids.

With a path, the outbox lives in a small SQLite file, so a line typed while the
hub was unreachable survives even a crash of the terminal it was typed in. What
people typed is private: the file (and SQLite's -wal and -shm beside it, which
SQLite creates with the database file's mode) is readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import msgpack

from warroom.core.events import Command


class Outbox:
    def __init__(self, path: str | Path | None = None) -> None:
        self._items: dict[str, Command] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path = Path(path)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    part.chmod(0o600)  # one saved by an older version, with the umask's mode
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox "
                "(n INTEGER PRIMARY KEY, id TEXT UNIQUE, room TEXT, type TEXT, data BLOB)"
            )
            for id_, room, type_, data in self._db.execute(
                "SELECT id, room, type, data FROM outbox ORDER BY n"
            ):
                self._items[id_] = Command(id_, type_, msgpack.unpackb(data, raw=False), room)

    def add(self, command: Command) -> None:
        self._items[command.id] = command
        if self._db is not None:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, room, type, data) VALUES (?, ?, ?, ?)",
                (command.id, command.room, command.type, msgpack.packb(command.data)),
            )

    def remove(self, command_id: str) -> Command | None:
        command = self._items.pop(command_id, None)
        if command is not None and self._db is not None:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (command_id,))
        return command

    def pending(self, room: str | None = None) -> list[Command]:
        return [c for c in self._items.values() if room is None or c.room == room]

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
