"""Work done once for all hubs sharing a store (paging, reconciliation) runs on one of them.

The store keeps a named lease with an expiry; the holder renews it as it
works, and another hub takes it over once it lapses (its holder stopped or
died). While the store cannot be reached nobody holds it for sure, so the
work waits: a page sent twice is worse than a page a few seconds late.
"""

from __future__ import annotations

import logging
import time

from server.store import EventStore, StorageError

log = logging.getLogger("warroom.hub")

TTL = 10.0  # seconds a lease outlives its holder's last renewal


class Lease:
    def __init__(self, store: EventStore, name: str, holder: str, ttl: float = TTL) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._until = 0.0  # by time.monotonic(): held for sure until then

    async def held(self) -> bool:
        """Whether this hub does the work now; renews the lease once a third of it has passed."""
        now = time.monotonic()
        if now < self._until - self.ttl * 2 / 3:
            return True
        try:
            got = await self.store.lease(self.name, self.holder, self.ttl)
        except StorageError as exc:
            log.warning("lease %s not renewed: %s", self.name, exc)
            got = False
        if got and self._until <= now:
            log.info("this hub now does %s", self.name)
        self._until = now + self.ttl if got else 0.0
        return got

    async def release(self) -> None:
        if self._until:
            self._until = 0.0
            try:
                await self.store.release(self.name, self.holder)
            except StorageError as exc:  # it lapses by itself
                log.warning("lease %s not released: %s", self.name, exc)
