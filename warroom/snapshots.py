"""Reading and writing room snapshots, shared by the hub and the client.

Decoding 100,000 entries makes a few hundred thousand small objects; pausing
the cyclic garbage collector while it happens roughly halves the time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

import msgpack

from warroom.core.state import IncidentState

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
    return _without_gc(lambda: IncidentState.from_snapshot(msgpack.unpackb(blob, raw=False)))
