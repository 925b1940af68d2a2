"""The war room's panels in their places: one layout for the live room and its replay.

A replay that composed its own copy would drift from the room it replays
(it once lacked the action items); both call this instead.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from warroom.app.widgets.actions_panel import ActionsPanel
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.composer import Composer
from warroom.app.widgets.keyfacts import KeyFacts
from warroom.app.widgets.panels import BroadcastBanner, ChecklistPanel, IncidentHeader, RolesPanel
from warroom.app.widgets.timeline import Timeline


def room_panels() -> ComposeResult:
    yield IncidentHeader()
    yield BroadcastBanner()
    with Horizontal(id="main"):
        with Vertical(id="story"):
            yield KeyFacts(id="keyfacts")
            yield Timeline(id="timeline")
        with Vertical(id="side"):
            yield RolesPanel(id="roles")
            yield ChecklistPanel(id="checklist")
            yield ActionsPanel(id="actions")
            yield AlertFeed(id="alerts")
    yield Composer(id="composer")
    yield Footer()
