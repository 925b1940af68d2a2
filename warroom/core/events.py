"""The event types of an incident, each declared once with its fields.

Adding an event type is two local steps: declare it here with ``define`` and
give it a handler in ``reducer.py`` (a test checks that the two lists match).
Every event, whatever its type, records who acted (``actor``) and when (``ts``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.matchers import MAX_MATCHER_LEN, MAX_MATCHERS
from warroom.core.schema import (
    Bool,
    Choice,
    Day,
    Field,
    Int,
    Labels,
    Number,
    Text,
    TextList,
    Time,
    Tree,
    validate,
)

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
STATUSES = ("investigating", "identified", "monitoring", "resolved")
ENTRY_KINDS = ("note", "decision", "action", "finding")
ROLES = ("commander", "comms", "tech", "scribe")
ROLE_TITLES = {
    "commander": "incident commander",
    "comms": "communications lead",
    "tech": "technical lead",
    "scribe": "scribe",
}
ALERT_STATUSES = ("firing", "resolved")
# impact_started: when customers were first hurt; unset, metrics read it as detected.
MILESTONES = ("impact_started", "detected", "declared", "acknowledged", "mitigated", "resolved")
REVIEW_FIELDS = ("summary", "impact_customer", "impact_business", "impact_technical")
REVIEW_LISTS = ("factors", "went_well", "lucky")  # contributing factors, what went well, where we got lucky
WHY_LEVELS = 5
ACTION_STATUSES = ("open", "in_progress", "done", "wont_do")
SERVICES_MAX = 32
# Why who is on call changed: a shift ended (rotation or an override's own times), an override was
# added or removed, the hub started following the schedule, or an incident came under it or left it.
HANDOFF_REASONS = ("handoff", "override", "start", "joined", "left")

NAME_MAX = 64
TITLE_MAX = 200
TEXT_MAX = 4000


@dataclass(frozen=True)
class EventType:
    name: str
    fields: tuple[Field, ...]
    doc: str
    # False for types only the hub emits, or only alert intake sends (a client may not send them).
    from_clients: bool = True
    # Fields the hub fills in as it sequences the event; a client may not supply them.
    hub_fills: tuple[str, ...] = ()


EVENT_TYPES: dict[str, EventType] = {}


def define(
    name: str, doc: str, *fields: Field, from_clients: bool = True, hub_fills: tuple[str, ...] = ()
) -> EventType:
    kind = EventType(name, tuple(fields), doc, from_clients, hub_fills)
    EVENT_TYPES[name] = kind
    return kind


def _step_ref() -> tuple[Text, Text]:
    """Which step of which attached runbook: every step.* event starts with these two."""
    return Text("runbook", max_len=128), Text("step", max_len=128)


def _entry_ref() -> Int:
    return Int("entry", minimum=1, ref="entries")


define(
    "incident.declared",
    "Opens the incident; always seq 1 of its room.",
    Text("title", max_len=TITLE_MAX),
    Choice("severity", options=SEVERITIES),
    Choice("status", required=False, default="investigating", options=STATUSES),
    Text("summary", required=False, max_len=TEXT_MAX, multiline=True),
    Bool("public", required=False, default=False),
    Bool("drill", required=False, default=False),
    Text("commander", required=False, max_len=NAME_MAX),
    TextList("services", required=False, max_items=SERVICES_MAX, max_len=NAME_MAX),
)
define(
    "incident.milestone_corrected",
    "Sets a milestone's time by hand; the first recorded time stays in the log.",
    Choice("milestone", options=MILESTONES),
    Time("at"),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
)
define(
    "responder.joined",
    "The first time a person joins the room; it marks the incident acknowledged.",
    Text("name", max_len=NAME_MAX),
    from_clients=False,
)
define(
    "incident.severity_changed",
    "A new severity, with an optional reason.",
    Choice("severity", options=SEVERITIES),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
)
define(
    "incident.status_changed",
    "A move along investigating, identified, monitoring, resolved; leaving resolved reopens.",
    Choice("status", options=STATUSES),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
)
define(
    "entry.added",
    "A timeline entry; happened_at back-dates it.",
    Choice("kind", required=False, default="note", options=ENTRY_KINDS),
    Text("text", max_len=TEXT_MAX, multiline=True),
    Time("happened_at", required=False),
)
define(
    "entry.edited",
    "New text for an entry; the old text stays in the log and in history.",
    _entry_ref(),
    Text("text", max_len=TEXT_MAX, multiline=True),
)
define(
    "entry.struck",
    "Strikes an entry through; it is never deleted.",
    _entry_ref(),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
)
define("entry.pinned", "Pins an entry.", _entry_ref())
define("entry.unpinned", "Unpins an entry.", _entry_ref())
define(
    "role.assigned",
    "Gives a role to a person.",
    Choice("role", options=ROLES),
    Text("name", max_len=NAME_MAX),
)
define("role.released", "Leaves a role empty.", Choice("role", options=ROLES))
define(
    "role.offered",
    "The holder (or the commander) offers a role; the person must accept.",
    Choice("role", options=ROLES),
    Text("to", max_len=NAME_MAX),
)
define("role.accepted", "The person offered a role takes it.", Choice("role", options=ROLES))
define("role.declined", "The person offered a role turns it down.", Choice("role", options=ROLES))
define(
    "role.offer_expired",
    "An offer nobody answered in time.",
    Choice("role", options=ROLES),
    from_clients=False,
)
define(
    "role.taken_over",
    "Takes a role whose holder has been gone for the grace period; the absence is on the record.",
    Choice("role", options=ROLES),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
    Int("absent_for", required=False, minimum=0),  # seconds the holder was not seen, by the hub's clock
    hub_fills=("absent_for",),
)
define(
    "checklist.item_added",
    "A runbook checklist item.",
    Text("text", max_len=TITLE_MAX * 2),
    Text("runbook", required=False, max_len=TITLE_MAX),
)
define(
    "checklist.item_checked",
    "Checks or unchecks an item.",
    Int("item", minimum=1, ref="checklist"),
    Bool("checked", required=False, default=True),
)
define(
    "alert.upserted",
    "Creates or refreshes an alert, deduplicated by fingerprint; only alert intake sends it.",
    Text("fingerprint", max_len=256),
    Text("alertname", max_len=TITLE_MAX),
    Choice("status", required=False, default="firing", options=ALERT_STATUSES),
    Text("severity", required=False, max_len=32),
    Labels("labels", required=False, max_keys=32, max_len=256),  # 16 KiB at most
    # 2 KiB a value, so an alert fits one frame; a description runs over lines.
    Labels("annotations", required=False, max_keys=16, max_len=2048, multiline=True),
    Time("starts_at", required=False),
    Time("ends_at", required=False),
    Text("source", required=False, max_len=64),
    Text("url", required=False, max_len=2048),
    Text("origin", required=False, max_len=NAME_MAX),
    Text("runbook_url", required=False, max_len=2048),
    Labels("links", required=False, max_keys=8, max_len=2048),
    Labels("values", required=False, max_keys=16, max_len=64),
    Text("value", required=False, max_len=2048, multiline=True),
    from_clients=False,
)
define(
    "alert.acknowledged",
    "Someone is on this alert.",
    Text("fingerprint", max_len=256, ref="alerts"),
)
define(
    "alert.resolved",
    "The alert stopped firing; only alert intake and reconciliation send it.",
    Text("fingerprint", max_len=256, ref="alerts"),
    Time("ends_at", required=False),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
    from_clients=False,
)
define(
    "alert.stale",
    "The alert's source no longer lists it; it resolves after the source's resolve_timeout.",
    Text("fingerprint", max_len=256, ref="alerts"),
    Text("reason", max_len=TEXT_MAX, multiline=True),
    from_clients=False,
)
define(
    "alerts.acknowledged",
    "Someone is on every firing, unacknowledged alert of this room the matchers cover (a group, say).",
    TextList("matchers", max_items=MAX_MATCHERS, max_len=MAX_MATCHER_LEN),
)
define(
    "alert.silenced",
    "Quiets an alert in the room for a while; with upstream, the hub also silences it in Alertmanager.",
    Text("fingerprint", max_len=256, ref="alerts"),
    Int("minutes", minimum=1, maximum=14 * 24 * 60),
    Text("reason", max_len=TEXT_MAX, multiline=True),
    Bool("upstream", required=False, default=False),
    Text("silence_id", required=False, max_len=128),
    Text("origin", required=False, max_len=NAME_MAX),
    hub_fills=("silence_id", "origin"),
)
define(
    "alerts.silenced",
    "Quiets every alert of this room the matchers cover; with upstream, also where each came from.",
    TextList("matchers", max_items=MAX_MATCHERS, max_len=MAX_MATCHER_LEN),
    Int("minutes", minimum=1, maximum=14 * 24 * 60),
    Text("reason", max_len=TEXT_MAX, multiline=True),
    Bool("upstream", required=False, default=False),
    # origin (an Alertmanager's name, or grafana) -> the id of the silence made there
    Labels("silences", required=False, max_keys=16, max_len=128),
    hub_fills=("silences",),
)
define(
    "silence.synced",
    "A silence as its Alertmanager has it now: made, changed or expired there.",
    Text("id", max_len=128),
    Text("origin", max_len=NAME_MAX),
    Choice("state", options=("active", "pending", "expired")),
    TextList("matchers", max_items=MAX_MATCHERS * 4, max_len=MAX_MATCHER_LEN),
    Time("ends_at"),
    Text("created_by", required=False, max_len=TITLE_MAX),
    Text("comment", required=False, max_len=TEXT_MAX, multiline=True),
    from_clients=False,
)
define(
    "source.checked",
    "Whether reconciliation reached an alert source; written when that changes.",
    Text("origin", max_len=NAME_MAX),
    Text("error", required=False, max_len=TEXT_MAX, multiline=True),
    from_clients=False,
)
define(
    "change.recorded",
    "A change that is not a problem (a deploy, say), from PagerDuty's change events: a timeline line.",
    Text("summary", max_len=1024, multiline=True),
    Text("source", required=False, max_len=255),
    Time("timestamp", required=False),
    Text("details", required=False, max_len=2048, multiline=True),
    Labels("links", required=False, max_keys=8, max_len=2048),
    from_clients=False,
)
define(
    "alert.unsilenced",
    "Ends a silence early, in the room and, if it had one, in Alertmanager.",
    Text("fingerprint", max_len=256, ref="alerts"),
)
define(
    "alert.moved",
    "Takes an alert out of this room because it now lives in another incident.",
    Text("fingerprint", max_len=256, ref="alerts"),
    Text("to", max_len=64),
)
define(
    "runbook.attached",
    "A runbook from the hub's library becomes a checklist section of this room, as the file was then.",
    Text("runbook", max_len=128),
    Text("alert", required=False, max_len=256),
    Text("why", required=False, max_len=TITLE_MAX * 2),
    Tree("snapshot", required=False),
    hub_fills=("snapshot", "why", "alert"),
)
define(
    "step.checked",
    "Checks or unchecks a step of an attached runbook.",
    *_step_ref(),
    Bool("checked", required=False, default=True),
)
define(
    "step.skipped",
    "Skips a step, saying why.",
    *_step_ref(),
    Text("reason", max_len=TEXT_MAX, multiline=True),
)
define(
    "step.assigned",
    "Gives a step to someone.",
    *_step_ref(),
    Text("to", max_len=NAME_MAX),
)
define(
    "step.noted",
    "Adds a note to a step.",
    *_step_ref(),
    Text("text", max_len=TEXT_MAX, multiline=True),
)
define(
    "status.broadcast",
    "The commander's word to everyone, with the next update due.",
    Text("message", max_len=TEXT_MAX, multiline=True),
    Text("impact", required=False, max_len=TEXT_MAX, multiline=True),
    Text("doing", required=False, max_len=TEXT_MAX, multiline=True),
    Int("next_update_in", required=False, minimum=1, maximum=24 * 60),
)
define(
    "notification.failed",
    "A notification sink refused or timed out; the hub keeps retrying.",
    Text("sink", max_len=NAME_MAX),
    Text("error", max_len=TEXT_MAX, multiline=True),
    Int("attempt", minimum=1),
    Bool("final", required=False, default=False),
    from_clients=False,
)
define(
    "page.sent",
    "The hub paged people for an escalation policy's level (warroom/oncall/policies.py).",
    Text("policy", max_len=NAME_MAX),
    Int("level", minimum=1),
    Int("round", required=False, default=0, minimum=0),
    TextList("targets", max_items=32, max_len=NAME_MAX * 2),
    TextList("notify", required=False, max_items=100, max_len=NAME_MAX),
    Text("trigger", required=False, default="incident", max_len=NAME_MAX),
    Text("by", required=False, max_len=NAME_MAX),  # a page asked for by hand (page.requested): who asked
    from_clients=False,
)
define(
    "page.requested",
    "A person asks the hub to page whoever is on call for this incident now; the page is a page.sent.",
)
define(
    "page.delivered",
    "What a sink answered to a page: delivered, or failed (and whether the hub gives up).",
    Text("policy", max_len=NAME_MAX),
    Int("level", minimum=1),
    Int("round", required=False, default=0, minimum=0),
    Text("sink", max_len=NAME_MAX),
    Bool("ok"),
    Int("attempt", minimum=1),
    Text("error", required=False, max_len=TEXT_MAX, multiline=True),
    from_clients=False,
)
define(
    "page.acked",
    "A person answers the incident's page; if they were paged, its escalation stops.",
)
define(
    "escalation.stopped",
    "An escalation stopped: a paged person acknowledged, or the incident was resolved.",
    Text("policy", max_len=NAME_MAX),
    Text("by", max_len=NAME_MAX),
    Text("trigger", required=False, default="incident", max_len=NAME_MAX),
    from_clients=False,
)
define(
    "oncall.override_added",
    "Someone is on call for a schedule instead of its rotation for a while (the hub's on-call log).",
    Text("schedule", max_len=NAME_MAX),
    Text("user", max_len=NAME_MAX),
    Time("from"),
    Time("to"),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
    from_clients=False,
)
define(
    "oncall.override_removed",
    "Takes back an override recorded through the hub; ``override`` is its seq in the on-call log.",
    Int("override", minimum=1),
    Text("schedule", max_len=NAME_MAX),
    from_clients=False,
)
define(
    "oncall.handoff",
    "Who is on call for a schedule changed, or who it is as the hub starts following it for a room.",
    Text("schedule", max_len=NAME_MAX),
    Time("at"),
    Text("from", required=False, max_len=NAME_MAX),
    Text("to", required=False, max_len=NAME_MAX),
    Choice("why", options=HANDOFF_REASONS),
    TextList("incidents", required=False, max_items=100, max_len=64),
    from_clients=False,
)
define(
    "incident.services_set",
    "The services the incident touches, replacing the list; an alert's service label adds its own.",
    TextList("services", max_items=SERVICES_MAX, max_len=NAME_MAX),
)
define(
    "incident.impact_set",
    "The share of a service's users hurt, 0 to 1 (default 1): how fast the outage spends its error budget.",
    Number("fraction", minimum=0.0, maximum=1.0),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
)
define(
    "review.updated",
    "Sets a text field of the review (the summary, an impact); with no text, clears it.",
    Choice("field", options=REVIEW_FIELDS),
    Text("text", required=False, max_len=TEXT_MAX, multiline=True),
)
define(
    "review.why_set",
    "One level of the review's 5-whys chain (why, because); a level follows the one above it.",
    Int("level", minimum=1, maximum=WHY_LEVELS),
    Text("why", max_len=TEXT_MAX, multiline=True),
    Text("because", max_len=TEXT_MAX, multiline=True),
)
define(
    "review.why_cleared",
    "Clears a level of the 5-whys chain and every level under it.",
    Int("level", minimum=1, maximum=WHY_LEVELS),
)
define(
    "review.item_added",
    "Adds a contributing factor, something that went well, or a place where we got lucky.",
    Choice("section", options=REVIEW_LISTS),
    Text("text", max_len=TEXT_MAX, multiline=True),
)
define(
    "review.item_removed",
    "Takes an item out of a review list; the log keeps it.",
    Choice("section", options=REVIEW_LISTS),
    Int("item", minimum=1),
)
define(
    "action.added",
    "An action item: follow-up work with an owner and a due date; its id is A-1, A-2, ... in its room.",
    Text("text", max_len=TITLE_MAX * 2),
    Text("owner", required=False, max_len=NAME_MAX),
    Day("due", required=False),
)
define(
    "action.updated",
    "Changes an action item: status (done may be back-dated with at), owner, due date or text.",
    Text("action", max_len=16, ref="actions"),
    Choice("status", required=False, options=ACTION_STATUSES),
    Text("owner", required=False, max_len=NAME_MAX),
    Day("due", required=False),
    Text("text", required=False, max_len=TITLE_MAX * 2),
    Text("reason", required=False, max_len=TEXT_MAX, multiline=True),
    Time("at", required=False),
)


@dataclass(frozen=True, slots=True)
class Command:
    """What a client asks for; ``id`` is its idempotency key (a UUID)."""

    id: str
    type: str
    data: dict[str, Any]
    room: str | None = None

    def digest(self) -> str:
        """A hash of the command as sent (type, room, data), to tell a resend from a reused id.

        Only for data that passed validation: it is then JSON with string keys.
        """
        body = json.dumps([self.type, self.room, self.data], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """An accepted command, sequenced, timed and attributed by the hub."""

    room: str
    seq: int
    id: str
    actor: str
    ts: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    # The digest of the command that made it; kept by the store, never sent to clients.
    digest: str | None = field(default=None, compare=False, repr=False)

    def to_wire(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "seq": self.seq,
            "id": self.id,
            "actor": self.actor,
            "ts": self.ts,
            "type": self.type,
            "data": self.data,
        }

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Event:
        return cls(
            room=raw["room"],
            seq=raw["seq"],
            id=raw["id"],
            actor=raw["actor"],
            ts=raw["ts"],
            type=raw["type"],
            data=dict(raw.get("data") or {}),
        )


def validate_command(
    type_name: Any, data: Any, *, from_client: bool = True, filled: bool = False
) -> dict[str, Any]:
    """Check a command's type and data against its schema; return the cleaned data.

    ``filled``: the hub's preparer has filled its fields in (a silence's id), so they may be there.
    """
    if not isinstance(type_name, str):
        raise WarroomError(Code.WRONG_TYPE, "type: expected a string", field="type")
    kind = EVENT_TYPES.get(type_name)
    if kind is None or (from_client and not kind.from_clients):
        raise WarroomError(Code.UNKNOWN_TYPE, f"unknown event type {type_name!r}", field="type")
    if from_client and not filled and isinstance(data, Mapping):
        for name in kind.hub_fills:
            if name in data:
                raise WarroomError(Code.INVALID_VALUE, f"{name}: filled in by the hub, not sent", field=name)
    return validate({} if data is None else data, kind.fields, where=type_name)
