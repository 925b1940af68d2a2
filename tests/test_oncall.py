"""On-call schedules: the file format, the rotation maths at fixed instants, and the CLI.

Every instant here is written in UTC with the wall-clock time it is beside it,
so a reader can check the DST rules by hand: Europe/Berlin springs forward on
2026-03-29 (02:00 CET -> 03:00 CEST) and falls back on 2026-10-25 (03:00 CEST
-> 02:00 CET); America/New_York springs forward on 2026-03-08 (02:00 EST ->
03:00 EDT) and falls back on 2026-11-01 (02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.test_cli import warroom
from warroom.oncall import OncallFileError, Schedule, load_oncall_file, parse_oncall, shifts, who_is_on_call

EXAMPLE = """\
[schedules.platform]
timezone = "Europe/Berlin"

[[schedules.platform.layers]]
name = "primary"
users = ["alice", "bob", "carol"]
rotation = "weekly"                 # or "daily"
handoff = "monday 09:00"            # daily: "09:00"; wall-clock time in the schedule's zone
start = "2026-10-19"                # the date users[0]'s first turn begins, at the handoff time
restrict = "mon-fri 09:00-17:00"    # optional; outside it this layer has nobody

[[schedules.platform.overrides]]
user = "dave"
from = "2026-12-01T00:00"           # wall-clock time in the schedule's zone
to = "2026-12-02T00:00"

[teams]
payments = ["carol", "dave"]
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(body: str, name: str = "s") -> Schedule:
    return parse_oncall(body, Path("test.toml")).schedules[name]


def layer(zone: str, *, users: str = '["a", "b", "c"]', extra: str = "", **fields: str) -> Schedule:
    body = f'[schedules.s]\ntimezone = "{zone}"\n[[schedules.s.layers]]\nname = "L"\nusers = {users}\n'
    body += "".join(f'{k} = "{v}"\n' for k, v in fields.items())
    return schedule(body + extra)


# --- the example from the issue ---------------------------------------------------------------


def test_the_issue_example_parses_exactly() -> None:
    file = parse_oncall(EXAMPLE, Path("oncall.toml"))
    platform = file.schedules["platform"]
    assert platform.timezone == "Europe/Berlin"
    assert [x.name for x in platform.layers] == ["primary"]
    assert platform.layers[0].users == ("alice", "bob", "carol")
    assert file.teams == {"payments": ["carol", "dave"]}
    assert file.raw["teams"]["payments"] == ["carol", "dave"]
    assert platform.overrides[0].start == utc("2026-11-30T23:00")  # 00:00 CET


def test_restriction_limits_the_layer_and_the_override_beats_it() -> None:
    platform = parse_oncall(EXAMPLE, Path("oncall.toml")).schedules["platform"]
    # Tuesday 2026-10-20 12:00 CEST: inside mon-fri 09:00-17:00, alice's first week.
    now = who_is_on_call(platform, utc("2026-10-20T10:00"))
    assert (now.user, now.next_user, now.handoff, now.decided_by) == (
        "alice",
        None,
        utc("2026-10-20T15:00"),  # 17:00 CEST: the window closes
        "primary",
    )
    # Saturday: outside the window, nobody, until Monday 09:00 CET (after the fall-back) when bob starts.
    sat = who_is_on_call(platform, utc("2026-10-24T12:00"))
    assert (sat.user, sat.next_user, sat.handoff, sat.decided_by) == (
        None,
        "bob",
        utc("2026-10-26T08:00"),
        "",
    )
    # 2026-12-01 03:00 CET, a Tuesday night: the layer has nobody, the override has dave.
    night = who_is_on_call(platform, utc("2026-12-01T02:00"))
    assert (night.user, night.decided_by, night.handoff) == ("dave", "override", utc("2026-12-01T23:00"))
    # Then nobody until the window opens at 09:00 CET; the week from 2026-11-30 is alice's (turn 6).
    after = who_is_on_call(platform, utc("2026-12-01T23:00"))
    assert (after.user, after.next_user, after.handoff) == (None, "alice", utc("2026-12-02T08:00"))


# --- rotation maths -----------------------------------------------------------------------------


def test_weekly_turns_and_the_handoff_instant_belongs_to_the_new_person() -> None:
    s = layer("Europe/Berlin", rotation="weekly", handoff="monday 09:00", start="2026-11-02")
    assert who_is_on_call(s, utc("2026-11-09T07:59:59")).user == "a"  # 08:59:59 CET
    at = who_is_on_call(s, utc("2026-11-09T08:00"))  # 09:00 CET exactly: half-open
    assert (at.user, at.next_user, at.handoff) == ("b", "c", utc("2026-11-16T08:00"))
    assert who_is_on_call(s, utc("2026-11-23T08:00")).user == "a"  # three users, round again
    before = who_is_on_call(s, utc("2026-11-01T12:00"))  # before the first turn: nobody yet
    assert (before.user, before.next_user, before.handoff) == (None, "a", utc("2026-11-02T08:00"))


def test_daily_turns() -> None:
    s = layer("America/New_York", rotation="daily", handoff="08:00", start="2026-06-01")
    assert who_is_on_call(s, utc("2026-06-01T12:00")).user == "a"  # 08:00 EDT is 12:00Z
    assert who_is_on_call(s, utc("2026-06-02T11:59")).user == "a"
    assert who_is_on_call(s, utc("2026-06-02T12:00")).user == "b"
    assert who_is_on_call(s, utc("2026-06-04T12:00")).user == "a"
    got = shifts(s, utc("2026-06-01T00:00"), utc("2026-06-03T00:00"))
    assert [(x.user, x.start, x.end) for x in got] == [
        ("a", utc("2026-06-01T12:00"), utc("2026-06-02T12:00")),
        ("b", utc("2026-06-02T12:00"), utc("2026-06-03T00:00")),
    ]


def test_weekly_turns_across_dst_last_167_and_169_hours_in_berlin() -> None:
    s = layer("Europe/Berlin", rotation="weekly", handoff="monday 09:00", start="2026-03-23")
    spring = shifts(s, utc("2026-03-23T00:00"), utc("2026-04-07T00:00"))
    assert spring[0].start == utc("2026-03-23T08:00")  # 09:00 CET
    assert spring[0].end == utc("2026-03-30T07:00")  # 09:00 CEST
    assert spring[0].end - spring[0].start == timedelta(hours=167)
    f = layer("Europe/Berlin", rotation="weekly", handoff="monday 09:00", start="2026-10-19")
    autumn = who_is_on_call(f, utc("2026-10-19T07:00"))
    assert (autumn.user, autumn.next_user, autumn.handoff) == ("a", "b", utc("2026-10-26T08:00"))
    assert autumn.handoff is not None
    assert autumn.handoff - utc("2026-10-19T07:00") == timedelta(hours=169)


def test_a_handoff_in_the_spring_gap_happens_as_far_past_its_end_berlin() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin (02:00 CET -> 03:00 CEST): the handoff is at 03:30 CEST.
    s = layer("Europe/Berlin", rotation="daily", handoff="02:30", start="2026-03-27")
    got = shifts(s, utc("2026-03-28T00:00"), utc("2026-03-31T00:00"))
    assert [(x.user, x.start, x.end) for x in got] == [
        ("a", utc("2026-03-28T00:00"), utc("2026-03-28T01:30")),
        ("b", utc("2026-03-28T01:30"), utc("2026-03-29T01:30")),  # 02:30 CET -> 03:30 CEST
        ("c", utc("2026-03-29T01:30"), utc("2026-03-30T00:30")),  # -> 02:30 CEST: 23 hours
        ("a", utc("2026-03-30T00:30"), utc("2026-03-31T00:00")),
    ]
    assert who_is_on_call(s, utc("2026-03-29T01:29:59")).user == "b"
    assert who_is_on_call(s, utc("2026-03-29T01:30")).user == "c"


def test_a_handoff_in_the_spring_gap_new_york() -> None:
    s = layer("America/New_York", rotation="weekly", handoff="sunday 02:15", start="2026-03-01")
    now = who_is_on_call(s, utc("2026-03-05T12:00"))
    # 02:15 does not exist on 2026-03-08: 03:15 EDT, which is 07:15Z (02:15 EST would be 07:15Z too).
    assert (now.user, now.next_user, now.handoff) == ("a", "b", utc("2026-03-08T07:15"))
    assert now.handoff is not None
    assert now.handoff - utc("2026-03-01T07:15") == timedelta(hours=168)  # moved past the gap by the jump
    nxt = who_is_on_call(s, utc("2026-03-08T07:15"))
    assert nxt.handoff == utc("2026-03-15T06:15")  # 02:15 EDT: this turn lasts 167 hours
    assert nxt.handoff is not None
    assert nxt.handoff - utc("2026-03-08T07:15") == timedelta(hours=167)


def test_an_ambiguous_handoff_in_the_repeated_autumn_hour_means_its_first_occurrence() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01: 01:30 EDT (05:30Z) comes first, then 01:30 EST (06:30Z).
    s = layer("America/New_York", rotation="daily", handoff="01:30", start="2026-10-30")
    got = shifts(s, utc("2026-10-31T12:00"), utc("2026-11-02T12:00"))
    assert [(x.user, x.start, x.end) for x in got] == [
        ("b", utc("2026-10-31T12:00"), utc("2026-11-01T05:30")),
        ("c", utc("2026-11-01T05:30"), utc("2026-11-02T06:30")),  # 25 hours
        ("a", utc("2026-11-02T06:30"), utc("2026-11-02T12:00")),
    ]
    assert who_is_on_call(s, utc("2026-11-01T06:00")).user == "c"  # 01:00 EST: the hour came round again
    # Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 CEST (00:30Z) is the handoff, not 02:30 CET.
    b = layer("Europe/Berlin", rotation="weekly", handoff="sunday 02:30", start="2026-10-18")
    assert who_is_on_call(b, utc("2026-10-20T00:00")).handoff == utc("2026-10-25T00:30")


def test_restrictions_single_days_wrapping_ranges_and_past_midnight() -> None:
    weekend = layer(
        "Europe/Berlin", rotation="weekly", handoff="monday 00:00", start="2026-06-01", restrict="sat"
    )
    assert who_is_on_call(weekend, utc("2026-06-05T21:59")).user is None  # Friday 23:59 CEST
    on = who_is_on_call(weekend, utc("2026-06-05T22:00"))  # Saturday 00:00 CEST
    assert (on.user, on.handoff, on.next_user) == ("a", utc("2026-06-06T22:00"), None)
    nights = layer(
        "Europe/Berlin", rotation="daily", handoff="18:00", start="2026-06-01", restrict="fri-mon 18:00-08:00"
    )
    # fri, sat, sun, mon nights; Tuesday 2026-06-02 20:00 CEST is not one of them.
    assert who_is_on_call(nights, utc("2026-06-02T18:00")).user is None
    assert who_is_on_call(nights, utc("2026-06-01T18:00")).user == "a"  # Monday 20:00 CEST
    assert who_is_on_call(nights, utc("2026-06-02T05:59")).user == "a"  # Tuesday 07:59: Monday's night
    assert who_is_on_call(nights, utc("2026-06-02T06:00")).user is None
    sun = who_is_on_call(nights, utc("2026-06-07T05:00"))  # Sunday 07:00 CEST: Saturday's night, f's turn
    assert (sun.user, sun.handoff) == ("c", utc("2026-06-07T06:00"))


def test_a_later_layer_covers_the_gaps_of_an_earlier_one() -> None:
    s = schedule(
        """
[schedules.s]
timezone = "Europe/Berlin"
[[schedules.s.layers]]
name = "business"
users = ["alice", "bob"]
rotation = "weekly"
handoff = "monday 09:00"
start = "2026-06-01"
restrict = "mon-fri 09:00-17:00"
[[schedules.s.layers]]
name = "follow-the-sun"
users = ["yuki", "zoe"]
rotation = "daily"
handoff = "00:00"
start = "2026-06-01"
"""
    )
    day = who_is_on_call(s, utc("2026-06-01T07:00"))  # Monday 09:00 CEST
    assert (day.user, day.decided_by, day.next_user, day.handoff) == (
        "alice",
        "business",
        "yuki",  # Monday 17:00: business has nobody; Monday is follow-the-sun's first day, yuki's
        utc("2026-06-01T15:00"),
    )
    assert who_is_on_call(s, utc("2026-06-01T15:00")).decided_by == "follow-the-sun"
    assert who_is_on_call(s, utc("2026-06-01T15:00")).user == "yuki"
    week = shifts(s, utc("2026-05-31T22:00"), utc("2026-06-01T22:00"))  # Monday, midnight to midnight CEST
    assert [(x.user, x.source) for x in week] == [
        ("yuki", "follow-the-sun"),
        ("alice", "business"),
        ("yuki", "follow-the-sun"),
    ]
    assert week[0].end == week[1].start and week[1].end == week[2].start


def test_overrides_beat_every_layer_and_a_later_override_beats_an_earlier_one() -> None:
    s = schedule(
        """
[schedules.s]
timezone = "America/New_York"
[[schedules.s.layers]]
users = ["alice"]
rotation = "daily"
handoff = "09:00"
start = "2026-06-01"
[[schedules.s.overrides]]
user = "dave"
from = "2026-06-03T09:00"
to = "2026-06-04T09:00"
[[schedules.s.overrides]]
user = "erin"
from = "2026-06-03T12:00"
to = "2026-06-03T13:00"
"""
    )
    assert who_is_on_call(s, utc("2026-06-03T12:59")).user == "alice"  # 08:59 EDT
    dave = who_is_on_call(s, utc("2026-06-03T13:00"))  # 09:00 EDT: the override starts
    assert (dave.user, dave.decided_by, dave.next_user, dave.handoff) == (
        "dave",
        "override",
        "erin",
        utc("2026-06-03T16:00"),
    )
    assert who_is_on_call(s, utc("2026-06-03T16:30")).user == "erin"
    assert who_is_on_call(s, utc("2026-06-03T17:00")).user == "dave"
    back = who_is_on_call(s, utc("2026-06-04T13:00"))
    assert (back.user, back.decided_by, back.handoff) == ("alice", "layer 1", None)  # one user: never changes
    got = shifts(s, utc("2026-06-03T00:00"), utc("2026-06-05T00:00"))
    assert [(x.user, x.source) for x in got] == [
        ("alice", "layer 1"),
        ("dave", "override"),
        ("erin", "override"),
        ("dave", "override"),
        ("alice", "layer 1"),
    ]


# --- bad files, with their lines ----------------------------------------------------------------

GOOD_LAYER = 'users = ["a"]\nrotation = "daily"\nhandoff = "09:00"\nstart = "2026-06-01"\n'


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('[schedules.s]\ntimezone = "Mars/Olympus"\n[[schedules.s.layers]]\n' + GOOD_LAYER, 2, "timezone"),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\nusers = ["a"]\nrotation = "hourly"\n',
            5,
            "daily",
        ),
        ('[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\nusers = []\n', 4, "non-empty"),
        (
            '[schedules.s]\ntimezone = "UTC"\n\n[[schedules.s.layers]]\n'
            + GOOD_LAYER
            + '\n[[schedules.s.layers]]\nusers = ["a"]\nrotation = "weekly"\nhandoff = "09:00"\n',
            13,
            "DAY HH:MM",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\nusers = ["a"]\nrotation = "weekly"\n'
            'handoff = "monday 09:00"\nstart = "2026-06-02"\n',
            7,
            "tuesday",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\n'
            + GOOD_LAYER
            + 'restrict = "mon-fry"\n',
            8,
            "restrict",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\n' + GOOD_LAYER + 'restrict = "9-5"\n',
            8,
            "restrict",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\nusers = ["a"]\nrotation = "daily"\n'
            'handoff = "25:00"\n',
            6,
            "handoff",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\n'
            + GOOD_LAYER
            + '[[schedules.s.overrides]]\nuser = "d"\nfrom = "2026-06-02T00:00"\nto = "2026-06-01T00:00"\n',
            11,
            "end after",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\n'
            + GOOD_LAYER
            + '[[schedules.s.overrides]]\nuser = "d"\nfrom = "tomorrow"\nto = "2026-06-01T00:00"\n',
            10,
            "from",
        ),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\n' + GOOD_LAYER + "handof = 1\n",
            8,
            "handof",
        ),
        ('[schedules.s]\ntimezone = "UTC"\n', 1, "layers"),
        (
            '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\nusers = ["a"]\nrotation = "daily"\n'
            'handoff = "09:00"\nstart = 0001-01-01\n',
            7,
            "between 1970 and 2200",
        ),
        ("[teams]\nops = []\n", 2, "team 'ops'"),
        ('[teams]\nops = ["a"\nx = 1\n', 3, ""),  # a TOML syntax error: tomllib's line
    ],
)
def test_bad_files_name_the_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(OncallFileError) as err:
        parse_oncall(text, Path("bad.toml"))
    assert str(err.value).startswith(f"bad.toml:{line}: "), str(err.value)
    assert needle in str(err.value)


def test_an_unreadable_file_is_an_oncall_file_error(tmp_path: Path) -> None:
    with pytest.raises(OncallFileError, match=r"missing\.toml:1: cannot read it"):
        load_oncall_file(tmp_path / "missing.toml")


def test_the_package_loads_no_io_or_ui_module() -> None:
    probe = (
        "import sys, warroom.oncall, warroom.oncall.check\n"
        "bad = [m for m in ('textual', 'rich', 'websockets', 'httpx', 'asyncio', 'sqlite3', 'server',"
        " 'warroom.client', 'warroom.cli', 'warroom.app', 'icalendar') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# --- the CLI, in a real subprocess -----------------------------------------------------------------

CLI_FILE = EXAMPLE.replace(
    'restrict = "mon-fri 09:00-17:00"    # optional; outside it this layer has nobody\n', ""
)


@pytest.fixture
def schedules_file(tmp_path: Path) -> Path:
    path = tmp_path / "oncall.toml"
    path.write_text(CLI_FILE, encoding="utf-8")
    return path


async def test_oncall_json_is_exactly_the_documented_shape(env: dict[str, str], schedules_file: Path) -> None:
    # Sunday 2026-10-25 12:00 CET, after the fall-back: alice until Monday 09:00 CET.
    r = await warroom(
        env, "oncall", "platform", "--at", "2026-10-25T12:00", "--json", "--schedules", str(schedules_file)
    )
    assert r.code == 0, r.err
    assert (
        r.out
        == '{"schedule": "platform", "now": "alice", "next": "bob", "handoff": "2026-10-26T08:00:00Z"}\n'
    )
    # The same instant with an offset; the file from WARROOM_SCHEDULES.
    r = await warroom(
        {**env, "WARROOM_SCHEDULES": str(schedules_file)},
        "oncall",
        "platform",
        "--at",
        "2026-10-25T11:00Z",
        "--json",
    )
    assert json.loads(r.out)["now"] == "alice"


async def test_oncall_for_people_and_explain(env: dict[str, str], schedules_file: Path) -> None:
    config = Path(env["WARROOM_CONFIG_DIR"])
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f'schedules = "{schedules_file.as_posix()}"\n', encoding="utf-8")
    r = await warroom(env, "oncall", "platform", "--at", "2026-12-01T10:00", "--explain")  # from the config
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "platform: dave on call until 2026-12-02 00:00 CET (2026-12-01T23:00:00Z), then alice"
    assert lines[1].startswith("decided by an override: dave from 2026-12-01 00:00 CET")
    r = await warroom(env, "oncall", "platform", "--at", "2026-10-20T10:00", "--explain", "--json")
    assert json.loads(r.out)["decided_by"] == "primary"
    r = await warroom(env, "oncall", "platform", "--at", "2026-10-01T10:00", "--json")  # before the start
    assert json.loads(r.out) == {
        "schedule": "platform",
        "now": None,
        "next": "alice",
        "handoff": "2026-10-19T07:00:00Z",
    }


async def test_oncall_shifts(env: dict[str, str], schedules_file: Path) -> None:
    args = ["oncall", "shifts", "platform", "--schedules", str(schedules_file)]
    r = await warroom(env, *args, "--from", "2026-11-30T00:00", "--to", "2026-12-03T00:00", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == [
        {
            "user": "carol",
            "start": "2026-11-29T23:00:00Z",
            "end": "2026-11-30T08:00:00Z",
            "source": "primary",
        },
        {
            "user": "alice",
            "start": "2026-11-30T08:00:00Z",
            "end": "2026-11-30T23:00:00Z",
            "source": "primary",
        },
        {
            "user": "dave",
            "start": "2026-11-30T23:00:00Z",
            "end": "2026-12-01T23:00:00Z",
            "source": "override",
        },
        {
            "user": "alice",
            "start": "2026-12-01T23:00:00Z",
            "end": "2026-12-02T23:00:00Z",
            "source": "primary",
        },
    ]
    r = await warroom(env, *args, "--from", "2026-11-30T00:00", "--to", "2026-12-01T00:00")
    assert r.out.splitlines() == [
        "2026-11-30 00:00 CET  2026-11-30 09:00 CET  carol  (primary)",
        "2026-11-30 09:00 CET  2026-12-01 00:00 CET  alice  (primary)",
    ]
    r = await warroom(env, *args, "--from", "2026-11-30T00:00")
    assert "--to" in r.one_line_error()


async def test_oncall_export_ical(env: dict[str, str], schedules_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "platform.ics"
    r = await warroom(
        env, "oncall", "export", "platform", "--ical", "--schedules", str(schedules_file),
        "--from", "2026-10-19T00:00", "--to", "2026-11-02T00:00", "-o", str(out),
    )  # fmt: skip
    assert r.code == 0, r.err
    cal = Calendar.from_ical(out.read_bytes())
    events = [(str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend")) for e in cal.walk("VEVENT")]
    assert events == [
        ("alice on call (platform)", utc("2026-10-19T07:00"), utc("2026-10-26T08:00")),
        ("bob on call (platform)", utc("2026-10-26T08:00"), utc("2026-11-01T23:00")),
    ]
    r = await warroom(env, "oncall", "export", "platform", "--schedules", str(schedules_file))
    assert "--ical" in r.one_line_error()


async def test_schedule_check(env: dict[str, str], schedules_file: Path, tmp_path: Path) -> None:
    r = await warroom(env, "schedule", "check", str(schedules_file), "--at", "2026-10-19T07:00Z")
    assert (r.code, r.out) == (0, f"{schedules_file}: ok: 1 schedules, 1 teams\n"), r.err
    gappy = tmp_path / "gappy.toml"
    gappy.write_text(
        '[schedules.night]\ntimezone = "Europe/Berlin"\n\n[[schedules.night.layers]]\nusers = ["a", "b"]\n'
        'rotation = "daily"\nhandoff = "02:30"\nstart = "2027-03-01"\nrestrict = "mon-fri"\n',
        encoding="utf-8",
    )
    r = await warroom(env, "schedule", "check", str(gappy), "--at", "2027-03-01T01:30Z", "--days", "30")
    assert r.code == 1, r.err
    assert f"{gappy}:1: warning: schedule night: nobody on call from 2027-03-06 00:00 CET" in r.out
    # Berlin springs forward on 2027-03-28: 02:30 does not happen that night.
    assert f"{gappy}:4: warning: schedule night layer layer 1: the handoff on 2027-03-28 at 02:30" in r.out
    assert "03:30 CEST" in r.out
    bad = tmp_path / "bad.toml"
    bad.write_text('[schedules.s]\ntimezone = "Nowhere/City"\n', encoding="utf-8")
    r = await warroom(env, "schedule", "check", str(bad))
    assert r.one_line_error() == f"{bad}:2: unknown timezone 'Nowhere/City'"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["oncall", "platform", "--at", "next tuesday"], "--at 'next tuesday' is not a time"),
        (["oncall", "platform", "--at", "2026-13-01T00:00"], "is not a time"),
        (["oncall", "nosuch"], "no schedule 'nosuch'"),
        (["oncall", "platform", "--at", "9999-12-31T23:00"], "out of range"),
        (["oncall", "shifts"], "name the schedule"),
        (
            ["oncall", "shifts", "platform", "--from", "2026-10-02", "--to", "2026-10-01"],
            "--to must come after",
        ),
    ],
)
async def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str], schedules_file: Path, args: list[str], needle: str
) -> None:
    r = await warroom(env, *args, "--schedules", str(schedules_file))
    assert needle in r.one_line_error()


async def test_no_schedules_file_anywhere_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    r = await warroom(env, "oncall", "platform")
    assert "no schedules file" in r.one_line_error()
    broken = tmp_path / "broken.toml"
    broken.write_text(
        '[schedules.p]\ntimezone = "UTC"\n[[schedules.p.layers]]\nusers = "alice"\n', encoding="utf-8"
    )
    r = await warroom(env, "oncall", "p", "--schedules", str(broken))
    assert r.one_line_error() == f"warroom: {broken}:4: users must be a non-empty list of names"


def test_the_documented_example_is_the_issue_example() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "oncall.md").read_text(encoding="utf-8")
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE


async def test_names_from_the_file_are_data_on_the_terminal(env: dict[str, str], tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(
        '[schedules.s]\ntimezone = "UTC"\n[[schedules.s.layers]]\n'
        'users = ["\\u001b]0;owned\\u0007eve\\u202e"]\n'
        'rotation = "daily"\nhandoff = "09:00"\nstart = "2026-06-01"\n',
        encoding="utf-8",
    )
    for args in (
        ["oncall", "s", "--explain"],
        ["oncall", "shifts", "s", "--from", "2026-06-02", "--to", "2026-06-03"],
    ):
        r = await warroom(env, *args, "--at", "2026-06-02T12:00Z", "--schedules", str(hostile))
        assert r.code == 0, r.err
        assert "eve" in r.out and not any(c in r.out for c in "\x1b\x07\u202e"), r.out
    r = await warroom(env, "oncall", "s", "--json", "--at", "2026-06-02T12:00Z", "--schedules", str(hostile))
    assert json.loads(r.out)["now"] == "\x1b]0;owned\x07eve\u202e"  # exact in JSON, escaped on the wire
    assert "\x1b" not in r.out
