"""Durable event logs. The hub sees only ``EventStore``; SQLite is the default engine."""

from server.store.base import EventStore, RoomRecord, StorageError
from server.store.sqlite import SQLiteStore

__all__ = ["EventStore", "RoomRecord", "SQLiteStore", "StorageError"]
