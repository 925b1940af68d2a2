"""The review document: an incident's state as GitHub-flavoured Markdown and as JSON.

``build`` turns a state into one plain map (the JSON form, schema in
docs/postmortem.md); ``render_markdown`` writes that map as Markdown, so the
two never disagree. Both are pure: no clock, no I/O. The Follow-up section's
"as of" time is the log's last event unless the caller gives ``now``, so two
exports of the same log are byte-identical, and the CLI, the hub's HTTP API
and the app export the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from warroom.core.events import MILESTONES, ROLE_TITLES, ROLES
from warroom.core.schema import parse_time
from warroom.core.state import ActionItem, Entry, IncidentState, RoleTerm
from warroom.review.keep import keep_block, read_kept
from warroom.review.markdown import bullets, cell, inline, paragraphs, table
from warroom.review.metrics import times

SCHEMA = "warroom.postmortem/1"
# (key, heading), in the order the document has them; keep blocks are matched by the heading.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("impact", "Impact"),
    ("timeline", "Timeline"),
    ("roles", "Roles"),
    ("root_cause", "Root cause and contributing factors"),
    ("went_well", "What went well"),
    ("lucky", "Where we got lucky"),
    ("actions", "Action items"),
    ("follow_up", "Follow-up"),
    ("metrics", "Metrics"),
)
PREAMBLE = "preamble"  # the keep block under the title, before the first section
MILESTONE_TITLES = {
    "impact_started": "impact started",
    "detected": "detected",
    "declared": "declared",
    "acknowledged": "acknowledged",
    "mitigated": "mitigated",
    "resolved": "resolved",
}
STATUS_TITLES = {"open": "open", "in_progress": "in progress", "done": "done", "wont_do": "won't do"}
DEFINITIONS = {
    "tta": "acknowledged - detected",
    "ttm": "mitigated - impact start",
    "ttr": "resolved - impact start",
    "impact start": "impact_started, else detected, else declared",
    "detected": "detected, else declared",
}

# What the hub's own timeline lines say, by what they are about: the Kind column. Names come
# first in some of them; the patterns are for the label only, never for what is shown.
_SYSTEM_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("declared", re.compile(r"^declared ")),
    ("severity", re.compile(r"^severity ")),
    ("status", re.compile(r"^(status|reopened:) ")),
    ("correction", re.compile(r"^milestone \w+ corrected: ")),
    ("action item", re.compile(r"^action A-\d+: ")),
    ("runbook", re.compile(r"^(attached runbook |gave ')")),
    ("impact", re.compile(r"^(services: |impact set to )")),
    (
        "notification",
        re.compile(r"^notification to .* failed: .*, (retrying|gave up) \(attempt \d+\)$", re.S),
    ),
    (
        "monitoring",
        re.compile(
            r" is not answering \(.*\); its alerts here may be out of date$|"
            r" answers again; its alerts here are reconciled$",
            re.S,
        ),
    ),
    (
        "alert",
        re.compile(
            r"^(acknowledged |silenced |silence on |the silence by )|"
            r" (resolved: | is stale: | moved to )",
            re.S,
        ),
    ),
    ("role", re.compile(r" (is|offered|accepted|declined|took over|released) |^offer of ")),
    ("joined", re.compile(r" joined$")),
)
# Kinds of hub lines left out unless every entry is asked for: delivery and reachability,
# not the incident's story.
_NOISE = {"notification", "monitoring"}
_SKIPPED_STEP = "skipped '"  # the hub's line for a skipped step: the runbook rows say it instead


def _seconds(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return round((parse_time(end) - parse_time(start)).total_seconds())


def duration(seconds: int | None) -> str:
    """``1d 02h 03m 04s``, ``3h 04m 05s``, ``4m 05s``, ``5s``; ``n/a`` for a time not reached."""
    if seconds is None:
        return "n/a"
    sign, left = ("-" if seconds < 0 else ""), abs(seconds)
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h {minutes:02d}m {secs:02d}s"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def stamp(ts: str | None) -> str:
    """A time as the document writes it outside the timeline: ``2026-11-28 03:00:00 UTC``."""
    return f"{ts[:10]} {ts[11:19]} UTC" if ts else "n/a"


# -- the map -------------------------------------------------------------------------------------


def build(state: IncidentState, *, all_entries: bool = False, now: str | None = None) -> dict[str, Any]:
    """The review as one plain map (the JSON form); ``now`` judges overdue items, else the last event."""
    as_of = now or state.updated_at or state.declared_at or ""
    return {
        "schema": SCHEMA,
        "incident": {
            "id": state.room,
            "title": state.title,
            "severity": state.severity,
            "status": state.status,
            "drill": state.drill,
            "declared_at": state.declared_at,
            "declared_by": state.declared_by,
            "reopen_count": state.reopen_count,
            "seq": state.seq,
        },
        "all_entries": all_entries,
        "summary": _summary(state),
        "impact": _impact(state),
        "timeline": _timeline(state, all_entries),
        "roles": _roles(state),
        "root_cause": {
            "whys": [
                {"level": n, "why": w.why, "because": w.because, "by": w.by, "at": w.at}
                for n, w in enumerate(state.review.whys, 1)
            ],
            "factors": _items(state, "factors"),
        },
        "went_well": _items(state, "went_well"),
        "lucky": _items(state, "lucky"),
        "actions": [_action(a) for a in state.actions.values()],
        "follow_up": _follow_up(state, as_of, "given" if now else "last_event"),
        "metrics": metrics(state.milestones, state.reopen_count),
    }


def _summary(state: IncidentState) -> dict[str, Any]:
    written = state.review.fields.get("summary")
    if written:
        return {"text": written, "source": "review", "at": None, "by": None}
    last = state.broadcast
    if last is not None:
        return {"text": last.message, "source": "broadcast", "at": last.ts, "by": last.actor}
    return {"text": None, "source": None, "at": None, "by": None}


def impact_window(milestones: Mapping[str, str]) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(start, milestone) and (end, milestone) of the impact: it starts at impact_started, else
    detected, else declared, and ends when mitigated, else resolved."""
    start = next(
        ((milestones[m], m) for m in ("impact_started", "detected", "declared") if m in milestones), None
    )
    end = next(((milestones[m], m) for m in ("mitigated", "resolved") if m in milestones), None)
    return start, end


def _impact(state: IncidentState) -> dict[str, Any]:
    fields = state.review.fields
    start, end = impact_window(state.milestones)
    return {
        "customer": fields.get("impact_customer"),
        "business": fields.get("impact_business"),
        "technical": fields.get("impact_technical"),
        "broadcasts": [{"at": b.ts, "by": b.actor, "impact": b.impact} for b in state.broadcasts if b.impact],
        "start": start[0] if start else None,
        "start_milestone": start[1] if start else None,
        "end": end[0] if end else None,
        "end_milestone": end[1] if end else None,
        "duration_s": _seconds(start[0] if start else None, end[0] if end else None),
        "fraction": state.impact_fraction,
        "services": list(state.services),
        "milestones": {m: state.milestones[m] for m in MILESTONES if m in state.milestones},
    }


def _system_kind(text: str) -> str:
    return next((kind for kind, pattern in _SYSTEM_KINDS if pattern.search(text)), "system")


def _row(at: str, kind: str, by: str | None, text: str, entry: Entry | None = None) -> dict[str, Any]:
    return {
        "at": at,
        "kind": kind,
        "by": by,
        "text": text,
        "entry": entry.id if entry else None,
        "pinned": bool(entry and entry.pinned),
        "edited": bool(entry and entry.history),
        "milestones": [],  # the milestones this row's time marks
    }


def _timeline(state: IncidentState, all_entries: bool) -> list[dict[str, Any]]:
    """The entries that tell the story, broadcasts, runbook steps and milestones, in time order.

    An entry sits at the time it happened (``happened_at``, else when it was
    logged), with its final text; struck entries are left out, and plain notes
    (unless pinned) and the hub's delivery and reachability lines unless
    ``all_entries``.
    """
    keyed: list[tuple[str, int, int, dict[str, Any]]] = []
    broadcasts = {(b.ts, f"broadcast: {b.message}"): b for b in state.broadcasts}
    for entry in state.entries.values():
        if entry.struck:
            continue
        kind, text = entry.kind, entry.text
        if kind == "system":
            said = broadcasts.get((entry.ts, text))
            if said is not None:
                kind = "broadcast"
                text = said.message + "".join(
                    f" · {label}: {value}"
                    for label, value in (("impact", said.impact), ("doing", said.doing))
                    if value
                )
            elif text.startswith(_SKIPPED_STEP):
                continue
            else:
                kind = _system_kind(text)
                if kind in _NOISE and not all_entries:
                    continue
        elif kind == "note" and not entry.pinned and not all_entries:
            continue
        keyed.append((entry.when, 1, entry.id, _row(entry.when, kind, entry.author, text, entry)))
    order = 0
    for runbook in state.runbooks.values():
        for step in runbook.steps.values():
            order += 1
            if step.state == "open" or not step.at:
                continue
            did = "done" if step.state == "done" else f"skipped: {step.reason or ''}"
            text = f"{runbook.title} ({runbook.id}/{step.id}): {step.text}, {did}"
            keyed.append((step.at, 2, order, _row(step.at, "runbook step", step.by, text)))
    keyed.sort(key=lambda k: k[:3])
    _mark_milestones(state, keyed)
    return [row for *_, row in keyed]


def _mark_milestones(state: IncidentState, keyed: list[tuple[str, int, int, dict[str, Any]]]) -> None:
    """Each milestone marks the first row at its exact time (the status change that made it, the
    declaration); one with no such row (a corrected or back-dated time) gets a row of its own."""
    first: dict[str, dict[str, Any]] = {}
    for when, *_, shown in keyed:
        first.setdefault(when, shown)
    for name in MILESTONES:
        at = state.milestones.get(name)
        if not at:
            continue
        if at not in first:
            first[at] = _row(at, "milestone", None, "")
            keyed.append((at, 0, 0, first[at]))
        row = first[at]
        row["milestones"].append(name)
        if row["kind"] == "milestone":
            row["text"] = ", ".join(MILESTONE_TITLES[m] for m in row["milestones"])
    keyed.sort(key=lambda k: k[:3])


def _until(state: IncidentState, terms: Sequence[RoleTerm], n: int) -> tuple[str | None, str | None]:
    """When term ``n`` ended and how: handed over, released, or (None) held still."""
    term = terms[n]
    later = next((t for t in terms[n + 1 :] if t.role == term.role), None)
    if later is not None:
        return later.since, f"to {later.name}"
    holder = state.roles.get(term.role)
    if holder is not None and (holder.name, holder.since) == (term.name, term.since):
        return None, None
    line = f"{term.name} released {ROLE_TITLES[term.role]}"
    released = next(
        (
            e.ts
            for e in state.entries.values()
            if e.kind == "system" and e.ts >= term.since and e.text == line
        ),
        None,
    )
    return released, "released"


def _roles(state: IncidentState) -> list[dict[str, Any]]:
    terms = state.role_terms
    rows = []
    for n, term in enumerate(terms):
        until, ended = _until(state, terms, n)
        rows.append(
            {
                "role": term.role,
                "title": ROLE_TITLES.get(term.role, term.role),
                "name": term.name,
                "since": term.since,
                "until": until,
                "ended": ended,
                "assigned_by": term.assigned_by,
            }
        )
    rank = {role: n for n, role in enumerate(ROLES)}
    return sorted(rows, key=lambda r: rank.get(r["role"], len(rank)))  # stable: in order within a role


def _items(state: IncidentState, section: str) -> list[dict[str, Any]]:
    return [{"id": i.id, "text": i.text, "by": i.by, "at": i.at} for i in state.review.lists.get(section, ())]


def _action(a: ActionItem) -> dict[str, Any]:
    return {
        "id": a.id,
        "text": a.text,
        "owner": a.owner,
        "due": a.due,
        "status": a.status,
        "done_at": a.done_at,
        "reason": a.reason,
        "created_at": a.created_at,
        "created_by": a.created_by,
    }


def _follow_up(state: IncidentState, as_of: str, source: str) -> dict[str, Any]:
    today = as_of[:10]
    items = []
    for a in state.actions.values():
        overdue = a.overdue(today)
        late = (date.fromisoformat(today) - date.fromisoformat(a.due)).days if overdue and a.due else None
        items.append(
            {
                "id": a.id,
                "status": a.status,
                "overdue": overdue,
                "days_overdue": late,
                "on_time": a.on_time() if a.status == "done" else None,
                "done_at": a.done_at,
                "reason": a.reason,
                "updated_at": a.updated_at,
            }
        )
    return {
        "as_of": as_of,
        "as_of_source": source,
        "seq": state.seq,
        "items": items,
        "total": len(items),
        "done": sum(i["status"] == "done" for i in items),
        "done_on_time": sum(bool(i["on_time"]) for i in items),
        "overdue": sum(i["overdue"] for i in items),
        "wont_do": sum(i["status"] == "wont_do" for i in items),
    }


def metrics(milestones: Mapping[str, str], reopen_count: int = 0) -> dict[str, Any]:
    """The incident's own TTA, TTM and TTR in whole seconds, by the report's definitions (one
    computation for both); None where a milestone is not reached.

    A reopened incident's ``resolved`` milestone is its last resolution (the
    reducer drops it on a reopen); one not resolved again has no TTR.
    """
    own = times({name: parse_time(at) for name, at in milestones.items()})
    detected = next((milestones[m] for m in ("detected", "declared") if m in milestones), None)
    start, _ = impact_window(milestones)
    return {
        "tta_s": own.tta,
        "ttm_s": own.ttm,
        "ttr_s": own.ttr,
        "detected": detected,
        "impact_start": start[0] if start else None,
        "acknowledged": milestones.get("acknowledged"),
        "mitigated": milestones.get("mitigated"),
        "resolved": milestones.get("resolved"),
        "reopen_count": reopen_count,
        "definitions": dict(DEFINITIONS),
    }


# -- Markdown ------------------------------------------------------------------------------------

_NONE = "None recorded."


def render_markdown(doc: Mapping[str, Any], kept: Mapping[str, Sequence[str]] | None = None) -> str:
    """The map from ``build`` as GitHub-flavoured Markdown; ``kept``: keep-block texts by section key."""
    kept = kept or {}
    incident = doc["incident"]
    drill = "DRILL " if incident["drill"] else ""
    reopened = f", reopened {incident['reopen_count']}x" if incident["reopen_count"] else ""
    parts = [
        f"# Postmortem: {inline(incident['id'])}: {drill}{inline(incident['title'])}",
        f"{inline(incident['severity'])}, {inline(incident['status'])}{reopened}. "
        f"Declared {stamp(incident['declared_at'])} by {inline(incident['declared_by'])}. "
        f"Written from the incident log up to event {incident['seq']}"
        + (", every entry included." if doc["all_entries"] else ", without plain notes."),
        keep_block(kept.get(PREAMBLE, ())),
    ]
    render = {
        "summary": _md_summary,
        "impact": _md_impact,
        "timeline": _md_timeline,
        "roles": _md_roles,
        "root_cause": _md_root_cause,
        "went_well": lambda d: _md_list(d["went_well"]),
        "lucky": lambda d: _md_list(d["lucky"]),
        "actions": _md_actions,
        "follow_up": _md_follow_up,
        "metrics": _md_metrics,
    }
    for key, heading in SECTIONS:
        parts += [f"## {heading}", render[key](doc), keep_block(kept.get(key, ()))]
    return "\n\n".join(parts) + "\n"


def _md_summary(doc: Mapping[str, Any]) -> str:
    summary = doc["summary"]
    if summary["source"] is None:
        return "No summary yet: the commander or scribe writes one in the review."
    text = paragraphs(summary["text"])
    if summary["source"] == "broadcast":
        text += f"\n\n(From the last broadcast, {stamp(summary['at'])}, by {inline(summary['by'])}.)"
    return text


def _md_impact(doc: Mapping[str, Any]) -> str:
    impact = doc["impact"]
    parts = []
    for key, title in (("customer", "Customer"), ("business", "Business"), ("technical", "Technical")):
        parts.append(
            f"**{title} impact.** " + (paragraphs(impact[key]) if impact[key] else "Not written yet.")
        )
    start, end = impact["start"], impact["end"]
    began = f"{stamp(start)} ({MILESTONE_TITLES.get(impact['start_milestone'], '')})"
    if start and end:
        ended = f"{stamp(end)} ({MILESTONE_TITLES.get(impact['end_milestone'], '')})"
        how_long = f"{duration(impact['duration_s'])}, from {began} to {ended}"
    elif start:
        how_long = f"from {began}, not mitigated yet"
    else:
        how_long = "n/a"
    services = ", ".join(inline(s) for s in impact["services"]) or "none recorded"
    parts.append(
        bullets(
            [
                f"Duration: {how_long}",
                f"Users affected: {impact['fraction']:.0%} (impact fraction {impact['fraction']:g})",
                f"Services: {services}",
            ]
        )
    )
    if impact["broadcasts"]:
        said = [f"{stamp(b['at'])}, {inline(b['by'])}: {inline(b['impact'])}" for b in impact["broadcasts"]]
        parts.append("Impact as the broadcasts said it:\n\n" + bullets(said))
    return "\n\n".join(parts)


def _md_timeline(doc: Mapping[str, Any]) -> str:
    rows = doc["timeline"]
    if not rows:
        return "Nothing recorded."
    days = sorted({r["at"][:10] for r in rows})
    many = len(days) > 1
    header = ["Time (UTC)", "Kind", "Who", "What"]
    lines = []
    names: dict[str | None, str] = {}  # a few people write most rows: each escaped once
    for r in rows:
        when = f"{r['at'][:10]} {r['at'][11:19]}" if many else r["at"][11:19]
        kind = r["kind"] + (", pinned" if r["pinned"] else "") + (", edited" if r["edited"] else "")
        marks = [MILESTONE_TITLES[m] for m in r["milestones"] if MILESTONE_TITLES[m] != r["kind"]]
        if marks and r["kind"] != "milestone":
            kind += f" ({', '.join(marks)})"
        who = names.get(r["by"])
        if who is None:
            who = names[r["by"]] = cell(r["by"])
        lines.append([when, cell(kind), who, cell(r["text"])])
    intro = f"All times UTC, from {days[0]} to {days[-1]}." if many else f"All times UTC, on {days[0]}."
    return intro + "\n\n" + table(header, lines)


def _md_roles(doc: Mapping[str, Any]) -> str:
    if not doc["roles"]:
        return _NONE
    rows = []
    for r in doc["roles"]:
        if r["ended"] is None:
            until = "held to the end"
        elif r["until"] is None:
            until = r["ended"]
        else:
            until = f"{stamp(r['until'])} ({cell(r['ended'])})"
        rows.append([cell(r["title"]), cell(r["name"]), stamp(r["since"]), until, cell(r["assigned_by"])])
    return table(["Role", "Who", "From", "Until", "Given by"], rows)


def _md_root_cause(doc: Mapping[str, Any]) -> str:
    cause = doc["root_cause"]
    whys = (
        table(
            ["Level", "Why?", "Because"],
            [[str(w["level"]), cell(w["why"]), cell(w["because"])] for w in cause["whys"]],
        )
        if cause["whys"]
        else "The 5-whys chain is empty."
    )
    factors = _md_list(cause["factors"])
    return f"### Five whys\n\n{whys}\n\n### Contributing factors\n\n{factors}"


def _md_list(items: Sequence[Mapping[str, Any]]) -> str:
    return bullets([inline(i["text"]) for i in items]) if items else _NONE


def _md_actions(doc: Mapping[str, Any]) -> str:
    if not doc["actions"]:
        return _NONE
    rows = [
        [cell(a["id"]), cell(a["text"]), cell(a["owner"]), cell(a["due"]), STATUS_TITLES.get(a["status"], "")]
        for a in doc["actions"]
    ]
    return table(["ID", "Action", "Owner", "Due", "Status"], rows)


def _md_follow_up(doc: Mapping[str, Any]) -> str:
    follow = doc["follow_up"]
    source = (
        f"the log's last event, #{follow['seq']}"
        if follow["as_of_source"] == "last_event"
        else "the time asked for"
    )
    intro = f"Status as of {stamp(follow['as_of'])} ({source})."
    if not follow["items"]:
        return f"{intro} No action items."
    counts = (
        f"{follow['done']} of {follow['total']} done ({follow['done_on_time']} on time), "
        f"{follow['overdue']} overdue, {follow['wont_do']} won't do."
    )
    rows = []
    for i in follow["items"]:
        if i["status"] == "done":
            note = f"done {stamp(i['done_at'])}" + (", on time" if i["on_time"] else ", late")
        elif i["status"] == "wont_do":
            note = "won't do: " + cell(i["reason"])
        elif i["overdue"]:
            days = i["days_overdue"]
            note = f"{STATUS_TITLES[i['status']]}, overdue by {days} day{'' if days == 1 else 's'}"
        else:
            note = STATUS_TITLES.get(i["status"], "")
        rows.append([cell(i["id"]), note])
    return f"{intro} {counts}\n\n" + table(["ID", "Status"], rows)


def _md_metrics(doc: Mapping[str, Any]) -> str:
    m = doc["metrics"]
    spans = (
        ("tta", "detected", "acknowledged"),
        ("ttm", "impact_start", "mitigated"),
        ("ttr", "impact_start", "resolved"),
    )
    rows = [
        [name.upper(), DEFINITIONS[name], stamp(m[start]), stamp(m[end]), duration(m[f"{name}_s"])]
        for name, start, end in spans
    ]
    notes = (
        "Impact start is the `impact_started` milestone, else `detected`; "
        "an incident no alert detected counts from its declaration."
    )
    if m["reopen_count"]:
        notes += f" Reopened {m['reopen_count']}x: TTR runs to the last resolution."
    return table(["Metric", "Definition", "From", "To", "Value"], rows) + "\n\n" + notes


HEADINGS = {heading: key for key, heading in SECTIONS}


def markdown(
    state: IncidentState, *, all_entries: bool = False, now: str | None = None, existing: str | None = None
) -> str:
    """The review as Markdown; ``existing``: the file it replaces, whose keep blocks it carries over.

    Raises ``KeepError`` when ``existing`` has a keep block that does not close.
    """
    kept = read_kept(existing, HEADINGS, PREAMBLE) if existing else {}
    return render_markdown(build(state, all_entries=all_entries, now=now), kept)
