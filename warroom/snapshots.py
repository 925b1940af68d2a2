"""Reading and writing room snapshots, shared by the hub and the client.

Decoding 100,000 entries makes a few hundred thousand small objects; pausing
the cyclic garbage collector while it happens roughly halves the time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import msgpack

from warroom.core.state import Alert, Entry, IncidentState, alerts_from_rows, entries_from_rows

T = TypeVar("T")


def _without_gc(work: Callable[[], T]) -> T:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return work()
    finally:
        if enabled:
            gc.enable()


def dump_snapshot(state: IncidentState) -> bytes:
    return _without_gc(lambda: msgpack.packb(state.to_snapshot(), use_bin_type=True))


def load_snapshot(blob: bytes) -> IncidentState:
    return _without_gc(lambda: _read(blob))


def _read(blob: bytes) -> IncidentState:
    """Each entry and alert is made as its row is decoded: the decoded rows never all exist at once.

    Decoded whole, they were a fifth of the memory a big room took to open, and
    their freed slots stayed scattered between the objects that remain.
    """
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(blob), 1))
    unpacker.feed(blob)
    raw: dict[str, Any] = {}
    entries: dict[int, Entry] | None = None
    alerts: dict[str, Alert] | None = None
    for _ in range(unpacker.read_map_header()):
        key = unpacker.unpack()
        if key == "entries":
            entries = entries_from_rows(_rows(unpacker))
        elif key == "alerts" and "alert_fields" in raw:  # to_snapshot writes the columns first
            alerts = alerts_from_rows(raw["alert_fields"], _rows(unpacker))
        else:
            raw[key] = unpacker.unpack()
    if entries is None:
        raise ValueError("a snapshot without entries")
    if alerts is None and "alert_fields" in raw:  # its rows came before their columns: read whole
        alerts = alerts_from_rows(raw["alert_fields"], raw.get("alerts", ()))
    return IncidentState.from_snapshot_parts(raw, entries, alerts)


def _rows(unpacker: msgpack.Unpacker) -> Iterator[Any]:
    for _ in range(unpacker.read_array_header()):
        yield unpacker.unpack()
