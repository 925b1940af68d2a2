"""The review document end to end: a scripted two-day incident on a real hub, read by the real
CLI (a subprocess), the HTTP API (httpx) and the app (Pilot)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Log

from server.runner import HubServer
from tests.conftest import TOKEN, Clock, issue, wait_for
from tests.test_app import make_app, running
from tests.test_cli import hub_args, warroom
from warroom.app.keymap import ACTS
from warroom.app.postmortem_view import PostmortemScreen, export_name
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.review.keep import CLOSE, OPEN
from warroom.review.postmortem import SECTIONS

RUNBOOK = {
    "title": "Database disk full",
    "sections": [
        {
            "heading": "Contain",
            "steps": [
                {"id": "free", "text": "Free disk on the primary"},
                {"id": "lag", "text": "Check replica lag"},
            ],
        }
    ],
}
HOSTILE_DECISION = "| forged | row |\n## Forged section\n<!-- warroom:keep -->[@click=app.quit]x[/]"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked(db_path: Path, clock: Clock) -> AsyncIterator[HubServer]:
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def script(server: HubServer, clock: Clock) -> str:
    """An incident from 2026-11-28 22:00 to the next morning, with a reopen and corrected milestones."""
    room = ""

    async def do(
        when: datetime, type_: str, data: dict[str, Any], actor: str = "ann", internal: bool = False
    ) -> int:
        nonlocal room
        clock.now = when
        ack = await server.hub.execute(Command(new_id(), type_, data, room or None), actor, internal=internal)
        room = ack.room
        return ack.seq

    await do(at(28, 22, 0), "incident.declared", {"title": "EU card payments fail", "severity": "SEV2"})
    alert = {
        "fingerprint": "fp-disk",
        "alertname": "DiskFull",
        "labels": {"service": "checkout", "instance": "db-1"},
        "starts_at": "2026-11-28T21:55:00Z",
    }
    await do(at(28, 22, 1), "alert.upserted", alert, "alertmanager", internal=True)
    await do(at(28, 22, 5), "alert.acknowledged", {"fingerprint": "fp-disk"}, "bob")
    await do(at(28, 22, 6), "entry.added", {"text": "coffee anyone?"}, "cy")
    await do(at(28, 22, 7), "entry.added", {"text": "db-1 disk at 100%", "kind": "finding"}, "bob")
    pinned = await do(at(28, 22, 8), "entry.added", {"text": "ticket 4411: EU cards declined"}, "cy")
    await do(at(28, 22, 8), "entry.pinned", {"entry": pinned})
    wrong = await do(at(28, 22, 10), "entry.added", {"text": "DNS looks wrong", "kind": "finding"}, "bob")
    await do(at(28, 22, 11), "entry.struck", {"entry": wrong, "reason": "a wrong guess"}, "bob")
    decided = await do(at(28, 22, 12), "entry.added", {"text": "fail over to a replica", "kind": "decision"})
    await do(at(28, 22, 13), "entry.edited", {"entry": decided, "text": "fail over to replica db-2"})
    await do(at(28, 22, 14), "entry.added", {"text": HOSTILE_DECISION, "kind": "decision"}, "eve")
    broadcast = {
        "message": "EU card payments failing; failing over",
        "impact": "EU customers cannot pay by card",
    }
    await do(at(28, 22, 15), "status.broadcast", broadcast)
    await do(at(28, 22, 20), "incident.severity_changed", {"severity": "SEV1"})
    await do(at(28, 22, 25), "role.assigned", {"role": "scribe", "name": "cy"})
    await do(at(28, 22, 30), "role.offered", {"role": "commander", "to": "bob"})
    await do(at(28, 22, 31), "role.accepted", {"role": "commander"}, "bob")
    await do(
        at(28, 22, 40), "runbook.attached", {"runbook": "db-disk", "snapshot": RUNBOOK}, "bob", internal=True
    )
    await do(at(28, 22, 45), "step.checked", {"runbook": "db-disk", "step": "free"}, "bob")
    await do(
        at(28, 22, 46),
        "step.skipped",
        {"runbook": "db-disk", "step": "lag", "reason": "no replica lag"},
        "bob",
    )
    # The next day: mitigated, resolved, reopened, resolved again.
    await do(at(29, 0, 20), "incident.status_changed", {"status": "monitoring"}, "bob")
    await do(at(29, 1, 50), "incident.status_changed", {"status": "resolved"}, "bob")
    await do(
        at(29, 2, 0), "incident.status_changed", {"status": "investigating", "reason": "errors again"}, "bob"
    )
    await do(at(29, 2, 30), "incident.status_changed", {"status": "resolved"}, "bob")
    corrected = {
        "milestone": "impact_started",
        "at": "2026-11-28T21:50:00Z",
        "reason": "first failed payment",
    }
    await do(at(29, 9, 0), "incident.milestone_corrected", corrected, "bob")
    review: list[tuple[str, dict[str, Any]]] = [
        (
            "review.updated",
            {"field": "summary", "text": "EU card payments failed for 4h40m.\nThe db disk filled."},
        ),
        ("review.updated", {"field": "impact_customer", "text": "EU customers could not pay by card"}),
        ("review.updated", {"field": "impact_technical", "text": "db-1 read-only"}),
        ("incident.impact_set", {"fraction": 0.25}),
        ("review.why_set", {"level": 1, "why": "payments failed", "because": "db-1 went read-only"}),
        ("review.why_set", {"level": 2, "why": "db-1 went read-only", "because": "its disk filled"}),
        ("review.item_added", {"section": "factors", "text": "no alert on disk growth"}),
        ("review.item_added", {"section": "went_well", "text": "the runbook was current"}),
        ("review.item_added", {"section": "lucky", "text": "a replica was in sync"}),
        ("action.added", {"text": "Alert on disk growth", "owner": "carol", "due": "2026-12-05"}),
        ("action.added", {"text": "Move logs off the data disk", "owner": "dan", "due": "2026-11-28"}),
        ("action.added", {"text": "Rewrite the db layer"}),
        ("action.updated", {"action": "A-3", "status": "wont_do", "reason": "too big for the gain"}),
    ]
    for n, (type_, data) in enumerate(review):
        await do(at(29, 9, 1 + n), type_, data, "bob")
    await server.hub.settled_state(room)
    return room


def sections(text: str) -> dict[str, str]:
    """Each ``## `` section's text, by heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


async def test_the_review_of_a_two_day_incident(
    clocked: HubServer, clock: Clock, env: dict[str, str]
) -> None:
    room = await script(clocked, clock)
    result = await warroom(env, "postmortem", room, *hub_args(clocked))
    assert result.code == 0, result.err
    text = result.out
    assert re.findall(r"^## (.+)$", text, re.M) == [heading for _, heading in SECTIONS]
    assert text.startswith(f"# Postmortem: {room}: EU card payments fail\n")
    part = sections(text)

    assert "EU card payments failed for 4h40m.\nThe db disk filled." in part["Summary"]
    impact = part["Impact"]
    assert "**Customer impact.** EU customers could not pay by card" in impact
    assert "**Business impact.** Not written yet." in impact
    assert "Duration: 2h 30m 00s, from 2026-11-28 21:50:00 UTC (impact started)" in impact
    assert "to 2026-11-29 00:20:00 UTC (mitigated)" in impact
    assert "Users affected: 25% (impact fraction 0.25)" in impact and "Services: checkout" in impact
    assert "- 2026-11-28 22:15:00 UTC, ann: EU customers cannot pay by card" in impact

    timeline = part["Timeline"]
    assert "All times UTC, from 2026-11-28 to 2026-11-29." in timeline
    rows = [line for line in timeline.splitlines() if line.startswith("| 2026-")]
    assert rows == sorted(rows), "in time order"
    assert "| 2026-11-28 21:50:00 | milestone |  | impact started |" in rows
    assert "| 2026-11-28 21:55:00 | milestone |  | detected |" in rows
    assert "| 2026-11-28 22:07:00 | finding | bob | db-1 disk at 100% |" in rows
    assert "| 2026-11-28 22:08:00 | note, pinned | cy | ticket 4411: EU cards declined |" in rows
    assert "| 2026-11-28 22:12:00 | decision, edited | ann | fail over to replica db-2 |" in rows
    assert "coffee anyone" not in text, "plain notes only with --all"
    assert "DNS looks wrong" not in text, "struck entries are left out"
    assert "fail over to a replica" not in text, "an edited entry shows its final text"
    assert any("| broadcast | ann | EU card payments failing; failing over · impact:" in r for r in rows)
    assert any("22:20:00 | severity | ann | severity SEV2 → SEV1" in r for r in rows)
    assert any("22:31:00 | role | bob | bob accepted incident commander from ann" in r for r in rows)
    assert any("22:45:00 | runbook step | bob | Database disk full (db-disk/free): " in r for r in rows)
    assert any("22:46:00 | runbook step | bob |" in r and "skipped: no replica lag" in r for r in rows)
    assert any(r.startswith("| 2026-11-29 00:20:00 | status (mitigated) | bob |") for r in rows)
    assert any(
        r.startswith("| 2026-11-29 02:00:00 | status | bob | reopened: resolved → investigating")
        for r in rows
    )
    assert any(r.startswith("| 2026-11-29 02:30:00 | status (resolved) | bob |") for r in rows)
    # The hostile decision is one row: its pipes, heading and marker are escaped text.
    forged = [r for r in rows if "forged" in r]
    assert len(forged) == 1 and forged[0].count(" | ") == 3 and "\\| forged \\|" in forged[0]
    assert text.count(OPEN) == len(SECTIONS) + 1 and "## Forged" not in text

    roles = part["Roles"]
    assert (
        "| incident commander | ann | 2026-11-28 22:00:00 UTC | 2026-11-28 22:31:00 UTC (to bob) | ann |"
        in roles
    )
    assert "| incident commander | bob | 2026-11-28 22:31:00 UTC | held to the end | ann |" in roles
    assert "| scribe | cy | 2026-11-28 22:25:00 UTC | held to the end | ann |" in roles
    cause = part["Root cause and contributing factors"]
    assert "| 2 | db-1 went read-only | its disk filled |" in cause
    assert "- no alert on disk growth" in cause
    assert "- the runbook was current" in part["What went well"]
    assert "- a replica was in sync" in part["Where we got lucky"]
    assert "| A-1 | Alert on disk growth | carol | 2026-12-05 | open |" in part["Action items"]
    follow = part["Follow-up"]
    assert "Status as of 2026-11-29 09:13:00 UTC (the log's last event" in follow
    assert "0 of 3 done (0 on time), 1 overdue, 1 won't do." in follow
    assert "| A-2 | open, overdue by 1 day |" in follow
    assert "| A-3 | won't do: too big for the gain |" in follow
    numbers = part["Metrics"]
    assert (
        "| TTA | acknowledged - detected | 2026-11-28 21:55:00 UTC | 2026-11-28 22:05:00 UTC | 10m 00s |"
        in numbers
    )
    assert (
        "| TTM | mitigated - impact start | 2026-11-28 21:50:00 UTC | 2026-11-29 00:20:00 UTC | 2h 30m 00s |"
        in numbers
    )
    assert (
        "| TTR | resolved - impact start | 2026-11-28 21:50:00 UTC | 2026-11-29 02:30:00 UTC | 4h 40m 00s |"
        in numbers
    )
    assert "Reopened 1x: TTR runs to the last resolution." in numbers

    again = await warroom(env, "postmortem", room, *hub_args(clocked))
    assert again.out == text, "two exports of the same log are byte-identical"
    every = (await warroom(env, "postmortem", room, "--all", *hub_args(clocked))).out
    assert "coffee anyone?" in every and "DNS looks wrong" not in every
    later = await warroom(env, "postmortem", room, "--now", "2026-12-10", *hub_args(clocked))
    assert "Status as of 2026-12-10 00:00:00 UTC (the time asked for)" in later.out
    assert "| A-1 | open, overdue by 5 days |" in later.out

    async with httpx.AsyncClient(
        base_url=clocked.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        served = await http.get(f"/api/v1/incidents/{room}/postmortem.md")
        assert served.status_code == 200 and served.headers["content-type"] == "text/markdown; charset=utf-8"
        assert served.text == text, "the hub serves the bytes the CLI prints"
        assert "coffee anyone?" in (await http.get(f"/api/v1/incidents/{room}/postmortem.md?all=1")).text
        doc = (await http.get(f"/api/v1/incidents/{room}/postmortem.json")).json()
    printed = json.loads((await warroom(env, "postmortem", room, "--format", "json", *hub_args(clocked))).out)
    assert printed == doc
    assert doc["schema"] == "warroom.postmortem/1"
    assert (doc["metrics"]["tta_s"], doc["metrics"]["ttm_s"], doc["metrics"]["ttr_s"]) == (600, 9000, 16800)
    assert [k for k in doc if k not in ("schema", "incident", "all_entries")] == [key for key, _ in SECTIONS]
    assert doc["timeline"][0] == {
        "at": "2026-11-28T21:50:00.000Z",
        "kind": "milestone",
        "by": None,
        "text": "impact started",
        "entry": None,
        "pinned": False,
        "edited": False,
        "milestones": ["impact_started"],
    }
    assert HOSTILE_DECISION in [row["text"] for row in doc["timeline"]], "JSON keeps the exact text"


async def test_keep_blocks_survive_a_regenerate(
    clocked: HubServer, clock: Clock, env: dict[str, str], tmp_path: Path
) -> None:
    room = await script(clocked, clock)
    out = tmp_path / "review.md"
    wrote = await warroom(env, "postmortem", room, "-o", str(out), *hub_args(clocked))
    assert wrote.code == 0 and wrote.out.strip() == f"{room}: review written to {out}"
    first = out.read_text()
    assert first == (await warroom(env, "postmortem", room, *hub_args(clocked))).out

    def fill(text: str, heading: str, words: str) -> str:
        block = text.index(OPEN, text.index(f"## {heading}\n")) + len(OPEN)
        return text[:block] + "\n" + words + text[block:]

    edited = fill(first, "Summary", "Reviewed on 2026-12-01 by the team.\n\n## Not a section, our text")
    edited = fill(edited, "What went well", "- the pager woke the right person")
    edited = edited.replace("**Business impact.** Not written yet.", "hand edit outside a block")
    out.write_text(edited)
    clock.now = at(29, 10, 0)
    await clocked.hub.execute(
        Command(new_id(), "entry.added", {"text": "late finding", "kind": "finding"}, room), "bob"
    )
    again = await warroom(env, "postmortem", room, "-o", str(out), *hub_args(clocked))
    assert again.code == 0, again.err
    regenerated = out.read_text()

    def part(heading: str, following: str) -> str:
        return regenerated[regenerated.index(f"## {heading}\n") : regenerated.index(f"## {following}\n")]

    assert "late finding" in part("Timeline", "Roles")
    kept = f"{OPEN}\nReviewed on 2026-12-01 by the team.\n\n## Not a section, our text\n{CLOSE}"
    assert kept in part("Summary", "Impact"), "a heading inside a keep block is the team's text"
    assert f"{OPEN}\n- the pager woke the right person\n{CLOSE}" in part(
        "What went well", "Where we got lucky"
    )
    assert "hand edit outside a block" not in regenerated, "text outside keep blocks is regenerated"
    third = await warroom(env, "postmortem", room, "-o", str(out), *hub_args(clocked))
    assert third.code == 0 and out.read_text() == regenerated, "a regenerate of the same log changes nothing"

    head, _, tail = regenerated.rpartition(CLOSE)
    broken = head + tail  # the last block, Metrics', left open
    out.write_text(broken)
    refused = (await warroom(env, "postmortem", room, "-o", str(out), *hub_args(clocked))).one_line_error()
    opened = broken.count("\n", 0, broken.rindex(OPEN)) + 1
    assert (
        refused == f"warroom: {out}:{opened}: this keep block is never closed with {CLOSE}; nothing written"
    )
    assert out.read_text() == broken, "a file whose keep blocks do not close is left alone"
    missing_dir = tmp_path / "nowhere" / "review.md"
    line = (
        await warroom(env, "postmortem", room, "-o", str(missing_dir), *hub_args(clocked))
    ).one_line_error()
    assert line.startswith(f"warroom: {missing_dir}: cannot write it")


async def test_cli_refusals(hub: HubServer, env: dict[str, str]) -> None:
    unknown = (await warroom(env, "postmortem", "INC-404", *hub_args(hub))).one_line_error()
    assert unknown == "warroom: no incident 'INC-404'"
    bad_now = (await warroom(env, "postmortem", "INC-1", "--now", "soon", *hub_args(hub))).one_line_error()
    assert "--now 'soon'" in bad_now
    stray = (await warroom(env, "postmortem", "INC-1", "extra", *hub_args(hub))).one_line_error()
    assert "only 'postmortem check FILE' takes a file" in stray


async def test_http_answers_and_refusals(hub: HubServer) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        room = (await http.post("/api/v1/incidents", json={"title": "t", "severity": "SEV3"})).json()["id"]
        other = (await http.post("/api/v1/incidents", json={"title": "u", "severity": "SEV3"})).json()["id"]
        missing = await http.get("/api/v1/incidents/INC-404/postmortem.md")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_room"
        assert (await http.get("/api/v1/incidents/INC-404/postmortem.json")).status_code == 404
        bad = await http.get(f"/api/v1/incidents/{room}/postmortem.md?all=maybe")
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "all"
        odd = await http.get(f"/api/v1/incidents/{room}/postmortem.json?colour=red")
        assert odd.status_code == 422 and odd.json()["error"]["code"] == "unknown_field"
        assert (await http.get(f"/api/v1/incidents/{room}/postmortem.json?now=later")).status_code == 422
        assert (await http.get(f"/api/v1/incidents/{room}/postmortem.txt")).status_code == 404
    assert (
        await httpx.AsyncClient().get(f"{hub.http_url}/api/v1/incidents/{room}/postmortem.md")
    ).status_code == 401
    viewer = await issue(hub, "sam", level="viewer", scope=[room])
    async with httpx.AsyncClient(
        base_url=hub.http_url, headers={"Authorization": f"Bearer {viewer}"}
    ) as http:
        assert (await http.get(f"/api/v1/incidents/{room}/postmortem.md")).status_code == 200
        hidden = await http.get(f"/api/v1/incidents/{other}/postmortem.json")
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "unknown_room"


async def test_the_blameless_check(env: dict[str, str], tmp_path: Path) -> None:
    review = tmp_path / "review.md"
    review.write_text(
        "# Review\n\nThe deploy tool let a bad config through.\nIt was human error.\n\n"
        f"{OPEN}\nShe should have checked; careless.\n{CLOSE}\n"
    )
    found = await warroom(env, "postmortem", "check", str(review))
    assert found.code == 1, found.err
    assert found.out.splitlines() == [
        f'{review}:4: blameless: "human error"',
        f'{review}:7: blameless: "should have"',
        f'{review}:7: blameless: "careless"',
    ]
    clean = tmp_path / "clean.md"
    clean.write_text("What made this easy to get wrong? The tool had no dry run.\n")
    ok = await warroom(env, "postmortem", "check", str(clean))
    assert (ok.code, ok.out) == (0, "")
    words = tmp_path / "words.txt"
    words.write_text("# our own list\ndry run\n")
    ours = await warroom(env, "postmortem", "check", str(clean), "--words", str(words))
    assert (ours.code, ours.out.strip()) == (1, f'{clean}:1: blameless: "dry run"')
    for args in (
        [str(tmp_path / "absent.md")],
        [str(clean), "--words", str(tmp_path / "absent.txt")],
        [str(clean), "--all"],
    ):
        line = (await warroom(env, "postmortem", "check", *args)).one_line_error()
        assert line.startswith("warroom: ")
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in (await warroom(env, "postmortem", "check", str(binary))).one_line_error()


async def test_the_app_previews_and_exports(
    clocked: HubServer, clock: Clock, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await script(clocked, clock)
    monkeypatch.chdir(tmp_path)
    assert "Postmortem" in [a.title for a in ACTS if a.listed], "in the command palette"
    app = make_app(clocked.url, "dora", room)
    async with running(app) as pilot:
        await wait_for(lambda: room in app.client.rooms and app.client.rooms[room].synced, what="the join")
        await app.screen.run_action("postmortem")
        await wait_for(lambda: isinstance(app.screen, PostmortemScreen), what="the preview")
        screen = app.screen
        assert isinstance(screen, PostmortemScreen)
        await pilot.pause()
        shown = list(screen.query_one("#postmortem-text", Log).lines)
        assert "## Summary" in shown and "## Metrics" in shown
        # Markup in an entry is shown as the Markdown source's characters, never read as markup.
        assert any("\\[@click=app.quit\\]x\\[/\\]" in line for line in shown)
        await pilot.press("e")
        path = tmp_path / export_name(room)
        await wait_for(path.exists, what="the export")
        written = path.read_text()
        assert any(f"postmortem written to {path}" in n.message for n in app._notifications)
        assert app.screen is screen and app.is_running, "the export key did not quit or close anything"
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, PostmortemScreen), what="the preview to close")
    # The app's file is the CLI's document, byte for byte, with dora's join on the record.
    printed = await warroom(env, "postmortem", room, *hub_args(clocked))
    assert written == printed.out
    assert export_name("a/../b c") == "a_.._b_c-postmortem.md"
