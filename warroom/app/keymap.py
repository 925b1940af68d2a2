"""The room's keys: each action with its key and palette text, and what the help screen lists."""

from __future__ import annotations

from dataclasses import dataclass

from warroom.app.widgets.actions_panel import ActionsPanel
from warroom.app.widgets.alert_feed import AlertFeed
from warroom.app.widgets.panels import ChecklistPanel
from warroom.core.events import ROLE_TITLES, SEVERITIES, STATUSES


@dataclass(frozen=True)
class Act:
    """One thing a responder can do: its key (if any), the screen action, and its palette text."""

    key: str | None
    action: str
    title: str
    help: str
    show: bool = True
    listed: bool = True  # in the help and the command palette


# Printable keys on the timeline are only navigation and these prefixes, which open the
# composer with the cursor after the prefix. Anything that changes the shared record or
# opens a form is on a key that cannot be typed by accident, and asks first or can be undone.
ACTS: list[Act] = [
    Act("i", "compose('')", "Write", "Write a note in the composer (Enter sends)", show=False),
    Act("slash", "compose('/')", "Command", "Start a slash command", show=False),
    Act("d", "compose('/decision ')", "Decision", "Log a decision: the composer opens with /decision"),
    Act("f", "compose('/filter ')", "Filter", "Filter the timeline: pinned kind:decision author:NAME words"),
    Act("ctrl+r", "broadcast", "Broadcast", "Send a status broadcast: what, impact, what we do, next update"),
    Act("ctrl+n", "declare", "Declare", "Declare a new incident (asks before it is declared)"),
    Act("ctrl+t", "pin", "Pin", "Pin or unpin the selected entry; ctrl+t again undoes it"),
    Act("delete", "strike", "Strike", "Strike the selected entry through (asks first)"),
    Act(None, "history", "History", "Open the selected entry and its edits (enter on the timeline)"),
    Act("ctrl+o", "pinned", "Pinned", "Show pinned entries only, or everything again"),
    Act(
        "x,space",
        "check",
        "Check",
        "In the runbook (enter too): check or uncheck the item or step; again undoes it",
        show=False,
    ),
    Act(
        "f5",
        "focus_actions",
        "Action items",
        "Go to the action items (x marks one done, again reopens it)",
        show=False,  # the footer is full: in the help and the palette
    ),
    Act("f6", "review", "Review", "Write the blameless review: summary, impact, 5 whys, factors", show=False),
    Act(None, "attach_runbook", "Attach runbook", "Pick a library runbook, with search (/runbook)"),
    Act(None, "ack", "Ack", "Acknowledge the selected alert, or its whole group (asks first)"),
    Act(
        None,
        "silence",
        "Silence",
        "Silence the selected alert, or its whole group: the composer opens with /silence (s in the alerts)",
    ),
    Act(None, "alert_details", "Alert details", "Open the selected alert in full (enter in the alerts)"),
    Act(None, "postmortem", "Postmortem", "Preview the review (Markdown); e there writes it to a file"),
    Act("f1,question_mark", "help", "Help", "Every key, and how another terminal joins"),
    *[
        Act(None, f"claim('{role}')", f"Claim {short}", f"Become the {title}")
        for (role, title), short in zip(ROLE_TITLES.items(), ("IC", "Comms", "Tech", "Scribe"), strict=True)
    ],
    *[
        Act(None, f"release('{role}')", f"Release {title}", f"Leave the {title} role empty")
        for role, title in ROLE_TITLES.items()
    ],
    *[
        Act(None, f"send_status('{status}')", f"Status: {status}", f"Mark the incident {status} (asks first)")
        for status in STATUSES
    ],
    *[
        Act(None, f"send_severity('{sev}')", f"Severity: {sev}", f"Change the severity to {sev} (asks first)")
        for sev in SEVERITIES
    ],
    Act(None, "clear_filter", "Clear filter", "Show every timeline entry"),
    Act(
        "f3",
        "debrief",
        "Debrief",
        "Once a drill is resolved: its debrief (times to ack, commander, broadcast; steps; alerts left)",
        show=False,
    ),
    Act("escape", "focus_timeline", "Timeline", "Back to the timeline", show=False, listed=False),
    Act("f2", "focus_alerts", "Alerts", "Go to the alert panel (a acks, s silences, enter opens an alert)"),
    Act("f4", "replay", "Replay", "Step through the log: every panel as it was then (read-only)", show=False),
    Act(
        "f7",
        "page_oncall",
        "Page on-call",
        "Page whoever is on call for this incident (asks first)",
        show=False,
    ),
]

KEY_NAMES = {"slash": "/", "question_mark": "?", "f1": "F1"}
# Open the composer with this typed, on any panel. Done as the app reads the key (route_key), not
# by the bindings above: a binding runs only once the key has bubbled up to the app, after the
# keys typed behind it had gone to the composer, so "/skip" typed fast became the note "skip".
PREFIXES = {"i": "", "slash": "/", "d": "/decision ", "f": "/filter "}
NAVIGATION = {"j", "k"}
# Keys that move the focus, acted on as the app reads them (route_key), as tab is: the keys
# typed right behind one in a burst went to the panel it left ("f2 a" acked nothing).
FOCUS_KEYS = {"escape": "focus_timeline", "f2": "focus_alerts", "f5": "focus_actions"}
HELP_KEYS = {"question_mark"}
# The verbs of the side panels: the rest of the printable keys start a note there too.
PANEL_VERBS: dict[type, set[str]] = {
    ChecklistPanel: {"x", "space"},
    AlertFeed: {"a", "s", "space"},
    ActionsPanel: {"x", "space", "j", "k"},  # j and k move in it, as in the runbook
}


def key_label(keys: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def help_rows() -> list[tuple[str, str]]:
    """What the help screen lists: the keys above, and those the panels and Textual give."""
    return [
        ("any letter", "starts a note in the composer; nothing is sent until Enter"),
        *[(key_label(a.key), a.help) for a in ACTS if a.key and a.listed],
        ("j, k, up, down", "move through the timeline, or the focused panel"),
        ("home, end", "the oldest entry, the newest (end follows new entries again)"),
        ("enter", "on the timeline: open the selected entry with its earlier versions"),
        ("enter", "in the alerts: open the alert in full (a acks, s silences); on a group, open or close it"),
        ("a", "in the alert panel: acknowledge the alert, or every firing one of a group, after a yes"),
        ("s", "in the alert panel: silence the alert, or its group: the composer opens with /silence"),
        ("/skip, /assign, /stepnote", "on a runbook step: skip it (why), give it to @NAME, note it"),
        ("ctrl+y", "on a runbook step with a command ($): copy it, filled from the alert, to the clipboard"),
        ("ctrl+g", "on a runbook step with a command ($): run it on this machine, after a yes; a finding"),
        ("/runbook [ID]", "attach a runbook of the hub's library; alone, a picker with search"),
        ("/action, /done", "add an action item: /action TEXT [@NAME] [due YYYY-MM-DD|+3d]; /done A-N"),
        ("tab, shift+tab", "move between timeline, runbook, alerts and composer"),
        ("escape", "back to the timeline (a draft in the composer stays)"),
        ("ctrl+p", "the command palette: every action, by name (Claim IC, Status: resolved, ...)"),
        ("ctrl+q", "quit (the hub sees a clean goodbye)"),
    ]
