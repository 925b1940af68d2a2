"""Limits that keep one client, token or room from taking the hub down with it.

Rates are token buckets: a burst is allowed, then a steady rate. A refusal
says how long to wait (``retry_after``), and the connection stays open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from warroom.core.errors import Code, WarroomError


@dataclass(frozen=True)
class Limits:
    members_per_room: int = 500  # responders' connections; viewers and observers do not count
    connections_per_token: int = 1000
    connections_per_token_per_room: int = 20  # per token, and per name on the shared hub token
    rooms: int = 10_000
    checklist_items: int = 500
    commands_per_second: float = 50.0  # sustained, per person on a token: people and scripts
    command_burst: int = 500
    http_per_second: float = 200.0  # HTTP writes and intake, per token
    http_burst: int = 5000  # a storm of 5,000 single-alert webhooks goes through
    audit_days: int = 400  # how long audit lines are kept: past a yearly access review
    # Failed authentications per address (both ports); past the burst, answers are 429 for a while.
    auth_failures_per_second: float = 1.0
    auth_failure_burst: int = 30
    joins_per_second: float = 10.0  # join and list frames, per person on a token
    join_burst: int = 50  # a terminal rejoining every room it had open after a reconnect
    catch_ups: int = 4  # catch-ups (log replays) running at once across the hub
    alerts_per_room: int = 20_000  # alerts one incident holds; a batch that would pass it is refused
    connections: int = 4000  # open connections per port; past it, new ones are refused at once
    header_timeout: float = 10.0  # seconds a caller has to send a request's headers (or handshake)
    body_timeout: float = 60.0  # seconds to send a body once its headers are in: 16 MiB on a slow link


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.at = clock()

    def refill(self) -> float:
        """Tokens now, after what the time since the last look has put back."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens

    def take(self) -> float:
        """0 when allowed; otherwise the seconds until one more would be."""
        if self.refill() >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Buckets:
    """One bucket per key; reconfigured whole, and forgotten rather than grown without bound."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[object, TokenBucket] = {}

    def configure(self, rate: float, burst: int) -> None:
        """New rates from a reloaded config; every caller starts again with a full bucket."""
        self.rate, self.burst = rate, burst
        self._buckets.clear()

    def bucket(self, key: object) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:  # forget idle callers rather than grow without bound
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
        return bucket


class FailureLimiter(Buckets):
    """Counts failures per key (an address); past the burst the key is refused until it refills.

    Only failures take from the bucket, so a caller that gets it right is never slowed.
    """

    def wait(self, key: object) -> float:
        """0 if ``key`` may try again now; otherwise the seconds until it may."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = bucket.refill()
        if tokens >= bucket.burst:
            del self._buckets[key]  # fully refilled: forget it
            return 0.0
        return 0.0 if tokens >= 1 else (1 - tokens) / bucket.rate

    def failed(self, key: object) -> None:
        self.bucket(key).take()


class RateLimiter(Buckets):
    """One bucket per key, such as (token, person) for commands or a token for HTTP."""

    def __init__(
        self, rate: float, burst: int, what: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(rate, burst, clock)
        self.what = what

    def check(self, key: object) -> None:
        wait = self.bucket(key).take()
        if wait:
            raise WarroomError(
                Code.RATE_LIMITED,
                f"too many {self.what}: {self.rate:g}/s, bursts of {self.burst}; retry in {wait:.1f}s",
                retry_after=round(wait, 3),
            )
