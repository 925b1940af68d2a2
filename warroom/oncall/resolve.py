"""Who is on call: the rotation maths, in UTC instants, with every wall-clock rule in ``model.instant``.

A layer's turn ``k`` begins at its start date plus ``k`` turns (calendar days,
so a weekly turn across a DST change lasts 167 or 169 hours) at the handoff
time; a restriction cuts the turns down to its windows. At each instant the
first source that has someone decides: overrides (a later one in the file
before an earlier one), then the layers in file order, so a later layer covers
only the gaps of the earlier ones. Every interval is half-open: at a handoff
instant the new person is on call.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from warroom.oncall.model import OVERRIDE, Layer, OnCall, Schedule, Shift, instant, local_instant

Interval = tuple[datetime, datetime, str]  # start, end (UTC, half-open), user
SEARCH_FIRST = timedelta(days=2)
SEARCH_MIN = timedelta(days=400)


def _utc(moment: datetime) -> datetime:
    """Aware instants as UTC; a naive one is taken as UTC already (the wire format's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def turn_start(layer: Layer, zone: ZoneInfo, k: int) -> datetime:
    """When turn ``k`` (0: users[0]'s first) begins."""
    return instant(layer.start + timedelta(days=k * layer.period_days), layer.handoff, zone)


def turn_at(layer: Layer, zone: ZoneInfo, moment: datetime) -> int:
    """The turn under way at ``moment`` (negative before the first one begins)."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    first = datetime.combine(layer.start, layer.handoff)
    k = math.floor((wall - first) / timedelta(days=layer.period_days))
    while turn_start(layer, zone, k + 1) <= moment:  # near a handoff moved by a DST gap
        k += 1
    while turn_start(layer, zone, k) > moment:
        k -= 1
    return k


def _turns(layer: Layer, zone: ZoneInfo, a: datetime, b: datetime) -> list[Interval]:
    k = max(turn_at(layer, zone, a), 0)
    out: list[Interval] = []
    begin = turn_start(layer, zone, k)
    while begin < b:
        end = turn_start(layer, zone, k + 1)
        if end > a:
            out.append((max(begin, a), min(end, b), layer.users[k % len(layer.users)]))
        k, begin = k + 1, end
    return out


def _windows(layer: Layer, zone: ZoneInfo, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
    """The layer's restriction windows that touch [a, b), merged where they meet or overlap."""
    day = a.astimezone(zone).date() - timedelta(days=1)
    last = b.astimezone(zone).date()
    spans: list[tuple[datetime, datetime]] = []
    while day <= last:
        for window in layer.restrict:
            if day.weekday() in window.days:
                begin = instant(day, window.start, zone)
                end = local_instant(datetime.combine(day, window.start) + window.length, zone)
                if end > a and begin < b:
                    spans.append((max(begin, a), min(end, b)))
        day += timedelta(days=1)
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def layer_intervals(layer: Layer, zone: ZoneInfo, a: datetime, b: datetime) -> list[Interval]:
    """Who this layer has on call within [a, b), restriction applied, in time order."""
    turns = _turns(layer, zone, a, b)
    if not layer.restrict:
        return turns
    windows = _windows(layer, zone, a, b)
    out: list[Interval] = []
    i = 0
    for begin, end, user in turns:
        while i < len(windows) and windows[i][1] <= begin:
            i += 1
        j = i
        while j < len(windows) and windows[j][0] < end:
            out.append((max(begin, windows[j][0]), min(end, windows[j][1]), user))
            j += 1
    return out


def _sources(schedule: Schedule, a: datetime, b: datetime) -> list[tuple[str, list[Interval]]]:
    """Each source of people in priority order: overrides (later first), then layers in order."""
    sources: list[tuple[str, list[Interval]]] = [
        (OVERRIDE, [(max(o.start, a), min(o.end, b), o.user)])
        for o in reversed(schedule.overrides)
        if o.end > a and o.start < b
    ]
    sources.extend((layer.name, layer_intervals(layer, schedule.zone, a, b)) for layer in schedule.layers)
    return sources


def _segments(schedule: Schedule, a: datetime, b: datetime) -> Iterator[Shift]:
    """The resolved timeline in [a, b): one piece between each pair of boundaries that has someone."""
    sources = _sources(schedule, a, b)
    points = sorted({a, b} | {p for _, iv in sources for s, e, _ in iv for p in (s, e)})
    cursor = [0] * len(sources)
    for begin, end in itertools.pairwise(points):
        for n, (label, intervals) in enumerate(sources):
            i = cursor[n]
            while i < len(intervals) and intervals[i][1] <= begin:
                i += 1
            cursor[n] = i
            if i < len(intervals) and intervals[i][0] <= begin:
                yield Shift(intervals[i][2], begin, end, label)
                break


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The resolved shifts in [start, end): who was on call, from when to when (UTC), decided by what.

    Pieces that follow each other with the same person and the same source are
    one shift; a time with nobody on call is simply not covered by any shift.
    """
    a, b = _utc(start), _utc(end)
    out: list[Shift] = []
    if b <= a:
        return out
    for piece in _segments(schedule, a, b):
        last = out[-1] if out else None
        if last and last.end == piece.start and (last.user, last.source) == (piece.user, piece.source):
            out[-1] = Shift(last.user, last.start, piece.end, last.source)
        else:
            out.append(piece)
    return out


def _horizon(schedule: Schedule, moment: datetime) -> timedelta:
    """How far to look for the next change: past every layer's start and every override."""
    latest = [instant(layer.start, layer.handoff, schedule.zone) for layer in schedule.layers]
    latest += [o.end for o in schedule.overrides]
    far = max(latest, default=moment) - moment
    return max(SEARCH_MIN, far + timedelta(days=15))


def who_is_on_call(schedule: Schedule, at: datetime) -> OnCall:
    """Who is on call at ``at``, who takes over next and when (UTC), and which layer or override decided.

    ``handoff`` is the next instant the person on call changes (to someone, or
    to nobody: then ``next_user`` is None); None when it never changes.
    """
    t = _utc(at)
    span, limit = SEARCH_FIRST, _horizon(schedule, t)
    while True:
        pieces = shifts(schedule, t, t + span)
        now = pieces[0] if pieces and pieces[0].start == t else None
        user = now.user if now else None
        edge = t
        for piece in pieces:
            if piece.start != edge:  # a gap: nobody from ``edge``
                if user is not None:
                    return OnCall(user, None, edge, now.source if now else "")
                return OnCall(None, piece.user, piece.start, "")
            if piece.user != user:
                return OnCall(user, piece.user, piece.start, now.source if now else "")
            edge = piece.end
        if edge < t + span and user is not None:  # covered up to ``edge``, then nobody
            return OnCall(user, None, edge, now.source if now else "")
        if span >= limit:
            return OnCall(user, None, None, now.source if now else "")
        span = min(span * 4, limit)
