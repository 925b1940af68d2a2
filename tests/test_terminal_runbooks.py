"""Runbooks in two real terminals (tmux) on one hub: attached by an alert, worked in one, seen in both.

The Pilot tests (test_runbook_app.py) read the panel's options; only a real
terminal shows what a responder actually sees: the section in the side panel's
width, the marks, who did what, and a second screen that follows the first. And
only a real terminal sends keys in a burst, as a fast typist does.

The hub's clock runs a few minutes behind the terminals' (clock skew, as between
two machines), so a step due a minute after attaching is overdue at once, with no
wait for the minute to pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import load_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN
from tests.test_runbook_hub import webhook
from tests.tmux import Tmux, join, shows
from warroom.core.events import Command
from warroom.core.protocol import new_id

CHECKOUT = """---
id: checkout-5xx
title: Checkout 5xx
owner: payments
match:
  - 'alertname="CheckoutErrors", service="checkout"'
---
## Diagnose
- [ ] Open the dashboard {#dashboard}
- [ ] List deploys {#deploys role=tech}
- [ ] Page the DB team {#page-db due=+1m}
- [ ] Roll back {#rollback}
"""

CACHE = """---
id: edge-cache
title: Edge cache purge
owner: edge
---
- [ ] Purge the CDN {#purge}
- [ ] Warm the cache {#warm}
"""

LAG = timedelta(minutes=5)  # the hub's clock runs behind: a step due 1 minute after attaching is past


@pytest.fixture
async def library_hub(tmp_path: Path, db_path: Path) -> AsyncIterator[HubServer]:
    """A hub whose config names a library of two runbooks, and whose clock is LAG behind."""
    library = tmp_path / "runbooks"
    library.mkdir()
    (library / "checkout.md").write_text(CHECKOUT)
    (library / "cache.md").write_text(CACHE)
    path = tmp_path / "hub.toml"
    path.write_text('runbooks = "runbooks"\n')
    server = HubServer(
        db_path,
        TOKEN,
        clock=lambda: datetime.now(UTC) - LAG,
        config=load_hub_config(path),
        config_path=path,
    )
    await server.start()
    yield server
    await server.stop()


async def on_both(tmux: Tmux, *fragments: str) -> tuple[str, str]:
    """Both screens, once each shows every fragment (a timeline line may wrap).

    A frame can show one panel updated before another: a wait is on everything then asserted.
    """

    def condition(screen: str) -> bool:
        return all(f in screen or f in timeline(screen) for f in fragments)

    what = " and ".join(repr(f) for f in fragments)
    return (
        await shows(tmux, condition, f"A: {what}", session="main"),
        await shows(tmux, condition, f"B: {what}", session="other"),
    )


def row(screen: str, text: str) -> str:
    """The one line of the side panels (right of the timeline) that holds ``text``."""
    sides = [line.split("││")[-1].strip("│ ") for line in screen.splitlines() if "││" in line]
    found = [side for side in sides if text in side]
    assert len(found) == 1, f"{text!r} is on {len(found)} lines of the side panels:\n{screen}"
    return found[0]


def timeline(screen: str) -> str:
    """The timeline's text (the left column), its wrapped lines joined by single spaces."""
    left = [line[1:].split("│")[0] for line in screen.splitlines() if line.startswith("│")]
    return " ".join(" ".join(left).split())


def typed(tmux: Tmux, line: str) -> None:
    """Keys typed in A, as a person types them, then Enter."""
    tmux("send-keys", "-t", "main", "-l", line)
    tmux("send-keys", "-t", "main", "Enter")


async def test_a_runbook_attached_by_an_alert_and_worked_in_one_terminal_shows_in_the_other(
    tmux: Tmux,
    library_hub: HubServer,  # tmux first: without it, the test skips before a hub starts
) -> None:
    hub = library_hub

    async def run(type_: str, data: dict[str, Any], room: str | None = None) -> str:
        return (await hub.hub.execute(Command(new_id(), type_, data, room), "maria")).room

    room = await run("incident.declared", {"title": "Checkout down", "severity": "SEV2"})
    await run("role.assigned", {"role": "tech", "name": "carol"}, room)  # role=tech steps go to her
    tmux.start("main", join(hub.url, room, "A"))
    tmux.start("other", join(hub.url, room, "B"))
    await on_both(tmux, "A joined", "B joined")
    for session in ("main", "other"):  # wrapped, the timeline shows each line whole (why it attached)
        tmux("send-keys", "-t", session, "C-w")

    alert = {
        "labels": {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical"},
        "fingerprint": "co1",
    }
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.post(f"/api/v1/alerts/alertmanager?incident={room}", json=webhook(alert))
        assert answer.status_code == 202, answer.text
    why = 'match alertname="CheckoutErrors", service="checkout"'
    attached = await on_both(
        tmux,
        f"runbooks: attached runbook Checkout 5xx (checkout-5xx), 4 steps: {why}",  # the timeline line
        "Runbook 0/4 1 overdue",  # the panel's title
        "▤ 0/4 1 OVERDUE Checkout 5xx",  # the section's heading
        "☐ @carol List deploys",  # role=tech: the tech lead's on attaching
        f"T+{LAG.seconds // 60}m 1 OVERDUE",  # the header: declared by the hub's clock, LAG ago
    )
    steps = (await hub.hub.settled_state(room)).runbooks["checkout-5xx"].steps
    due = steps["page-db"].due_at
    assert due is not None
    late = f"☐ OVERDUE {due[11:16]} Page the DB team"  # the due time the hub set on attaching
    for screen in attached:
        assert row(screen, "Open the dashboard") == "☐ Open the dashboard"
        assert row(screen, "Page the DB team") == late
        assert row(screen, "Roll back") == "☐ Roll back"

    # A: tab to the runbook (the cursor lands on the first open step), x checks it: one burst.
    tmux("send-keys", "-t", "main", "Tab", "x")
    await on_both(tmux, "☑ Open the dashboard A ")
    typed(tmux, "/skip rollback no deploy")
    skipped = "⊘ Roll back skipped by A: no deploy"
    await on_both(tmux, "A: skipped 'Roll back' (checkout-5xx): no deploy", skipped)
    typed(tmux, "/assign deploys @bob")
    a, b = await on_both(
        tmux, "A: gave 'List deploys' (checkout-5xx) to bob", "☐ @bob List deploys", "Runbook 2/4 1 overdue"
    )
    steps = (await hub.hub.settled_state(room)).runbooks["checkout-5xx"].steps
    assert [(steps[ref].state, steps[ref].by) for ref in ("dashboard", "rollback")] == [
        ("done", "A"),
        ("skipped", "A"),
    ]
    checked_at = steps["dashboard"].at
    assert checked_at is not None
    for screen in (a, b):
        assert row(screen, "Open the dashboard") == f"☑ Open the dashboard A {checked_at[11:16]}"
        assert row(screen, "Roll back") == "⊘ Roll back skipped by A: no deploy"
        assert row(screen, "List deploys") == "☐ @bob List deploys"
        assert row(screen, "Page the DB team") == late  # still open, still late
        assert "▤ 2/4 1 OVERDUE Checkout 5xx" in screen

    # A attaches a second runbook by hand: /runbook opens the picker, a word finds it, Enter attaches.
    typed(tmux, "/runbook")
    both = ("checkout-5xx  Checkout 5xx  payments", "edge-cache  Edge cache purge  edge")  # id, title, owner
    await shows(
        tmux, lambda s: "Attach a runbook: type to search" in s and all(x in s for x in both), "picker"
    )
    tmux("send-keys", "-t", "main", "-l", "purge")
    await shows(tmux, lambda s: [x for x in both if x in s] == [both[1]], "only the runbook searched for")
    tmux("send-keys", "-t", "main", "Enter")
    for screen in await on_both(
        tmux,
        "A: attached runbook Edge cache purge (edge-cache), 2 steps: attached by hand",
        "Runbook 2/6 1 overdue",
        "▤ 0/2 Edge cache purge",
        "☐ Warm the cache",
    ):
        assert row(screen, "Purge the CDN") == "☐ Purge the CDN"
        assert row(screen, "Warm the cache") == "☐ Warm the cache"
        assert row(screen, "Page the DB team") == late  # the first section is still there, as it was
