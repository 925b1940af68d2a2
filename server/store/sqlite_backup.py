"""Backing up and restoring a SQLite hub's database, with SQLite's online backup API.

A backup reads the database in one step, inside one read transaction: with WAL,
the hub goes on committing meanwhile, and the copy holds exactly the batches
committed when it began, never half of one. It is written beside its name and
renamed into place, so a failed backup leaves no file that looks whole.

A restore writes through SQLite into the target, so the target's WAL and
shared-memory files stay consistent with it. It takes the flock a running hub
holds shared (``hold_in_use``) exclusively: it refuses a database a hub has
open, and a hub refuses to start on one being restored.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from server.store.base import StorageError
from server.store.sqlite import make_private, schema_version


class BackupRefused(Exception):
    """Nothing was written; the message says why, in one line."""


def backup(db: Path, target: Path, *, force: bool = False) -> int:
    """Copy ``db`` to ``target`` consistently, while a hub may be writing it; returns the events copied."""
    if not db.is_file():
        raise BackupRefused(f"{db}: no such database")
    if target.exists() and not force:
        raise BackupRefused(f"{target} exists; pass --force to replace it")
    _check_warroom(db)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    make_private(partial)
    try:
        with _closing(_read_only(db)) as source, _closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)  # every page in one step: one read transaction, one point in time
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            events = int(copy.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        os.replace(partial, target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupRefused(f"{db}: the backup failed: {exc}") from None
    return events


def restore(source: Path, db: Path, *, force: bool = False) -> int:
    """Replace ``db`` with the backup ``source``; returns the events it holds."""
    if not source.is_file():
        raise BackupRefused(f"{source}: no such file")
    _check_warroom(source)
    with _closing(_read_only(source)) as check:
        verdict = check.execute("PRAGMA quick_check").fetchone()[0]
        events = int(check.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    if verdict != "ok":
        raise BackupRefused(f"{source}: the backup is damaged ({verdict}); nothing was restored")
    exists = db.exists() and db.stat().st_size > 0
    if exists and not force:
        raise BackupRefused(f"{db} exists; pass --force to replace it with {source}")
    db.parent.mkdir(parents=True, exist_ok=True)
    make_private(db)
    with _exclusive(db):
        try:
            with _closing(_read_only(source)) as backup_db, _closing(sqlite3.connect(db)) as target:
                backup_db.backup(target)
        except sqlite3.Error as exc:
            raise BackupRefused(f"{db}: the restore failed: {exc}") from None
    return events


def _check_warroom(path: Path) -> None:
    try:
        with _closing(_read_only(path)) as conn:
            version = schema_version(conn)
    except (sqlite3.Error, StorageError) as exc:
        raise BackupRefused(f"{path}: not a warroom database: {exc}") from None
    if version is None:
        raise BackupRefused(f"{path}: not a warroom database: it is empty")


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


@contextlib.contextmanager
def _closing(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _exclusive(db: Path) -> Iterator[None]:
    fd = os.open(db, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupRefused(f"{db} is open in a running hub; stop the hub, then restore") from None
        yield
    finally:
        os.close(fd)
