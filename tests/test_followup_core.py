"""The aftermath in the pure core: review fields, the whys, review lists, action items, impact."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_core import run
from warroom.core.errors import Code, WarroomError
from warroom.core.events import validate_command
from warroom.core.policy import Policy, authorize
from warroom.core.reducer import check
from warroom.core.state import IncidentState
from warroom.snapshots import dump_snapshot, load_snapshot


def refused(state: IncidentState, type_: str, data: dict[str, Any]) -> WarroomError:
    with pytest.raises(WarroomError) as caught:
        check(state, type_, validate_command(type_, data))
    return caught.value


def test_the_review_fields_whys_and_lists_fold() -> None:
    state = run(
        [
            ("review.updated", {"field": "summary", "text": "Checkout failed for EU card payments"}),
            ("review.updated", {"field": "impact_customer", "text": "8% of EU checkouts"}),
            ("review.updated", {"field": "impact_customer"}),  # cleared
            ("review.why_set", {"level": 1, "why": "checkout failed", "because": "the db was down"}),
            ("review.why_set", {"level": 2, "why": "the db was down", "because": "the disk filled"}),
            ("review.why_set", {"level": 1, "why": "checkout 5xx", "because": "the db was down"}),
            ("review.item_added", {"section": "factors", "text": "no disk alert"}),
            ("review.item_added", {"section": "factors", "text": "logs on the data disk"}),
            ("review.item_added", {"section": "lucky", "text": "a replica was in sync"}),
            ("review.item_removed", {"section": "lucky", "item": 10}),
        ]
    )
    review = state.review
    assert review.fields == {"summary": "Checkout failed for EU card payments"}
    assert [(w.why, w.because) for w in review.whys] == [
        ("checkout 5xx", "the db was down"),
        ("the db was down", "the disk filled"),
    ]
    assert [i.text for i in review.lists["factors"]] == ["no disk alert", "logs on the data disk"]
    assert "lucky" not in review.lists
    assert review.updated_by == "ann"
    assert load_snapshot(dump_snapshot(state)) == state
    assert IncidentState.from_dict(state.to_dict()) == state

    gap = {"level": 4, "why": "a", "because": "b"}
    assert refused(state, "review.why_set", gap).code == Code.INVALID_VALUE
    assert refused(state, "review.why_cleared", {"level": 3}).code == Code.NO_CHANGE
    assert refused(state, "review.item_removed", {"section": "factors", "item": 99}).code == Code.UNKNOWN_REF
    same = {"field": "summary", "text": "Checkout failed for EU card payments"}
    assert refused(state, "review.updated", same).code == Code.NO_CHANGE
    state = run(
        [
            ("review.why_set", {"level": 1, "why": "a", "because": "b"}),
            ("review.why_set", {"level": 2, "why": "b", "because": "c"}),
            ("review.why_cleared", {"level": 1}),  # and every level under it
        ]
    )
    assert state.review.whys == []


def test_action_items_get_ids_owners_and_a_status_with_when() -> None:
    state = run(
        [
            ("action.added", {"text": "Alert on disk usage", "owner": "carol", "due": "2026-12-15"}),
            ("action.added", {"text": "Move logs off the data disk"}),
            ("action.updated", {"action": "A-1", "status": "in_progress"}),
            ("action.updated", {"action": "A-1", "status": "done", "at": "2026-12-10T09:00:00Z"}),
            ("action.updated", {"action": "A-2", "owner": "dan", "due": "2026-12-01"}),
        ]
    )
    one, two = state.actions["A-1"], state.actions["A-2"]
    assert (one.status, one.done_at, one.on_time()) == ("done", "2026-12-10T09:00:00.000Z", True)
    assert (two.owner, two.due, two.status) == ("dan", "2026-12-01", "open")
    assert two.overdue("2026-12-02") and not two.overdue("2026-12-01") and not one.overdue("2027-01-01")
    texts = [e.text for e in state.entries.values() if e.kind == "system"]
    assert "action A-1: Alert on disk usage (owner carol, due 2026-12-15)" in texts
    assert "action A-1: in_progress → done" in texts
    assert load_snapshot(dump_snapshot(state)) == state

    assert refused(state, "action.updated", {"action": "A-9", "status": "done"}).code == Code.UNKNOWN_REF
    assert refused(state, "action.updated", {"action": "A-2", "owner": "dan"}).code == Code.NO_CHANGE
    assert refused(state, "action.updated", {"action": "A-2", "status": "wont_do"}).field == "reason"
    back_dated = {"action": "A-2", "owner": "eve", "at": "2026-12-01T00:00:00Z"}
    assert refused(state, "action.updated", back_dated).field == "at"
    with pytest.raises(WarroomError) as caught:
        validate_command("action.added", {"text": "x", "due": "next week"})
    assert caught.value.field == "due"


def test_services_come_from_the_declaration_the_room_and_alert_labels() -> None:
    state = run(
        [
            ("alert.upserted", {"fingerprint": "a", "alertname": "X", "labels": {"service": "checkout"}}),
            ("alert.upserted", {"fingerprint": "b", "alertname": "Y", "labels": {"service": "checkout"}}),
            ("alert.upserted", {"fingerprint": "c", "alertname": "Z", "labels": {"service": "payments"}}),
        ]
    )
    assert state.services == ["checkout", "payments"]
    state = run([("incident.services_set", {"services": ["api", "db", "api"]})])
    assert state.services == ["api", "db"]
    assert refused(state, "incident.services_set", {"services": ["api", "db"]}).code == Code.NO_CHANGE


def test_impact_is_a_fraction_the_commander_sets() -> None:
    state = run([("incident.impact_set", {"fraction": 0.25, "reason": "EU only"})])
    assert state.impact_fraction == 0.25
    assert any(e.text == "impact set to 25% of users: EU only" for e in state.entries.values())
    for bad in (1.5, -0.1, float("nan"), "half", True):
        with pytest.raises(WarroomError):
            validate_command("incident.impact_set", {"fraction": bad})
    policy = Policy()
    with pytest.raises(WarroomError) as caught:
        authorize(state, "bo", "incident.impact_set", {"fraction": 0.5}, policy)
    assert caught.value.code == Code.FORBIDDEN
    authorize(state, "ann", "incident.impact_set", {"fraction": 0.5}, policy)  # ann commands
    state = run([("role.assigned", {"role": "scribe", "name": "cy"})])
    authorize(state, "cy", "review.updated", {"field": "summary", "text": "x"}, policy)
    with pytest.raises(WarroomError):
        authorize(state, "bo", "review.updated", {"field": "summary", "text": "x"}, policy)


def test_a_handoff_decided_from_a_stale_view_of_the_room_is_refused() -> None:
    """Two hubs may decide a room's on-call line from different views; only the current one lands."""
    state = run(
        [
            ("incident.declared", {"title": "t", "severity": "SEV2"}),
            (
                "oncall.handoff",
                {"schedule": "platform", "at": "2026-11-28T03:00:00.000Z", "why": "joined", "to": "alice"},
            ),
        ]
    )
    stale = {"schedule": "platform", "at": "2026-11-28T08:00:00.000Z", "why": "joined", "to": "bob"}
    with pytest.raises(WarroomError) as refused:
        check(state, "oncall.handoff", validate_command("oncall.handoff", stale, from_client=False))
    assert (refused.value.code, refused.value.field) == (Code.NO_CHANGE, "from")
    current = {**stale, "why": "handoff", "from": "alice"}
    check(state, "oncall.handoff", validate_command("oncall.handoff", current, from_client=False))
