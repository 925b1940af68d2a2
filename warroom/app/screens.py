"""The screens: the incident war room, the incident picker, and an entry's history."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from warroom.app.forms import BroadcastForm, DeclareForm
from warroom.app.slash import Action, Context, SlashError, parse
from warroom.app.widgets.composer import Composer
from warroom.app.widgets.keyfacts import KeyFacts
from warroom.app.widgets.panels import (
    AlertFeed,
    BroadcastBanner,
    ChecklistPanel,
    IncidentHeader,
    RolesPanel,
    span,
)
from warroom.app.widgets.timeline import Filter, Timeline
from warroom.client import CommandRejected, HubClient
from warroom.core.events import ROLE_TITLES, SEVERITIES, STATUSES
from warroom.core.schema import parse_time
from warroom.core.state import Entry, IncidentState
from warroom.core.text import visible

if TYPE_CHECKING:
    from warroom.app.app import WarroomApp


@dataclass(frozen=True)
class Act:
    """One thing a responder can do: its key (if any), the screen action, and its palette text."""

    key: str | None
    action: str
    title: str
    help: str
    show: bool = True


ACTS: list[Act] = [
    Act("i", "compose('')", "Write", "Focus the composer to log a note"),
    Act("slash", "compose('/')", "Command", "Start a slash command", show=False),
    Act("d", "compose('/decision ')", "Decision", "Log a decision"),
    Act("b", "broadcast", "Broadcast", "Send a status broadcast: what, impact, what we do, next update"),
    Act("n", "declare", "Declare", "Declare a new incident", show=False),
    Act("p", "pin", "Pin", "Pin or unpin the selected entry"),
    Act("s", "strike", "Strike", "Strike the selected entry through", show=False),
    Act("h", "history", "History", "Open the selected entry and its edits", show=False),
    Act("f", "compose('/filter ')", "Filter", "Filter the timeline: kind:decision author:NAME words"),
    Act("P", "pinned", "Pinned", "Show pinned entries only, or everything again"),
    Act("c", "claim('commander')", "Claim IC", "Become the incident commander"),
    Act("x", "check", "Check", "Check or uncheck the selected runbook item", show=False),
    Act("a", "ack", "Ack", "Acknowledge the selected alert", show=False),
    *[
        Act(None, f"claim('{role}')", f"Claim {title}", f"Become the {title}")
        for role, title in ROLE_TITLES.items()
        if role != "commander"
    ],
    *[
        Act(None, f"release('{role}')", f"Release {title}", f"Leave the {title} role empty")
        for role, title in ROLE_TITLES.items()
    ],
    *[
        Act(None, f"send_status('{status}')", f"Status: {status}", f"Mark the incident {status}")
        for status in STATUSES
    ],
    *[
        Act(None, f"send_severity('{sev}')", f"Severity: {sev}", f"Change the severity to {sev}")
        for sev in SEVERITIES
    ],
    Act(None, "clear_filter", "Clear filter", "Show every timeline entry"),
    Act("escape", "focus_timeline", "Timeline", "Back to the timeline", show=False),
]


class HistoryScreen(ModalScreen[None]):
    """One entry in full (every line of it), who struck it and why, and its earlier versions."""

    BINDINGS = [Binding("escape,q,h,enter", "dismiss", "Close")]

    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        e = self.entry
        lines = [
            Content.assemble(
                (f"#{e.id} {visible(e.kind)}", "bold"),
                " by ",
                (visible(e.author), "bold"),
                f" at {visible(e.when)}",
            ),
            Content(""),
            Content(visible(e.text, multiline=True)),
        ]
        if e.struck_by:
            reason = f": {visible(e.strike_reason, multiline=True)}" if e.strike_reason else ""
            lines += [
                Content(""),
                Content.styled(f"struck by {visible(e.struck_by)} at {e.struck_at}{reason}", "$error"),
            ]
        if e.history:
            lines += [Content(""), Content.styled("earlier versions", "bold")]
            for rev in reversed(e.history):
                lines.append(
                    Content.assemble(
                        (f"{rev.ts} {visible(rev.actor)}:", "dim"), " ", visible(rev.text, multiline=True)
                    )
                )
        with Vertical():
            yield VerticalScroll(Static(Content("\n").join(lines)))


class IncidentScreen(Screen[None]):
    BINDINGS = [Binding(a.key, a.action, a.title, show=a.show) for a in ACTS if a.key]

    def __init__(self, client: HubClient, room: str, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.client = client
        self.room = room
        self.now = now
        self._scheduled = False
        self._nudged_due: str | None = None
        self._frozen: IncidentState | None = None
        self._thresholds: tuple[int, int, int] | None = None  # the GC's own, to put back
        self._nudged_offers: set[str] = set()

    def compose(self) -> ComposeResult:
        yield IncidentHeader()
        yield BroadcastBanner()
        with Horizontal(id="main"):
            with Vertical(id="story"):
                yield KeyFacts(id="keyfacts")
                yield Timeline(id="timeline")
            with Vertical(id="side"):
                yield RolesPanel(id="roles")
                yield ChecklistPanel(id="checklist")
                yield AlertFeed(id="alerts")
        yield Composer(id="composer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RolesPanel).border_title = "Roles"
        self.query_one(Timeline).focus()
        self.run_worker(self._join(), exit_on_error=False, name=f"join {self.room}")
        self.set_interval(1, self.refresh_state)
        self.refresh_state()

    async def _join(self) -> None:
        try:
            await self.client.join(self.room, timeout=None)
        except CommandRejected as exc:
            self.app.notify(exc.error.message, severity="error", timeout=15)
            self.client.rooms.pop(self.room, None)
            self.dismiss()

    @property
    def state(self) -> IncidentState:
        view = self.client.rooms.get(self.room)
        return view.state if view is not None else IncidentState(room=self.room)

    # -- state down ------------------------------------------------------------------

    def hub_changed(self) -> None:
        """Called by the app on every hub update; many updates make one redraw."""
        if not self._scheduled:
            self._scheduled = True
            self.call_later(self.refresh_state)

    def refresh_state(self) -> None:
        self._scheduled = False
        view = self.client.rooms.get(self.room)
        state = self.state
        now = self.now()
        self.query_one(IncidentHeader).show(state, self.client.state, now)
        self.query_one(BroadcastBanner).show(state.broadcast, now)
        self.query_one(Timeline).show(state.entries, self.client.outbox.pending(self.room))
        self.query_one(KeyFacts).show(state)
        self.query_one(RolesPanel).show(
            state, view.presence if view else [], view.activity if view else {}, now, self.client.policy
        )
        self._nudge(state, now)
        self.query_one(ChecklistPanel).show(list(state.checklist.values()))
        self.query_one(AlertFeed).show(state.alerts, now)
        self.query_one(Composer).read_only(self._read_only())
        if view is not None and view.synced and self._frozen is not state:
            self._freeze(state)

    def _freeze(self, state: IncidentState) -> None:
        """Move a synced room out of the GC's sight.

        100,000 entries are a few hundred thousand objects that live as long as
        the room; every full collection walked them all, a 100-150 ms stall of
        the UI several times a minute. A new state object (a reset) thaws the
        old one first, so it can still be freed.
        """
        if self._frozen is not None:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        # Live entries then arrive at up to 100/s; rarer young collections keep the full
        # ones (still a few ms each) from landing under a key press several times a minute.
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
        gc.set_threshold(20_000, 20, 50)
        self._frozen = state

    def on_unmount(self) -> None:
        if self._frozen is not None:
            gc.unfreeze()
            self._frozen = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    async def _escalate(self, data: dict[str, Any]) -> None:
        """Declare an incident from an alert: its title, severity and detection time come with it."""
        alert = self.state.alerts.get(data["fingerprint"])
        if alert is None:
            return
        title = alert.annotations.get("summary") or alert.alertname
        severity = data.get("severity") or SEVERITY_OF_ALERT.get((alert.severity or "").lower(), "SEV3")
        try:
            declared = await self.client.send(
                "incident.declared", {"title": title[:200], "severity": severity}
            )
            await self.client.send(
                "alert.moved", {"fingerprint": alert.fingerprint, "to": declared["room"]}, self.room
            )
        except CommandRejected as exc:
            self.app.notify(exc.error.message, title="not escalated", severity="error")
            return
        self.app.open_incident(declared["room"])  # type: ignore[attr-defined]

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
                "A status update is due. Press b to broadcast.",
                title="update due",
                severity="warning",
                timeout=30,
            )
        for role, offer in state.offers.items():
            key = f"{role}@{offer.at}"
            if offer.to == me and key not in self._nudged_offers:
                self._nudged_offers.add(key)
                self.app.notify(
                    f"{offer.by} offers you the {ROLE_TITLES[role]}: /accept {role} or /decline {role}",
                    title="role offered",
                    timeout=60,
                )

    # -- acting ----------------------------------------------------------------------

    def _read_only(self) -> str | None:
        if self.client.access.get("level") == "viewer":
            return "Read-only: this is a viewer's token. Ask an admin for a responder token to write."
        return None

    def send(self, action: Action) -> None:
        why = self._read_only()
        if why is not None:
            self.app.notify(why, title="read-only", severity="warning")
            return
        future = self.client.submit(action.type, action.data, self.room)

        def done(result: Any) -> None:
            if not result.cancelled() and isinstance(result.exception(), CommandRejected):
                self.app.notify(str(result.exception()), title="refused", severity="error")

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
            alerts=tuple((a.fingerprint, a.alertname) for a in state.alerts.values()),
            holders=tuple((role, holder.name) for role, holder in state.roles.items()),
            alertmanager=self.client.alertmanager,
        )

    def on_composer_submitted(self, message: Composer.Submitted) -> None:
        composer = self.query_one(Composer)
        text = message.text.strip()
        if text.startswith("/filter"):
            self.query_one(Timeline).set_filter(Filter.parse(text[len("/filter") :]))
            composer.clear()
            return
        try:
            action = parse(text, self.context())
        except SlashError as exc:
            composer.hint(str(exc), error=True)
            return
        if action.type == "escalate":
            self.app.run_worker(self._escalate(action.data), exit_on_error=False)
        else:
            self.send(action)
        composer.clear()

    def on_checklist_panel_toggled(self, message: ChecklistPanel.Toggled) -> None:
        self.send(
            Action("checklist.item_checked", {"item": message.item.id, "checked": not message.item.checked})
        )

    def on_alert_feed_acknowledge(self, message: AlertFeed.Acknowledge) -> None:
        self.send(Action("alert.acknowledged", {"fingerprint": message.fingerprint}))

    def on_timeline_opened(self, message: Timeline.Opened) -> None:
        self.app.push_screen(HistoryScreen(message.entry))

    def action_compose(self, prefix: str) -> None:
        self.query_one(Composer).start(prefix)

    def action_focus_timeline(self) -> None:
        self.query_one(Composer).clear()
        self.query_one(Timeline).focus()

    def _slash(self, line: str) -> None:
        try:
            self.send(parse(line, self.context()))
        except SlashError as exc:
            self.app.notify(str(exc), severity="warning")

    def action_pin(self) -> None:
        selected = self.query_one(Timeline).selected
        if selected is not None:
            self._slash(f"/{'unpin' if selected.pinned else 'pin'} #{selected.id}")

    def action_strike(self) -> None:
        self._slash("/strike")

    def action_history(self) -> None:
        self.query_one(Timeline).action_open()

    def action_pinned(self) -> None:
        self.query_one(Timeline).toggle_pinned()

    def action_clear_filter(self) -> None:
        self.query_one(Timeline).set_filter(Filter())

    def action_claim(self, role: str) -> None:
        self.send(Action("role.assigned", {"role": role, "name": self.client.name}))

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
        self.query_one(AlertFeed).action_acknowledge()


SEVERITY_OF_ALERT = {
    "critical": "SEV1",
    "page": "SEV1",
    "error": "SEV2",
    "high": "SEV2",
    "warning": "SEV3",
    "info": "SEV4",
}


class PickerScreen(Screen[None]):
    """Open incidents, to choose one to join; Enter opens it."""

    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("n", "declare", "Declare"),
        Binding("i", "inbox", "Alert inbox"),
    ]

    def action_inbox(self) -> None:
        app: WarroomApp = self.app  # type: ignore[assignment]
        app.open_incident("inbox")

    def __init__(self, client: HubClient, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.client = client
        self.now = now
        self._ids: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("Choose an incident (Enter to join, r to reload)", id="picker-help")
        yield OptionList(id="incidents")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).border_title = "Open incidents"
        self.run_worker(self.action_reload(), exit_on_error=False)

    def hub_changed(self) -> None:
        return None

    async def action_reload(self) -> None:
        await self.client.wait_connected()
        items = [i for i in await self.client.incidents() if i.get("status") != "resolved"]
        items.sort(key=lambda i: (i.get("severity", "SEV9"), i.get("declared_at") or ""))
        options = self.query_one(OptionList)
        options.clear_options()
        self._ids = [i["id"] for i in items]
        now = self.now()
        for item in items:
            age = (
                span((now - parse_time(item["declared_at"])).total_seconds())
                if item.get("declared_at")
                else "?"
            )
            severity = str(item.get("severity", "SEV4"))
            options.add_option(
                Option(
                    Content.assemble(
                        (f"{visible(str(item['id'])):<8}", "bold"),
                        " ",
                        (visible(severity), f"$sev-{severity[-1]}" if severity in SEVERITIES else ""),
                        f" {visible(str(item.get('status', ''))):<13} {age:>7}",
                        f"  {visible(str(item.get('people', 0)))} here  ",
                        visible(str(item.get("title", ""))),
                    )
                )
            )
        if items:
            options.highlighted = 0
        else:
            options.add_option(
                Option("No open incidents. Declare one with: warroom declare TITLE", disabled=True)
            )
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        app: WarroomApp = self.app  # type: ignore[assignment]
        app.open_incident(self._ids[event.option_index])

    def action_declare(self) -> None:
        declare_from(self.app, self.client)


def declare_from(app: Any, client: HubClient) -> None:
    """The declare form; on submit, declare and open the new room (its declarer commands it)."""

    def done(data: dict[str, Any] | None) -> None:
        if data is not None:
            app.run_worker(_declare(app, client, data), exit_on_error=False)

    app.push_screen(DeclareForm(client.policy.get("meanings")), done)


async def _declare(app: Any, client: HubClient, data: dict[str, Any]) -> None:
    try:
        ack = await client.send("incident.declared", data)
    except CommandRejected as exc:
        app.notify(exc.error.message, title="not declared", severity="error")
        return
    app.open_incident(ack["room"])
