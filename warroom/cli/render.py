"""Plain-text forms of incidents for the terminal, outside the TUI.

Every string that came from a person, a script, monitoring or the hub goes
through ``visible`` on its own, on one line: a newline in an entry cannot
forge a row, and no byte of it can steer the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from warroom.core.alert_groups import AlertGroup, silenced_now
from warroom.core.events import ROLE_TITLES
from warroom.core.state import Alert, IncidentState, RunbookStep, origin_title, overdue_in
from warroom.core.text import visible


def _v(value: Any) -> str:
    """One untrusted value as one visible line."""
    return visible(str(value))


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell; the last one runs free."""
    rows = [tuple(_v(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    )


def _when(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


def render_incidents(items: list[dict[str, Any]], now: str) -> str:
    if not items:
        return "no incidents"
    rows = [("ID", "SEV", "STATUS", "DECLARED", "TITLE")]
    for item in items:
        late = overdue_in(item.get("steps_due"), now)
        rows.append(
            (
                str(item.get("id", "?")),
                str(item.get("severity", "")),
                str(item.get("status", "")),
                _when(item.get("declared_at")),
                ("DRILL " if item.get("drill") else "")
                + (f"{late} OVERDUE " if late else "")
                + str(item.get("title", "")),
            )
        )
    return table(rows)


def render_tokens(items: list[dict[str, Any]], now: str) -> str:
    if not items:
        return "no personal tokens; make one with: warroom token create NAME"
    rows = [("ID", "NAME", "LEVEL", "STATE", "EXPIRES", "LAST USED", "SCOPE")]
    for t in items:
        state = (
            "revoked"
            if t["revoked_at"]
            else "expired"
            if t["expires_at"] and t["expires_at"] <= now
            else "active"
        )
        scope = t["scope"] if isinstance(t["scope"], str) else ",".join(t["scope"])
        rows.append(
            (
                t["id"],
                t["name"],
                t["level"],
                state,
                _when(t["expires_at"]) or "never",
                _when(t["last_used_at"]) or "-",
                scope,
            )
        )
    return table(rows)


def render_audit(items: list[dict[str, Any]]) -> str:
    if not items:
        return "nothing in the audit log for that period"
    rows = [("TIME", "KIND", "WHO", "VIA", "FROM", "COUNT", "DETAIL")]
    for r in items:
        detail = " ".join(f"{k}={v}" for k, v in r["detail"].items() if v is not None)
        who = r["actor"] or "-"
        if r["token"] and r["token"] != who:
            who = f"{who} ({r['token']})"
        rows.append(
            (
                r["ts"][:19].replace("T", " "),
                r["kind"],
                who,
                r["via"],
                r["remote"] or "-",
                str(r["count"]),
                detail,
            )
        )
    return table(rows)


def render_alert_groups(groups: list[AlertGroup]) -> str:
    """One line per alertname, in the alert panel's order, with the panel's counts.

    How many fire of how many, acked, silenced now, stale, the worst severity,
    since when the group fires (the newest first-firing sorts first among equals), and
    when its newest alert started.
    """
    if not groups:
        return "no alerts"
    rows = [("SEVERITY", "FIRING", "ACKED", "SILENCED", "STALE", "SINCE", "NEWEST", "ALERT")]
    for g in groups:
        s = g.stats
        rows.append(
            (
                s.worst or "-",
                f"{s.firing}/{s.total}",
                str(s.acked),
                str(s.silenced),
                str(s.stale),
                _when(s.started),
                _when(s.newest),
                s.name,
            )
        )
    return table(rows)


def _alert_notes(a: Alert, now_text: str) -> str:
    notes = []
    if a.stale_since:
        notes.append(f"stale since {a.stale_since[11:16]}")
    if a.acked_by:
        notes.append(f"ack {a.acked_by}")
    if a.silenced_until and silenced_now(a, now_text):
        where = f" ({origin_title(a.silence_origin)})" if a.silence_id else ""
        notes.append(f"silenced until {a.silenced_until[11:16]}{where}")
    return ", ".join(notes)


def render_alerts(alerts: Iterable[Alert], now_text: str) -> str:
    """One line per alert: status, fingerprint, severity, its instance labels, count and marks."""
    rows = [("STATUS", "FINGERPRINT", "SEVERITY", "ALERT", "COUNT", "NOTES")]
    for a in alerts:
        rows.append(
            (a.status, a.fingerprint, a.severity or "-", a.label, f"x{a.count}", _alert_notes(a, now_text))
        )
    return table(rows) if len(rows) > 1 else "no alerts"


def _step_line(step: RunbookStep, now: str) -> str:
    """One step as the app's checklist shows it: state, due (OVERDUE once past), holder, text."""
    mark = {"done": "[x]", "skipped": "[-]"}.get(step.state, "[ ]")
    due = ""
    if step.state == "open" and step.due_at:
        due = f"OVERDUE since {step.due_at[11:16]}  " if step.overdue(now) else f"due {step.due_at[11:16]}  "
    who = f"@{_v(step.assignee)}  " if step.assignee else ""
    cmd = "$ " if step.command else ""
    line = f"{'  ' * step.depth}    {mark} {due}{who}{cmd}{_v(step.text)}"
    if step.state != "open" and step.by:
        line += f"  ({step.state} by {_v(step.by)} {(step.at or '')[11:16]})"
    if step.reason:
        line += f": {_v(step.reason)}"
    return line + "".join(f"\n{'  ' * step.depth}        note {_v(n.by)}: {_v(n.text)}" for n in step.notes)


def _runbook_lines(state: IncidentState, now: str) -> list[str]:
    lines = ["", "runbooks"]
    for rb in state.runbooks.values():
        finished, total = rb.progress
        late = sum(s.overdue(now) for s in rb.steps.values())
        lines.append(
            f"  {_v(rb.id)}  {finished}/{total}{f'  {late} OVERDUE' if late else ''}  {_v(rb.title)}"
        )
        lines.append(f"    attached {rb.at[:16].replace('T', ' ')} by {_v(rb.by)}: {_v(rb.why)}")
        section = ""
        for step in rb.steps.values():
            if step.section != section:
                section = step.section
                lines.append(f"   {_v(section)}")
            lines.append(_step_line(step, now))
    return lines


def render_state(state: IncidentState, now: str) -> str:
    drill = "DRILL  " if state.drill else ""
    lines = [
        f"{_v(state.room)}  {drill}{state.severity}  {state.status}  {_v(state.title)}",
        f"declared {state.declared_at} by {_v(state.declared_by)}",
    ]
    if state.summary:
        lines.append(_v(state.summary))
    lines.append("")
    for role, title in ROLE_TITLES.items():
        holder = state.roles.get(role)
        lines.append(f"{title:>20}: {_v(holder.name) if holder else 'unassigned'}")
    if state.broadcast is not None:
        b = state.broadcast
        due = f" (next update {b.next_update_due})" if b.next_update_due else ""
        lines += ["", f"status ({_v(b.actor)}, {b.ts}): {_v(b.message)}{due}"]
    if state.checklist:
        done = sum(item.checked for item in state.checklist.values())
        lines += ["", f"checklist {done}/{len(state.checklist)}"]
        for item in state.checklist.values():
            mark = "x" if item.checked else " "
            who = f"  ({_v(item.checked_by)})" if item.checked_by else ""
            lines.append(f"  [{mark}] {_v(item.text)}{who}")
    if state.runbooks:
        lines += _runbook_lines(state, now)
    if state.alerts:
        lines += ["", "alerts"]
        for alert in sorted(state.alerts.values(), key=lambda a: (a.status != "firing", a.alertname)):
            lines.append(f"  {alert.status:<8} {_v(alert.alertname)} x{alert.count}")
    lines += ["", "timeline"]
    for entry in state.entries.values():
        struck = " [struck]" if entry.struck else ""
        edited = " [edited]" if entry.history else ""
        pin = " [pinned]" if entry.pinned else ""
        lines.append(
            f"  #{entry.id:<5} {entry.when[:19].replace('T', ' ')}  {entry.kind:<8} "
            f"{_v(entry.author)}: {_v(entry.text)}{struck}{edited}{pin}"
        )
    return "\n".join(lines)


def render_config(view: dict[str, Any]) -> str:
    policy, limits = view["policy"], view["limits"]
    lines = [f"file          {_v(view['file'] or '(none: built-in defaults)')}"]
    for sev, meaning in policy["meanings"].items():
        cadence, within = policy["cadence"].get(sev), policy["commander_within"].get(sev)
        lines.append(
            f"{_v(sev):<13} updates every {cadence or '-'} min, commander within {within or '-'} min: "
            f"{_v(meaning)}"
        )
    held = {t: r for t, r in policy["permissions"].items() if r}
    lines.append(
        "needs a role  " + ("; ".join(_v(f"{t} ({', '.join(r)})") for t, r in sorted(held.items())) or "none")
    )
    lines.append(f"offers expire after {policy['offer_expires_after']} s")
    lines.append("limits        " + ", ".join(f"{k} {v:g}" for k, v in limits.items()))
    for r in view["routes"]:
        match = ", ".join(f"{_v(k)}={_v(v)}" for k, v in r["match"].items())
        lines.append(f"route         {match} -> {_v(r['incident'])}")
    lines.append(f"alertmanager  {_v(view['alertmanager'] or 'none')}")
    lines.append(f"origins       {_v(', '.join(view['origins']) or 'none')}")
    for sink in view["sinks"]:
        signed = ", signed" if sink["signed"] else ""
        lines.append(f"sink          {_v(sink['name'])} ({_v(sink['kind'])}) to {_v(sink['host'])}{signed}")
    runbooks = view.get("runbooks") or {}
    if runbooks.get("dir"):
        lines.append(f"runbooks      {runbooks['loaded']} from {_v(runbooks['dir'])}")
        for problem in runbooks.get("broken", []):
            lines.append(f"left out      {_v(problem)}")
    return "\n".join(lines)


def json_form(state: IncidentState) -> dict[str, Any]:
    """``state.to_dict()`` as orjson writes it, without building it first.

    orjson writes dataclasses as the maps of their fields in C: the same JSON
    for a 100,000-entry timeline in a third of the time (tests/test_timetravel.py
    compares the two).
    """
    out = {f.name: getattr(state, f.name) for f in fields(state)}
    for key in ("entries", "checklist", "alerts"):
        out[key] = list(out[key].values())
    return out
