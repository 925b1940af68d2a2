"""An attached runbook in the pure core: a snapshot of the file, its steps worked and kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_core import run
from warroom.core.errors import Code, WarroomError
from warroom.core.events import validate_command
from warroom.core.reducer import check
from warroom.core.state import IncidentState
from warroom.runbooks.library import load_library, shipped_dir


def snapshot(runbook_id: str = "high-error-rate") -> dict[str, Any]:
    return load_library(shipped_dir()).runbooks[runbook_id].to_dict()


def attach(runbook_id: str = "high-error-rate", **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("runbook.attached", {"runbook": runbook_id, "snapshot": snapshot(runbook_id), **extra})


def step(type_: str, step_id: str, **data: Any) -> tuple[str, dict[str, Any]]:
    return (type_, {"runbook": "high-error-rate", "step": step_id, **data})


def test_attaching_copies_the_steps_with_roles_given_and_dues_counted_from_then() -> None:
    state = run(
        [
            ("role.assigned", {"role": "tech", "name": "bob"}),
            attach(why="match alertname=HighErrorRate", alert="fp1"),
        ]
    )
    attached = state.runbooks["high-error-rate"]
    assert attached.alert == "fp1" and attached.why == "match alertname=HighErrorRate"
    endpoints = attached.steps["endpoints"]
    assert endpoints.assignee == "bob" and endpoints.command and endpoints.section == "Diagnose"
    assert endpoints.due_at is not None and endpoints.due_at > attached.at
    assert attached.steps["db"].depth == 1  # a sub-step
    assert (
        "attached runbook Service returns a high rate of 5xx errors" in list(state.entries.values())[-1].text
    )
    assert attached.progress == (0, len(attached.steps))


def test_steps_are_checked_skipped_assigned_and_noted_with_who_and_when() -> None:
    state = run(
        [
            attach(),
            step("step.checked", "dashboard"),
            step("step.skipped", "recent-deploys", reason="no deploys today"),
            step("step.assigned", "db", to="carol"),
            step("step.noted", "db", text="pool at 95%"),
        ]
    )
    steps = state.runbooks["high-error-rate"].steps
    assert (steps["dashboard"].state, steps["dashboard"].by) == ("done", "ann")
    assert steps["recent-deploys"].reason == "no deploys today"
    assert steps["db"].assignee == "carol" and steps["db"].notes[0].text == "pool at 95%"
    assert state.runbooks["high-error-rate"].progress[0] == 2
    assert IncidentState.from_snapshot(state.to_snapshot()) == state
    assert IncidentState.from_dict(state.to_dict()) == state


def test_an_overdue_step_is_open_past_its_due_time() -> None:
    state = run([attach()])
    endpoints = state.runbooks["high-error-rate"].steps["endpoints"]
    assert endpoints.due_at is not None
    assert endpoints.overdue("9999") and not endpoints.overdue(endpoints.due_at)


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (attach(), Code.NO_CHANGE, "runbook"),  # once
        (("runbook.attached", {"runbook": "nope"}), Code.UNKNOWN_REF, "runbook"),  # not in the library
        (step("step.checked", "nope"), Code.UNKNOWN_REF, "step"),
        (("step.checked", {"runbook": "other", "step": "x"}), Code.UNKNOWN_REF, "runbook"),
        (step("step.checked", "dashboard", checked=False), Code.NO_CHANGE, "step"),
    ],
)
def test_what_does_not_fit_is_refused(command: tuple[str, dict[str, Any]], code: Code, field: str) -> None:
    state = run([attach()])
    with pytest.raises(WarroomError) as err:
        check(state, command[0], validate_command(command[0], command[1], from_client=False))
    assert (err.value.code, err.value.field) == (code, field)


def test_a_client_cannot_supply_the_runbook_it_attaches() -> None:
    with pytest.raises(WarroomError) as err:
        validate_command("runbook.attached", {"runbook": "x", "snapshot": {"title": "mine"}})
    assert err.value.field == "snapshot"
    with pytest.raises(WarroomError) as err:  # and the hub's own copy carries no terminal control
        validate_command(
            "runbook.attached", {"runbook": "x", "snapshot": {"title": "a\x1b]0;t\x07"}}, from_client=False
        )
    assert err.value.code == Code.INVALID_VALUE


def test_unchecking_a_skipped_step_reopens_it() -> None:
    state = run(
        [
            attach(),
            step("step.skipped", "dashboard", reason="n/a"),
            step("step.checked", "dashboard", checked=False),
        ]
    )
    assert state.runbooks["high-error-rate"].steps["dashboard"].state == "open"
