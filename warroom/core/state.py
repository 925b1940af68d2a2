"""The state of one incident, as every client and the hub hold it.

Plain slotted dataclasses: cheap at 100,000 entries, and turned into plain
maps (``to_dict``) for snapshots, the HTTP API and ``warroom show --json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any

SNAPSHOT_VERSION = 2  # 2: alerts as rows too; version 1 (alerts as maps) is still read


_LEAVES = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # each dataclass's field names, looked up once


def _plain(obj: Any) -> Any:
    """Dataclasses, lists and maps as plain maps and lists; plain values are not recursed into,
    which makes a 100,000-entry ``to_dict`` several times faster."""
    kind = type(obj)
    if kind in _LEAVES:
        return obj
    names = _FIELD_NAMES.get(kind)
    if names is None and hasattr(obj, "__dataclass_fields__"):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(obj))
    if names is not None:
        out = {}
        for name in names:
            value = getattr(obj, name)
            out[name] = value if type(value) in _LEAVES else _plain(value)
        return out
    if isinstance(obj, list | tuple):
        return [_plain(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _plain(item) for key, item in obj.items()}
    return obj


@dataclass(slots=True)
class Revision:
    """An earlier text of an edited entry, kept so history can be shown."""

    text: str
    actor: str
    ts: str


@dataclass(slots=True)
class Entry:
    id: int
    kind: str
    text: str
    author: str
    ts: str
    happened_at: str | None = None
    # A tuple, empty for almost every entry: 100,000 empty lists cost memory and GC time.
    history: tuple[Revision, ...] = ()
    edited_by: str | None = None
    edited_at: str | None = None
    struck_by: str | None = None
    struck_at: str | None = None
    strike_reason: str | None = None
    pinned: bool = False

    @property
    def struck(self) -> bool:
        return self.struck_by is not None

    @property
    def when(self) -> str:
        return self.happened_at or self.ts


@dataclass(slots=True)
class RoleHolder:
    name: str
    since: str
    assigned_by: str


@dataclass(frozen=True, slots=True)
class RoleTerm:
    """One person's hold on a role, from when it began: the room's history of who led."""

    role: str
    name: str
    since: str
    assigned_by: str


@dataclass(slots=True)
class Offer:
    """A role offered to someone who has not answered yet."""

    to: str
    by: str
    at: str


@dataclass(slots=True)
class ChecklistItem:
    id: int
    text: str
    added_by: str
    added_at: str
    runbook: str | None = None
    checked: bool = False
    checked_by: str | None = None
    checked_at: str | None = None


ROOM_SILENCE = "room-"  # the id prefix of a silence kept in the room only: room-SEQ

# Labels that tell one instance of an alert from another, in the order they are shown.
KEY_LABELS = ("instance", "pod", "host", "region", "job")


@dataclass(slots=True)
class Alert:
    fingerprint: str
    alertname: str
    status: str
    first_seen: str
    last_seen: str
    severity: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None
    source: str | None = None
    url: str | None = None
    count: int = 1
    occurrence: int = 1  # a trigger after a resolve starts a new occurrence
    acked_by: str | None = None
    acked_at: str | None = None
    silenced_until: str | None = None
    silenced_by: str | None = None
    silence_reason: str | None = None
    silence_id: str | None = None  # the upstream silence, when there is one
    silence_origin: str | None = None  # where that silence lives: an Alertmanager's name, or grafana
    origin: str | None = None  # the named Alertmanager (or grafana) that sent it, to reconcile and silence in
    runbook_url: str | None = None
    links: dict[str, str] = field(default_factory=dict)  # generator, dashboard, panel, silence, image
    values: dict[str, str] = field(default_factory=dict)  # Grafana's measured values, by query ref
    value: str | None = None  # Grafana's valueString: the numbers, as one line
    stale_since: str | None = None  # its source no longer lists it; it resolves after resolve_timeout

    @property
    def upstream_silence(self) -> bool:
        """Its silence lives in a source as well as the room (a room-only one has a ``room-`` id)."""
        return self.silence_id is not None and not self.silence_id.startswith(ROOM_SILENCE)

    @property
    def label(self) -> str:
        """The alertname with the labels that tell instances apart: ``HighErrorRate{instance=db-1}``."""
        keys = [f"{k}={v}" for k, v in self.labels.items() if k in KEY_LABELS][:2]
        return f"{self.alertname}{{{', '.join(keys)}}}" if keys else self.alertname


def origin_title(origin: str | None) -> str:
    """Where a silence lives or an alert came from, as a line of the timeline says it."""
    if origin is None:
        return "this room only"
    return "Grafana" if origin == "grafana" else f"Alertmanager {origin}"


ALERT_FIELDS = tuple(f.name for f in fields(Alert))
_alert_row = attrgetter(*ALERT_FIELDS)


def entries_from_rows(rows: Iterable[list[Any]]) -> dict[int, Entry]:
    """A snapshot's entries from its rows, which may be decoded one at a time (``load_snapshot``)."""
    entries = {}
    for row in rows:
        history = tuple(Revision(*rev) for rev in row[6]) if row[6] else ()
        entries[row[0]] = Entry(row[0], row[1], row[2], row[3], row[4], row[5], history, *row[7:])
    return entries


def alerts_from_rows(names: Iterable[str], rows: Iterable[list[Any]]) -> dict[str, Alert]:
    """A snapshot's alerts from its rows, whose columns ``names`` lists (another version's too)."""
    names = tuple(names)
    if names == ALERT_FIELDS:
        return {row[0]: Alert(*row) for row in rows}
    known = [(n, name) for n, name in enumerate(names) if name in ALERT_FIELDS]  # by name, what this knows
    alerts = (Alert(**{name: row[n] for n, name in known}) for row in rows)
    return {a.fingerprint: a for a in alerts}


@dataclass(slots=True)
class Silence:
    """A silence the room knows of: made here, or seen in an Alertmanager by reconciliation.

    ``origin`` is None for a silence kept in the room only.
    """

    id: str
    matchers: list[str]
    ends_at: str
    created_by: str
    comment: str
    origin: str | None = None
    state: str = "active"  # active | pending | expired
    updated_at: str = ""  # when the room last changed it: reconciliation leaves newer changes alone


@dataclass(slots=True)
class Broadcast:
    message: str
    actor: str
    ts: str
    impact: str | None = None
    doing: str | None = None
    next_update_due: str | None = None


@dataclass(slots=True)
class StepNote:
    text: str
    by: str
    at: str


@dataclass(slots=True)
class RunbookStep:
    """One step of an attached runbook, and what the room did with it."""

    id: str
    text: str
    section: str  # the heading it sits under ("" before the first)
    depth: int = 0  # 0 for a step, 1 for its sub-steps, ...
    role: str | None = None
    due_at: str | None = None
    command: bool = False  # its file gives a command, run locally from the library, never from here
    state: str = "open"  # open | done | skipped
    by: str | None = None
    at: str | None = None
    reason: str | None = None  # why it was skipped
    assignee: str | None = None
    notes: tuple[StepNote, ...] = ()

    def overdue(self, now: str) -> bool:
        return self.state == "open" and self.due_at is not None and self.due_at < now


@dataclass(slots=True)
class AttachedRunbook:
    """A runbook as it was when attached: editing its file later changes nothing here."""

    id: str
    title: str
    why: str
    by: str
    at: str
    path: str = ""
    owner: str | None = None
    alert: str | None = None  # the fingerprint whose arrival attached it
    steps: dict[str, RunbookStep] = field(default_factory=dict)  # in file order

    @property
    def progress(self) -> tuple[int, int]:
        """Steps finished (done or skipped) and steps in all."""
        return sum(s.state != "open" for s in self.steps.values()), len(self.steps)


@dataclass(slots=True)
class ReviewItem:
    """One contributing factor, thing that went well, or place we got lucky."""

    id: int  # the seq of the event that added it
    text: str
    by: str
    at: str


@dataclass(slots=True)
class Why:
    """One level of the 5-whys chain."""

    why: str
    because: str
    by: str
    at: str


@dataclass(slots=True)
class Review:
    """What the review adds to the log: text fields, the whys, and three lists."""

    fields: dict[str, str] = field(default_factory=dict)  # REVIEW_FIELDS that are filled
    whys: list[Why] = field(default_factory=list)  # level 1 first
    lists: dict[str, list[ReviewItem]] = field(default_factory=dict)  # REVIEW_LISTS that have items
    updated_by: str | None = None
    updated_at: str | None = None


@dataclass(slots=True)
class ActionItem:
    """Follow-up work, tracked until done (or dropped, saying why)."""

    id: str  # ... within its room
    text: str
    created_by: str
    created_at: str
    owner: str | None = None
    due: str | None = None  # YYYY-MM-DD
    status: str = "open"  # open | in_progress | done | wont_do
    done_at: str | None = None  # when it was done (may be back-dated)
    reason: str | None = None  # the latest status change's
    updated_by: str | None = None
    updated_at: str | None = None

    def overdue(self, today: str) -> bool:
        """Still to do after its due day; ``today`` is a YYYY-MM-DD date."""
        return self.status in ("open", "in_progress") and self.due is not None and self.due < today

    def on_time(self) -> bool:
        return self.status == "done" and (self.due is None or (self.done_at or "")[:10] <= self.due)


@dataclass(slots=True)
class IncidentState:
    room: str
    seq: int = 0
    title: str = ""
    severity: str = ""
    status: str = ""
    summary: str | None = None
    declared_by: str | None = None
    declared_at: str | None = None
    updated_at: str | None = None
    resolved_at: str | None = None
    reopen_count: int = 0
    public: bool = False
    drill: bool = False
    # detected, declared, acknowledged, mitigated, resolved: the times MTTA and MTTR come from
    milestones: dict[str, str] = field(default_factory=dict)
    responders: dict[str, str] = field(default_factory=dict)  # name -> first joined
    offers: dict[str, Offer] = field(default_factory=dict)  # role -> pending offer
    entries: dict[int, Entry] = field(default_factory=dict)
    roles: dict[str, RoleHolder] = field(default_factory=dict)
    role_terms: list[RoleTerm] = field(default_factory=list)  # every holder of every role, in order
    checklist: dict[int, ChecklistItem] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    silences: dict[str, Silence] = field(default_factory=dict)
    runbooks: dict[str, AttachedRunbook] = field(default_factory=dict)  # attached, by runbook id
    # An alert source reconciliation cannot reach -> what went wrong; absent while it answers.
    source_errors: dict[str, str] = field(default_factory=dict)
    broadcasts: list[Broadcast] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    impact_fraction: float = 1.0
    review: Review = field(default_factory=Review)
    actions: dict[str, ActionItem] = field(default_factory=dict)  # by id, in the order added
    oncall: dict[str, str] = field(default_factory=dict)  # schedule -> who is on call (oncall.handoff)

    @property
    def declared(self) -> bool:
        return self.seq > 0

    @property
    def broadcast(self) -> Broadcast | None:
        return self.broadcasts[-1] if self.broadcasts else None

    def open_steps_due(self) -> list[str]:
        """When each open runbook step with a due time is due, soonest first."""
        return sorted(
            s.due_at
            for rb in self.runbooks.values()
            for s in rb.steps.values()
            if s.due_at and s.state == "open"
        )

    def overdue_steps(self, now: str) -> int:
        """Open runbook steps past their due time, over every attached runbook."""
        return overdue_in(self.open_steps_due(), now)

    def summary_dict(self) -> dict[str, Any]:
        """The short form used by incident lists and the status page.

        It carries due times, not an overdue count: a list read later judges
        them against its own clock, and a step falls due with no event.
        """
        latest = self.broadcast
        return {
            "id": self.room,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "declared_at": self.declared_at,
            "declared_by": self.declared_by,
            "updated_at": self.updated_at,
            "resolved_at": self.resolved_at,
            "public": self.public,
            "drill": self.drill,
            "seq": self.seq,
            "open_offers": len(self.offers),
            "steps_due": self.open_steps_due(),
            # what reports and the action list read, so neither folds 1,000 logs
            "milestones": dict(self.milestones),
            "reopen_count": self.reopen_count,
            "services": list(self.services),
            "impact_fraction": self.impact_fraction,
            "actions": [
                {k: getattr(a, k) for k in ("id", "text", "owner", "due", "status", "done_at")}
                for a in self.actions.values()
            ],
            "broadcast": None
            if latest is None
            else {"message": latest.message, "impact": latest.impact, "ts": latest.ts},
        }

    def to_dict(self) -> dict[str, Any]:
        """A plain, msgpack- and JSON-safe form; ``from_dict`` reverses it exactly."""
        out: dict[str, Any] = _plain(self)
        out["entries"] = list(out["entries"].values())
        out["checklist"] = list(out["checklist"].values())
        out["alerts"] = list(out["alerts"].values())
        return out

    def to_snapshot(self) -> dict[str, Any]:
        """The compact form snapshots use: entries as positional rows, the rest as ``to_dict``.

        A 100,000-entry timeline is most of a snapshot, and named maps for each
        entry made it twice the size and ten times slower to read.
        """
        rest = _plain(replace(self, entries={}, alerts={}))
        rest["checklist"] = list(rest["checklist"].values())
        del rest["entries"], rest["alerts"]
        # A storm's 50,000 alerts, as rows under one list of field names: a third the
        # time to read back, and a reader of a later version still knows each column.
        alerts = [_alert_row(a) for a in self.alerts.values()]  # its fields are plain values already
        rows = [
            [
                e.id,
                e.kind,
                e.text,
                e.author,
                e.ts,
                e.happened_at,
                [[r.text, r.actor, r.ts] for r in e.history] if e.history else None,
                e.edited_by,
                e.edited_at,
                e.struck_by,
                e.struck_at,
                e.strike_reason,
                e.pinned,
            ]
            for e in self.entries.values()
        ]
        return {
            "v": SNAPSHOT_VERSION,
            "state": rest,
            "entries": rows,
            "alert_fields": list(ALERT_FIELDS),
            "alerts": alerts,
        }

    @classmethod
    def from_snapshot(cls, raw: dict[str, Any]) -> IncidentState:
        names = raw.get("alert_fields")
        alerts = alerts_from_rows(names, raw["alerts"]) if names is not None else None
        return cls.from_snapshot_parts(raw, entries_from_rows(raw["entries"]), alerts)

    @classmethod
    def from_snapshot_parts(
        cls, raw: dict[str, Any], entries: dict[int, Entry], alerts: dict[str, Alert] | None
    ) -> IncidentState:
        """A snapshot's state, with its entries and alerts (None: a version 1 snapshot's, in ``raw``)."""
        if raw.get("v") not in (1, SNAPSHOT_VERSION):
            raise ValueError(f"unknown snapshot version {raw.get('v')!r}")
        state = cls.from_dict({"alerts": [], **raw["state"], "entries": []})
        if alerts is not None:
            state.alerts = alerts
        state.entries = entries
        return state

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IncidentState:
        raw = dict(raw)
        entries = {}
        for item in raw.pop("entries"):
            fields_ = {key: value for key, value in item.items() if key != "history"}
            history = tuple(Revision(**rev) for rev in item["history"])
            entries[item["id"]] = Entry(**fields_, history=history)
        checklist = {item["id"]: ChecklistItem(**item) for item in raw.pop("checklist")}
        alerts = {item["fingerprint"]: Alert(**item) for item in raw.pop("alerts")}
        silences = {item["id"]: Silence(**item) for item in raw.pop("silences", {}).values()}
        runbooks = {key: _attached(item) for key, item in raw.pop("runbooks", {}).items()}
        roles = {name: RoleHolder(**holder) for name, holder in raw.pop("roles").items()}
        offers = {role: Offer(**offer) for role, offer in raw.pop("offers").items()}
        broadcasts = [Broadcast(**item) for item in raw.pop("broadcasts")]
        role_terms = [RoleTerm(**term) for term in raw.pop("role_terms", ())]  # absent before 2026-12
        review = _review(raw.pop("review", None) or {})
        actions = {key: ActionItem(**item) for key, item in raw.pop("actions", {}).items()}
        return cls(
            **raw,
            entries=entries,
            checklist=checklist,
            alerts=alerts,
            silences=silences,
            runbooks=runbooks,
            roles=roles,
            offers=offers,
            broadcasts=broadcasts,
            role_terms=role_terms,
            review=review,
            actions=actions,
        )


def overdue_in(steps_due: object, now: str) -> int:
    """How many due times have passed at ``now``; ``steps_due`` is an incident summary's,
    read from a hub, so anything but a list of texts counts for nothing."""
    if not isinstance(steps_due, list):
        return 0
    return sum(isinstance(due, str) and due < now for due in steps_due)


def _review(raw: dict[str, Any]) -> Review:
    lists = {name: [ReviewItem(**item) for item in items] for name, items in raw.get("lists", {}).items()}
    whys = [Why(**why) for why in raw.get("whys", ())]
    return Review(dict(raw.get("fields", {})), whys, lists, raw.get("updated_by"), raw.get("updated_at"))


def _attached(raw: dict[str, Any]) -> AttachedRunbook:
    steps = {}
    for key, step in raw.get("steps", {}).items():
        notes = tuple(StepNote(**note) for note in step.get("notes", ()))
        steps[key] = RunbookStep(**{**step, "notes": notes})
    return AttachedRunbook(**{**raw, "steps": steps})
