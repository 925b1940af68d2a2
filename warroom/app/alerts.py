"""What the alert panel knows about groups, apart from drawing them: pure, tested without a terminal.

A group is every alert of one alertname. Its order in a storm: firing before
resolved, the worst severity first, then the group that started firing most
recently, so a new critical alertname lands at the top, not off-screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from warroom.core.schema import format_time, parse_time
from warroom.core.state import Alert

NEW_FOR = 300  # seconds a group is marked new after its first alert appeared

# Monitoring systems spell severity many ways; each maps onto the four the feed ranks.
SEVERITY_RANK: dict[str, int] = {
    **dict.fromkeys(("critical", "crit", "page", "fatal", "emergency", "alert", "disaster", "p1", "sev1"), 0),
    **dict.fromkeys(("error", "err", "high", "major", "p2", "sev2"), 1),
    **dict.fromkeys(("warning", "warn", "medium", "average", "minor", "p3", "sev3"), 2),
    **dict.fromkeys(("info", "informational", "low", "notice", "ok", "p4", "p5", "sev4", "debug"), 3),
}
NO_SEVERITY = 4
RANK_STYLE = {0: "error", 1: "error", 2: "warning", 3: "primary"}  # theme variables


def severity_rank(severity: str | None) -> int:
    """0 for critical (and page, p1, ...) to 3 for info; 4 when it has none or one not known."""
    return SEVERITY_RANK.get((severity or "").strip().lower(), NO_SEVERITY)


def silenced_now(alert: Alert, now_text: str) -> bool:
    return bool(alert.silenced_until and alert.silenced_until > now_text)


@dataclass(frozen=True)
class GroupStats:
    """What a group row shows, and where the group sorts; made in one pass over its alerts."""

    name: str
    total: int
    firing: int
    acked: int  # firing and acknowledged
    silenced: int  # firing and silenced now
    stale: int
    worst: str | None  # the worst severity of its firing alerts (of all, when none fires)
    rank: int
    started: str  # the earliest start among its alerts: when the group began firing
    first_seen: str  # when warroom first saw any of them: "new" counts from here
    silence_ends: str | None  # the earliest silence end still ahead: the row changes then

    @property
    def open(self) -> int:
        """Firing and nobody on it: what a group ack acknowledges."""
        return self.firing - self.acked

    def sort_key(self) -> tuple[int, int, float, str]:
        return (
            0 if self.firing else 1,
            self.rank,
            -parse_time(self.started[:19] + "Z").timestamp(),
            self.name,
        )

    def is_new(self, now: datetime) -> bool:
        return (now - parse_time(self.first_seen)).total_seconds() < NEW_FOR


def group_stats(name: str, alerts: Iterable[Alert], now: datetime) -> GroupStats:
    now_text = format_time(now)
    total = firing = acked = silenced = stale = 0
    worst_rank, worst = NO_SEVERITY + 1, None
    any_rank, any_worst = NO_SEVERITY + 1, None
    started = first_seen = "9999"
    silence_ends: str | None = None
    for alert in alerts:
        total += 1
        rank = severity_rank(alert.severity)
        if rank < any_rank:
            any_rank, any_worst = rank, alert.severity
        if alert.status == "firing":
            firing += 1
            acked += alert.acked_by is not None
            if silenced_now(alert, now_text):
                silenced += 1
            if rank < worst_rank:
                worst_rank, worst = rank, alert.severity
        if alert.stale_since:
            stale += 1
        if alert.silenced_until and alert.silenced_until > now_text:
            silence_ends = min(silence_ends or alert.silenced_until, alert.silenced_until)
        started = min(started, alert.starts_at or alert.first_seen)
        first_seen = min(first_seen, alert.first_seen)
    if not firing:
        worst_rank, worst = any_rank, any_worst
    return GroupStats(
        name,
        total,
        firing,
        acked,
        silenced,
        stale,
        worst,
        min(worst_rank, NO_SEVERITY),
        started,
        first_seen,
        silence_ends,
    )


def alert_sort_key(alert: Alert) -> tuple[bool, str, str]:
    """Within a group: firing first, then the oldest first (the one that started it)."""
    return (alert.status != "firing", alert.first_seen, alert.fingerprint)
