"""``warroom runbook run``: a step's command run locally, against a real hub and the real CLI.

The command comes from the local library; the alert that attached the
runbook fills the placeholders, each value shell-quoted; what ran is
recorded as a finding and a step note. Nothing remote can start a run.
"""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.config import load_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, declare, wait_for
from tests.test_cli import Result, hub_args
from tests.test_runbook_hub import post
from warroom.client import CommandRejected, HubClient
from warroom.core.state import IncidentState

RUNBOOK = """---
id: probe
title: Probe a service
match:
  - 'alertname="Probe"'
---
# Probe a service

## Look
- [ ] Say which service {#echo}
  ```sh
  printf '%s\\n' {{labels.service}}
  ```
- [ ] Say which region {#region}
  ```sh
  echo {{labels.region}}
  ```
- [ ] Wait a long time {#slow}
  ```sh
  sleep 30
  ```
- [ ] Fail on purpose {#fail}
  ```sh
  echo {{annotations.summary}}; exit 3
  ```
- [ ] Think about it {#think}
"""


@pytest.fixture
async def served(tmp_path: Path, db_path: Path) -> AsyncIterator[tuple[HubServer, Path]]:
    """A hub whose library holds the probe runbook; the CLI reads the same directory."""
    library = tmp_path / "runbooks"
    library.mkdir()
    (library / "probe.md").write_text(RUNBOOK)
    path = tmp_path / "hub.toml"
    path.write_text('runbooks = "runbooks"\n')
    server = HubServer(db_path, TOKEN, config=load_hub_config(path), config_path=path)
    await server.start()
    yield server, library
    await server.stop()


async def run(env: dict[str, str], library: Path, *args: str, cwd: Path | None = None) -> Result:
    """The real entry point, with no terminal on stdin."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        *args,
        env={**env, "WARROOM_RUNBOOKS": str(library)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


HOSTILE = "payments; touch pwned; rm -rf /nowhere"


async def probe_room(
    server: HubServer, make_client: ClientFactory, labels: dict[str, str]
) -> tuple[str, IncidentState, HubClient]:
    """A room the probe runbook attached to, from an alert with these labels."""
    client = await make_client(server.url, "ann")
    room = await declare(client)
    view = await client.join(room)
    alert = {
        "labels": {"alertname": "Probe", **labels},
        "annotations": {"summary": "probe failed"},
        "fingerprint": "fp1",
    }
    await post(server, room, alert)
    await wait_for(lambda: "probe" in view.state.runbooks, what="auto-attach")
    assert view.state.runbooks["probe"].alert == "fp1"
    return room, view.state, client


async def settled(client: HubClient, room: str, state: IncidentState) -> None:
    """Once a marker sent now is in the room, anything the CLI sent before it is too."""
    ack = await client.send("entry.added", {"text": "marker"}, room)
    await wait_for(lambda: state.seq >= ack["seq"], what="the marker")


def findings(state: IncidentState) -> list[str]:
    return [e.text for e in state.entries.values() if e.kind == "finding"]


async def test_a_hostile_label_is_quoted_and_the_run_recorded(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str], tmp_path: Path
) -> None:
    server, library = served
    room, state, _ = await probe_room(server, make_client, {"service": HOSTILE})
    work = tmp_path / "work"
    work.mkdir()
    done = await run(env, library, "runbook", "run", room, "probe/echo", "--yes", *hub_args(server), cwd=work)
    assert done.code == 0, done.err
    quoted = "printf '%s\\n' 'payments; touch pwned; rm -rf /nowhere'"
    assert quoted in done.out
    assert f"\n{HOSTILE}\n" in done.out  # printed literally, as one argument
    assert not (work / "pwned").exists()  # the touch inside the value never ran
    await wait_for(lambda: len(findings(state)) == 1, what="the finding")
    text = findings(state)[0]
    assert text.startswith(f"ran probe/echo locally: {quoted}")
    assert "exit 0 after" in text and HOSTILE in text
    await wait_for(lambda: bool(state.runbooks["probe"].steps["echo"].notes), what="the step note")
    assert state.runbooks["probe"].steps["echo"].notes[0].text.startswith("ran locally: exit 0 after")


async def test_a_unique_step_id_and_a_failing_command(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str]
) -> None:
    server, library = served
    room, state, _ = await probe_room(server, make_client, {"service": "api"})
    done = await run(env, library, "runbook", "run", room, "fail", "--yes", *hub_args(server))
    assert done.code == 3, done.err
    assert "echo 'probe failed'; exit 3" in done.out
    await wait_for(lambda: len(findings(state)) == 1, what="the finding")
    assert "exit 3 after" in findings(state)[0] and "probe failed" in findings(state)[0]


async def test_a_missing_label_stops_before_anything_runs(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str]
) -> None:
    server, library = served
    room, state, client = await probe_room(server, make_client, {"service": "api"})
    done = await run(env, library, "runbook", "run", room, "probe/region", "--yes", *hub_args(server))
    assert "missing label: region" in done.one_line_error()
    assert done.out == ""
    await settled(client, room, state)
    assert findings(state) == []


async def test_dry_run_prints_and_runs_nothing(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str], tmp_path: Path
) -> None:
    server, library = served
    room, state, client = await probe_room(server, make_client, {"service": "api"})
    done = await run(env, library, "runbook", "run", room, "echo", "--dry-run", *hub_args(server))
    assert done.code == 0, done.err
    assert done.out.splitlines() == [
        f"probe/echo in {room} runs here, with /bin/sh -c:",
        "  printf '%s\\n' api",
    ]
    await settled(client, room, state)
    assert findings(state) == []


async def test_timeout_kills_it_and_records_it(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str]
) -> None:
    server, library = served
    room, state, _ = await probe_room(server, make_client, {"service": "api"})
    done = await run(
        env, library, "runbook", "run", room, "slow", "--yes", "--timeout", "1", *hub_args(server)
    )
    assert done.code == 124, (done.out, done.err)
    assert "timed out after 1 s" in done.err
    await wait_for(lambda: len(findings(state)) == 1, what="the finding")
    assert "timed out after 1 s" in findings(state)[0]
    await wait_for(lambda: bool(state.runbooks["probe"].steps["slow"].notes), what="the step note")
    assert state.runbooks["probe"].steps["slow"].notes[0].text == "ran locally: timed out after 1 s"


async def test_without_a_terminal_it_asks_for_yes_and_runs_nothing(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str], tmp_path: Path
) -> None:
    server, library = served
    room, state, client = await probe_room(server, make_client, {"service": "x; touch pwned"})
    done = await run(env, library, "runbook", "run", room, "probe/echo", *hub_args(server), cwd=tmp_path)
    assert "pass --yes" in done.one_line_error()
    assert not (tmp_path / "pwned").exists()
    await settled(client, room, state)
    assert findings(state) == []


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ("probe/nope", "has no step 'nope'"),
        ("other/echo", "no runbook 'other' is attached"),
        ("nope", "no attached runbook"),
        ("probe/think", "has no command in the local library"),
    ],
)
async def test_an_unknown_step_or_one_without_a_command_is_refused(
    served: tuple[HubServer, Path],
    make_client: ClientFactory,
    env: dict[str, str],
    step: str,
    needle: str,
) -> None:
    server, library = served
    room, _, _ = await probe_room(server, make_client, {"service": "api"})
    done = await run(env, library, "runbook", "run", room, step, "--yes", *hub_args(server))
    assert needle in done.one_line_error()


async def test_no_event_asks_a_client_to_run_anything(
    served: tuple[HubServer, Path], make_client: ClientFactory
) -> None:
    """The hub knows no run command: a client asking it for one is refused, and nothing is recorded."""
    server, _ = served
    room, state, client = await probe_room(server, make_client, {"service": "api"})
    for kind in ("step.run", "runbook.run", "command.run"):
        with pytest.raises(CommandRejected) as refused:
            await client.send(kind, {"runbook": "probe", "step": "echo"}, room)
        assert "unknown event type" in refused.value.error.message
    await settled(client, room, state)
    assert findings(state) == []


async def terminal_run(env: dict[str, str], library: Path, answer: bytes, *args: str, cwd: Path) -> Result:
    """The CLI with a terminal (a pty) on stdin, answering the question with ``answer``."""
    leader, follower = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom",
            *args,
            env={**env, "WARROOM_RUNBOOKS": str(library)},
            stdin=follower,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
        os.write(leader, answer)  # the terminal buffers it until input() reads
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_on_a_terminal_it_asks_and_only_yes_runs(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str], tmp_path: Path
) -> None:
    server, library = served
    room, state, client = await probe_room(server, make_client, {"service": "api"})
    args = ("runbook", "run", room, "probe/echo", *hub_args(server))
    refused = await terminal_run(env, library, b"n\n", *args, cwd=tmp_path)
    assert "run it? [y/N]" in refused.out and "nothing run" in refused.one_line_error()
    await settled(client, room, state)
    assert findings(state) == []
    ran = await terminal_run(env, library, b"y\n", *args, cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[-1].endswith("] api")  # the answer echoes on the terminal, not here
    await wait_for(lambda: len(findings(state)) == 1, what="the finding")


async def test_alert_names_another_alert_to_fill_from(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str]
) -> None:
    server, library = served
    room, state, _ = await probe_room(server, make_client, {"service": "api"})
    await post(server, room, {"labels": {"alertname": "Other", "service": "web 2"}, "fingerprint": "fp2"})
    await wait_for(lambda: "fp2" in state.alerts, what="the second alert")
    args = ("runbook", "run", room, "echo", "--dry-run", *hub_args(server))
    done = await run(env, library, *args, "--alert", "fp2")
    assert done.out.splitlines()[-1] == "  printf '%s\\n' 'web 2'"
    unknown = await run(env, library, *args, "--alert", "nope")
    assert "no alert matches 'nope'" in unknown.one_line_error()
