"""Matchers, group actions, silences and reconciliation events in the pure core."""

from __future__ import annotations

from itertools import permutations
from typing import Any

import msgpack
import pytest

from tests.test_core import run
from warroom.core.errors import Code, WarroomError
from warroom.core.matchers import group_matchers, parse_matcher, parse_matchers
from warroom.core.reducer import check
from warroom.core.state import IncidentState
from warroom.snapshots import dump_snapshot, load_snapshot


def alert(fp: str, name: str, origin: str | None = "am1", **labels: str) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {"fingerprint": fp, "alertname": name, "labels": {"alertname": name, **labels}}
    if origin:
        data["origin"] = origin
    return ("alert.upserted", data)


STORM = [alert(f"n{i}", "NodeDown", instance=f"db-{i}", job="node") for i in range(5)] + [
    alert("w1", "NodeDown", instance="web-1", job="node"),
    alert("h1", "HighErrorRate", instance="db-0", job="api"),
]


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ("alertname=NodeDown", {"alertname": "NodeDown"}, True),
        ("instance=~db-.*", {"instance": "db-12"}, True),
        ("instance=~db-.*", {"instance": "xdb-1"}, False),  # anchored, as Alertmanager's
        ("instance!~db-.*", {"instance": "web-1"}, True),
        ("team!=ops", {}, True),  # a missing label is the empty string
        ("team=", {}, True),
        ('summary="a = b"', {"summary": "a = b"}, True),
    ],
)
def test_matchers_follow_alertmanagers_rules(text: str, labels: dict[str, str], hit: bool) -> None:
    assert parse_matcher(text).matches(labels) is hit


@pytest.mark.parametrize(
    ("text", "points_at"),
    [("nope", "nope⟨here⟩"), ("a b=c", "⟨here⟩a b=c"), ("a=~(", "a=~⟨here⟩(")],
)
def test_a_bad_matcher_is_refused_with_a_pointer(text: str, points_at: str) -> None:
    with pytest.raises(WarroomError) as err:
        parse_matchers([text])
    assert err.value.code == Code.INVALID_VALUE and points_at in err.value.message
    assert err.value.field == "matchers[0]"


def test_a_group_silence_matches_what_its_members_share() -> None:
    labels = [
        {"alertname": "X", "job": "node", "instance": "a"},
        {"alertname": "X", "job": "node", "instance": "b"},
    ]
    assert group_matchers("X", labels) == ["alertname=X", "job=node"]
    assert group_matchers("Disk full", [{"alertname": "Disk full"}]) == ['alertname="Disk full"']


def test_a_group_ack_acks_every_firing_alert_it_covers_once() -> None:
    state = run(
        [
            *STORM,
            ("alert.acknowledged", {"fingerprint": "n0"}),
            ("alerts.acknowledged", {"matchers": ["alertname=NodeDown"]}),
        ]
    )
    assert all(state.alerts[f"n{i}"].acked_by for i in range(5)) and state.alerts["w1"].acked_by
    assert state.alerts["h1"].acked_by is None
    assert [e.text for e in state.entries.values()][-1] == "acknowledged 5 alerts matching alertname=NodeDown"
    with pytest.raises(WarroomError) as err:  # nothing is left to ack: refused, not a silent no-op
        check(state, "alerts.acknowledged", {"matchers": ["alertname=NodeDown"]})
    assert err.value.code == Code.NO_CHANGE and err.value.field == "matchers"


def test_a_silence_by_matcher_covers_every_instance_and_only_them() -> None:
    data = {"matchers": ["alertname=NodeDown", "instance=~db-.*"], "minutes": 120, "reason": "rack swap"}
    state = run([*STORM, ("alerts.silenced", {**data, "upstream": True, "silences": {"am1": "s-1"}})])
    silenced = {fp for fp, a in state.alerts.items() if a.silenced_until}
    assert silenced == {f"n{i}" for i in range(5)}
    assert {state.alerts[fp].silence_id for fp in silenced} == {"s-1"}
    assert state.silences["s-1"].origin == "am1"
    assert (
        "silenced 5 alerts matching alertname=NodeDown, instance=~db-.* for 120m in Alertmanager am1"
        in [e.text for e in state.entries.values()][-1]
    )
    with pytest.raises(WarroomError):
        check(state, "alerts.silenced", {**data, "matchers": ["alertname=Nothing"]})


def test_a_new_alert_under_a_known_silence_arrives_silenced() -> None:
    data = {"matchers": ["alertname=NodeDown"], "minutes": 60, "reason": "known", "silences": {"am1": "s-1"}}
    state = run(
        [
            *STORM,
            ("alerts.silenced", data),
            alert("n9", "NodeDown", instance="db-9"),
            alert("x", "NodeDown", origin="am2"),
        ]
    )
    assert state.alerts["n9"].silence_id == "s-1"
    assert state.alerts["x"].silenced_until is None  # am1's silence does not quiet am2's alerts


def test_unsilencing_one_alert_ends_the_upstream_silence_for_all_it_covered() -> None:
    data = {"matchers": ["alertname=NodeDown"], "minutes": 60, "reason": "known", "silences": {"am1": "s-1"}}
    state = run([*STORM, ("alerts.silenced", data), ("alert.unsilenced", {"fingerprint": "n0"})])
    assert not any(a.silenced_until for a in state.alerts.values())
    assert state.silences["s-1"].state == "expired"


def test_silences_made_and_expired_upstream_show_in_the_room() -> None:
    synced = {
        "id": "s-9",
        "origin": "am1",
        "state": "active",
        "matchers": ["alertname=NodeDown"],
        "ends_at": "2026-11-28T05:00:00Z",
        "created_by": "carol",
        "comment": "maintenance",
    }
    state = run([*STORM, ("silence.synced", synced)])
    assert state.alerts["n1"].silenced_by == "carol" and state.alerts["n1"].silence_origin == "am1"
    assert list(state.entries.values())[-1].text == (
        "carol silenced 6 alerts in Alertmanager am1 until 2026-11-28 05:00: maintenance"
    )
    state = run([*STORM, ("silence.synced", synced), ("silence.synced", {**synced, "state": "expired"})])
    assert not any(a.silenced_until for a in state.alerts.values())
    assert (
        list(state.entries.values())[-1].text
        == "the silence by carol on 6 alerts expired in Alertmanager am1"
    )


def test_stale_then_resolved_and_back_again() -> None:
    state = run([*STORM, ("alert.stale", {"fingerprint": "n0", "reason": "gone from Alertmanager am1"})])
    assert state.alerts["n0"].stale_since is not None
    assert (
        list(state.entries.values())[-1].text
        == "NodeDown{instance=db-0, job=node} is stale: gone from Alertmanager am1"
    )
    state = run([*STORM, ("alert.stale", {"fingerprint": "n0", "reason": "gone"}), STORM[0]])
    assert state.alerts["n0"].stale_since is None  # it fired again: fresh
    state = run([*STORM, ("alert.resolved", {"fingerprint": "n0", "reason": "not seen for 5m"})])
    assert state.alerts["n0"].status == "resolved"


def test_a_source_failure_is_kept_until_it_answers_again() -> None:
    failing = ("source.checked", {"origin": "am1", "error": "HTTP 500"})
    state = run([*STORM, failing])
    assert state.source_errors == {"am1": "HTTP 500"}
    assert "Alertmanager am1 is not answering (HTTP 500)" in list(state.entries.values())[-1].text
    assert run([*STORM, failing, ("source.checked", {"origin": "am1"})]).source_errors == {}


def test_silences_and_new_alert_fields_survive_a_snapshot() -> None:
    data = {"matchers": ["alertname=NodeDown"], "minutes": 60, "reason": "known", "silences": {"am1": "s-1"}}
    rich = (
        "alert.upserted",
        {
            **STORM[0][1],
            "runbook_url": "https://rb/x",
            "values": {"B": "12.5"},
            "links": {"panel": "https://g/p"},
        },
    )
    state = run(
        [*STORM, rich, ("alerts.silenced", data), ("source.checked", {"origin": "am2", "error": "timeout"})]
    )
    assert IncidentState.from_snapshot(state.to_snapshot()) == state
    assert IncidentState.from_dict(state.to_dict()) == state


def test_any_label_name_silences_and_reads_back_without_breaking_the_room() -> None:
    odd = (
        "alert.upserted",
        {
            "fingerprint": "k1",
            "alertname": "PodDown",
            "labels": {"alertname": "PodDown", "app.kubernetes.io/name": "cart", "note": 'say "hi" \\ there'},
        },
    )
    state = run([odd, ("alert.silenced", {"fingerprint": "k1", "minutes": 30, "reason": "known"})])
    silence = next(iter(state.silences.values()))
    assert parse_matchers(silence.matchers)  # what the room wrote, it reads back
    assert all(m.matches(state.alerts["k1"].labels) for m in parse_matchers(silence.matchers))
    again = ("alert.upserted", {**odd[1], "fingerprint": "k2"})
    later = run([odd, ("alert.silenced", {"fingerprint": "k1", "minutes": 30, "reason": "known"}), again])
    assert later.alerts["k2"].silenced_until is not None  # arrives under the room's silence, no refusal


def test_a_room_only_group_silence_ends_for_all_and_stops_covering_new_alerts() -> None:
    data = {"matchers": ["alertname=NodeDown"], "minutes": 60, "reason": "known"}
    state = run([*STORM, ("alerts.silenced", data), ("alert.unsilenced", {"fingerprint": "n0"})])
    assert not any(a.silenced_until for a in state.alerts.values())
    state = run(
        [
            *STORM,
            ("alerts.silenced", data),
            ("alert.unsilenced", {"fingerprint": "n0"}),
            alert("n8", "NodeDown"),
        ]
    )
    assert state.alerts["n8"].silenced_until is None


def test_a_group_silence_upstream_for_some_sources_keeps_the_rest_in_the_room() -> None:
    data = {"matchers": ["alertname=NodeDown"], "minutes": 60, "reason": "known", "silences": {"am1": "s-1"}}
    state = run([*STORM, alert("p1", "NodeDown", origin=None, instance="pd-1"), ("alerts.silenced", data)])
    assert state.alerts["n0"].silence_id == "s-1" and state.alerts["n0"].silence_origin == "am1"
    room_only = state.alerts["p1"]
    assert (
        room_only.silenced_until
        and room_only.silence_origin is None
        and room_only.silence_id in state.silences
    )
    assert "and this room only for the rest" in list(state.entries.values())[-1].text


def test_snapshots_of_the_first_format_and_of_other_alert_columns_still_read() -> None:
    state = run([*STORM, ("alerts.acknowledged", {"matchers": ["alertname=NodeDown"]})])
    first = state.to_dict()
    entries = state.to_snapshot()["entries"]
    v1 = {"v": 1, "state": {k: v for k, v in first.items() if k != "entries"}, "entries": entries}
    assert IncidentState.from_snapshot(v1) == state
    later = state.to_snapshot()
    later["alert_fields"] = [*later["alert_fields"], "from_the_future"]
    later["alerts"] = [[*row, "x"] for row in later["alerts"]]
    assert IncidentState.from_snapshot(later) == state


def test_snapshot_bytes_read_row_by_row_whatever_the_order_of_their_parts() -> None:
    """The hub and the client read a snapshot's rows one at a time; every order and version reads the same."""
    added: list[tuple[str, dict[str, Any]]] = [*STORM, ("entry.added", {"text": "db-1 is down"})]
    entry = max(run(added).entries)
    edits: list[tuple[str, dict[str, Any]]] = [
        ("entry.edited", {"entry": entry, "text": "db-1 and db-2 are down"}),
        ("entry.pinned", {"entry": entry}),
    ]
    state = run([*added, *edits])
    assert state.entries[entry].history  # an entry with an earlier text, kept as a nested row
    snap = state.to_snapshot()
    assert load_snapshot(dump_snapshot(state)) == state
    for order in permutations(snap):
        assert load_snapshot(msgpack.packb({k: snap[k] for k in order}, use_bin_type=True)) == state
    first = state.to_dict()
    v1 = {"v": 1, "state": {k: v for k, v in first.items() if k != "entries"}, "entries": snap["entries"]}
    assert load_snapshot(msgpack.packb(v1, use_bin_type=True)) == state
    later = {**snap, "alert_fields": [*snap["alert_fields"], "from_the_future"]}
    later["alerts"] = [[*row, "x"] for row in snap["alerts"]]
    assert load_snapshot(msgpack.packb(later, use_bin_type=True)) == state
    for bad in ([1, 2], {"v": 99, "state": {}, "entries": []}, {"v": 2, "state": {}}):
        with pytest.raises(ValueError):
            load_snapshot(msgpack.packb(bad, use_bin_type=True))
