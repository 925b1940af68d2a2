"""The collector's settings while a room is open: set on open, put back on close, collected when quiet."""

from __future__ import annotations

import gc

from warroom.app import gc_tuning
from warroom.app.gc_tuning import THRESHOLDS, RoomGc


def test_a_room_sets_the_thresholds_and_leaving_puts_them_back() -> None:
    before = gc.get_threshold()
    room = RoomGc()
    room.open()
    try:
        assert gc.get_threshold() == THRESHOLDS
        room.loaded()
        assert gc.get_freeze_count() > 0
    finally:
        room.close()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_what_came_since_is_collected_only_at_a_quiet_moment() -> None:
    clock = [1000.0]
    room = RoomGc(clock=lambda: clock[0])

    def full_collections() -> int:
        return int(gc.get_stats()[2]["collections"])

    room.open()
    try:
        room.loaded()
        clock[0] += gc_tuning.EVERY + 1
        room.key()  # someone is typing: not now
        before = full_collections()
        room.tick()
        assert full_collections() == before
        clock[0] += gc_tuning.QUIET + 1
        room.tick()
        assert full_collections() == before + 1
        room.tick()  # and not again until EVERY seconds have passed
        assert full_collections() == before + 1
    finally:
        room.close()
