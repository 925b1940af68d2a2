"""The report in the app: the same numbers and charts as ``warroom report``, over a chosen span.

It reads the hub's incident list (the summaries), never a log, and computes
with ``warroom.review.metrics``; the text is the CLI's, charts included, made
visible line by line like everything else on screen. Its style sits here
(``DEFAULT_CSS``) so the screen stays one module that merges on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from warroom.client import CommandRejected, HubClient, HubUnavailable
from warroom.core.text import visible
from warroom.review.metrics import Query, report

SPANS = (7, 30, 90, None)  # days back from now; None: every incident
CHART_WIDTH = 100


class ReportScreen(ModalScreen[None]):
    """MTTA, MTTM, MTTR, action items and charts for incidents declared in the last days."""

    DEFAULT_CSS = """
    ReportScreen { align: center middle; }
    ReportScreen > Vertical { width: 95%; max-width: 120; height: 90%; border: round $primary; }
    ReportScreen #report-span { padding: 0 1; text-style: bold; }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("w", "span", "Span"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, client: HubClient, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.client = client
        self.now = now
        self.span_index = 1  # 30 days

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("", id="report-span")
            yield VerticalScroll(Static(Content("reading the incident list…"), id="report-text"))

    def on_mount(self) -> None:
        self.action_reload()

    def action_span(self) -> None:
        self.span_index = (self.span_index + 1) % len(SPANS)
        self.action_reload()

    def action_reload(self) -> None:
        days = SPANS[self.span_index]
        span = f"the last {days} days" if days else "every incident"
        self.query_one("#report-span", Label).update(
            Content(f"Report: incidents declared in {span} (w: change span, r: reload, q: close)")
        )
        self.run_worker(self._load(days), exclusive=True, exit_on_error=False)

    async def _load(self, days: int | None) -> None:
        from warroom.cli.report import render

        now = self.now()
        query = Query(now=now, start=now - timedelta(days=days) if days else None)
        try:
            numbers = report(await self.client.incidents(), query)
        except (HubUnavailable, CommandRejected, TimeoutError) as exc:
            why = (
                exc.error.message
                if isinstance(exc, CommandRejected)
                else str(exc) or "the hub is not reachable"
            )
            self.query_one("#report-text", Static).update(
                Content(f"not loaded: {visible(why)}; r tries again")
            )
            return
        text = render(numbers, query, CHART_WIDTH)
        self.query_one("#report-text", Static).update(Content(visible(text, multiline=True)))
