"""The hub's Prometheus metrics: one registry per hub, so several hubs in one process never mix.

Most figures come from what the hub already keeps or writes: committed events
(by type, and what reconciliation, sinks and pages wrote about themselves) are
counted by a listener on the log; connections, rooms and send queues are read
when Prometheus scrapes. Commit latency, batch size and store errors are
measured around the store (``MeteredStore``), so every engine gets them;
refusals and failed sign-ins come from ``Access``, where both transports
decide them. The names are listed in docs/operations.md, and deploy/ uses them.
"""

from __future__ import annotations

import inspect
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.room import Room
from server.store import StorageError
from server.store.base import Behind
from warroom import __version__
from warroom.core.errors import WarroomError
from warroom.core.events import Event

ALERT_SOURCES = ("alertmanager", "grafana", "pagerduty", "webhook")  # others are a webhook naming itself
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FANOUT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class Live(Protocol):
    """What a scrape reads from the running hub (``HubServer`` provides it)."""

    def connections(self) -> int: ...

    def send_queues(self) -> list[int]: ...

    def rooms_loaded(self) -> int: ...

    def incidents(self) -> int: ...

    def stats(self) -> dict[str, int]: ...

    def sink_deliveries(self) -> dict[str, int]: ...

    def polls(self) -> dict[str, int]: ...

    def log_up(self) -> bool: ...


class HubMetrics:
    def __init__(self, live: Live) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("warroom_events", "Events committed to the log, by type", ["type"], registry=r)
        self.refusals = Counter(
            "warroom_refusals",
            "Commands and requests refused, by error code and transport",
            ["code", "via"],
            registry=r,
        )
        self.auth_failures = Counter(
            "warroom_auth_failures",
            "Failed authentications, by transport and reason",
            ["via", "reason"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "warroom_commit_seconds",
            "Time to commit one batch to the event log",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_events = Histogram(
            "warroom_commit_batch_events", "Events in each committed batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.fanout_seconds = Histogram(
            "warroom_fanout_seconds",
            "From a batch's commit to its frames handed to every member of a room",
            buckets=FANOUT_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "warroom_store_errors", "Store operations that failed, by operation", ["op"], registry=r
        )
        self.alerts = Counter(
            "warroom_alerts_received", "Alerts taken into the log, by source", ["source"], registry=r
        )
        self.reconcile = Counter(
            "warroom_reconcile_events",
            "Events reconciliation wrote (stale, resolved, ...), by type",
            ["type"],
            registry=r,
        )
        self.sink_failures = Counter(
            "warroom_sink_failures",
            "Failed sink deliveries, by sink; final: the last retry failed too",
            ["sink", "final"],
            registry=r,
        )
        self.pages = Counter(
            "warroom_pages", "Pages sent, by sink and result (ok, failed)", ["sink", "result"], registry=r
        )
        Info("warroom_build", "The hub's version", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        r.register(_LiveCollector(live))
        self._committed_at = 0.0
        self._by_type: dict[str, Any] = {}

    # -- what the log says -------------------------------------------------------------------

    def committed(self, room: Room, events: list[Event]) -> None:
        """A listener on the log: called once a room's share of a batch is committed and fanned out."""
        if self._committed_at:
            self.fanout_seconds.observe(time.perf_counter() - self._committed_at)
        for event in events:
            counted = self._by_type.get(event.type)
            if counted is None:  # labels() looks its child up each time: a storm's alerts pay once
                counted = self._by_type[event.type] = self.events.labels(event.type)
            counted.inc()
            data = event.data
            if event.type == "alert.upserted":
                source = data.get("source")
                self.alerts.labels(source if source in ALERT_SOURCES else "webhook").inc()
            if event.actor == "reconcile":
                self.reconcile.labels(event.type).inc()
            elif event.type == "notification.failed":
                self.sink_failures.labels(str(data.get("sink")), str(bool(data.get("final"))).lower()).inc()
            elif event.type == "page.delivered":
                self.pages.labels(str(data.get("sink")), "ok" if data.get("ok") else "failed").inc()

    def batch_committed(self, started: float, events: int) -> None:
        self._committed_at = time.perf_counter()
        self.commit_seconds.observe(self._committed_at - started)
        self.batch_events.observe(events)

    # -- what Access decides -----------------------------------------------------------------

    def refused(self, err: WarroomError, via: str) -> None:
        self.refusals.labels(str(err.code), via).inc()

    def rejected(self, via: str, reason: str) -> None:
        self.auth_failures.labels(via, reason).inc()


class _LiveCollector(Collector):
    """Figures read at scrape time from the running hub."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        live = self.live
        yield _gauge(
            "warroom_event_log_up", "1 while the event log answers reads and takes writes", live.log_up()
        )
        yield _gauge("warroom_connections", "Open sync (websocket) connections", live.connections())
        yield _gauge("warroom_rooms_loaded", "Incident rooms held in memory", live.rooms_loaded())
        yield _gauge("warroom_incidents", "Incidents this hub knows, open and resolved", live.incidents())
        queues = live.send_queues()
        yield _gauge(
            "warroom_send_queue_frames", "Frames waiting in every connection's send queue", sum(queues)
        )
        yield _gauge(
            "warroom_send_queue_max_frames",
            "Frames waiting in the longest send queue",
            max(queues, default=0),
        )
        stats = live.stats()
        yield _counter(
            "warroom_slow_consumer_cutoffs", "Connections cut off for not reading", stats["slow_consumers"]
        )
        yield _counter(
            "warroom_deliveries",
            "Events handed to connections (one per event per member)",
            stats["deliveries"],
        )
        yield _counter(
            "warroom_commit_retries",
            "Batches validated again because another hub wrote first",
            stats.get("behind", 0),
        )
        yield _counter(
            "warroom_followed_events", "Events other hubs committed, taken in here", stats.get("followed", 0)
        )
        yield _labelled(
            "warroom_sink_deliveries", "Notifications a sink took, by sink", "sink", live.sink_deliveries()
        )
        yield _labelled(
            "warroom_reconcile_polls",
            "Successful reads of each Alertmanager or Grafana",
            "source",
            live.polls(),
        )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _labelled(name: str, doc: str, label: str, values: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class MeteredStore:
    """A store that times each commit and counts each failed operation; everything else passes through.

    Attributes set on it reach the store inside, so the hub and its parts see one store.
    """

    def __init__(self, inner: Any, metrics: HubMetrics) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_metrics", metrics)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found) or name.startswith("_"):
            return found
        return _counted(found, name, self._metrics)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    async def append(self, events: Any, *args: Any) -> None:
        started = time.perf_counter()
        try:
            await self._inner.append(events, *args)
        except Behind:  # another hub wrote first: the writer tries again (warroom_commit_retries_total)
            raise
        except StorageError:
            self._metrics.store_errors.labels("append").inc()
            raise
        self._metrics.batch_committed(started, len(events))


def _counted(method: Callable[..., Any], name: str, metrics: HubMetrics) -> Callable[..., Any]:
    """``method``, with each StorageError it raises counted."""
    if not inspect.iscoroutinefunction(method):
        return method

    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except StorageError:
            metrics.store_errors.labels(name).inc()
            raise

    return call
