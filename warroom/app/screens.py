"""The incident war room: its panels fed from the hub, its keys, and what they do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input

from warroom.app.alert_detail import AlertDetailScreen
from warroom.app.changes import Changes
from warroom.app.dialogs import ConfirmScreen, HelpScreen, RunbookPicker
from warroom.app.forms import BroadcastForm, LongEntryForm
from warroom.app.gc_tuning import RoomGc
from warroom.app.history import HistoryScreen
from warroom.app.keymap import ACTS, FOCUS_KEYS, HELP_KEYS, NAVIGATION, PANEL_VERBS, PREFIXES, help_rows
from warroom.app.oncall_page import page_on_call
from warroom.app.picker import PickerScreen, declare_and_open, declare_from
from warroom.app.review_editor import ReviewScreen
from warroom.app.slash import Action, Context, SlashError, parse
from warroom.app.tell import tell
from warroom.app.widgets.actions_panel import ActionsPanel, toggled
from warroom.app.widgets.alert_feed import REBUILD_OVER, AlertFeed
from warroom.app.widgets.composer import Composer, text_problem
from warroom.app.widgets.keyfacts import KeyFacts
from warroom.app.widgets.panels import (
    BroadcastBanner,
    ChecklistPanel,
    IncidentHeader,
    RolesPanel,
)
from warroom.app.widgets.room_layout import room_panels
from warroom.app.widgets.timeline import Filter, Timeline
from warroom.client import CommandRejected, HubClient
from warroom.core.alert_groups import severity_rank
from warroom.core.errors import WarroomError
from warroom.core.events import ROLE_TITLES, Event, validate_command
from warroom.core.matchers import parse_matchers, quote_value
from warroom.core.reducer import covered
from warroom.core.schema import format_time, parse_time
from warroom.core.state import IncidentState
from warroom.core.text import visible

if TYPE_CHECKING:
    pass


CONFIRMED = {
    "entry.struck",
    "incident.status_changed",
    "incident.severity_changed",
    "alerts.acknowledged",
    "alerts.silenced",
}
# The most often the hub's changes redraw the room: a change after a quiet spell is drawn at
# once, a stream of them 15 times a second (the alert feed holds its own a little longer:
# alert_feed.HOLD). Every redraw that follows the newest entry moves the whole timeline, so
# each of its lines is drawn again. Keys are drawn at the screen's own rate, apart.
FRAME = 1 / 15
W = TypeVar("W", bound=Widget)


class IncidentScreen(Screen[None]):
    BINDINGS = [Binding(a.key, a.action, a.title, show=a.show) for a in ACTS if a.key]

    def __init__(self, client: HubClient, room: str, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.client = client
        self.room = room
        self.now = now
        self._scheduled = False
        self._frames: Timer | None = None  # paused until a change is due; ticks at most every FRAME
        self._nudged_due: str | None = None
        self._loaded: IncidentState | None = None  # the synced state the collector froze
        self._gc = RoomGc()
        self._nudged_offers: set[str] = set()
        self._redirecting = False  # typed keys go to the composer until it has the focus
        self._changes = Changes()  # what events changed since the panels were drawn
        self._drawn_state: IncidentState | None = None
        self._feed_later = False  # the alert feed's rebuild waits for the first screen and the sync
        self._stop_listening: Callable[[], None] | None = None
        self._detail_moved_to: str | None = None  # where the alert in the open details was moved
        self._panels: dict[type[Widget], Widget] = {}

    def compose(self) -> ComposeResult:
        yield from room_panels()

    def on_mount(self) -> None:
        self.query_one(RolesPanel).border_title = "Roles"
        self.query_one(Timeline).focus()
        self._stop_listening = self.client.listen_events(self._on_event)
        self._gc.open()
        self.run_worker(self._join(), exit_on_error=False, name=f"join {self.room}")
        self.set_interval(1, self._tick)
        # One timer for every frame, resumed when a change comes: a timer made per frame cost
        # a task and a callback signature read each time.
        self._frames = self.set_interval(FRAME, self._redraw, pause=True)
        self.refresh_state()

    def _tick(self) -> None:
        """Once a second: what the clock changes (ages, overdue marks), and the collector's turn."""
        self.refresh_state(edits=False)
        self._gc.tick()

    async def _join(self) -> None:
        try:
            await self.client.join(self.room, timeout=None)
        except CommandRejected as exc:
            tell(
                self.app,
                f"{self.room}: {exc.error.message}",
                title="not joined",
                severity="error",
                timeout=15,
            )
            self.client.rooms.pop(self.room, None)
            self._leave()

    def _leave(self) -> None:
        """Back to what was open before; the picker when this was the only screen (not a blank one)."""
        app = self.app
        if app.screen is not self:
            return  # a dialog is open over it: what was shown stays until it closes
        if len(app.screen_stack) > 2:
            app.pop_screen()
        else:
            app.switch_screen(PickerScreen(self.client, self.now))

    @property
    def state(self) -> IncidentState:
        view = self.client.rooms.get(self.room)
        return view.state if view is not None else IncidentState(room=self.room)

    # -- state down ------------------------------------------------------------------

    def _on_event(self, room: str, event: Event) -> None:
        """Note what an event changed, so the redraw draws those panels (and rows) and no others.

        And where the alert in the open details went, if it is moved out: the state no longer says.
        """
        if room != self.room:
            return
        if event.type == "alert.moved" and event.data["fingerprint"] == self._detail_of():
            self._detail_moved_to = event.data["to"]  # the open details say where it went
        self._changes.note(event)

    def hub_changed(self, kind: str = "state") -> None:
        """Called by the app on every hub update; the updates of one frame make one redraw.

        The connection and the outbox (rare, and what the header says) are drawn at once.
        """
        self._changes.state_changed(kind)
        urgent = kind in ("connection", "outbox")
        if urgent:
            self._scheduled = True
            self.call_later(self._redraw)
        elif not self._scheduled:
            self._scheduled = True
            if self._frames is not None:  # before the mount, the mount's own redraw draws it
                self._frames.resume()  # ticks now after a quiet spell, else a FRAME after the last

    def _panel(self, kind: type[W]) -> W:
        """A panel of this screen, looked up once: a redraw takes several, many times a second."""
        found = self._panels.get(kind)
        if found is None:
            found = self._panels[kind] = self.query_one(kind)
        return cast(W, found)

    @property
    def redraw_due(self) -> bool:
        """A redraw is scheduled: what arrives until then is drawn by it."""
        return self._scheduled

    def _redraw(self) -> None:
        if self._frames is not None:
            self._frames.pause()
        if self._scheduled:
            self.refresh_state(full=False)

    def refresh_state(self, full: bool = True, edits: bool = True) -> None:
        """Draw what changed since the last redraw; ``full``: every panel (the clock moved);
        ``edits`` (with ``full``): entries may have been changed in place, not only appended."""
        self._scheduled = False
        view = self.client.rooms.get(self.room)
        state = self.state
        now = self.now()
        changes = self._changes.take()
        if state is not self._drawn_state:
            self._drawn_state = state
            changes = Changes()  # a new state (a join, a snapshot): all of it
        full = full or changes.full
        edited = changes.edited or (full and edits)
        if full:
            self._panel(IncidentHeader).show(state, self.client.state, now)
            self._panel(BroadcastBanner).show(state.broadcast, now)
        self._panel(Timeline).show(state.entries, self.client.outbox.pending(self.room), edited)
        self._panel(KeyFacts).show(state, edited)
        roles, activity = self._panel(RolesPanel), view.activity if view else {}
        if full or roles.woken(activity):  # roles, offers and presence come with full redraws
            roles.show(state, view.presence if view else [], activity, now, self.client.policy)
        if full:
            self._nudge(state, now)
            self._panel(ChecklistPanel).show(
                list(state.checklist.values()), list(state.runbooks.values()), format_time(now)
            )
            self._panel(ActionsPanel).show(list(state.actions.values()), format_time(now)[:10])
        feed = self._panel(AlertFeed)
        rebuild = feed.rebuilds(state.alerts)
        if self._feed_later:
            if view is not None and view.synced:  # a whole rebuild is due; it takes every change
                self.call_after_refresh(self._draw_feed)
        elif rebuild and len(state.alerts) > REBUILD_OVER:
            self._feed_later = True  # 50,000 rows: the rest of the room is painted first
            feed.border_title = Content("Alerts · loading…")
            self.call_after_refresh(self._draw_feed)
        elif full or rebuild or changes.alerts != set():  # else no alert changed: nothing to draw
            feed.show(state.alerts, now, changes.alerts)
        if full:
            self._panel(Composer).read_only(self._read_only())
        if view is not None and view.synced and self._loaded is not state:
            self._loaded = state
            self._gc.loaded()
        if (fingerprint := self._detail_of()) is not None:
            detail = self.app.screen
            assert isinstance(detail, AlertDetailScreen)
            detail.show(state.alerts.get(fingerprint), self._detail_moved_to)

    def _draw_feed(self) -> None:
        """The alert feed's rebuild a big room's first screen put off (a no-op if it was done).

        It waits until the room has caught up with the hub: the events after the snapshot
        change thousands of alerts, and one rebuild at the end is quicker than following them.
        """
        view = self.client.rooms.get(self.room)
        if not self._feed_later or view is None or not view.synced:
            return
        self._feed_later = False
        feed, alerts = self._panel(AlertFeed), self.state.alerts
        feed.show(alerts, self.now(), None if feed.rebuilds(alerts) else set())

    def _detail_of(self) -> str | None:
        """The fingerprint of the alert details this screen opened, while they are on top."""
        stack = self.app.screen_stack
        top = stack[-1] if stack else None
        if isinstance(top, AlertDetailScreen) and len(stack) > 1 and stack[-2] is self:
            return top.fingerprint
        return None

    def on_unmount(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        self._gc.close()

    def _nudge(self, state: IncidentState, now: datetime) -> None:
        """Tell me, once, when an update I owe is due or a role is offered to me."""
        me = self.client.name
        speaks = any(
            state.roles.get(r) is not None and state.roles[r].name == me for r in ("commander", "comms")
        )
        due = state.broadcast.next_update_due if state.broadcast else None
        if speaks and due and parse_time(due) <= now and due != self._nudged_due:
            self._nudged_due = due
            self.app.notify(
                "A status update is due. Press ctrl+r to broadcast.",
                title="update due",
                severity="warning",
                timeout=30,
            )
        for role, offer in state.offers.items():
            key = f"{role}@{offer.at}"
            if offer.to == me and key not in self._nudged_offers:
                self._nudged_offers.add(key)
                tell(
                    self.app,
                    f"{offer.by} offers you the {ROLE_TITLES[role]}: /accept {role} or /decline {role}",
                    title="role offered",
                    timeout=60,
                )

    # -- keys ------------------------------------------------------------------------

    def route_key(self, event: events.Key) -> bool:
        """Give the composer the focus *before* the app forwards a key that starts a note or a prefix.

        Textual forwards each key to the widget that has the focus when the app reads it, so a
        focus moved while a panel handles a key (on_key below) comes too late for the rest of a
        burst (a fast typist, a slow link, tmux): those keys went to the panel and were lost once
        the composer had the focus, while the Enter behind them went straight to the composer and
        overtook them ("/skip rollback no deploy" went out as "/skip rollback no depl"). The app
        calls this for each key as it reads it; True means the key is used up (a prefix, typed; a
        tab, whose focus move the panel's verb behind it must see).
        """
        self._gc.key()
        if (focus := FOCUS_KEYS.get(event.key)) is not None:
            getattr(self, f"action_{focus}")()
            return True
        focused = self.focused
        if isinstance(focused, Input):
            return False
        if event.key in ("tab", "shift+tab"):  # the same for a panel's verb typed right behind a tab
            self.focus_next() if event.key == "tab" else self.focus_previous()
            return True
        if not event.is_printable or event.character is None:
            return False
        composer = self.query_one(Composer)
        key = event.key
        if composer.input.disabled or key in HELP_KEYS or key in PANEL_VERBS.get(type(focused), set()):
            return False  # a viewer's keys (on_key drops them), the help, a panel's verb
        if key in NAVIGATION and isinstance(focused, Timeline | ChecklistPanel | AlertFeed):
            return False
        if key in PREFIXES:
            composer.start(PREFIXES[key])
        self.set_focus(composer.input, scroll_visible=False)  # now: the next key is forwarded there
        return key in PREFIXES  # any other letter is forwarded to the composer, and typed there

    def on_key(self, event: events.Key) -> None:
        """A printable key a panel does not use starts a note; it never acts on the record.

        Runs before any binding (Textual checks bindings once the key has bubbled up
        to the app), so stopping the key here is what keeps ``s`` or ``P`` typed at
        the timeline from doing anything but being text.
        """
        focused = self.focused
        if isinstance(focused, Input):
            return
        if event.key == "delete" and not isinstance(focused, Timeline):
            event.stop()  # strike acts on the timeline's selection: only from the timeline
            return
        if not event.is_printable or event.character is None:
            return
        key = event.key
        composer = self.query_one(Composer)
        if composer.input.disabled and key not in PREFIXES.keys() | NAVIGATION | HELP_KEYS:
            event.stop()  # a viewer's keys: nothing to type into, and nothing to do
            return
        if not self._redirecting:
            if key in PREFIXES:
                event.stop()
                event.prevent_default()
                composer.start(PREFIXES[key])
                # What follows lands after the prefix until the focus moves (a viewer has no composer).
                self._redirecting = not composer.input.disabled
                return
            if key in HELP_KEYS:
                return  # the screen's bindings
            if key in NAVIGATION:
                if isinstance(focused, ChecklistPanel | AlertFeed | ActionsPanel):  # the timeline binds j, k
                    event.stop()
                    getattr(focused, "action_cursor_down" if key == "j" else "action_cursor_up")()
                if isinstance(focused, Timeline | ChecklistPanel | AlertFeed | ActionsPanel):
                    return
            elif key in PANEL_VERBS.get(type(focused), set()):
                if key == "a":
                    event.stop()
                    self.action_ack()
                elif key == "s":
                    event.stop()
                    self.action_silence()
                return
        event.stop()
        event.prevent_default()
        self._redirecting = True
        composer.type(event.character)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._redirecting = False
        widget = event.widget
        if isinstance(widget, ChecklistPanel) and widget.highlighted is None and widget.option_count:
            widget.highlighted = widget.first_open()
        elif isinstance(widget, AlertFeed) and widget.cursor_line < 0:
            self._point_at_first_alert(widget)

    def _point_at_first_alert(self, feed: AlertFeed) -> None:
        """The alert panel opens on the first firing alert nobody acknowledged in an open group,
        else on the first group's row (in a storm every group is closed: a acks it from there)."""
        alerts = self.state.alerts
        for group in feed.root.children:
            if not group.is_expanded:
                continue
            for node in group.children:
                alert = alerts.get(str(node.data))
                if alert is not None and alert.status == "firing" and not alert.acked_by:
                    feed.move_cursor(node)
                    return
        if feed.root.children:
            feed.move_cursor(feed.root.children[0])

    def on_paste(self, event: events.Paste) -> None:
        """A paste that lands on a panel is text for the composer, never a string of keys."""
        event.stop()
        composer = self.query_one(Composer)
        composer.paste(event.text)
        composer.input.focus()

    # -- acting ----------------------------------------------------------------------

    def _read_only(self) -> str | None:
        if self.client.access.get("level") == "viewer":
            return "Read-only: this is a viewer's token. Ask an admin for a responder token to write."
        return None

    def send(
        self,
        action: Action,
        *,
        sent: Callable[[], None] | None = None,
        refused: Callable[[str], None] | None = None,
    ) -> None:
        """Send a command, asking first when it is a strike, a status or a severity change."""
        why = self._read_only()
        if why is not None:
            self.app.notify(why, title="read-only", severity="warning")
            return
        question = self._question(action)
        if question is None:
            self._submit(action, sent, refused)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._submit(action, sent, refused)
            elif refused is not None:
                refused("not sent: you said no")  # a typed line comes back to the composer

        self.app.push_screen(ConfirmScreen(*question), answered)

    def _question(self, action: Action) -> tuple[str, str, str] | None:
        """(question, detail, yes) for a change the whole room sees and that cannot be undone."""
        if action.type not in CONFIRMED:
            return None
        state, data = self.state, action.data
        reason = f"reason: {visible(data['reason'])}" if data.get("reason") else ""
        if action.type in ("alerts.acknowledged", "alerts.silenced"):
            return self._group_question(action, reason)
        if action.type == "entry.struck":
            entry = state.entries.get(data["entry"])
            what = f"{visible(entry.author)}: {visible(entry.text)[:300]}" if entry else ""
            return (
                f"Strike entry #{data['entry']} through?",
                "\n".join(filter(None, [what, reason])),
                "Strike",
            )
        if action.type == "incident.status_changed":
            return (
                f"Mark {self.room} {data['status']}? It is {state.status or 'unknown'} now.",
                reason,
                f"Mark {data['status']}",
            )
        return (
            f"Change {self.room} from {state.severity or '?'} to {data['severity']}?",
            reason,
            f"Make it {data['severity']}",
        )

    def _group_question(self, action: Action, reason: str) -> tuple[str, str, str]:
        """The question names the count the hub will act on, counted here: "Acknowledge 25 ... of X?"."""
        data = action.data
        try:
            matchers = parse_matchers(data["matchers"])
        except WarroomError:
            matchers = ()
        first = matchers[0] if matchers else None
        named = first is not None and first.name == "alertname" and first.op == "="
        shown = ", ".join(map(visible, data["matchers"]))
        what = visible(first.value) if named and first is not None else shown
        of = f"of {what}" if named else f"matching {what}"
        where = shown
        if action.type == "alerts.acknowledged":
            count = len(covered(self.state, matchers, ackable=True)) if matchers else 0
            return f"Acknowledge {count} firing alerts {of}?", where, "Acknowledge all"
        count = len(covered(self.state, matchers)) if matchers else 0
        minutes = int(data["minutes"])
        length = f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
        upstream = "where each came from, and in the room" if data.get("upstream") else "in this room only"
        detail = "\n".join(filter(None, [where, f"silenced {upstream}", reason]))
        return f"Silence {count} alerts {of} for {length}?", detail, "Silence all"

    def _submit(
        self, action: Action, sent: Callable[[], None] | None, refused: Callable[[str], None] | None
    ) -> None:
        data = action.data
        if action.type == "entry.added" and not self.client.connected and "happened_at" not in data:
            # Queued offline: the entry keeps the time it was typed, not the time it reaches the hub.
            data = {**data, "happened_at": format_time(self.now())}
        try:
            validate_command(action.type, data)
            future = self.client.submit(action.type, data, self.room)
        except (WarroomError, CommandRejected) as exc:
            message = exc.error.message if isinstance(exc, CommandRejected) else exc.message
            if refused is not None:
                refused(message)
            else:
                tell(self.app, message, title="not sent", severity="error")
            return
        if sent is not None:
            sent()

        def done(result: Any) -> None:
            if not result.cancelled() and isinstance(result.exception(), CommandRejected):
                tell(self.app, str(result.exception()), title="refused", severity="error")

        future.add_done_callback(done)
        self.hub_changed()

    def action_broadcast(self) -> None:
        cadence = self.client.policy.get("cadence", {}).get(self.state.severity)
        self.app.push_screen(BroadcastForm(cadence), self._broadcast_done)

    def _broadcast_done(self, data: dict[str, Any] | None) -> None:
        if data is not None:
            self.send(Action("status.broadcast", data))

    def action_declare(self) -> None:
        declare_from(self.app, self.client)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_rows(), getattr(self.app, "join_hint", None)))

    def context(self) -> Context:
        state = self.state
        timeline = self.query_one(Timeline)
        selected = timeline.selected
        return Context(
            me=self.client.name,
            selected_entry=selected.id if selected else None,
            checklist_ids=tuple(state.checklist),
            checked=frozenset(i for i, item in state.checklist.items() if item.checked),
            selected_alert=self.query_one(AlertFeed).selected_fingerprint,
            selected_group=self.query_one(AlertFeed).selected_group,
            alerts=tuple((a.fingerprint, a.alertname) for a in state.alerts.values()),
            labels={a.fingerprint: a.labels for a in state.alerts.values()},
            holders=tuple((role, holder.name) for role, holder in state.roles.items()),
            alertmanager=self.client.alertmanager,
            steps=tuple((rb.id, step) for rb in state.runbooks.values() for step in rb.steps),
            selected_step=self.query_one(ChecklistPanel).selected_step,
            today=format_time(self.now())[:10],
            actions=tuple((a.id, a.status) for a in state.actions.values()),
            selected_action=(a.id if (a := self.query_one(ActionsPanel).selected) else None),
        )

    def on_composer_submitted(self, message: Composer.Submitted) -> None:
        self._send_text(message.text)

    def on_composer_multiline(self, message: Composer.Multiline) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self._send_text(text)

        self.app.push_screen(LongEntryForm(message.text, self.problem), done)

    def problem(self, text: str) -> str | None:
        """What keeps ``text`` from being sent as it is, or None (the long-entry form asks this)."""
        if (why := text_problem(text)) is not None:
            return why
        if _filter_query(text) is not None:
            return None
        try:
            action = parse(text, self.context())
            if action.type not in ("escalate", "runbook.pick", "debrief.open"):
                validate_command(action.type, action.data)
        except SlashError as exc:
            return str(exc)
        except WarroomError as exc:
            return exc.message
        return None

    def _send_text(self, text: str) -> None:
        composer = self.query_one(Composer)
        query = _filter_query(text)
        if query is not None:
            words = query.split()
            pinned = any(w in ("pinned", "is:pinned") for w in words)
            rest = " ".join(w for w in words if w not in ("pinned", "is:pinned"))
            timeline = self.query_one(Timeline)
            timeline.set_filter(Filter.parse(rest, pinned_only=pinned))
            composer.clear()
            timeline.focus()  # a filter is for reading: back to the timeline
            return
        try:
            action = parse(text, self.context())
        except SlashError as exc:
            composer.hint(str(exc), error=True)
            return
        if action.type == "escalate":
            self._ask_escalate(action.data)
            composer.clear()
            return
        if action.type == "runbook.pick":
            composer.clear()
            self.action_attach_runbook()
            return
        if action.type == "debrief.open":
            composer.clear()
            self.action_debrief()
            return
        self.send(action, sent=composer.clear, refused=lambda why: composer.hint(why, error=True))

    def on_checklist_panel_toggled(self, message: ChecklistPanel.Toggled) -> None:
        item = message.item
        checked = not item.checked
        number = list(self.state.checklist).index(item.id) + 1 if item.id in self.state.checklist else 0

        def sent() -> None:
            what = "checked" if checked else "unchecked"
            tell(self.app, f"{what} {number} {visible(item.text)[:60]} - x again to undo")

        self.send(Action("checklist.item_checked", {"item": item.id, "checked": checked}), sent=sent)

    def on_checklist_panel_step_toggled(self, message: ChecklistPanel.StepToggled) -> None:
        step = message.step
        checked = step.state != "done"

        def sent() -> None:
            what = "checked" if checked else "unchecked"
            tell(self.app, f"{what} {message.runbook}/{step.id} {step.text[:60]} - x again to undo")

        data = {"runbook": message.runbook, "step": step.id, "checked": checked}
        self.send(Action("step.checked", data), sent=sent)

    def on_checklist_panel_step_command(self, message: ChecklistPanel.StepCommand) -> None:
        if message.ref is None:
            what = "run" if message.run else "copy"
            tell(self.app, f"select a runbook step to {what} its command (a $ marks one)", severity="warning")
            return
        runbook_id, step_id = message.ref
        work = self._run_step(runbook_id, step_id) if message.run else self._copy_step(runbook_id, step_id)
        self.run_worker(work, exit_on_error=False, group="step-command", exclusive=True)

    async def _copy_step(self, runbook_id: str, step_id: str) -> None:
        """The filled command to the clipboard (OSC 52): the same text a run would run."""
        # Imported on first use: the runbook parser and the runner are not needed to start the app.
        from warroom.app.step_run import RunRefused, first_line, local_command

        try:
            command = await local_command(self.state, runbook_id, step_id)
        except RunRefused as exc:
            tell(self.app, str(exc), title="not copied", severity="error")
            return
        self.app.copy_to_clipboard(command)
        tell(self.app, f"{runbook_id}/{step_id}: {first_line(command)}", title="copied")

    async def _run_step(self, runbook_id: str, step_id: str) -> None:
        """The exact command in a question; on yes it runs here, in the app's worker, and is recorded."""
        from warroom.app.step_run import RunRefused, RunScreen, local_command, question, run_and_record

        why = self._read_only()
        if why is not None:  # a run nobody could record: not started
            self.app.notify(why, title="read-only", severity="warning")
            return
        try:
            command = await local_command(self.state, runbook_id, step_id)
        except RunRefused as exc:
            tell(self.app, str(exc), title="not run", severity="error")
            return
        app, client, room = self.app, self.client, self.room

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            shown = RunScreen(runbook_id, step_id, command)
            app.push_screen(shown)
            # The app's worker, not this screen's: leaving the room does not cut a run short.
            app.run_worker(
                run_and_record(app, client, room, runbook_id, step_id, command, shown),
                exit_on_error=False,
                name=f"run {runbook_id}/{step_id}",
            )

        app.push_screen(ConfirmScreen(*question(runbook_id, step_id, command)), answered)

    def action_debrief(self) -> None:
        """A resolved drill's debrief; anywhere else, why there is none."""
        from warroom.app.debrief import DebriefScreen, debrief_lines, why_no_debrief

        state = self.state
        why = why_no_debrief(state)
        if why is not None:
            tell(self.app, why, title="no debrief", severity="warning")
            return
        self.app.push_screen(DebriefScreen(debrief_lines(state, format_time(self.now()))))

    def action_attach_runbook(self) -> None:
        """The hub's library (from its welcome) with search; the chosen one is attached."""

        def chosen(runbook: str | None) -> None:
            if runbook:
                self.send(Action("runbook.attached", {"runbook": runbook}))

        self.app.push_screen(RunbookPicker(self.client.library), chosen)

    def on_timeline_opened(self, message: Timeline.Opened) -> None:
        self.app.push_screen(HistoryScreen(message.entry))

    def action_compose(self, prefix: str) -> None:
        self.query_one(Composer).start(prefix)

    def action_replay(self) -> None:
        from warroom.app.replay import ReplayScreen  # its own module: the live screen does not need it

        self.app.push_screen(ReplayScreen(self.client, self.room))

    def action_focus_alerts(self) -> None:
        """A key, not a letter: on the timeline a letter starts a note."""
        self.set_focus(self.query_one(AlertFeed))  # now, not after the keys behind it (route_key)

    def action_focus_actions(self) -> None:
        """A key, not a letter, as for the alerts; the panel shows once the room has an item."""
        panel = self.query_one(ActionsPanel)
        if panel.display:
            self.set_focus(panel)
        else:
            self.app.notify(
                "No action items yet: /action TEXT [@NAME] [due YYYY-MM-DD|+3d] adds one", markup=False
            )

    def on_actions_panel_toggled(self, message: ActionsPanel.Toggled) -> None:
        """x on an item: done, or open again when it was done; the note says how to undo."""
        type_, data, said = toggled(message.action)
        self.send(Action(type_, data), sent=lambda: tell(self.app, said))

    def action_review(self) -> None:
        """The review editor, over the room; escape comes back here."""
        self.app.push_screen(ReviewScreen(self.client, self.room, self.now))

    def action_focus_timeline(self) -> None:
        """Only the focus moves: a half-typed draft is still there when the composer is opened again."""
        self.set_focus(self.query_one(Timeline))

    def _slash(self, line: str, sent: Callable[[], None] | None = None) -> None:
        try:
            action = parse(line, self.context())
        except SlashError as exc:
            tell(self.app, str(exc), severity="warning")
            return
        self.send(action, sent=sent)

    def action_pin(self) -> None:
        """An undoable toggle: the same key takes the pin off again, and the room sees both."""
        selected = self.query_one(Timeline).selected
        if selected is None:
            self.app.notify("select an entry first", severity="warning")
            return
        verb = "unpin" if selected.pinned else "pin"
        undo = "pin" if selected.pinned else "unpin"
        self._slash(
            f"/{verb} #{selected.id}",
            sent=lambda: self.app.notify(f"{verb}ned #{selected.id} - ctrl+t again to {undo}"),
        )

    def action_page_oncall(self) -> None:
        page_on_call(self)  # warroom/app/oncall_page.py

    def action_strike(self) -> None:
        self._slash("/strike")

    def action_history(self) -> None:
        self.query_one(Timeline).action_open()

    def action_postmortem(self) -> None:
        from warroom.app.postmortem_view import PostmortemScreen  # loaded on first use

        self.app.push_screen(PostmortemScreen(lambda: self.state))

    def action_pinned(self) -> None:
        self.query_one(Timeline).toggle_pinned()

    def action_clear_filter(self) -> None:
        self.query_one(Timeline).set_filter(Filter())

    def action_claim(self, role: str) -> None:
        self._slash(f"/role {role} me")

    def action_release(self, role: str) -> None:
        self.send(Action("role.released", {"role": role}))

    def action_send_status(self, status: str) -> None:
        self.send(Action("incident.status_changed", {"status": status}))

    def action_send_severity(self, severity: str) -> None:
        self.send(Action("incident.severity_changed", {"severity": severity}))

    def action_check(self) -> None:
        checklist = self.query_one(ChecklistPanel)
        if checklist.highlighted is not None:
            checklist.action_select()

    def action_ack(self) -> None:
        """The selected alert, or on a group's row every firing one of the group, after a yes.

        ``a`` is a letter: the first one of a note typed with the alert panel focused
        must not acknowledge a real alert, so it always asks.
        """
        feed = self.query_one(AlertFeed)
        if (fingerprint := feed.selected_fingerprint) is not None:
            self._ack_one(fingerprint)
        elif (name := feed.selected_group) is not None:
            self._slash(f"/ack {quote_value(name)} *")

    def action_silence(self) -> None:
        """The composer opens with ``/silence`` for the selected alert or group: how long and why are typed.

        Nothing is sent until Enter (a whole group asks first, naming the count), so
        ``s`` typed as the first letter of a note costs nothing but an escape.
        """
        feed = self.query_one(AlertFeed)
        if (fingerprint := feed.selected_fingerprint) is not None:
            self.query_one(Composer).start(f"/silence {fingerprint} ")
        elif (name := feed.selected_group) is not None:
            self.query_one(Composer).start(f"/silence {quote_value(name)} * ")
        else:
            self.app.notify("select an alert or a group in the alert panel first", severity="warning")

    def _ack_one(self, fingerprint: str) -> None:
        alert = self.state.alerts.get(fingerprint)
        if alert is None:
            return
        if alert.acked_by:
            tell(self.app, f"acknowledged already, by {alert.acked_by}")
            return

        def ack_one(yes: bool | None) -> None:
            if yes:
                self.send(Action("alert.acknowledged", {"fingerprint": fingerprint}))

        labels = " ".join(visible(v) for v in list(alert.labels.values())[:3])
        self.app.push_screen(
            ConfirmScreen(f"Acknowledge {visible(alert.alertname)}?", labels, "Acknowledge"), ack_one
        )

    def action_alert_details(self) -> None:
        if (fingerprint := self.query_one(AlertFeed).selected_fingerprint) is not None:
            self._open_alert(fingerprint)
        else:
            self.app.notify("select an alert in the alert panel first", severity="warning")

    def on_alert_feed_opened(self, message: AlertFeed.Opened) -> None:
        self._open_alert(message.fingerprint)

    def _open_alert(self, fingerprint: str) -> None:
        alert = self.state.alerts.get(fingerprint)
        if alert is None:
            return

        def chosen(what: str | None) -> None:
            if what == "ack":
                self._ack_one(fingerprint)
            elif what == "silence":
                self.query_one(Composer).start(f"/silence {fingerprint} ")

        self._detail_moved_to = None
        self.app.push_screen(AlertDetailScreen(alert), chosen)

    # -- escalating an alert ---------------------------------------------------------

    def _ask_escalate(self, data: dict[str, Any]) -> None:
        alert = self.state.alerts.get(data["fingerprint"])
        if alert is None:
            return
        severity = data.get("severity") or SEVERITY_OF_RANK[severity_rank(alert.severity)]
        title = alert.annotations.get("summary") or alert.alertname

        def answered(yes: bool | None) -> None:
            if yes:
                data = {"title": title[:200], "severity": severity}
                self.app.run_worker(
                    declare_and_open(self.app, self.client, data, alert.fingerprint, self.room),
                    exit_on_error=False,
                )

        self.app.push_screen(
            ConfirmScreen(f"Declare a {severity} incident from this alert?", visible(title), "Declare"),
            answered,
        )


def _filter_query(text: str) -> str | None:
    """The query of a ``/filter`` line, or None for any other line."""
    text = text.strip()
    if text == "/filter" or text.startswith("/filter "):
        return text[len("/filter") :]
    return None


# An incident declared from an alert takes the alert's severity rank: critical (page, p1, ...) is
# a SEV1, error (high, major) a SEV2, warning a SEV3, info a SEV4; none or one not known a SEV3.
SEVERITY_OF_RANK = ("SEV1", "SEV2", "SEV3", "SEV4", "SEV3")
