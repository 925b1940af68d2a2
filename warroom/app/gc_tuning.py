"""The garbage collector tuned for a long-lived room: no collection a person can feel.

A room of 100,000 entries and 50,000 alerts is millions of objects that live as
long as the room. Python's automatic full collections walked them all: 0.35 s
under a key press, 5 s while a big room opened. So here:

- young collections stay automatic and small (their thresholds below);
- full collections never start by themselves (the third threshold is out of reach);
- the room is frozen once it is loaded (``gc.freeze``: out of every later walk);
- every ``EVERY`` seconds, at a moment no key was pressed for ``QUIET`` seconds,
  what came since the last freeze is collected and frozen in turn: a walk of
  what arrived since, not of the room.

The cost: a reference cycle that was alive when frozen and dies later is not
freed until the process ends. What a room holds lives as long as the room.

After each of these, the C heap's free pages go back to the system: opening a
room decodes a snapshot of tens of MB and a tail of events, and the heap kept
what they briefly took as the process's own memory.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import time
from collections.abc import Callable

# Young collections every 2,000 allocations; the middle one every 5th: each walks at most a
# few ten thousand objects, a few ms. The third one is never reached: full collections are ours.
THRESHOLDS = (2_000, 5, 1_000_000_000)
EVERY = 30.0  # seconds between the collections this module runs
QUIET = 2.0  # ... each at a moment no key was pressed for this long


class RoomGc:
    """Owns the collector's settings while a room is open, and puts the old ones back after."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._old: tuple[int, int, int] | None = None
        self._frozen = False
        self._last_collect = clock()
        self._last_key = 0.0

    def open(self) -> None:
        """A room is opening: from now on no full collection walks what it loads."""
        if self._old is None:
            self._old = gc.get_threshold()
            gc.set_threshold(*THRESHOLDS)

    def loaded(self) -> None:
        """The room is in: freeze it (no walk now; a freeze only moves the objects aside)."""
        gc.freeze()
        self._frozen = True
        self._last_collect = self._clock()
        give_back_free_memory()

    def key(self) -> None:
        self._last_key = self._clock()

    def tick(self) -> None:
        """Called about once a second: collect and freeze what came since, when nobody is typing."""
        now = self._clock()
        if self._old is None or now - self._last_collect < EVERY or now - self._last_key < QUIET:
            return
        self._last_collect = now
        gc.collect()
        gc.freeze()
        self._frozen = True
        give_back_free_memory()

    def close(self) -> None:
        """The room is left: the collector walks everything again, with its old thresholds."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        if self._old is not None:
            gc.set_threshold(*self._old)
            self._old = None


def give_back_free_memory() -> None:
    """The C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)  # the symbols already loaded into this process: its C library's
    except OSError:
        return None
