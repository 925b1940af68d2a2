"""The app's time to apply one alert update in a 50,000-alert room, beside the old full rebuild.

Run from the repository root::

    python bench/alerts.py --feed            # 50,000 alerts, 200 updates (about a minute)
    python bench/alerts.py --feed --quick    # 5,000 alerts: a smoke run, not a measurement

The real ``WarroomApp`` runs under ``run_test`` (120x40) with its ``HubClient``; the room's
events reach the client as an ``events`` frame would bring them (``HubClient._apply_events``,
the method the frame dispatches to), with no hub: the app's side of an update is measured,
not the network. The room holds N alerts in 50 alertnames (so groups of about 1,000, closed,
as the panel shows a storm), plus one small open group.

One update is timed from the moment the client folds the event in until the screen's
redraw has run and the panel's lines are rebuilt (``IncidentScreen.refresh_state`` and the
tree's line list), the work Textual then paints from. Updates are a mix of what intake and
responders send: a repeat of a firing alert (its count), an ack, a resolve, a new alert.

Baseline, in the same run: the same app with the panel's previous ``show`` (kept below as
``OldAlertFeed``, the algorithm of commit 40eac02: every alert's signature, then the whole
tree rebuilt), on the same room and the same kinds of update; fewer updates, since each
takes about a second. Target: p99 under 10 ms for one update.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.text import Text
from textual.content import Content

import warroom.app.screens as screens
from warroom.app.app import WarroomApp
from warroom.app.screens import IncidentScreen
from warroom.app.themes import load_themes, shipped_dir
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.client import HubClient
from warroom.client.hub_client import Backoff, RoomView
from warroom.core.events import Event
from warroom.core.reducer import apply
from warroom.core.schema import format_time
from warroom.core.state import Alert, IncidentState

ROOM = "INC-1"
TARGET_P99_MS = 10.0
NAMES = 50
T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Figures:
    label: str
    samples: list[float]
    first_show: float

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class OldAlertFeed(AlertFeed):
    """The panel's previous ``show``, kept as the baseline: every update rebuilt every row."""

    _old_signature: tuple[Any, ...] = ()
    _old_seen: set[str] | None = None

    def show(self, alerts: dict[str, Alert], now: datetime, changed: Any = None) -> None:
        groups: dict[str, list[Alert]] = {}
        for alert in alerts.values():
            groups.setdefault(alert.alertname, []).append(alert)
        ordered = sorted(groups.items(), key=lambda g: (not any(a.status == "firing" for a in g[1]), g[0]))
        signature = (
            *(_old_alert_signature(a) for _, group in ordered for a in group),
            now.strftime("%H:%M"),
            self.app.theme,
        )
        if signature == self._old_signature:
            return
        self._old_signature = signature
        if self._old_seen is None:
            self._old_seen = set()
        seen = self._old_seen
        expanded = {node.data for node in self.root.children if node.is_expanded}
        cursor = self.cursor_line
        self.clear()
        firing_total = 0
        for name, group in ordered:
            group.sort(key=lambda a: (a.status != "firing", a.first_seen))
            firing = sum(a.status == "firing" for a in group)
            firing_total += firing
            label = Text.assemble(
                ("● " if firing else "○ "), (name, "bold"), f" · {firing} firing / {len(group)}"
            )
            key = f"group:{name}"
            fresh = key not in seen
            seen.add(key)
            node = self.root.add(label, data=key, expand=key in expanded or (fresh and len(group) <= 5))
            for alert in group:
                node.add_leaf(self._alert_label(alert, now), data=alert.fingerprint)
        self.border_title = Content(f"Alerts {firing_total} firing")
        if cursor >= 0:
            self.cursor_line = min(cursor, max(0, self.last_line))


def _old_alert_signature(alert: Alert) -> tuple[object, ...]:
    return (
        alert.fingerprint,
        alert.alertname,
        alert.status,
        alert.severity,
        tuple(sorted(alert.labels.items())),
        alert.annotations.get("summary"),
        alert.starts_at or alert.first_seen,
        alert.count,
        alert.occurrence,
        alert.acked_by,
        alert.silenced_until,
    )


class Room:
    """The room's events, made in order, as the hub would number them."""

    def __init__(self) -> None:
        self.seq = 0
        self.clock = T0

    def event(self, type_: str, data: dict[str, Any], actor: str = "alertmanager") -> dict[str, Any]:
        self.seq += 1
        self.clock += timedelta(milliseconds=1)
        ts = format_time(self.clock)
        return Event(ROOM, self.seq, f"e{self.seq}", actor, ts, type_, data).to_wire()

    def alert(self, n: int, status: str = "firing") -> dict[str, Any]:
        name = "SmallGroup" if n < 0 else f"Alert{n % NAMES:02}"
        fingerprint = f"fp{n}"
        labels = {"alertname": name, "instance": f"host-{n}", "job": "node", "severity": "warning"}
        data = {"fingerprint": fingerprint, "alertname": name, "status": status, "severity": "warning"}
        return self.event(
            "alert.upserted", {**data, "labels": labels, "annotations": {"summary": f"{name} on {n}"}}
        )


def updates(room: Room, count: int, alerts: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """What a storm brings: repeats, acks, resolves and new alerts, in a fixed random order."""
    fresh = alerts
    for _ in range(count):
        roll = rng.random()
        n = rng.randrange(alerts)
        if roll < 0.55:
            yield room.alert(n)
        elif roll < 0.75:
            yield room.event("alert.acknowledged", {"fingerprint": f"fp{n}"}, "bench")
        elif roll < 0.9:
            yield room.event("alert.resolved", {"fingerprint": f"fp{n}"})
        else:
            yield room.alert(fresh)
            fresh += 1


async def measure(alerts: int, count: int, old: bool) -> Figures:
    """Load the room into a running app, then time ``count`` updates applied one at a time."""
    room = Room()
    client = HubClient("ws://127.0.0.1:9/", "bench", "bench", backoff=Backoff(base=30, cap=60))
    view = client.rooms[ROOM] = RoomView(ROOM)
    feed_class = screens.AlertFeed  # type: ignore[attr-defined]
    if old:
        screens.AlertFeed = OldAlertFeed  # type: ignore[attr-defined]
    now = T0 + timedelta(minutes=10)
    app = WarroomApp(client, ROOM, load_themes(shipped_dir()), clock=lambda: now)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            while not isinstance(app.screen, IncidentScreen):
                await pilot.pause()
            screen = app.screen
            # The room arrives as a snapshot does: a whole new state, then the app is told.
            declared = room.event("incident.declared", {"title": "storm", "severity": "SEV2"}, "maria")
            state = IncidentState(room=ROOM)
            for raw in [declared, *(room.alert(n) for n in [*range(alerts), -1, -2])]:
                apply(state, Event.from_wire(raw))
            started = time.perf_counter()
            view.state, view.synced = state, True
            client._notify("state", ROOM)
            screen.refresh_state()
            screen._draw_feed()  # the rebuild the screen puts off until its first paint, timed here
            feed = screen.query_one(AlertFeed)
            feed._tree_lines  # noqa: B018 - the line list Textual paints from
            first = time.perf_counter() - started
            await pilot.pause()
            samples = []
            for raw in updates(room, count, alerts, random.Random(12)):
                started = time.perf_counter()
                client._apply_events(ROOM, [raw])  # as an "events" frame from the hub
                screen.refresh_state()
                feed._tree_lines  # noqa: B018
                samples.append(time.perf_counter() - started)
                await pilot.pause()  # Textual paints between updates, untimed
            assert len(view.state.alerts) >= alerts
    finally:
        screens.AlertFeed = feed_class  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            await client.close()
    return Figures("previous full rebuild" if old else "this branch", samples, first)


def report(alerts: int, new: Figures, old: Figures) -> int:
    print(f"warroom app: one alert update in a {alerts:,}-alert room ({NAMES} groups), 120x40, run_test")
    print("timed: client folds the event in -> screen redraw -> panel line list rebuilt (paint untimed)")
    print(f"{'':24} {'n':>5} {'p50':>10} {'p99':>10} {'max':>10} {'first show':>11}")
    for f in (old, new):
        print(
            f"{f.label:24} {len(f.samples):>5} {f.pct(0.5) * 1000:>8.2f}ms {f.pct(0.99) * 1000:>8.2f}ms"
            f" {max(f.samples) * 1000:>8.2f}ms {f.first_show:>10.2f}s"
        )
    p99 = new.pct(0.99) * 1000
    speedup = statistics.median(old.samples) / max(statistics.median(new.samples), 1e-9)
    verdict = "PASS" if p99 < TARGET_P99_MS else "FAIL"
    print(
        f"target p99 < {TARGET_P99_MS:.0f} ms: {p99:.2f} ms {verdict};"
        f" median {speedup:,.0f}x faster than before"
    )
    return 0 if verdict == "PASS" else 1


async def run_feed(alerts: int, count: int, baseline_count: int) -> int:
    print(f"feed bench: {alerts:,} alerts, {count} updates (baseline {baseline_count})", file=sys.stderr)
    new = await measure(alerts, count, old=False)
    old = await measure(alerts, baseline_count, old=True)
    return report(alerts, new, old)
