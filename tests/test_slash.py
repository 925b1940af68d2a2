"""The composer's slash commands, including what they refuse."""

from __future__ import annotations

import pytest

from warroom.app.slash import Action, Context, SlashError, completions, parse

CTX = Context(
    me="alice",
    selected_entry=7,
    checklist_ids=(3, 4, 9),
    checked=frozenset({4}),
    selected_alert="fp1",
    alerts=(("fp1", "HighErrorRate"), ("fp2", "DiskFull")),
    holders=(("commander", "maria"),),
)


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("db failover started", Action("entry.added", {"kind": "note", "text": "db failover started"})),
        ("/decision roll back", Action("entry.added", {"kind": "decision", "text": "roll back"})),
        ("/did restarted api-3", Action("entry.added", {"kind": "action", "text": "restarted api-3"})),
        ("/finding gateway resets", Action("entry.added", {"kind": "finding", "text": "gateway resets"})),
        ("/note  spaced  ", Action("entry.added", {"kind": "note", "text": "spaced"})),
        ("/status monitoring", Action("incident.status_changed", {"status": "monitoring"})),
        (
            "/status resolved fixed by rollback",
            Action("incident.status_changed", {"status": "resolved", "reason": "fixed by rollback"}),
        ),
        ("/sev 1", Action("incident.severity_changed", {"severity": "SEV1"})),
        (
            "/sev SEV3 contained",
            Action("incident.severity_changed", {"severity": "SEV3", "reason": "contained"}),
        ),
        ("/role tech me", Action("role.assigned", {"role": "tech", "name": "alice"})),
        ("/role scribe @bob", Action("role.assigned", {"role": "scribe", "name": "bob"})),
        ("/role comms release", Action("role.released", {"role": "comms"})),
        ("/role ic @bob", Action("role.offered", {"role": "commander", "to": "bob"})),  # held: an offer
        ("/role ic @maria", Action("role.assigned", {"role": "commander", "name": "maria"})),
        ("/accept ic", Action("role.accepted", {"role": "commander"})),
        ("/decline comms", Action("role.declined", {"role": "comms"})),
        ("/takeover tech gone dark", Action("role.taken_over", {"role": "tech", "reason": "gone dark"})),
        (
            "/silence 2h known flake",
            Action(
                "alert.silenced",
                {"fingerprint": "fp1", "minutes": 120, "reason": "known flake", "upstream": False},
            ),
        ),
        (
            "/silence DiskFull 45m disk swap",
            Action(
                "alert.silenced",
                {"fingerprint": "fp2", "minutes": 45, "reason": "disk swap", "upstream": False},
            ),
        ),
        ("/unsilence", Action("alert.unsilenced", {"fingerprint": "fp1"})),
        ("/attach INC-7", Action("alert.moved", {"fingerprint": "fp1", "to": "INC-7"})),
        ("/escalate sev2", Action("escalate", {"fingerprint": "fp1", "severity": "SEV2"})),
        ("/broadcast EU recovering", Action("status.broadcast", {"message": "EU recovering"})),
        (
            "/broadcast 15m EU recovering",
            Action("status.broadcast", {"message": "EU recovering", "next_update_in": 15}),
        ),
        ("/pin", Action("entry.pinned", {"entry": 7})),
        ("/pin #12", Action("entry.pinned", {"entry": 12})),
        ("/unpin 12", Action("entry.unpinned", {"entry": 12})),
        ("/strike #5 wrong host", Action("entry.struck", {"entry": 5, "reason": "wrong host"})),
        (
            "/edit #5 the replica, not the primary",
            Action("entry.edited", {"entry": 5, "text": "the replica, not the primary"}),
        ),
        ("/item Page the DBA", Action("checklist.item_added", {"text": "Page the DBA"})),
        ("/check 1", Action("checklist.item_checked", {"item": 3, "checked": True})),
        ("/check 2", Action("checklist.item_checked", {"item": 4, "checked": False})),
        ("/ack", Action("alert.acknowledged", {"fingerprint": "fp1"})),
        ("/ack DiskFull", Action("alert.acknowledged", {"fingerprint": "fp2"})),
        (
            "/services checkout, payments checkout",
            Action("incident.services_set", {"services": ["checkout", "payments"]}),
        ),
        ("/impact 25% EU only", Action("incident.impact_set", {"fraction": 0.25, "reason": "EU only"})),
        ("/impact 1", Action("incident.impact_set", {"fraction": 1.0})),
    ],
)
def test_parses(line: str, action: Action) -> None:
    assert parse(line, CTX) == action


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "nothing to send"),
        ("   ", "nothing to send"),
        ("/frobnicate", "unknown command /frobnicate"),
        ("/stat monitoring", "did you mean /status"),
        ("/decision", "/decision needs some text"),
        ("/status sleeping", "/status takes one of"),
        ("/sev 5", "/sev takes 1, 2, 3 or 4"),
        ("/role king me", "usage: /role"),
        ("/role ic bob", "needs me, @NAME or release"),
        ("/broadcast", "/broadcast needs a message"),
        ("/edit five words", "usage: /edit"),
        ("/check 9", "from 1 to 3"),
        ("/check one", "from 1 to 3"),
        ("/ack NoSuchAlert", "no alert named"),
        ("/accept", "usage: /accept"),
        ("/silence forever", "usage: /silence"),
        ("/attach", "usage: /attach"),
        ("/role ic me", "maria holds the incident commander: ask them to offer it"),
        ("/takeover king", "usage: /takeover"),
        ("/services", "/services needs at least one name"),
        ("/impact 120%", "/impact takes a share of users"),
        ("/impact half", "/impact takes a share of users"),
        ("/impact 1.5", "/impact takes a share of users"),
    ],
)
def test_refuses_with_a_message(line: str, message: str) -> None:
    with pytest.raises(SlashError, match=message):
        parse(line, CTX)


def test_needs_a_selection_when_none_is_given() -> None:
    bare = Context(me="alice")
    for line in ("/pin", "/strike", "/ack"):
        with pytest.raises(SlashError, match="select"):
            parse(line, bare)


def test_completions() -> None:
    assert completions("/s") == [
        "/status investigating|identified|monitoring|resolved [REASON]",
        "/sev 1-4 [REASON]",
        "/services NAME…",
        "/strike [#N] [REASON]",
        "/silence [ALERT|ALERTNAME *] 2h REASON",
        "/skip [STEP] REASON",
        "/stepnote [STEP] TEXT",
    ]
    assert completions("/decision x") == []
    assert completions("plain") == []


def test_a_name_several_alerts_share_is_refused_not_guessed() -> None:
    """Like the CLI: acting on one arbitrary alert of 25 with that name would be a guess."""
    storm = Context(
        me="alice",
        selected_alert="fp3",
        alerts=(*((f"fp{n}", "HighErrorRate") for n in range(25)), ("fpd", "DiskFull")),
    )
    for line in ("/ack HighErrorRate", "/silence HighErrorRate 2h flake", "/attach HighErrorRate INC-2"):
        with pytest.raises(
            SlashError, match="25 alerts are named HighErrorRate: select one in the alert panel"
        ):
            parse(line, storm)
    with pytest.raises(SlashError, match="or /silence HighErrorRate \\* for the whole group"):
        parse("/silence HighErrorRate 2h flake", storm)  # ack and silence offer the group; attach does not
    assert parse("/ack fp7", storm) == Action("alert.acknowledged", {"fingerprint": "fp7"})
    assert parse("/ack DiskFull", storm) == Action("alert.acknowledged", {"fingerprint": "fpd"})
    assert parse("/ack", storm) == Action("alert.acknowledged", {"fingerprint": "fp3"})  # the selected one


ROOM = Context(
    me="alice", today="2026-12-01", actions=(("A-1", "open"), ("A-2", "done")), selected_action="A-1"
)


@pytest.mark.parametrize(
    ("line", "data"),
    [
        ("/action renew the cert", {"text": "renew the cert"}),
        (
            "/action renew the cert @carol due 2026-12-15",
            {"text": "renew the cert", "owner": "carol", "due": "2026-12-15"},
        ),
        (
            "/action alert on expiry due +3d @bob",
            {"text": "alert on expiry", "owner": "bob", "due": "2026-12-04"},
        ),
        ("/action load test checkout due +2w", {"text": "load test checkout", "due": "2026-12-15"}),
        ("/action ask @bob about renewals", {"text": "ask @bob about renewals"}),  # inside: text
    ],
)
def test_action_adds_an_action_item(line: str, data: dict[str, str]) -> None:
    assert parse(line, ROOM) == Action("action.added", data)


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("/done A-1", Action("action.updated", {"action": "A-1", "status": "done"})),
        ("/done a1", Action("action.updated", {"action": "A-1", "status": "done"})),
        ("/done", Action("action.updated", {"action": "A-1", "status": "done"})),  # the selected one
    ],
)
def test_done_marks_an_action_item_done(line: str, action: Action) -> None:
    assert parse(line, ROOM) == action


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/action", "an action item needs its text: /action TEXT"),
        ("/action due +3d @bob", "an action item needs its text"),
        ("/action fix it due friday", "due friday: write the day as YYYY-MM-DD or \\+3d"),
        ("/action fix it due 2026-02-30", "due 2026-02-30: there is no such day"),
        ("/action fix it due 15/12/2026", "write the day as YYYY-MM-DD"),
        ("/action fix it @", "@ needs a name after it"),
        ("/done A-9", "this room has no action item A-9 \\(it has A-1 to A-2\\)"),
        ("/done A-2", "A-2 is done already"),
        ("/done everything", "usage: /done A-N"),
    ],
)
def test_action_and_done_refuse_with_a_hint(line: str, message: str) -> None:
    with pytest.raises(SlashError, match=message):
        parse(line, ROOM)


def test_relative_due_needs_today_and_done_needs_an_item() -> None:
    with pytest.raises(SlashError, match="YYYY-MM-DD"):
        parse("/action fix it due +3d", Context(me="alice"))
    with pytest.raises(SlashError, match="select it in the action items"):
        parse("/done", Context(me="alice"))
    with pytest.raises(SlashError, match=r"no action item A-1$"):
        parse("/done A-1", Context(me="alice"))


def test_action_and_done_complete() -> None:
    assert completions("/act") == ["/action TEXT [@OWNER] [due YYYY-MM-DD|+3d]"]
    assert completions("/do") == ["/done [A-N]"]
    assert completions("/di") == ["/did TEXT"]
