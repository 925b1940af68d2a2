"""What changed in a room since its panels were last drawn, so a refresh draws only those panels.

Drawing every panel for every incoming event cost the app some 3.5 ms of CPU
an event, most of a core at 100 events a second; an alert update now touches
the alert feed's rows of that alert, an appended entry the timeline's new lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.core.events import Event

# Events that change one alert, named by their fingerprint; any other alert event may change many.
ONE_ALERT = {
    "alert.upserted",
    "alert.acknowledged",
    "alert.resolved",
    "alert.stale",
    "alert.silenced",
    "alert.moved",
}
MANY_ALERTS = {"alerts.acknowledged", "alerts.silenced", "alert.unsilenced", "silence.synced"}


@dataclass
class Changes:
    """Collected from each event as it is folded; taken (and reset) by the next redraw."""

    full: bool = True  # anything may have changed: every panel is drawn
    edited: bool = True  # an entry was pinned, edited or struck: lists of entries are walked again
    alerts: set[str] | None = None  # the fingerprints of changed alerts; None: any of them

    def note(self, event: Event) -> None:
        kind = event.type
        if kind == "entry.added":
            return  # the timeline and key facts take appended entries from the end
        if kind.startswith("entry."):
            self.edited = True
        elif kind in ONE_ALERT:
            if self.alerts is not None:
                self.alerts.add(event.data["fingerprint"])
        elif kind in MANY_ALERTS:
            self.alerts = None
        else:
            self.full = True

    def state_changed(self, kind: str) -> None:
        """The hub said something changed besides the events noted (a new state is told apart by the
        screen). The connection and the outbox show in the header, and who is here in the roles
        panel: rare, and drawn whole.
        """
        if kind in ("connection", "outbox", "presence"):
            self.full = True

    def take(self) -> Changes:
        """What changed until now; from now on, nothing has."""
        taken = Changes(self.full, self.edited, self.alerts)
        self.full, self.edited, self.alerts = False, False, set()
        return taken
