"""The incident picker, and declaring an incident (from the picker, or from an alert in a room)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from warroom.app.dialogs import ConfirmScreen
from warroom.app.forms import DeclareForm
from warroom.app.tell import tell
from warroom.app.widgets.panels import span
from warroom.client import CommandRejected, HubClient, HubUnavailable
from warroom.core.events import SEVERITIES
from warroom.core.schema import format_time, parse_time
from warroom.core.state import overdue_in
from warroom.core.text import visible
from warroom.review.actions import late_mark, overdue_count

if TYPE_CHECKING:
    from warroom.app.app import WarroomApp

RELOAD_WAIT = 5.0  # seconds r waits for the hub before saying it is not reachable


class PickerScreen(Screen[None]):
    """Open incidents, to choose one to join; Enter opens it."""

    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("n", "declare", "Declare"),
        Binding("i", "inbox", "Alert inbox"),
        Binding("m", "report", "Report"),
    ]

    def action_inbox(self) -> None:
        app = cast("WarroomApp", self.app)
        app.open_incident("inbox")

    def action_report(self) -> None:
        from warroom.app.report_screen import ReportScreen

        self.app.push_screen(ReportScreen(self.client, self.now))

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
        self.run_worker(self._reload(None), exclusive=True, exit_on_error=False)

    def hub_changed(self, kind: str = "state") -> None:
        return None

    def action_reload(self) -> None:
        """In a worker: waiting for an offline hub inside key dispatch froze every key."""
        self.run_worker(self._reload(RELOAD_WAIT), exclusive=True, exit_on_error=False)

    async def _reload(self, wait: float | None) -> None:
        try:
            await self.client.wait_connected(wait)
            listed = await self.client.incidents()
        except (HubUnavailable, TimeoutError, CommandRejected) as exc:
            why = (
                exc.error.message
                if isinstance(exc, CommandRejected)
                else str(exc) or "the hub is not reachable"
            )
            tell(self.app, f"{why}; r tries again", title="not reloaded", severity="warning")
            return
        items = [i for i in listed if i.get("status") != "resolved"]
        today = self.now().date()  # the app's clock is UTC
        hidden_late = sum(overdue_count(i, today) for i in listed if i.get("status") == "resolved")
        items.sort(key=lambda i: (i.get("severity", "SEV9"), i.get("declared_at") or ""))
        options = self.query_one(OptionList)
        options.clear_options()
        self._ids = [i["id"] for i in items]
        now = self.now()
        now_iso = format_time(now)
        for item in items:
            age = (
                span((now - parse_time(item["declared_at"])).total_seconds())
                if item.get("declared_at")
                else "?"
            )
            severity = str(item.get("severity", "SEV4"))
            late = overdue_in(item.get("steps_due"), now_iso)
            late_actions = overdue_count(item, today)
            options.add_option(
                Option(
                    Content.assemble(
                        (f"{visible(str(item['id'])):<8}", "bold"),
                        " ",
                        (visible(severity), f"$sev-{severity[-1]}" if severity in SEVERITIES else ""),
                        f" {visible(str(item.get('status', ''))):<13} {age:>7}",
                        f"  {visible(str(item.get('people', 0)))} here  ",
                        ("DRILL ", "bold $warning") if item.get("drill") else "",
                        (f"{late} OVERDUE ", "bold $error") if late else "",
                        (late_mark(late_actions) + " ", "bold $error") if late_actions else "",
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
        if hidden_late:  # follow-up of resolved incidents, which the list leaves out
            items_ = f"{hidden_late} overdue action item{'s' * (hidden_late != 1)}"
            line = f"{items_} on resolved incidents: warroom actions --overdue"
            options.add_option(Option(Content.styled(line, "$error"), disabled=True))
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        app = cast("WarroomApp", self.app)
        app.open_incident(self._ids[event.option_index])

    def action_declare(self) -> None:
        declare_from(self.app, self.client)


def declare_from(app: Any, client: HubClient) -> None:
    """The declare form, then a yes; on yes, declare and open the new room (its declarer commands it)."""

    def filled(data: dict[str, Any] | None) -> None:
        if data is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                app.run_worker(declare_and_open(app, client, data), exit_on_error=False)

        app.push_screen(
            ConfirmScreen(f"Declare a {data['severity']} incident?", visible(data["title"]), "Declare"),
            answered,
        )

    app.push_screen(DeclareForm(client.policy.get("meanings")), filled)


async def declare_and_open(
    app: Any, client: HubClient, data: dict[str, Any], alert: str | None = None, from_room: str | None = None
) -> None:
    """Declare, move the alert it came from (an escalation) into the new room, and open it."""
    try:
        ack = await client.send("incident.declared", data)
        if alert is not None:
            await client.send("alert.moved", {"fingerprint": alert, "to": ack["room"]}, from_room)
    except CommandRejected as exc:
        what = "not escalated" if alert is not None else "not declared"
        tell(app, exc.error.message, title=what, severity="error")
        return
    app.open_incident(ack["room"])
