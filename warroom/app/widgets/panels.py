"""The incident's smaller panels: header, broadcast banner, roles and checklist (alerts: alert_feed).

Each takes plain data through ``show(...)`` and posts a message when the
responder acts on it; none of them talks to the hub.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from warroom.client import ConnectionState
from warroom.core.events import ROLE_TITLES, ROLES, SEVERITIES
from warroom.core.schema import format_time, parse_time
from warroom.core.state import AttachedRunbook, Broadcast, ChecklistItem, IncidentState, RunbookStep
from warroom.core.text import visible
from warroom.review.actions import late_mark

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


def shape(content: Content) -> tuple[int, ...]:
    """The cells of each line: content of the same shape takes the same room on screen.

    Such a change needs only its own repaint, not a layout: a layout redraws every panel.
    """
    return tuple(cell_len(text) for text in content.plain.split("\n"))


class _Changes:
    """Updates a label only when what it shows changes, and lays out only when its size does.

    It compares the plain pieces, which are cheap to make every second, and
    builds the Content only for a change.
    """

    def __init__(self) -> None:
        self._last: dict[int, tuple[tuple[object, ...], tuple[int, ...]]] = {}  # label: shown, its shape

    def set(self, label: Label, pieces: Line, classes: str | None = None) -> None:
        key = id(label)
        wanted = (pieces, classes if classes is not None else "")
        last = self._last.get(key)
        if last is not None and last[0] == wanted:
            return
        content = Content.assemble(*pieces)
        self._last[key] = (wanted, shape(content))
        label.update(content, layout=last is None or last[1] != self._last[key][1])
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
        drill = ("DRILL ", "bold $warning") if state.drill else ""  # a practice room never looks real
        put.set(self.query_one("#status", Label), line(drill, visible(state.status) or "joining…"))
        put.set(self.query_one("#title", Label), line(visible(state.title)))
        elapsed = (now - parse_time(state.declared_at)).total_seconds() if state.declared_at else 0
        late = state.overdue_steps(format_time(now)) if state.runbooks else 0
        today = format_time(now)[:10]
        late_actions = sum(a.overdue(today) for a in state.actions.values())
        put.set(
            self.query_one("#elapsed", Label),
            line(
                f"T+{span(elapsed)}" if state.declared_at else "",
                (f" {late} OVERDUE", "bold $error") if late else "",
                (" " + late_mark(late_actions), "bold $error") if late_actions else "",
            ),
        )
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
    _idle: dict[str, str | None] = {}  # people drawn idle -> their last event's time then

    def woken(self, activity: dict[str, str]) -> bool:
        """Someone drawn idle has acted since: the only change an entry makes to this panel."""
        return any(activity.get(name) != last for name, last in self._idle.items())

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
        for schedule, user in sorted(state.oncall.items()):  # the hub's oncall.handoff lines keep it
            title = "on call" if narrow else f"on call: {visible(schedule)}"[:pad]
            lines.append(
                line((f"{title:<{pad}}", "$accent"), " ", (visible(user), "bold"), ("  F7 page", "dim"))
            )
        within = policy.get("commander_within", {}).get(state.severity)
        if "commander" not in state.roles and within and state.declared_at:
            waited = (now - parse_time(state.declared_at)).total_seconds()
            if waited > within * 60:
                warning = f"No commander for {span(waited)}: {state.severity} needs one in {within}m"
                lines.append(line((warning, "$error b")))
        people: list[Line] = []
        self._idle = {}
        for name in sorted({str(m["name"]) for m in presence}):
            last = activity.get(name)
            idle = last is None or (now - parse_time(last)).total_seconds() > IDLE_AFTER
            if idle:
                self._idle[name] = last
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
            before = lines_content(self._drawn) if self._drawn is not None else None
            self._drawn = lines
            content = lines_content(lines)
            self.update(content, layout=before is None or shape(before) != shape(content))
        if self.has_class("-no-commander") != ("commander" not in state.roles):
            self.set_class("commander" not in state.roles, "-no-commander")


def step_row(step: RunbookStep, now_iso: str) -> Content:
    """One step: its state, when it is due (OVERDUE once past), who has it, a command mark, then its text.

    The marks come first: the side panel is narrow, and a long step's text is cut at its end.
    """
    mark: Piece = {"done": ("☑", "$success"), "skipped": ("⊘", "$warning")}.get(step.state, "☐")
    row: list[Piece] = ["   " + "  " * step.depth, mark]
    if step.state == "open" and step.due_at:
        if step.overdue(now_iso):
            row.append((f" OVERDUE {step.due_at[11:16]}", "bold $error"))
        else:
            row.append((f" due {step.due_at[11:16]}", "dim"))
    if step.assignee:
        row.append((f" @{visible(step.assignee)}", "$accent"))
    if step.command:
        row.append((" $", "bold $accent"))
    row.append(" ")
    row.append((visible(step.text), "strike dim") if step.state == "skipped" else visible(step.text))
    if step.state == "skipped":
        who = f" by {visible(step.by)}" if step.by else ""
        row.append((f" skipped{who}: {visible(step.reason or '')}", "$warning"))
    elif step.state == "done":
        row.append((f" {visible(step.by or '')} {(step.at or '')[11:16]}", "dim"))
    if step.notes:
        row.append((f" ✎{len(step.notes)}", "dim"))
    return Content.assemble(*row)


Row = ChecklistItem | tuple[str, RunbookStep] | None  # an item, (runbook id, step), or a heading


class ChecklistPanel(OptionList):
    """The hand-typed items, then each attached runbook as its own section with its progress.

    On a step with a command (marked ``$``), ctrl+y copies it and ctrl+g runs it
    here after a yes: keys no typed note starts with, shown in the footer only
    while the runbook has the focus.
    """

    BINDINGS = [
        Binding("ctrl+y", "step_command(False)", "Copy command"),
        Binding("ctrl+g", "step_command(True)", "Run command"),
    ]

    class Toggled(Message):
        def __init__(self, item: ChecklistItem) -> None:
            super().__init__()
            self.item = item

    class StepToggled(Message):
        def __init__(self, runbook: str, step: RunbookStep) -> None:
            super().__init__()
            self.runbook = runbook
            self.step = step

    class StepCommand(Message):
        """Copy (``run`` False) or run the selected step's command; ``ref`` is None off a step."""

        def __init__(self, ref: tuple[str, str] | None, run: bool) -> None:
            super().__init__()
            self.ref = ref
            self.run = run

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: list[ChecklistItem] = []
        self._rows: list[Row] = []
        # What the panel last drew, as values: the reducer changes items in place, so
        # comparing against the items themselves would always find "no change".
        self._signature: list[tuple[object, ...]] | None = None

    @property
    def selected_step(self) -> tuple[str, str] | None:
        """(runbook id, step id) of the step row under the cursor."""
        n = self.highlighted
        row = self._rows[n] if n is not None and n < len(self._rows) else None
        return (row[0], row[1].id) if isinstance(row, tuple) else None

    def first_open(self) -> int:
        """Where the cursor lands on focus: the first unchecked item or open step, else the first row."""
        for n, row in enumerate(self._rows):
            if isinstance(row, ChecklistItem) and not row.checked:
                return n
            if isinstance(row, tuple) and row[1].state == "open":
                return n
        return next((n for n, row in enumerate(self._rows) if row is not None), 0)

    def show(
        self,
        items: list[ChecklistItem],
        runbooks: Sequence[AttachedRunbook] = (),
        now_iso: str = "",
    ) -> None:
        signature: list[tuple[object, ...]] = [
            (i.id, i.text, i.checked, i.checked_by, i.checked_at) for i in items
        ]
        for rb in runbooks:
            signature.append((rb.id, rb.title))
            signature += [
                (s.id, s.state, s.by, s.at, s.reason, s.assignee, len(s.notes), s.overdue(now_iso))
                for s in rb.steps.values()
            ]
        if signature == self._signature:
            return
        self._signature = signature
        highlighted, scrolled = self.highlighted, self.scroll_y
        self._items = list(items)
        self._rows = []
        self.clear_options()
        options: list[Option] = []
        for n, item in enumerate(items, 1):
            row: list[Piece] = [
                f"{n:>2} ",
                ("✔", "$success") if item.checked else "☐",
                " ",
                visible(item.text),
            ]
            if item.checked:
                row.append((f" {visible(item.checked_by or '')} {(item.checked_at or '')[11:16]}", "dim"))
            options.append(Option(Content.assemble(*row), id=str(item.id)))
            self._rows.append(item)
        for rb in runbooks:
            finished, total = rb.progress
            late = sum(s.overdue(now_iso) for s in rb.steps.values())
            heading: list[Piece] = [("▤ ", "bold"), (f"{finished}/{total} ", "bold")]
            if late:
                heading.append((f"{late} OVERDUE ", "bold $error"))
            heading.append((visible(rb.title), "bold"))
            options.append(Option(Content.assemble(*heading), id=f"rb:{rb.id}", disabled=True))
            self._rows.append(None)
            section: str | None = None
            for step in rb.steps.values():
                if step.section != section:
                    section = step.section
                    if section:
                        options.append(
                            Option(Content.styled(f"  {visible(section)}", "italic"), disabled=True)
                        )
                        self._rows.append(None)
                options.append(Option(step_row(step, now_iso), id=f"step:{rb.id}/{step.id}"))
                self._rows.append((rb.id, step))
        self.add_options(options)
        if highlighted is not None and self._rows:
            self.highlighted = min(highlighted, len(self._rows) - 1)
        self.scroll_to(y=scrolled, animate=False, immediate=True)  # a rebuild must not move the reader
        done = sum(i.checked for i in items) + sum(rb.progress[0] for rb in runbooks)
        title = f"Runbook {done}/{len(items) + sum(len(rb.steps) for rb in runbooks)}"
        late = sum(s.overdue(now_iso) for rb in runbooks for s in rb.steps.values())
        self.border_title = Content.assemble(title, (f" {late} overdue", "$error") if late else "")

    def action_step_command(self, run: bool) -> None:
        self.post_message(self.StepCommand(self.selected_step, run))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        row = self._rows[event.option_index]
        if isinstance(row, ChecklistItem):
            self.post_message(self.Toggled(row))
        elif row is not None:
            self.post_message(self.StepToggled(row[0], row[1]))
