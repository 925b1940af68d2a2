"""The numbers that show improvement: TTA, TTM, TTR, action follow-through and error budgets.

Computed from the incident summaries the hub keeps (milestones, services,
impact, action items), never by folding 1,000 logs, and pure: the caller
passes the summaries and the clock. The definitions travel with the numbers
(``DEFINITIONS``) so nobody has to guess which timestamps a mean came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from warroom.core.schema import format_time
from warroom.review import actions as action_items

DEFINITIONS = {
    "unmeasured": "incidents counted whose time lacks a milestone (acknowledged, say): left out of that mean",
    "tta": "acknowledged - detected (detected unset: declared)",
    "ttm": "mitigated - impact start",
    "ttr": "resolved - impact start; a reopened incident uses its last resolution",
    "impact_start": "impact_started, else detected, else declared",
    "scope": "incidents whose declared milestone falls in [from, to), of --service and --severity",
    "drills": "excluded, counted in drills_excluded",
    "open": "not resolved: excluded from the times and counted in open_excluded, never taken as zero",
    "reopened": "incidents counted that left resolved at least once",
    "mean": "arithmetic mean in whole seconds (half up); median and p90 (nearest rank) beside it",
    "by_severity": "by the incident's current severity",
    "by_service": "an incident with several services counts in each",
    "actions": "action items of the incidents in scope, drills excepted",
    "done_on_time": "done on or before its due day (UTC); done with no due day counts as on time",
    "overdue": "open or in progress after its due day, as of now",
    "budget_s": "(1 - objective/100) x window",
    "consumed_s": "sum over the service's incidents of (impact start -> mitigated, inside the window "
    "ending at now) x impact_fraction; drills and unmitigated incidents left out (open_excluded)",
    "weeks": "incidents counted per week (Monday, UTC) of their declared milestone, with their mean TTR",
}
TIMES = ("tta", "ttm", "ttr")
MAX_WEEKS = 520  # a chart of ten years is already a smear


@dataclass(frozen=True, slots=True)
class Slo:
    """An availability objective for one service, in percent (99.9)."""

    service: str
    objective: float


@dataclass(frozen=True, slots=True)
class Query:
    """What to report on: incidents declared in [start, end), and the clock to judge by."""

    now: datetime
    start: datetime | None = None
    end: datetime | None = None
    service: str | None = None
    severity: str | None = None
    slos: tuple[Slo, ...] = ()
    window_s: int = 30 * 86400


@dataclass(frozen=True, slots=True)
class Times:
    """One incident's durations in seconds; None where a milestone is missing."""

    tta: int | None
    ttm: int | None
    ttr: int | None


def moment(value: object) -> datetime | None:
    """A summary's timestamp, or None for anything that is not one (a summary is data from a hub)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def milestones(summary: Mapping[str, Any]) -> dict[str, datetime]:
    """The incident's milestones as times; a summary from before milestones were listed
    still gives its declared and resolved times."""
    raw = summary.get("milestones")
    found = {
        name: at
        for name, value in (raw.items() if isinstance(raw, dict) else ())
        if (at := moment(value)) is not None
    }
    for name, key in (("declared", "declared_at"), ("resolved", "resolved_at")):
        if name not in found and (at := moment(summary.get(key))) is not None:
            found[name] = at
    return found


def impact_start(marks: Mapping[str, datetime]) -> datetime | None:
    return marks.get("impact_started") or marks.get("detected") or marks.get("declared")


def _span(start: datetime | None, end: datetime | None) -> int | None:
    return None if start is None or end is None else round((end - start).total_seconds())


def times(marks: Mapping[str, datetime]) -> Times:
    """TTA, TTM and TTR by the definitions; the incident's own, for its review too."""
    start = impact_start(marks)
    return Times(
        tta=_span(marks.get("detected") or marks.get("declared"), marks.get("acknowledged")),
        ttm=_span(start, marks.get("mitigated")),
        ttr=_span(start, marks.get("resolved")),
    )


def whole(value: float) -> int:
    """Half up, not Python's half to even: 0.5 s is reported as 1 s by every report."""
    return math.floor(value + 0.5)


def summarise(values: list[int]) -> tuple[int | None, int | None, int | None]:
    """Mean, median and p90 (nearest rank) in whole seconds; Nones for no values."""
    if not values:
        return None, None, None
    ordered = sorted(values)
    n = len(ordered)
    middle = ordered[n // 2] if n % 2 else whole((ordered[n // 2 - 1] + ordered[n // 2]) / 2)
    return whole(sum(ordered) / n), middle, ordered[math.ceil(0.9 * n) - 1]


@dataclass(slots=True)
class _Counted:
    summary: Mapping[str, Any]
    declared: datetime
    times: Times


def _means(counted: list[_Counted]) -> dict[str, Any]:
    out: dict[str, Any] = {"incidents": len(counted)}
    for name in TIMES:
        values = [v for c in counted if (v := getattr(c.times, name)) is not None]
        out[f"mt{name[1:]}_s"] = summarise(values)[0]
    return out


def _text_list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def report(summaries: Iterable[Mapping[str, Any]], query: Query) -> dict[str, Any]:
    """The report's numbers, as ``warroom report --json`` prints them (see DEFINITIONS)."""
    everything = list(summaries)
    counted: list[_Counted] = []
    drills = still_open = 0
    scoped: list[Mapping[str, Any]] = []
    for summary in everything:
        marks = milestones(summary)
        declared = marks.get("declared")
        if declared is None or not _in_scope(summary, declared, query):
            continue
        if summary.get("drill") is True:
            drills += 1
            continue
        scoped.append(summary)
        if summary.get("status") != "resolved" or "resolved" not in marks:
            still_open += 1
            continue
        counted.append(_Counted(summary, declared, times(marks)))
    out: dict[str, Any] = {
        "from": _stamp(query.start),
        "to": _stamp(query.end),
        "now": _stamp(query.now),
        "service": query.service,
        "severity": query.severity,
        "incidents": len(counted),
        "drills_excluded": drills,
        "open_excluded": still_open,
        "reopened": sum(1 for c in counted if _count(c.summary.get("reopen_count")) > 0),
    }
    unmeasured = {}
    for name in TIMES:
        values = [v for c in counted if (v := getattr(c.times, name)) is not None]
        mean, median, p90 = summarise(values)
        key = f"mt{name[1:]}"
        out |= {f"{key}_s": mean, f"{key}_median_s": median, f"{key}_p90_s": p90}
        unmeasured[name] = len(counted) - len(values)
    out["unmeasured"] = unmeasured  # counted, but a milestone the time needs is missing
    out["by_severity"] = {
        severity: _means([c for c in counted if c.summary.get("severity") == severity])
        for severity in sorted({str(c.summary.get("severity")) for c in counted})
    }
    services = sorted({s for c in counted for s in _text_list(c.summary.get("services"))})
    out["by_service"] = {
        service: _means([c for c in counted if service in _text_list(c.summary.get("services"))])
        for service in services
    }
    out["actions"] = _actions(scoped, query.now.date())
    out["slo"] = {slo.service: _slo(everything, slo, query) for slo in query.slos}
    out["weeks"] = _weeks(counted, query)
    out["definitions"] = DEFINITIONS
    return out


def _in_scope(summary: Mapping[str, Any], declared: datetime, query: Query) -> bool:
    if query.start is not None and declared < query.start:
        return False
    if query.end is not None and declared >= query.end:
        return False
    if query.severity is not None and summary.get("severity") != query.severity:
        return False
    return query.service is None or query.service in _text_list(summary.get("services"))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stamp(moment_: datetime | None) -> str | None:
    return None if moment_ is None else format_time(moment_)


def _actions(scoped: list[Mapping[str, Any]], today: date) -> dict[str, Any]:
    rows = [row for summary in scoped for row in action_items.of(summary)]
    overdue = [
        {
            "id": row.id,
            "incident": row.incident,
            "owner": row.owner,
            "due": row.due,
            "days_overdue": late,
            "text": row.text,
        }
        for row in rows
        if (late := row.days_overdue(today)) is not None
    ]
    overdue.sort(key=lambda item: (-int(item["days_overdue"] or 0), str(item["incident"]), str(item["id"])))
    return {
        "total": len(rows),
        "done": sum(row.status == "done" for row in rows),
        "done_on_time": sum(row.on_time() for row in rows),
        "wont_do": sum(row.status == "wont_do" for row in rows),
        "open": sum(row.status in action_items.OPEN for row in rows),
        "overdue": overdue,
    }


def _fraction(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return 1.0


def _slo(summaries: list[Mapping[str, Any]], slo: Slo, query: Query) -> dict[str, Any]:
    """The budget one service's incidents spent in the window ending at now (from/to do not apply)."""
    window_start = query.now - timedelta(seconds=query.window_s)
    budget = (1 - slo.objective / 100) * query.window_s
    consumed = 0.0
    counted = unmitigated = 0
    by_day: dict[str, float] = {}
    for summary in summaries:
        if summary.get("drill") is True or slo.service not in _text_list(summary.get("services")):
            continue
        marks = milestones(summary)
        start = impact_start(marks)
        if start is None or start >= query.now:
            continue
        end = marks.get("mitigated")
        if end is None:
            unmitigated += 1
            continue
        if end <= window_start:
            continue  # over before the window began
        inside = (min(end, query.now) - max(start, window_start)).total_seconds()
        spent = max(inside, 0.0) * _fraction(summary.get("impact_fraction"))
        counted += 1
        consumed += spent
        day = max(start, window_start).date().isoformat()
        by_day[day] = by_day.get(day, 0.0) + spent
    burn, running = [], 0.0
    for day in sorted(by_day):
        running += by_day[day]
        burn.append({"day": day, "consumed_s": whole(running)})
    return {
        "objective": slo.objective,
        "window_s": query.window_s,
        "budget_s": whole(budget),
        "consumed_s": whole(consumed),
        "consumed_pct": round(consumed / budget * 100, 2) if budget > 0 else None,
        "remaining_s": whole(budget - consumed),
        "incidents": counted,
        "open_excluded": unmitigated,
        "burn": burn,
    }


def _monday(moment_: datetime) -> date:
    day = moment_.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _weeks(counted: list[_Counted], query: Query) -> list[dict[str, Any]]:
    """Incidents and mean TTR per week, every week of the span present (a quiet week is a zero)."""
    if not counted and (query.start is None or query.end is None):
        return []
    first = _monday(query.start) if query.start else min(_monday(c.declared) for c in counted)
    last_moment = (query.end - timedelta(microseconds=1)) if query.end else None
    last = _monday(last_moment) if last_moment else max(_monday(c.declared) for c in counted)
    if counted:
        first = min(first, min(_monday(c.declared) for c in counted))
    weeks: dict[date, list[_Counted]] = {}
    day = max(first, last - timedelta(weeks=MAX_WEEKS - 1))
    while day <= last:
        weeks[day] = []
        day += timedelta(weeks=1)
    for c in counted:
        bucket = weeks.get(_monday(c.declared))
        if bucket is not None:
            bucket.append(c)
    return [
        {
            "week": day.isoformat(),
            "incidents": len(items),
            "mttr_s": summarise([v for c in items if (v := c.times.ttr) is not None])[0],
        }
        for day, items in weeks.items()
    ]
