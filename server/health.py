"""Whether the hub can take commands now: the answer ``/healthz`` gives a load balancer.

A hub whose store cannot be reached keeps serving what it holds in memory but
acknowledges nothing, so it says 503 and the balancer sends writers elsewhere.
The store is asked at most once a second, however often the probes come.
"""

from __future__ import annotations

import asyncio
import logging
import time

from server.store import EventStore, StorageError

log = logging.getLogger("warroom.hub")
PROBE_TIMEOUT = 2.0  # seconds: a store slower than this to answer is as good as away
FRESH = 1.0  # seconds a probe's answer is reused


UNREACHABLE = "the event log cannot be reached"


class StoreHealth:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._checked = -FRESH
        self._detail: str | None = None  # why the last look failed; None: it did not
        self._lock = asyncio.Lock()  # concurrent probes share one look at the store

    async def problem(self) -> str | None:
        """None when the store answers; else a line fit for anyone to read (the probe needs no
        token, so the details go to the hub's log)."""
        async with self._lock:
            if time.monotonic() - self._checked >= FRESH:
                detail = await self._look()
                if detail != self._detail:
                    log.warning(
                        "health: %s", f"{UNREACHABLE}: {detail}" if detail else "the event log answers"
                    )
                self._detail = detail
                self._checked = time.monotonic()
            return UNREACHABLE if self._detail is not None else None

    async def _look(self) -> str | None:
        try:
            await asyncio.wait_for(self.store.revision(), PROBE_TIMEOUT)
        except StorageError as exc:
            return str(exc)
        except TimeoutError:
            return f"no answer within {PROBE_TIMEOUT:g} s"
        return None
