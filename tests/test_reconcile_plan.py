"""Reconciliation's decisions, from a room's state and a listing: what is written, and what is left alone.

These drive ``server/reconcile_plan.py`` directly with states folded the way
the hub folds them; tests/test_reconcile.py drives the same code through a
real hub and real Alertmanagers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from server.intake import _details, _json_head
from server.reconcile_plan import firing_key, holds, plan_silences, refreshed, synced
from tests.test_core import run
from warroom.core.state import IncidentState

ENDS = "2026-11-28T09:00:00.000Z"
EARLY = "2026-11-28T02:00:00.000Z"  # before every event run() folds
LATE = "2026-11-28T04:00:00.000Z"  # after every event run() folds


def upsert(fingerprint: str, instance: str, status: str = "firing") -> tuple[str, dict[str, Any]]:
    labels = {"alertname": "NodeDown", "instance": instance}
    data = {"fingerprint": fingerprint, "alertname": "NodeDown", "labels": labels, "origin": "am1"}
    return ("alert.upserted", {**data, "status": status})


def listed(sid: str, instance: str, state: str = "active", **more: Any) -> dict[str, Any]:
    matcher = {"name": "instance", "value": instance, "isRegex": False, "isEqual": True}
    return {"id": sid, "status": {"state": state}, "endsAt": ENDS, "matchers": [matcher], **more}


def synced_event(sid: str, instance: str, state: str = "active") -> tuple[str, dict[str, Any]]:
    data = {
        "id": sid,
        "origin": "am1",
        "state": state,
        "matchers": [f'instance="{instance}"'],
        "ends_at": ENDS,
    }
    return ("silence.synced", data)


def test_a_silence_the_room_changed_after_the_listing_was_read_is_left_to_the_next_round() -> None:
    state = run([upsert("f1", "db-1"), synced_event("s1", "db-1")])
    assert state.silences["s1"].updated_at > EARLY
    # Read before the room knew s1: its absence is no news, nor is any change it shows.
    assert plan_silences(state, "am1", [], EARLY, {}) == []
    assert plan_silences(state, "am1", [listed("s1", "db-1", "expired")], EARLY, {}) == []
    # Read after: the listing is the truth.
    [gone] = plan_silences(state, "am1", [], LATE, {})
    assert gone.data["id"] == "s1" and gone.data["state"] == "expired"
    [ended] = plan_silences(state, "am1", [listed("s1", "db-1", "expired")], LATE, {})
    assert ended.data["state"] == "expired"


def test_a_new_silence_goes_only_into_rooms_where_it_covers_a_firing_alert() -> None:
    finished = run([upsert("f1", "db-1"), upsert("f1", "db-1", "resolved")])
    assert plan_silences(finished, "am1", [listed("s1", "db-1")], LATE, {}) == []
    firing = run([upsert("f1", "db-1")])
    assert [c.data["id"] for c in plan_silences(firing, "am1", [listed("s1", "db-1")], LATE, {})] == ["s1"]


def test_an_idle_silence_is_tried_again_when_the_set_of_firing_alerts_changes_not_only_its_size() -> None:
    idle: dict[str, tuple[int, int]] = {}
    before = run([upsert("f1", "db-1")])
    assert plan_silences(before, "am1", [listed("s2", "db-2")], LATE, idle) == []
    assert "s2" in idle
    # One alert out, another in: as many alerts as before, but s2 now covers one.
    after = run([upsert("f2", "db-2")])
    assert len(after.alerts) == len(before.alerts) and firing_key(after, "am1") != firing_key(before, "am1")
    assert [c.data["id"] for c in plan_silences(after, "am1", [listed("s2", "db-2")], LATE, idle)] == ["s2"]


def test_a_listed_silence_with_unsafe_or_long_text_is_shown_visibly_and_cut(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = listed("s1", "db-1", createdBy="mallory\x1b]0;owned\x07" + "x" * 300, comment="a\x1b[2J" * 2000)
    data = synced(raw, "am1")
    assert data is not None
    assert "\x1b" not in data["created_by"] and len(data["created_by"]) == 200
    assert "\x1b" not in data["comment"] and len(data["comment"]) == 4000 and data["comment"].endswith("…")

    many = {**listed("s2", "db-1"), "matchers": [listed("x", f"db-{n}")["matchers"][0] for n in range(17)]}
    with caplog.at_level(logging.WARNING, "warroom.reconcile"):
        assert synced(many, "am1") is None
        assert synced(many, "am1") is None
    said = [r.getMessage() for r in caplog.records if "s2" in r.getMessage()]
    assert len(said) == 1 and "16 matchers" in said[0]  # said once, not once a round


def test_an_alert_listed_again_with_long_or_unsafe_text_is_refreshed_and_one_that_cannot_be_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alert = {
        "fingerprint": "f1",
        "labels": {"alertname": "NodeDown", "instance": "db-1\x1b[31m", "team": "t" * 400},
        "annotations": {"description": "d" * 5000, **{f"k{n:02d}": "v" for n in range(20)}},
        "startsAt": EARLY,
    }
    data = refreshed(alert, "am1")
    assert data is not None and data["origin"] == "am1"
    assert "\x1b" not in data["labels"]["instance"] and len(data["labels"]["team"]) == 256
    assert len(data["annotations"]) == 16 and len(data["annotations"]["description"]) == 2048

    broken = {"fingerprint": "f9", "labels": "not a map"}
    with caplog.at_level(logging.WARNING, "warroom.reconcile"):
        assert refreshed(broken, "am1") is None
        assert refreshed(broken, "am1") is None
    said = [r.getMessage() for r in caplog.records if "f9" in r.getMessage()]
    assert len(said) == 1 and "stays as the room has it" in said[0]


def test_a_room_is_held_while_it_has_something_of_the_origin_to_reconcile() -> None:
    assert holds(run([upsert("f1", "db-1")]), "am1")
    finished = run([upsert("f1", "db-1"), upsert("f1", "db-1", "resolved")])
    assert not holds(finished, "am1") and not holds(IncidentState(room="INC-1"), "am1")
    with_silence = run([upsert("f1", "db-1"), synced_event("s1", "db-1"), upsert("f1", "db-1", "resolved")])
    assert holds(with_silence, "am1")


class Counted:
    """A value whose JSON text is asked for: counts how many were encoded."""

    made = 0

    def __str__(self) -> str:
        Counted.made += 1
        return "x" * 100


def test_pagerduty_details_are_cut_before_they_are_encoded_whole() -> None:
    details = {f"k{n:06d}": Counted() for n in range(10_000)}
    text = _json_head(details, 2049)
    assert len(text) == 2049 and text.startswith('{"k000000": "xxx')
    assert Counted.made < 50  # not all 10,000
    big = {"custom_details": {f"k{n:06d}": "v\x1b" * 50 for n in range(50_000)}}
    cut = _details(big)
    assert cut is not None and len(cut) == 2048 and cut.endswith("…") and "\x1b" not in cut
    assert _details({"custom_details": "line\x07" * 5000}) == ("line␇" * 5000)[:2047] + "…"
