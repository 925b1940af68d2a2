"""Replay: the incident's panels as they stood at any point of its log, read-only.

"What did everyone see at 03:12?" The screen is built from the war room's own
panels, fed the state the hub's log held after event N instead of the live
one: left and right step one event, shift+left/right or page up/down jump,
home and end go to the declaration and the present, ``g`` goes to a time
("03:12") or an event ("#120"), escape goes back. The
state at N comes from the hub (``state_at``: its nearest checkpoint and the
events after it), folded here by the same reducer as live events; a whole
checkpoint's span is asked for at once, so stepping within it needs no hub.
Nothing can be sent from here: the composer is disabled and says why.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, Static

from warroom.app.tell import tell
from warroom.app.widgets.actions_panel import ActionsPanel
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.composer import Composer
from warroom.app.widgets.keyfacts import KeyFacts
from warroom.app.widgets.panels import BroadcastBanner, ChecklistPanel, IncidentHeader, RolesPanel
from warroom.app.widgets.room_layout import room_panels
from warroom.app.widgets.timeline import Timeline
from warroom.client import CommandRejected, HubClient, HubUnavailable
from warroom.core.reducer import fold
from warroom.core.schema import format_time, parse_time
from warroom.core.state import IncidentState
from warroom.core.text import visible
from warroom.timetravel import Past, parse_moment

SPAN = 2500  # the hub's checkpoint spacing (docs/protocol.md, state_at): one request covers a span
READ_ONLY = "Replay is read-only: nothing can be sent from here. Escape goes back to the live room."


def jump(head: int) -> int:
    """Events one jump moves: a twentieth of the log, at least ten."""
    return max(10, head // 20)


class ReplayBar(Static):
    """The line that says this is the past, and which point of it: REPLAY 03:12:05 (seq N of M)."""

    DEFAULT_CSS = """
    ReplayBar { height: 1; padding: 0 1; background: $warning; color: $background; text-style: bold; }
    """

    def show(self, seq: int, head: int, ts: str | None, loading: bool) -> None:
        when = f"{ts[11:19]} UTC {ts[:10]}" if ts else "…"
        width = 20
        filled = round(width * seq / head) if head else 0
        bar = "█" * filled + "░" * (width - filled)
        state = "  loading…" if loading else ""
        keys = "←/→ step · shift+←/→ jump · home/end · g go to · esc back"
        self.update(Content(visible(f"REPLAY {when} (seq {seq} of {head})  {bar}{state}   {keys}")))


class GoTo(ModalScreen[str | None]):
    """Asks where to go: a time (03:12, or a full ISO-8601 time) or an event (#120)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    GoTo { align: center middle; }
    GoTo > Vertical { width: 60; height: auto; border: round $warning; background: $surface; padding: 1 2; }
    GoTo Label { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Go to a time (03:12, UTC, on the day it was declared) or an event (#120)")
            yield Input(placeholder="03:12", id="goto-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)


class ReplayScreen(Screen[None]):
    """The war room's panels, driven by the folded state at a point of the log instead of the live one."""

    BINDINGS = [
        Binding("left", "step(-1)", "Back", priority=True),
        Binding("right", "step(1)", "Forward", priority=True),
        Binding("shift+left,pageup", "jump(-1)", "Jump back", priority=True),
        Binding("shift+right,pagedown", "jump(1)", "Jump forward", priority=True),
        Binding("home", "go_to_start", "Declared", priority=True),
        Binding("end", "go_to_end", "Now", priority=True),
        Binding("g", "ask_where", "Go to"),
        Binding("escape", "leave", "Leave replay", priority=True),
    ]

    def __init__(self, client: HubClient, room: str, start: int | None = None) -> None:
        super().__init__()
        self.client = client
        self.room = room
        view = client.rooms.get(room)
        self.head = max(1, view.state.seq if view is not None else 1)
        self.target = min(start or self.head, self.head)
        self.shown = 0  # the seq on screen; 0 until the first state arrives
        self.state: IncidentState | None = None  # what the panels show
        self._span: Past | None = None  # the hub's last answer: a base and the events after it
        self._busy = False

    def compose(self) -> ComposeResult:
        yield ReplayBar(id="replay-bar")
        yield from room_panels()

    def on_mount(self) -> None:
        self.query_one(RolesPanel).border_title = "Roles"
        self.query_one(Composer).read_only(READ_ONLY)
        self.query_one(Timeline).focus()
        self._go(self.target)
        self.set_interval(1.0, self._follow_head)  # the bar's "of M" grows as the room goes on

    def _follow_head(self) -> None:
        """The log's length as this terminal knows it, so the bar shows the room moving on."""
        view = self.client.rooms.get(self.room)
        if view is not None and view.state.seq > self.head:
            self.head = view.state.seq
            self._bar()

    # -- moving ----------------------------------------------------------------------

    def action_step(self, by: int) -> None:
        self._go(self.target + by)

    def action_jump(self, direction: int) -> None:
        self._go(self.target + direction * jump(self.head))

    def action_go_to_start(self) -> None:
        self._go(1)

    def action_go_to_end(self) -> None:
        self._follow_head()  # the present has moved on since replay opened
        self._go(self.head)

    def action_ask_where(self) -> None:
        self.app.push_screen(GoTo(), self._go_where)

    def _go_where(self, wanted: str | None) -> None:
        if not wanted:
            return
        number = wanted.removeprefix("#")
        if number.isdigit():
            self._go(int(number))
            return
        view = self.client.rooms.get(self.room)
        declared = view.state.declared_at if view is not None else None
        try:
            at = parse_moment(wanted, (declared or "")[:10] or None)
        except ValueError as exc:
            tell(self.app, str(exc), title="replay", severity="warning")
            return
        self.run_worker(self._go_to_time(at), exit_on_error=False, name="replay go to")

    async def _go_to_time(self, at: str) -> None:
        """The hub finds the last event at or before ``at``; its answer is the span to step in."""
        try:
            span = await self.client.past(self.room, at=at)
        except (CommandRejected, HubUnavailable, TimeoutError) as exc:
            reason = exc.error.message if isinstance(exc, CommandRejected) else str(exc) or "no answer"
            tell(self.app, reason, title="replay", severity="warning")
            return
        self._span = span  # what is shown stays right: it is the state at its own seq, whatever span
        self.head = max(self.head, span.head)
        self._go(span.seq)

    def action_leave(self) -> None:
        self.dismiss()

    def on_composer_submitted(self, message: Composer.Submitted) -> None:
        """Never reached while the input is disabled; refused with the reason all the same."""
        message.stop()
        self.query_one(Composer).hint(READ_ONLY, error=True)

    def _go(self, seq: int) -> None:
        """Move to ``seq``; keys pressed while a state is being made only move where it goes next."""
        self.target = max(1, min(seq, self.head))
        self._bar()
        if not self._busy:
            self._busy = True
            self.run_worker(self._catch_up(), exit_on_error=False, name="replay")

    async def _catch_up(self) -> None:
        try:
            while self.shown != self.target:
                target = self.target
                state = await self._state_at(target)
                self._show(state)
        except (CommandRejected, HubUnavailable, TimeoutError, ValueError) as exc:
            # ValueError: an answer that does not fold to the point asked for (never from a sound hub)
            reason = exc.error.message if isinstance(exc, CommandRejected) else str(exc) or "no answer"
            tell(self.app, f"replay of {self.room}: {reason}", title="replay", severity="error", timeout=15)
            self.target = self.shown or self.target
        finally:
            self._busy = False
            self._bar()

    async def _state_at(self, seq: int) -> IncidentState:
        """The state after event ``seq``: folded on from what is shown when it can be, else made afresh."""
        span = self._span
        if span is None or not span.base_seq <= seq <= span.seq:
            ask = max(seq, min(self.head, (seq // SPAN + 1) * SPAN - 1))  # the rest of its span too
            span = self._span = await self.client.past(self.room, seq=ask)
            self.head = max(self.head, span.head)
            self.state = None
        current = self.state
        if current is None or current.seq > seq or current.seq < span.base_seq:
            # Made in a thread, as a new object: the panels keep drawing the one they have.
            current = await asyncio.to_thread(_from_span, span, seq)
        else:  # forward within the span, in place on the UI's own thread, as live events are
            fold(self.room, list(span.events[current.seq - span.base_seq : seq - span.base_seq]), current)
        return current

    # -- drawing ---------------------------------------------------------------------

    def _show(self, state: IncidentState) -> None:
        """Every panel as it was: judged against the moment shown, not today's clock."""
        self.state, self.shown = state, state.seq
        now = _moment(state)
        self.query_one(IncidentHeader).show(state, self.client.state, now)
        self.query_one(BroadcastBanner).show(state.broadcast, now)
        self.query_one(Timeline).show(state.entries, ())
        self.query_one(KeyFacts).show(state)
        # Who was connected is not in the log (presence is never recorded): the roles as they were.
        self.query_one(RolesPanel).show(state, [], {}, now, self.client.policy)
        self.query_one(ChecklistPanel).show(
            list(state.checklist.values()), list(state.runbooks.values()), format_time(now)
        )
        self.query_one(ActionsPanel).show(list(state.actions.values()), format_time(now)[:10])
        self.query_one(AlertFeed).show(state.alerts, now, None)
        self._bar()

    def _bar(self) -> None:
        ts = self.state.updated_at if self.state is not None and self.shown == self.target else None
        self.query_one(ReplayBar).show(self.target, self.head, ts, self.shown != self.target)


def _from_span(span: Past, seq: int) -> IncidentState:
    """The span's base, decoded, with its events up to ``seq`` folded in."""
    cut = Past(span.room, seq, span.head, span.base_seq, span.base, span.events[: seq - span.base_seq])
    return cut.state()


def _moment(state: IncidentState) -> datetime:
    return parse_time(state.updated_at) if state.updated_at else datetime.now().astimezone()
