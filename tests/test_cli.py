"""The ``warroom`` command against a real hub: every command, and every error in one line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, refused_port
from warroom.core.events import TEXT_MAX, Command
from warroom.core.protocol import new_id


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def one_line_error(self) -> str:
        assert self.code == 2, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in self.err, self.err
        return lines[0]


async def warroom(env: dict[str, str], *args: str) -> Result:
    """Run the CLI in a subprocess without blocking the loop the in-process hub runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def hub_args(hub: HubServer, token: str = TOKEN) -> list[str]:
    return ["--hub", hub.url, "--token", token]


async def test_declare_log_list_and_show(hub: HubServer, env: dict[str, str]) -> None:
    declared = await warroom(
        env, "declare", "Checkout 500s", "--severity", "SEV1", *hub_args(hub), "--as", "ann"
    )
    assert declared.code == 0, declared.err
    room = declared.out.strip()
    assert room == "INC-1"

    logged = await warroom(
        env, "log", room, "rolled back 4512", "--kind", "action", *hub_args(hub), "--as", "bo"
    )
    assert logged.code == 0 and logged.out.strip() == "INC-1 #2"
    state = await hub.hub.settled_state(room)  # exit 0 means the hub already has it
    assert (state.entries[2].text, state.entries[2].kind, state.entries[2].author) == (
        "rolled back 4512",
        "action",
        "bo",
    )

    listed = await warroom(env, "incidents", *hub_args(hub))
    assert listed.code == 0 and re.search(r"INC-1\s+SEV1\s+investigating", listed.out)
    as_json = json.loads((await warroom(env, "incidents", "--json", *hub_args(hub))).out)
    assert [(i["id"], i["title"]) for i in as_json] == [("INC-1", "Checkout 500s")]

    shown = await warroom(env, "show", room, *hub_args(hub))
    assert shown.code == 0 and "rolled back 4512" in shown.out and "incident commander: ann" in shown.out
    full = json.loads((await warroom(env, "show", room, "--json", *hub_args(hub))).out)
    assert full == state.to_dict()


async def test_settings_come_from_the_environment(hub: HubServer, env: dict[str, str]) -> None:
    env = {**env, "WARROOM_HUB": hub.url, "WARROOM_TOKEN": TOKEN, "WARROOM_NAME": "from-env"}
    room = (await warroom(env, "declare", "From env")).out.strip()
    state = await hub.hub.settled_state(room)
    assert state.declared_by == "from-env" and state.severity == "SEV2"


async def test_the_config_file_supplies_defaults(hub: HubServer, env: dict[str, str]) -> None:
    config = Path(env["WARROOM_CONFIG_DIR"])
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f'hub = "{hub.url}"\ntoken = "{TOKEN}"\nname = "from-file"\n')
    room = (await warroom(env, "declare", "From file")).out.strip()
    assert (await hub.hub.settled_state(room)).declared_by == "from-file"
    (config / "config.toml").write_text("hub = [not toml")
    assert "config.toml" in (await warroom(env, "incidents")).one_line_error()


async def test_an_unreachable_hub(env: dict[str, str]) -> None:
    url = f"ws://127.0.0.1:{refused_port()}"
    for args in (["declare", "x"], ["log", "INC-1", "x"], ["incidents"], ["show", "INC-1"]):
        line = (await warroom(env, *args, "--hub", url, "--token", TOKEN)).one_line_error()
        assert line.startswith("warroom: cannot reach the hub")


async def test_a_bad_token(hub: HubServer, env: dict[str, str]) -> None:
    for args in (["declare", "x"], ["log", "INC-1", "x"], ["incidents"], ["show", "INC-1"]):
        line = (await warroom(env, *args, *hub_args(hub, "wrong"))).one_line_error()
        assert line == "warroom: the hub refused the connection: missing or wrong token"


async def test_an_unknown_incident(hub: HubServer, env: dict[str, str]) -> None:
    assert (
        await warroom(env, "log", "INC-42", "x", *hub_args(hub))
    ).one_line_error() == "warroom: no incident 'INC-42'"
    assert (
        await warroom(env, "show", "INC-42", *hub_args(hub))
    ).one_line_error() == "warroom: no incident 'INC-42'"
    assert await hub.hub.incidents() == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["declare"], "required: title"),
        (["declare", "x", "--severity", "SEV7"], "invalid choice"),
        (["log", "INC-1"], "required: text"),
        (["log", "INC-1", "x", "--kind", "poem"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["declare", "x", "--hub", "http://nope", "--token", "t"], "ws:// or wss://"),
        (["declare", "x", "--hub", "ws://127.0.0.1:1"], "no token"),
        (["log", "INC-1", "x" * 5000, "--hub", "HUB", "--token", TOKEN], "limit is 4000"),
    ],
)
async def test_bad_arguments(hub: HubServer, env: dict[str, str], args: list[str], needle: str) -> None:
    args = [hub.url if a == "HUB" else a for a in args]
    assert needle in (await warroom(env, *args)).one_line_error()


async def test_serve_refuses_a_busy_port(hub: HubServer, env: dict[str, str], tmp_path: Path) -> None:
    result = await warroom(
        env, "serve", "--port", str(hub.port), "--http-port", "0", "--db", str(tmp_path / "x.db")
    )
    assert "cannot start the hub" in result.one_line_error()


async def test_serve_generates_a_token_and_prints_how_to_join(env: dict[str, str], tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        export = ""
        while not export:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "serve exited early"
            if "export WARROOM_HUB=" in line:
                export = line
        found = re.search(r"WARROOM_HUB=(\S+) WARROOM_TOKEN=(\S+)", export)
        assert found is not None
        url, token = found.groups()
        joined = {**env, "WARROOM_HUB": url, "WARROOM_TOKEN": token}
        assert (await warroom(joined, "declare", "Pasted join command")).out.strip() == "INC-1"
        assert Path(env["WARROOM_DATA_DIR"], "hub.db").exists()  # the default database location
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_an_unknown_theme_lists_the_themes(hub: HubServer, env: dict[str, str]) -> None:
    line = (await warroom(env, "join", "INC-1", *hub_args(hub)[:4], "--theme", "neon")).one_line_error()
    assert "no theme named 'neon'" in line
    assert all(name in line for name in ("warroom-dark", "warroom-light", "warroom-high-contrast", "nord"))
    assert "no theme named 'neon'" in (await warroom(env, "demo", "--theme", "neon")).one_line_error()


async def test_every_refusal_ends_in_one_line_at_once(hub: HubServer, env: dict[str, str]) -> None:
    """Whatever frame carries the refusal, the command ends: it never waits for an answer that came."""
    await hub.hub.execute(Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"}), "ann")
    cases = [
        (["log", "", "x"], "warroom: room: must not be empty"),
        (["show", ""], "warroom: room: must not be empty"),
        (["log", "bad id!", "x"], "warroom: room: not a valid incident id"),
        (["show", "bad id!"], "warroom: no incident 'bad id!'"),
        (["log", "INC-9", "x"], "warroom: no incident 'INC-9'"),
        (["alerts", "INC-9"], "warroom: no incident 'INC-9'"),
        (["log", "INC-1", "x", "--as", "bo\x1b[2J"], "warroom: the hub refused hello: name: ESC (U+001B)"),
        (["log", "INC-1", "a\x07b"], "warroom: text: BEL (U+0007) at position 1 is not allowed"),
        (["declare", "two\nlines"], "warroom: title: newline (U+000A) at position 3 is not allowed"),
        (["broadcast", "INC-1", "x" * 70_000], "warroom: message: 70000 characters, the limit is 4000"),
        # A frame over the hub's limit (from its welcome) is refused before it is sent.
        (["role", "INC-1", "tech", "x" * 70_000], "warroom: the command is 70,104 bytes; the hub takes"),
    ]
    loop = asyncio.get_running_loop()
    for args, line in cases:
        started = loop.time()
        result = await warroom(env, *args, *hub_args(hub))
        assert result.one_line_error().startswith(line), (args, result.err)
        assert loop.time() - started < 5, args


async def test_oversize_text_is_refused_before_connecting(env: dict[str, str]) -> None:
    nobody = ["--hub", f"ws://127.0.0.1:{refused_port()}", "--token", TOKEN]  # nothing listens there
    line = (await warroom(env, "log", "INC-1", "x" * 70_000, *nobody)).one_line_error()
    assert line == f"warroom: text: 70000 characters, the limit is {TEXT_MAX}"


async def test_an_empty_token_is_an_error_not_a_fallback(hub: HubServer, env: dict[str, str]) -> None:
    fallback = {**env, "WARROOM_TOKEN": TOKEN}
    empty = await warroom(fallback, "incidents", "--hub", hub.url, "--token", "")
    assert empty.one_line_error() == "warroom: --token is empty"
    unset = await warroom({**env, "WARROOM_TOKEN": ""}, "incidents", "--hub", hub.url)
    assert unset.one_line_error() == "warroom: WARROOM_TOKEN is empty"


async def populated(hub: HubServer) -> str:
    """An incident with more output than a pipe holds, an alert and an audit log."""
    ack = await hub.hub.execute(
        Command(new_id(), "incident.declared", {"title": "Piped", "severity": "SEV2"}), "ann"
    )
    for n in range(300):
        text = f"entry {n}: " + "padding " * 30
        await hub.hub.execute(Command(new_id(), "entry.added", {"text": text}, ack.room), "ann")
    data = {"fingerprint": "f1", "alertname": "Busy", "labels": {"service": "checkout"}}
    await hub.hub.execute(Command(new_id(), "alert.upserted", data, ack.room), "am", internal=True)
    return ack.room


async def test_a_closed_pipe_ends_quietly(hub: HubServer, env: dict[str, str]) -> None:
    room = await populated(hub)
    for args in (["show", room], ["incidents"], ["alerts", room], ["audit"], ["show", room, "--json"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has gone before anything is written: every write fails
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom",
            *args,
            *hub_args(hub),
            env=env,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
        os.close(write_end)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert (proc.returncode, err.decode()) == (0, ""), args
    show = f"{sys.executable} -m warroom show {room} {' '.join(hub_args(hub))}"
    shell = f"{show} | head -1; exit ${{PIPESTATUS[0]}}"  # the issue's own command line
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", shell, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode, out.decode(), err.decode()) == (0, f"{room}  SEV2  investigating  Piped\n", "")


async def test_reading_commands_record_nothing(hub: HubServer, env: dict[str, str]) -> None:
    room = await populated(hub)
    head = (await hub.hub.settled_state(room)).seq
    for args in (["show", room], ["alerts", room], ["incidents"], ["show", room, "--json"]):
        assert (await warroom(env, *args, *hub_args(hub), "--as", "reader")).code == 0, args
    state = await hub.hub.settled_state(room)
    assert state.seq == head and "reader" not in state.responders
    events = await hub.hub.store.read(room, 0, 1000)
    assert not [e for e in events if e.type == "responder.joined" and e.data.get("name") == "reader"]


async def test_serve_refuses_a_short_hub_token(env: dict[str, str], tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--http-port", "0", "--db", str(tmp_path / "h.db")]
    line = (await warroom(env, *args, "--token", "s3cret")).one_line_error()
    assert "--token is 6 characters; a hub token needs 16 or more" in line and "token_urlsafe" in line
    assert (
        "WARROOM_TOKEN is 8" in (await warroom({**env, "WARROOM_TOKEN": "change-m"}, *args)).one_line_error()
    )
    assert "--token is empty" in (await warroom(env, *args, "--token", "")).one_line_error()
    assert not (tmp_path / "h.db").exists()  # refused before anything was made
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        *args,
        "--token",
        "s3cret",
        "--insecure-token",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        url = ""
        while not url:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "serve exited early"
            if found := re.search(r"sync\s+(ws://\S+)", line):
                url = found.group(1)
        assert (await warroom(env, "declare", "Short token", "--hub", url, "--token", "s3cret")).code == 0
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
