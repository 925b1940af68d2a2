"""The incident's smaller panels: header, broadcast banner, roles and checklist (alerts: alert_feed).

Each takes plain data through ``show(...)`` and posts a message when the
responder acts on it; none of them talks to the hub.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from warroom.client import ConnectionState
from warroom.core.events import ROLE_TITLES, ROLES, SEVERITIES
from warroom.core.schema import parse_time
from warroom.core.state import Broadcast, ChecklistItem, IncidentState
from warroom.core.text import visible

SHORT_TITLES = {"commander": "IC", "comms": "Comms", "tech": "Tech", "scribe": "Scribe"}
IDLE_AFTER = 600  # seconds without an action before a connected responder shows as idle


def span(seconds: float) -> str:
    """A duration as responders say it: 45s, 12m, 3h 05m, 2d 4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def clock_text(seconds: float) -> str:
    seconds = abs(int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else span(seconds)


Piece = str | tuple[str, str]  # plain text, or (text, style); a style never comes from data
Line = tuple[Piece, ...]


def line(*pieces: Piece) -> Line:
    """The pieces of one line: compared as they are, assembled into Content only to show."""
    return pieces


def lines_content(lines: list[Line]) -> Content:
    """Content assembled from plain pieces: data in it is never parsed as markup."""
    return Content("\n").join(Content.assemble(*pieces) for pieces in lines)


class _Changes:
    """Updates a label only when what it shows changes: an update costs a layout.

    It compares the plain pieces, which are cheap to make every second, and
    builds the Content only for a change.
    """

    def __init__(self) -> None:
        self._last: dict[int, tuple[object, ...]] = {}

    def set(self, label: Label, pieces: Line, classes: str | None = None) -> None:
        key = id(label)
        wanted = (pieces, classes if classes is not None else "")
        if self._last.get(key) == wanted:
            return
        self._last[key] = wanted
        label.update(Content.assemble(*pieces))
        if classes is not None:
            label.set_classes(classes)


class _Changing:
    """A panel whose labels update through one ``_Changes``, made on first use."""

    _changes: _Changes | None = None

    @property
    def changes(self) -> _Changes:
        if self._changes is None:
            self._changes = _Changes()
        return self._changes


class IncidentHeader(_Changing, Horizontal):
    def compose(self) -> ComposeResult:
        yield Label("", id="incident-id")
        yield Label("", id="severity")
        yield Label("", id="status")
        yield Label("", id="title")
        yield Label("", id="elapsed")
        yield Label("", id="connection")

    def show(self, state: IncidentState, conn: ConnectionState, now: datetime) -> None:
        put = self.changes
        put.set(self.query_one("#incident-id", Label), line(visible(state.room)))
        severity_class = f"sev-{state.severity[-1:]}" if state.severity in SEVERITIES else ""
        put.set(
            self.query_one("#severity", Label), line(f" {visible(state.severity) or '…'} "), severity_class
        )
        put.set(self.query_one("#status", Label), line(visible(state.status) or "joining…"))
        put.set(self.query_one("#title", Label), line(visible(state.title)))
        elapsed = (now - parse_time(state.declared_at)).total_seconds() if state.declared_at else 0
        put.set(self.query_one("#elapsed", Label), line(f"T+{span(elapsed)}" if state.declared_at else ""))
        mark = "●" if conn.status == "connected" else "○"
        put.set(
            self.query_one("#connection", Label),
            line(f"{mark} {visible(conn.describe())}"),
            f"-{conn.status}",
        )


class BroadcastBanner(_Changing, Vertical):
    def compose(self) -> ComposeResult:
        yield Label("", id="broadcast-message")
        yield Label("", id="broadcast-meta")

    def show(self, broadcast: Broadcast | None, now: datetime) -> None:
        put = self.changes
        message = self.query_one("#broadcast-message", Label)
        meta = self.query_one("#broadcast-meta", Label)
        if broadcast is None:
            put.set(message, line("No status broadcast yet. Press ctrl+r to send one."))
            put.set(meta, line(""))
            self.set_class(False, "-overdue")
            return
        put.set(message, line("▌ ", visible(broadcast.message)))
        parts = [f"{visible(broadcast.actor)} at {visible(broadcast.ts[11:16])} UTC"]
        if broadcast.impact:
            parts.append(f"impact: {visible(broadcast.impact)}")
        overdue = False
        if broadcast.next_update_due:
            left = (parse_time(broadcast.next_update_due) - now).total_seconds()
            overdue = left < 0
            parts.append(
                f"update OVERDUE by {clock_text(left)}" if overdue else f"next update in {clock_text(left)}"
            )
        put.set(meta, line(" · ".join(parts)))
        if self.has_class("-overdue") != overdue:
            self.set_class(overdue, "-overdue")


class RolesPanel(Static):
    """Who holds each role, open offers, and who is here; one line a role when narrow."""

    _shown: tuple[IncidentState, list[dict[str, Any]], dict[str, str], datetime, dict[str, Any]] | None = None
    _drawn: list[Line] | None = None

    def show(
        self,
        state: IncidentState,
        presence: list[dict[str, Any]],
        activity: dict[str, str],
        now: datetime,
        policy: dict[str, Any],
    ) -> None:
        self._shown = (state, presence, activity, now, policy)
        self._draw()

    def on_resize(self) -> None:
        self._draw()  # the titles shorten when the panel is narrow

    def _draw(self) -> None:
        if self._shown is None:
            return
        state, presence, activity, now, policy = self._shown
        lines: list[Line] = []
        narrow = self.size.width < 36
        pad = 7 if narrow else 20
        for role in ROLES:
            holder = state.roles.get(role)
            title = SHORT_TITLES[role] if narrow else ROLE_TITLES[role]
            row: list[Piece] = [(f"{title:<{pad}}", f"$role-{role}"), " "]
            if holder is None:
                row.append(("unassigned", "$error" if role == "commander" else "$text-muted"))
            else:
                held = span((now - parse_time(holder.since)).total_seconds())
                row += [(visible(holder.name), "bold"), (f" {held}", "dim")]
            offer = state.offers.get(role)
            if offer is not None and narrow:
                row.append((f" → {visible(offer.to)}?", "$accent"))
            lines.append(tuple(row))
            if offer is not None and not narrow:
                lines.append(line(" " * pad, (f" → offered to {visible(offer.to)}", "$accent")))
        within = policy.get("commander_within", {}).get(state.severity)
        if "commander" not in state.roles and within and state.declared_at:
            waited = (now - parse_time(state.declared_at)).total_seconds()
            if waited > within * 60:
                warning = f"No commander for {span(waited)}: {state.severity} needs one in {within}m"
                lines.append(line((warning, "$error b")))
        people: list[Line] = []
        for name in sorted({str(m["name"]) for m in presence}):
            last = activity.get(name)
            idle = last is None or (now - parse_time(last)).total_seconds() > IDLE_AFTER
            people.append(
                line((f"◌ {visible(name)} idle", "dim"))
                if idle
                else line(("●", "$success"), f" {visible(name)}")
            )
        if narrow:
            here: list[Piece] = [("here ", "bold")]
            for n, person in enumerate(people):
                here += [", ", *person] if n else person
            lines.append(tuple(here))
        else:
            lines += [
                line(),
                line(("here", "bold"), f" ({len(people)})"),
                *(line("  ", *person) for person in people),
            ]
        if lines != self._drawn:
            self._drawn = lines
            self.update(lines_content(lines))
        if self.has_class("-no-commander") != ("commander" not in state.roles):
            self.set_class("commander" not in state.roles, "-no-commander")


class ChecklistPanel(OptionList):
    class Toggled(Message):
        def __init__(self, item: ChecklistItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: list[ChecklistItem] = []
        # What the panel last drew, as values: the reducer changes items in place, so
        # comparing against the items themselves would always find "no change".
        self._signature: list[tuple[object, ...]] | None = None

    def show(self, items: list[ChecklistItem]) -> None:
        signature: list[tuple[object, ...]] = [
            (i.id, i.text, i.checked, i.checked_by, i.checked_at) for i in items
        ]
        if signature == self._signature:
            return
        self._signature = signature
        highlighted, scrolled = self.highlighted, self.scroll_y
        self._items = list(items)
        self.clear_options()
        for n, item in enumerate(items, 1):
            row: list[Piece] = [
                f"{n:>2} ",
                ("✔", "$success") if item.checked else "☐",
                " ",
                visible(item.text),
            ]
            if item.checked:
                row.append((f" {visible(item.checked_by or '')} {(item.checked_at or '')[11:16]}", "dim"))
            self.add_option(Option(Content.assemble(*row), id=str(item.id)))
        if highlighted is not None and items:
            self.highlighted = min(highlighted, len(items) - 1)
        self.scroll_to(y=scrolled, animate=False, immediate=True)  # a rebuild must not move the reader
        done = sum(i.checked for i in items)
        self.border_title = Content(f"Runbook {done}/{len(items)}")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Toggled(self._items[event.option_index]))
