"""One alert in full: every label, what it says, its numbers, who acted on it, and where to look next.

Everything here came from a monitoring system or a person, so every piece is
made visible and assembled as plain Content: a label value or a URL can never
become markup, a click action or a terminal escape. Links are shown as text to
copy, not as clickable escapes.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from warroom.app.tell import tell
from warroom.core.state import Alert, origin_title
from warroom.core.text import visible

SHOWN_ANNOTATIONS = {"summary", "description", "runbook_url"}


def _when(ts: str | None) -> str:
    return f"{ts[:10]} {ts[11:19]} UTC" if ts else "-"


def detail_lines(alert: Alert) -> list[Content]:
    """The detail view's lines; pure, so a test reads exactly what the screen shows."""
    lines: list[Content] = []

    def field(name: str, value: str | None, style: str = "") -> None:
        if value:
            lines.append(Content.assemble((f"{name:<14}", "bold"), (visible(value), style)))

    def heading(text: str) -> None:
        lines.extend([Content(""), Content.styled(text, "bold underline")])

    firing = alert.status == "firing"
    lines.append(
        Content.assemble(
            (visible(alert.label), "bold"),
            "  ",
            (visible(alert.status), "$error" if firing else "$success"),
            (f"  {visible(alert.severity)}" if alert.severity else "", "bold"),
        )
    )
    if summary := alert.annotations.get("summary"):
        lines.append(Content(visible(summary)))
    if description := alert.annotations.get("description"):
        lines.extend([Content(""), Content(visible(description, multiline=True))])

    heading("labels")
    for key, value in sorted(alert.labels.items()):
        lines.append(Content.assemble((f"  {visible(key)}", "$accent"), "=", visible(value)))
    others = {k: v for k, v in alert.annotations.items() if k not in SHOWN_ANNOTATIONS}
    if others:
        heading("annotations")
        for key, value in sorted(others.items()):
            lines.append(Content.assemble((f"  {visible(key)}", "$accent"), ": ", visible(value)))

    if alert.value or alert.values:
        heading("value")
        field("value", alert.value)
        for ref, number in sorted(alert.values.items()):
            lines.append(Content.assemble((f"  {visible(ref)}", "$accent"), " = ", visible(number)))

    heading("when")
    field("starts", _when(alert.starts_at))
    field("ends", _when(alert.ends_at) if alert.ends_at else None)
    field("first seen", _when(alert.first_seen))
    field("last seen", _when(alert.last_seen))
    field("count", f"{alert.count} (occurrence #{alert.occurrence})")
    field("status", alert.status)
    if alert.stale_since:
        field("stale since", f"{_when(alert.stale_since)}: its source no longer lists it", "$warning")
    field("origin", origin_title(alert.origin) if alert.origin else None)
    field("source", alert.source)

    heading("people")
    if alert.acked_by:
        field("acknowledged", f"by {alert.acked_by} at {_when(alert.acked_at)}")
    else:
        lines.append(Content.styled("  nobody acknowledged it", "$text-muted"))
    if alert.silenced_until:
        field("silenced by", alert.silenced_by or "someone")
        field("until", _when(alert.silenced_until))
        field("why", alert.silence_reason)
        field("where", origin_title(alert.silence_origin))

    links = sorted(alert.links.items())
    if alert.url and alert.url not in alert.links.values():
        links.insert(0, ("url", alert.url))
    runbook = alert.runbook_url or alert.annotations.get("runbook_url")
    if runbook:
        links.append(("runbook", runbook))
    heading("links")
    if not links:
        lines.append(Content.styled("  none", "$text-muted"))
    for title, url in links:
        field(f"  {title}", url, "underline")
    lines.extend([Content(""), Content(f"fingerprint   {visible(alert.fingerprint)}")])
    return lines


def _drawn(lines: list[Content]) -> list[tuple[str, list[Any]]]:
    """Text and styles: Content's own == compares the text only."""
    return [(line.plain, list(line.spans)) for line in lines]


class AlertDetailScreen(ModalScreen[str | None]):
    """Enter on an alert: its details, kept live. ``a`` acknowledges (after a yes), ``s`` starts a silence.

    The incident screen beneath hands it the alert as the room now holds it on
    every change (``show``): an ack, a silence or a resolve made elsewhere shows
    here at once, and an alert moved to another incident, or gone, is said so
    above what it last was.
    """

    BINDINGS = [
        Binding("a", "choose('ack')", "Ack"),
        Binding("s", "choose('silence')", "Silence"),
        Binding("escape,q", "choose(None)", "Close"),
    ]
    DEFAULT_CSS = """
    AlertDetailScreen { align: center middle; }
    AlertDetailScreen > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1; }
    AlertDetailScreen #alert-gone { color: $warning; text-style: bold; display: none; }
    AlertDetailScreen #alert-gone.-shown { display: block; }
    AlertDetailScreen #alert-keys { color: $text-muted; margin-top: 1; }
    """
    KEYS = "a acknowledge (asks first) · s silence (in the composer) · escape close"

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert
        self.fingerprint = alert.fingerprint
        self.gone: str | None = None  # why it is no longer in the room, once it is not
        self._lines = detail_lines(alert)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(id="alert-gone")
            yield VerticalScroll(Static(Content("\n").join(self._lines), id="alert-detail"))
            yield Label(Content(self.KEYS), id="alert-keys")

    def show(self, alert: Alert | None, moved_to: str | None = None) -> None:
        """The alert as the room holds it now; None when it left the room (for ``moved_to``, if known)."""
        if alert is None:
            gone = (
                f"moved to {visible(moved_to)}: shown as it was when it left"
                if moved_to
                else "no longer in this incident: shown as it was last"
            )
            if gone != self.gone:
                self.gone = gone
                notice = self.query_one("#alert-gone", Label)
                notice.update(Content(gone))
                notice.add_class("-shown")
                self.query_one("#alert-keys", Label).update(Content("escape close"))
            return
        if self.gone is not None:
            self.gone = None
            self.query_one("#alert-gone", Label).remove_class("-shown")
            self.query_one("#alert-keys", Label).update(Content(self.KEYS))
        self.alert = alert
        lines = detail_lines(alert)
        if _drawn(lines) != _drawn(self._lines):  # the reducer changed the alert in place
            self._lines = lines
            self.query_one("#alert-detail", Static).update(Content("\n").join(lines))

    def action_choose(self, what: str | None) -> None:
        if what is not None and self.gone is not None:
            where = self.gone.split(":")[0]
            tell(self.app, f"this alert is {where}: nothing to {what} here", severity="warning")
            return
        self.dismiss(what)
