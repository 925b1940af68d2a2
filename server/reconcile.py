"""Reconciliation: ask each Alertmanager what is still true, and write what changed into the rooms.

Each configured Alertmanager is read at hub start and on an interval:
``/api/v2/status`` (its uptime tells a restart), ``/api/v2/alerts`` and
``/api/v2/silences``; between rounds its status alone is read every few
seconds, and a restart starts a round at once. Grafana's Alertmanager API,
when configured, is read for its silences. Sources that send no resolve are swept for alerts
unseen past their ``resolve_timeout``. Nothing is kept here that the log does
not hold: every decision is made against a room's state (server/reconcile_plan.py),
and every change goes through the hub's durable command path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from server.hub import Hub
from server.lease import Lease
from server.reconcile_plan import (
    Listing,
    holds,
    plan_alerts,
    plan_silences,
    plan_unseen,
    source_checked,
)
from server.sources import GRAFANA, Sources, Upstream
from warroom.core.errors import Code, WarroomError
from warroom.core.events import Command
from warroom.core.schema import format_time
from warroom.core.state import IncidentState
from warroom.core.text import visible

if TYPE_CHECKING:
    from server.alerts import AlertService

log = logging.getLogger("warroom.reconcile")

ACTOR = "reconcile"
BACKOFF_CAP = 300.0  # seconds: the longest wait between tries of a source that does not answer
ALERTS_QUERY = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
STATUS_EVERY = 5.0  # seconds between status reads in a round's wait: a restart is reconciled this soon
WRITE_CHUNK = 256  # commands queued at once: a responder's line waits for one group commit, not 50,000
Plan = Callable[[IncidentState], list[Command]]


class SourceDown(Exception):
    """An Alertmanager did not answer, or not with its API; the message says how, for the room."""


class Reconciler:
    def __init__(self, hub: Hub, service: AlertService) -> None:
        self.hub = hub
        self.service = service
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._http: httpx.AsyncClient | None = None
        self._timeout = 5.0
        # (room, origin) -> silence id -> the room's firing alerts (firing_key) when it covered
        # none of them: only spares work, so losing it (a restart) costs one full try.
        self._idle: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        self._uptimes: dict[str, str] = {}  # per Alertmanager: the uptime its status last gave
        self.polls: dict[str, int] = {}  # per Alertmanager or swept source: rounds done, for tests and status
        self.lease = Lease(hub.store, "reconcile", hub.hub_id)  # one hub reads the sources for all

    @property
    def sources(self) -> Sources:
        return self.service.sources

    def start(self) -> None:
        self._running = True
        self._spawn()

    def restart(self) -> None:
        """A reloaded config: follow the sources it names from now on."""
        if self._running:
            for task in self._tasks:
                task.cancel()
            self._spawn()

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.lease.release()
        if self._http is not None:
            await self._http.aclose()

    def _spawn(self) -> None:
        sources = self.sources
        # A source that hangs must not hold a poll up for long: at most the interval, 1 to 5 s.
        self._timeout = max(1.0, min(5.0, sources.interval))
        if self._http is None:
            self._http = httpx.AsyncClient()
        self._tasks = [
            asyncio.create_task(self._follow(target, sources.interval), name=f"reconcile-{target.name}")
            for target in targets(sources)
        ]
        if sources.resolve_timeouts:
            self._tasks.append(asyncio.create_task(self._sweep(sources), name="reconcile-unseen"))

    # -- Alertmanagers ---------------------------------------------------------------

    async def _follow(self, am: Target, interval: float) -> None:
        failures, uptime = 0, None
        while True:
            if not await self.lease.held():
                await asyncio.sleep(interval)  # another hub reconciles; look again next round
                continue
            try:
                listing = await self._read(am)
            except SourceDown as exc:
                failures += 1
                error = str(exc)
                log.warning("%s: %s (try %d)", am.upstream.title, error, failures)
                say = functools.partial(source_checked, origin=am.name, error=error)
                await self._guarded(self._each_room(am.name, say))
                await self._wait_round(am, backoff(interval, failures))
                continue
            if uptime is not None and listing.uptime != uptime:
                log.info("%s restarted (up since %s); reconciling", am.upstream.title, listing.uptime)
            failures, uptime = 0, listing.uptime
            await self._guarded(self.reconcile(am, listing))
            self.polls[am.name] = self.polls.get(am.name, 0) + 1
            await self._wait_round(am, interval)

    async def _wait_round(self, am: Target, seconds: float) -> None:
        """Wait ``seconds`` (the interval, or a failing source's backoff), reading the status
        alone every few seconds: a restart (another uptime than last read, or the first answer
        of one never read) ends the wait at once, so its lost alerts go stale within seconds."""
        if am.resolve_timeout is None:  # Grafana: no status to read, only silences
            await asyncio.sleep(seconds)  # the poll's period, or the retry's
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        while (left := due - loop.time()) > 0:
            await asyncio.sleep(min(STATUS_EVERY, left))  # the status read's period
            if due - loop.time() <= 0:
                return
            try:
                status = await self._get(am, "/api/v2/status", None)
            except SourceDown:
                continue  # down for now (restarting, say): the round tells the rooms if it stays so
            if isinstance(status, dict) and str(status.get("uptime")) != self._uptimes.get(am.name):
                log.info("%s is up since %s; reconciling now", am.upstream.title, status.get("uptime"))
                return

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except WarroomError as exc:
            if exc.code != Code.SHUTTING_DOWN:
                log.warning("reconciliation refused: %s", exc.message)
        except Exception:  # the loop must outlive a bug or a failing store, as the hub's sweep does
            log.exception("reconciliation failed; trying again next interval")

    async def reconcile(self, am: Target, listing: Listing) -> None:
        """Bring every room holding this source's alerts or silences in line with its listing."""
        now = self.hub._clock()
        timeout = am.resolve_timeout

        def plan(state: IncidentState) -> list[Command]:
            alerts = [] if timeout is None else plan_alerts(state, am.name, listing, timeout, now)
            return [
                *source_checked(state, am.name, None),
                *alerts,
                *plan_silences(
                    state,
                    am.name,
                    listing.silences,
                    listing.fetched_at,
                    self._idle.setdefault((state.room, am.name), {}),
                ),
            ]

        # A room dropped as idle comes back when the listing shows one of its alerts firing
        # (resolved there, it is refreshed: a restarted Alertmanager may not resend it).
        rooms = self.service.rooms_of.setdefault(am.name, set())
        for fingerprint in listing.alerts:
            if (room := self.service.located.get(fingerprint)) is not None:
                rooms.add(room)
        await self._each_room(am.name, plan)

    async def _read(self, am: Target) -> Listing:
        fetched_at = self.hub._clock()
        status: Any = {"uptime": ""}
        alerts: Any = []
        if am.resolve_timeout is not None:  # an Alertmanager: its alerts too, not only its silences
            status = await self._get(am, "/api/v2/status", None)
            if isinstance(status, dict):  # what a status read between rounds compares with
                self._uptimes[am.name] = str(status.get("uptime"))
            alerts = await self._get(am, "/api/v2/alerts", ALERTS_QUERY)
        silences = await self._get(am, "/api/v2/silences", None)
        # Anything but a list of alerts is no listing: read as an empty one, it would make
        # every alert stale, then resolved. A proxy's {} is a source failing, said as such.
        if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
            raise SourceDown("answered something that is not Alertmanager's API (alerts)")
        try:
            uptime = str(status["uptime"])
            listed = {str(a["fingerprint"]): a for a in alerts}
        except (KeyError, TypeError) as exc:
            raise SourceDown(f"answered something that is not Alertmanager's API ({exc!r})") from None
        if not isinstance(silences, list):
            raise SourceDown("answered something that is not Alertmanager's API (silences)")
        found = [s for s in silences if isinstance(s, dict)]
        return Listing(uptime, listed, found, format_time(fetched_at))

    async def _get(self, am: Target, path: str, params: dict[str, str] | None) -> Any:
        assert self._http is not None
        try:
            response = await self._http.get(
                am.upstream.base + path,
                params=params,
                headers=dict(am.upstream.headers),
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise SourceDown(f"did not answer: {type(exc).__name__}") from None
        if not response.is_success:
            raise SourceDown(f"answered {response.status_code} to {path}")
        try:
            return response.json()
        except ValueError:
            text = visible(response.text[:80])
            raise SourceDown(f"answered {path} with something other than JSON: {text}") from None

    # -- sources that send no resolve --------------------------------------------------

    async def _sweep(self, sources: Sources) -> None:
        managed = [am.name for am in sources.alertmanagers]
        while True:
            if not await self.lease.held():
                await asyncio.sleep(sources.interval)  # another hub sweeps; look again next round
                continue
            for source, timeout in sources.resolve_timeouts:
                plan = functools.partial(
                    plan_unseen, source=source, skip=managed, timeout=timeout, now=self.hub._clock()
                )
                await self._guarded(self._each_room(source, plan))
                self.polls[source] = self.polls.get(source, 0) + 1
            await asyncio.sleep(sources.interval)  # the sweep's period

    # -- writing -------------------------------------------------------------------------

    async def _each_room(self, key: str, plan: Plan) -> None:
        """Plan and write in each room holding alerts of ``key``, one room at a time.

        A room left with nothing of ``key`` to reconcile (no firing alert, no
        silence in force) is dropped from the rooms to visit, so idle rooms stay
        unloaded; an alert of ``key`` arriving there puts it back.
        """
        rooms = self.service.rooms_of.get(key, set())
        for room_id in sorted(rooms):
            try:
                room = await self.hub.room(room_id)
            except WarroomError as exc:  # one room that cannot load must not stop the round for the rest
                if exc.code == Code.SHUTTING_DOWN:
                    raise
                log.warning("reconciliation skipped %s: %s", room_id, exc.message)
                continue
            commands = plan(room.state)
            if commands:
                await self._write(commands)
            if not holds(room.state, key):  # read and dropped in one step: no alert slips in between
                rooms.discard(room_id)
            await asyncio.sleep(0)  # a round over many rooms lets everyone else in between them

    async def _write(self, commands: list[Command]) -> None:
        """Queue a plan a chunk at a time, each chunk's commit awaited before the next is queued:
        after a restart a plan can be 50,000 ``alert.stale``, and a responder's line must not
        wait behind all of them."""
        for start in range(0, len(commands), WRITE_CHUNK):
            futures = []
            for each in commands[start : start + WRITE_CHUNK]:
                try:
                    futures.append(self.hub.submit(each, ACTOR, internal=True, fixed_id=True))
                except WarroomError as exc:
                    if exc.code == Code.SHUTTING_DOWN:
                        raise
                    log.warning("reconciliation event %s refused: %s", each.type, exc.message)
            for outcome in await asyncio.gather(*futures, return_exceptions=True):
                if isinstance(outcome, WarroomError):  # the alert moved on, say
                    log.info("reconciliation event not written: %s", outcome.message)
                elif isinstance(outcome, BaseException):
                    raise outcome


@dataclass(frozen=True)
class Target:
    """A source to reconcile: an Alertmanager (alerts and silences), or Grafana (its silences)."""

    name: str
    upstream: Upstream
    resolve_timeout: float | None  # None: its alerts are not listed, only its silences


def targets(sources: Sources) -> list[Target]:
    out = [Target(am.name, Upstream(am.name, am.url), am.resolve_timeout) for am in sources.alertmanagers]
    grafana = sources.upstream(GRAFANA)
    if grafana is not None:
        out.append(Target(GRAFANA, grafana, None))
    return out


def backoff(interval: float, failures: int) -> float:
    """Seconds before the next try: doubling from the interval, capped at 16 intervals or 5 minutes."""
    cap = max(interval, min(BACKOFF_CAP, 16 * interval))
    return float(min(cap, interval * 2 ** min(failures, 16)))
