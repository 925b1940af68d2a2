"""Escalation policies and their simulation: the pure parts, and ``warroom escalate simulate``."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.runner import HubServer
from tests.conftest import declare, wait_for
from tests.test_cli import hub_args, warroom
from warroom.client import HubClient
from warroom.oncall.escalation import Page, Stop, file_resolver, plan, simulate
from warroom.oncall.policies import PolicyError, check_sinks, parse_offset, parse_policies

# The issue's example policy: the team's schedule, the team at 15m, a manager at 30m, execs at once for SEV1.
PAYMENTS_LEVELS = """\
[[policies.payments.levels]]
at = "0m"
notify = ["schedule:platform"]
[[policies.payments.levels]]
at = "15m"
notify = ["team:payments"]
[[policies.payments.levels]]
at = "30m"
notify = ["user:erin"]
[[policies.payments.levels]]
at = "0m"
notify = ["team:execs"]
severities = ["SEV1"]
"""
FILE = (
    """\
[teams]
payments = ["carol", "dave"]
execs = ["erin"]

[schedules.platform]
timezone = "Europe/Berlin"
[[schedules.platform.layers]]
name = "primary"
users = ["alice", "bob", "carol"]
rotation = "weekly"
handoff = "monday 09:00"
start = "2026-10-19"

[policies.payments]
repeat = 1
"""
    + PAYMENTS_LEVELS
)
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def policies(text: str = FILE) -> dict[str, object]:
    return dict(parse_policies(tomllib.loads(text), text, "oncall.toml"))


def test_the_issue_s_example_parses() -> None:
    parsed = parse_policies(tomllib.loads(FILE), FILE, "oncall.toml")["payments"]
    assert parsed.repeat == 1
    assert [level.at for level in parsed.levels] == [
        timedelta(0),
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(0),
    ]
    assert parsed.levels[3].severities == ("SEV1",)
    assert parsed.every == timedelta(minutes=45)  # default: the last level's at + 15m
    assert parsed.covers("incident", "SEV3", []) and not parsed.covers("alert", "SEV3", [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('notify = ["user:erin"]', 'notify = ["user:zed"]'),
            "oncall.toml:24: policy 'payments': unknown user 'zed'",
        ),
        (
            ('notify = ["team:execs"]', 'notify = ["team:board"]'),
            "oncall.toml:27: policy 'payments': unknown team 'board'",
        ),
        (
            ('notify = ["schedule:platform"]', 'notify = ["schedule:db"]'),
            "oncall.toml:18: policy 'payments': unknown schedule 'db'",
        ),
        (
            ('notify = ["user:erin"]', 'notify = ["pager:erin"]'),
            "oncall.toml:24: policy 'payments': target 'pager:erin'",
        ),
        (('at = "15m"', 'at = "soon"'), "oncall.toml:20: policy 'payments': at 'soon' is not an offset"),
        (("repeat = 1", "repeat = -1"), "oncall.toml:15: policy 'payments': repeat is a count"),
        (("repeat = 1", "repeats = 1"), "oncall.toml:15: policy 'payments': unknown setting 'repeats'"),
        (('severities = ["SEV1"]', 'severities = ["SEV9"]'), "oncall.toml:28: policy 'payments': severities"),
    ],
)
def test_mistakes_are_named_with_file_and_line(change: tuple[str, str], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policies(FILE.replace(*change))
    assert str(caught.value).startswith(message)


def test_a_policy_without_levels_and_an_unknown_sink_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"oncall\.toml:1: policy 'empty': needs at least one"):
        parse_policies({"policies": {"empty": {}}}, "", "oncall.toml")
    loaded = parse_policies(tomllib.loads(FILE), FILE, "x")
    check_sinks(loaded, ["#pages"], "hub.toml")  # no sinks named: every sink, nothing to check
    named = FILE.replace("repeat = 1", 'repeat = 1\nsinks = ["#pagez"]')
    with pytest.raises(PolicyError, match="unknown sink '#pagez' \\(known: #pages\\)"):
        check_sinks(parse_policies(tomllib.loads(named), named, "x"), ["#pages"], "hub.toml")


def test_offsets() -> None:
    assert parse_offset("90s") == timedelta(seconds=90)
    assert parse_offset("1h") == timedelta(hours=1)
    assert parse_offset("2d") == timedelta(days=2)
    assert parse_offset("15") is None and parse_offset("-5m") is None and parse_offset(15) is None


def test_plan_orders_levels_by_time_and_filters_by_severity() -> None:
    policy = parse_policies(tomllib.loads(FILE), FILE, "x")["payments"]
    sev2 = [(p.at - T0, p.level, p.round) for p in plan(policy, T0, "SEV2")]
    assert sev2 == [
        (timedelta(0), 1, 0),
        (timedelta(minutes=15), 2, 0),
        (timedelta(minutes=30), 3, 0),
        (timedelta(minutes=45), 1, 1),
        (timedelta(minutes=60), 2, 1),
        (timedelta(minutes=75), 3, 1),
    ]
    assert [(p.level, p.round) for p in plan(policy, T0, "SEV1")][:2] == [(1, 0), (4, 0)]


def test_simulation_resolves_schedules_at_page_time_and_stops_at_a_paged_persons_ack() -> None:
    policy = parse_policies(tomllib.loads(FILE), FILE, "x")["payments"]
    resolve = file_resolver(
        tomllib.loads(FILE), lambda name, at: "alice" if at < T0 + timedelta(minutes=40) else "bob"
    )
    steps = simulate(policy, T0, "SEV2", [], resolve)
    assert [s.notify for s in steps if isinstance(s, Page)] == [
        ("alice",),
        ("carol", "dave"),
        ("erin",),
        ("bob",),  # the repeat's schedule page goes to whoever is on call then
        ("carol", "dave"),
        ("erin",),
    ]
    # An ack by someone not yet paged changes nothing; dave's, once paged, stops it.
    acks = [("erin", T0 + timedelta(minutes=5)), ("dave", T0 + timedelta(minutes=20))]
    steps = simulate(policy, T0, "SEV2", acks, resolve)
    assert steps[-1] == Stop(T0 + timedelta(minutes=20), "dave")
    assert [s.level for s in steps if isinstance(s, Page)] == [1, 2]
    # An ack at the very instant of the next level stops it, when its author was paged before.
    steps = simulate(policy, T0, "SEV2", [("alice", T0 + timedelta(minutes=15))], resolve)
    assert [s.to_json() for s in steps] == [
        {
            "at": "2026-12-01T10:00:00Z",
            "level": 1,
            "round": 0,
            "targets": ["schedule:platform"],
            "notify": ["alice"],
        },
        {"at": "2026-12-01T10:15:00Z", "stopped_by": "alice"},
    ]


async def test_simulate_prints_json_with_the_schedule_resolved(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "oncall.toml"
    path.write_text(FILE, encoding="utf-8")
    result = await warroom(
        env,
        "escalate",
        "simulate",
        "payments",
        "--at",
        "2026-12-01T10:00:00Z",
        "--severity",
        "SEV1",
        "--ack",
        "carol@2026-12-01T10:20Z",
        "--json",
        "--schedules",
        str(path),
    )
    assert result.code == 0, result.err
    # Weekly from Monday 2026-10-19 09:00 Berlin: alice, bob, carol, alice, bob, carol, alice (11-30).
    assert json.loads(result.out) == [
        {
            "at": "2026-12-01T10:00:00Z",
            "level": 1,
            "round": 0,
            "targets": ["schedule:platform"],
            "notify": ["alice"],
        },
        {"at": "2026-12-01T10:00:00Z", "level": 4, "round": 0, "targets": ["team:execs"], "notify": ["erin"]},
        {
            "at": "2026-12-01T10:15:00Z",
            "level": 2,
            "round": 0,
            "targets": ["team:payments"],
            "notify": ["carol", "dave"],
        },
        {"at": "2026-12-01T10:20:00Z", "stopped_by": "carol"},
    ]
    text = await warroom(
        env, "escalate", "simulate", "payments", "--at", "2026-12-01T10:00", "--schedules", str(path)
    )
    assert text.code == 0 and "level 2  team:payments → carol, dave" in text.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "tuesday"], "warroom: --at: 'tuesday' is not a date"),
        (["--at", "2026-12-01", "--ack", "carol"], "warroom: --ack: 'carol' is not NAME@TIME"),
        (["--at", "2026-12-01", "--ack", "carol@later"], "warroom: --ack: 'later' is not a date"),
    ],
)
async def test_simulate_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    path = tmp_path / "oncall.toml"
    path.write_text(FILE, encoding="utf-8")
    result = await warroom(env, "escalate", "simulate", "payments", *args, "--schedules", str(path))
    assert result.one_line_error().startswith(message)


async def test_simulate_names_an_unknown_policy_and_a_bad_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "oncall.toml"
    path.write_text(FILE, encoding="utf-8")
    unknown = await warroom(
        env, "escalate", "simulate", "billing", "--at", "2026-12-01", "--schedules", str(path)
    )
    assert unknown.one_line_error() == f"warroom: no policy 'billing' in {path} (known: payments)"
    path.write_text(FILE.replace("user:erin", "user:zed"), encoding="utf-8")
    bad = await warroom(
        env, "escalate", "simulate", "payments", "--at", "2026-12-01", "--schedules", str(path)
    )
    assert bad.one_line_error() == f"warroom: {path}:24: policy 'payments': unknown user 'zed'"
    missing = await warroom(env, "escalate", "simulate", "payments", "--at", "2026-12-01")
    assert "no schedules file: pass --schedules FILE" in missing.one_line_error()
    env = {**env, "WARROOM_SCHEDULES": str(path)}
    from_env = await warroom(env, "escalate", "simulate", "payments", "--at", "2026-12-01")
    assert from_env.one_line_error() == f"warroom: {path}:24: policy 'payments': unknown user 'zed'"


async def test_page_ack_goes_on_the_record(hub: HubServer, env: dict[str, str]) -> None:
    client = HubClient(hub.url, "test-token-0123456789", "frank")
    await client.connect()
    try:
        room = await declare(client)
    finally:
        await client.close()
    result = await warroom(env, "page", "ack", room, *hub_args(hub), "--as", "carol")
    assert result.code == 0, result.err
    assert "page acknowledged" in result.out
    await wait_for(
        lambda: any(
            e.text == "carol acknowledged the page" for e in hub.hub._rooms[room].state.entries.values()
        )
    )
