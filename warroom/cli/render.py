"""Plain-text forms of incidents for the terminal, outside the TUI."""

from __future__ import annotations

from typing import Any

from warroom.core.events import ROLE_TITLES
from warroom.core.state import Alert, IncidentState


def render_incidents(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no incidents"
    rows = [("ID", "SEV", "STATUS", "DECLARED", "TITLE")]
    for item in items:
        rows.append(
            (
                item.get("id", "?"),
                item.get("severity", ""),
                item.get("status", ""),
                (item.get("declared_at") or "")[:16].replace("T", " "),
                item.get("title", ""),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )


def render_alerts(alerts: list[Alert]) -> str:
    if not alerts:
        return "no alerts"
    lines = []
    for a in alerts:
        notes = []
        if a.acked_by:
            notes.append(f"ack {a.acked_by}")
        if a.silenced_until:
            notes.append(
                f"silenced until {a.silenced_until[11:16]}" + (" (alertmanager)" if a.silence_id else "")
            )
        labels = " ".join(f"{k}={v}" for k, v in a.labels.items() if k not in ("alertname", "severity"))
        lines.append(
            f"{a.status:<8} {a.fingerprint:<18} {a.severity or '-':<9} {a.alertname} x{a.count}  "
            f"{labels}{'  [' + ', '.join(notes) + ']' if notes else ''}"
        )
    return "\n".join(lines)


def render_state(state: IncidentState) -> str:
    lines = [
        f"{state.room}  {state.severity}  {state.status}  {state.title}",
        f"declared {state.declared_at} by {state.declared_by}",
    ]
    if state.summary:
        lines.append(state.summary)
    lines.append("")
    for role, title in ROLE_TITLES.items():
        holder = state.roles.get(role)
        lines.append(f"{title:>20}: {holder.name if holder else 'unassigned'}")
    if state.broadcast is not None:
        b = state.broadcast
        due = f" (next update {b.next_update_due})" if b.next_update_due else ""
        lines += ["", f"status ({b.actor}, {b.ts}): {b.message}{due}"]
    if state.checklist:
        done = sum(item.checked for item in state.checklist.values())
        lines += ["", f"checklist {done}/{len(state.checklist)}"]
        for item in state.checklist.values():
            mark = "x" if item.checked else " "
            who = f"  ({item.checked_by})" if item.checked_by else ""
            lines.append(f"  [{mark}] {item.text}{who}")
    if state.alerts:
        lines += ["", "alerts"]
        for alert in sorted(state.alerts.values(), key=lambda a: (a.status != "firing", a.alertname)):
            lines.append(f"  {alert.status:<8} {alert.alertname} x{alert.count}")
    lines += ["", "timeline"]
    for entry in state.entries.values():
        struck = " [struck]" if entry.struck else ""
        edited = " [edited]" if entry.history else ""
        pin = " [pinned]" if entry.pinned else ""
        lines.append(
            f"  #{entry.id:<5} {entry.when[:19].replace('T', ' ')}  {entry.kind:<8} "
            f"{entry.author}: {entry.text}{struck}{edited}{pin}"
        )
    return "\n".join(lines)
