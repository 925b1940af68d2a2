"""The pure core: schemas, the reducer and snapshots, without any hub."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import command
from warroom.core.errors import Code, WarroomError
from warroom.core.events import EVENT_TYPES, Event, validate_command
from warroom.core.handlers import HANDLERS
from warroom.core.protocol import decode, parse_client_frame
from warroom.core.reducer import apply, check, fold
from warroom.core.state import IncidentState
from warroom.snapshots import dump_snapshot, load_snapshot


def accepted(commands: list[tuple[str, dict[str, Any]]], room: str = "INC-1") -> list[Event]:
    """Fold commands the way the hub does (validate, check, apply); return the events it accepted."""
    state = IncidentState(room=room)
    events = []
    declared = ("incident.declared", {"title": "API down", "severity": "SEV2"})
    for n, (type_, data) in enumerate([declared, *commands]):
        clean = validate_command(type_, data, from_client=False)  # as the hub sequences it
        try:
            check(state, type_, clean)
        except WarroomError:
            continue
        ts = f"2026-11-28T03:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
        event = Event(room, state.seq + 1, f"id-{n}", "ann", ts, type_, clean)
        apply(state, event)
        events.append(event)
    return events


def run(commands: list[tuple[str, dict[str, Any]]], room: str = "INC-1") -> IncidentState:
    return fold(room, accepted(commands, room))


def test_every_event_type_has_exactly_one_handler() -> None:
    assert set(EVENT_TYPES) == set(HANDLERS)


@pytest.mark.parametrize(
    ("type_", "data", "code", "field"),
    [
        ("entry.added", {}, Code.MISSING_FIELD, "text"),
        ("entry.added", {"text": 5}, Code.WRONG_TYPE, "text"),
        ("entry.added", {"text": "x" * 4001}, Code.TOO_LONG, "text"),
        ("entry.added", {"text": "   "}, Code.INVALID_VALUE, "text"),
        ("entry.added", {"text": "ok", "kind": "rant"}, Code.INVALID_VALUE, "kind"),
        ("entry.added", {"text": "ok", "colour": "red"}, Code.UNKNOWN_FIELD, "colour"),
        ("entry.added", {"text": "ok", "happened_at": "yesterday"}, Code.INVALID_VALUE, "happened_at"),
        ("entry.added", ["text"], Code.WRONG_TYPE, None),
        ("incident.declared", {"title": "t", "severity": "SEV9"}, Code.INVALID_VALUE, "severity"),
        ("entry.pinned", {"entry": "3"}, Code.WRONG_TYPE, "entry"),
        ("entry.pinned", {"entry": True}, Code.WRONG_TYPE, "entry"),
        (
            "alert.upserted",
            {"fingerprint": "f", "alertname": "A", "labels": {"a": 1}},
            Code.WRONG_TYPE,
            "labels",
        ),
        ("incident.exploded", {}, Code.UNKNOWN_TYPE, "type"),
    ],
)
def test_validation_names_the_code_and_field(type_: str, data: Any, code: Code, field: str | None) -> None:
    with pytest.raises(WarroomError) as caught:
        validate_command(type_, data, from_client=False)
    assert caught.value.code == code
    assert caught.value.field == field


def test_references_to_missing_entries_and_items_are_refused() -> None:
    state = run([("entry.added", {"text": "first"})])
    with pytest.raises(WarroomError) as caught:
        check(state, "entry.struck", {"entry": 99})
    assert (caught.value.code, caught.value.field) == (Code.UNKNOWN_REF, "entry")
    with pytest.raises(WarroomError) as caught:
        check(state, "checklist.item_checked", {"item": 2})  # seq 2 is an entry, not an item
    assert caught.value.code == Code.UNKNOWN_REF
    with pytest.raises(WarroomError) as caught:
        check(state, "alert.acknowledged", {"fingerprint": "nope"})
    assert caught.value.code == Code.UNKNOWN_REF
    with pytest.raises(WarroomError) as caught:
        check(IncidentState(room="INC-2"), "entry.added", {"text": "x"})
    assert caught.value.code == Code.UNKNOWN_ROOM


def test_edits_and_strikes_keep_the_original_text() -> None:
    state = run(
        [
            ("entry.added", {"text": "db primary is down", "kind": "finding"}),
            ("entry.edited", {"entry": 2, "text": "db replica is down"}),
            ("entry.struck", {"entry": 2, "reason": "wrong host"}),
        ]
    )
    entry = state.entries[2]
    assert entry.text == "db replica is down"
    assert [rev.text for rev in entry.history] == ["db primary is down"]
    assert entry.struck and entry.strike_reason == "wrong host"
    assert entry.kind == "finding"


def test_lifecycle_roles_checklist_alerts_and_broadcast() -> None:
    state = run(
        [
            ("role.assigned", {"role": "scribe", "name": "ann"}),
            ("incident.severity_changed", {"severity": "SEV1", "reason": "all regions"}),
            ("checklist.item_added", {"text": "Page the DB on-call"}),
            ("checklist.item_checked", {"item": 4}),
            ("alert.upserted", {"fingerprint": "f1", "alertname": "HighErrorRate"}),
            ("alert.upserted", {"fingerprint": "f1", "alertname": "HighErrorRate"}),
            ("alert.acknowledged", {"fingerprint": "f1"}),
            ("status.broadcast", {"message": "Checkout degraded", "next_update_in": 30}),
            ("incident.status_changed", {"status": "resolved"}),
            ("incident.status_changed", {"status": "investigating"}),
        ]
    )
    assert state.roles["commander"].name == "ann"  # whoever declares commands
    assert state.roles["scribe"].name == "ann"
    assert state.severity == "SEV1"
    assert state.checklist[4].checked and state.checklist[4].checked_by == "ann"
    assert state.alerts["f1"].count == 2 and state.alerts["f1"].acked_by == "ann"
    assert state.broadcast is not None and state.broadcast.message == "Checkout degraded"
    assert state.broadcast.next_update_due == "2026-11-28T03:30:08.000Z"
    assert state.reopen_count == 1 and state.resolved_at is None
    assert any("reopened" in e.text for e in state.entries.values() if e.kind == "system")


def test_every_holder_of_a_role_is_kept_in_order() -> None:
    """The debrief and the review ask who led when; the current holder alone cannot say."""
    state = run(
        [
            ("role.assigned", {"role": "commander", "name": "bob"}),
            ("role.offered", {"role": "commander", "to": "ann"}),
            ("role.accepted", {"role": "commander"}),
            ("role.assigned", {"role": "scribe", "name": "cat"}),
            ("role.released", {"role": "scribe"}),
        ]
    )
    terms = [(t.role, t.name, t.assigned_by) for t in state.role_terms]
    assert terms == [
        ("commander", "ann", "ann"),
        ("commander", "bob", "ann"),
        ("commander", "ann", "ann"),
        ("scribe", "cat", "ann"),
    ]
    assert [t.since for t in state.role_terms] == sorted(t.since for t in state.role_terms)
    assert IncidentState.from_dict(state.to_dict()) == state
    assert load_snapshot(dump_snapshot(state)) == state


def test_no_change_is_refused() -> None:
    state = run([])
    with pytest.raises(WarroomError) as caught:
        check(state, "incident.severity_changed", {"severity": "SEV2"})
    assert caught.value.code == Code.NO_CHANGE
    with pytest.raises(WarroomError) as caught:
        check(state, "role.released", {"role": "scribe"})
    assert caught.value.code == Code.NO_CHANGE


def test_apply_refuses_out_of_order_events() -> None:
    state = run([])
    with pytest.raises(ValueError):
        apply(state, Event("INC-1", 5, "x", "ann", "2026-11-28T00:00:00.000Z", "entry.added", {"text": "x"}))


@settings(max_examples=60, deadline=None)
@given(st.lists(command(), max_size=40))
def test_snapshot_round_trip_is_exact(commands: list[tuple[str, dict[str, Any]]]) -> None:
    state = run(commands)
    blob = msgpack.packb(state.to_dict(), use_bin_type=True)
    restored = IncidentState.from_dict(msgpack.unpackb(blob, raw=False))
    assert restored == state


@settings(max_examples=40, deadline=None)
@given(st.lists(command(), max_size=30), st.integers(0, 30))
def test_snapshot_then_tail_equals_full_replay(commands: list[tuple[str, dict[str, Any]]], cut: int) -> None:
    """What a joining client does (snapshot, then the tail) gives the hub's state exactly."""
    events = accepted(commands)
    cut = min(cut, len(events))
    prefix = fold("INC-1", events[:cut])
    snapshot = load_snapshot(dump_snapshot(prefix))
    assert snapshot == prefix
    assert fold("INC-1", events[cut:], snapshot) == fold("INC-1", events)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xc1\xff\x00", Code.BAD_FRAME),
        (msgpack.packb([1, 2, 3]), Code.BAD_FRAME),
        (msgpack.packb({"x": 1}), Code.BAD_FRAME),
        (msgpack.packb({"t": "dance"}), Code.UNKNOWN_FRAME),
        (msgpack.packb({"t": "join"}), Code.MISSING_FIELD),
        (msgpack.packb({"t": "join", "room": 7}), Code.WRONG_TYPE),
        (msgpack.packb({"t": "cmd", "id": "not-a-uuid", "type": "entry.added"}), Code.INVALID_VALUE),
        ("text frame", Code.BAD_FRAME),
    ],
)
def test_frame_decoding_errors(raw: bytes | str, code: Code) -> None:
    with pytest.raises(WarroomError) as caught:
        parse_client_frame(decode(raw))
    assert caught.value.code == code
