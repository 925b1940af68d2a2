"""README.md's examples run: every TOML block parses as the file it is for, and the shell examples
that need no network, root or full screen run against a real hub, output compared where shown.

Blocks are found by their fence language. A new ``sh`` block fails here until it
is run below or listed in NOT_RUN with the reason; a new ``toml`` block fails
until its keys say which file it is for. Failures name the block's line.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.config import parse_hub_config
from warroom.cli.main import build_parser
from warroom.config import client_settings, load_file

README = Path(__file__).parent.parent / "README.md"
CLIENT_KEYS = {"hub", "token", "name", "theme", "ca"}  # what warroom.config reads
THEME_TABLES = {"colors", "variables"}

# Shell blocks deliberately not run, by a phrase they contain, and why.
NOT_RUN = {
    "warroom demo": "installs the package and opens the full-screen app (tests/test_demo.py drives the demo)",
    "pip install -e '.[test]' && pytest": "installs the package and runs the whole suite, this test included",
    "pip install -e '.[fuzz]'": "installs the fuzzing extra and fuzzes for a minute",
    "/etc/warroom/hub.env": "writes to /etc on the deployment host",
}


# Fenced blocks that are neither TOML nor shell, and what is done with them.
OTHER_LANGUAGES = {
    "": "output shown for a command above it; the error transcript is run below",
    "yaml": "Alertmanager's own config (tests/test_alertmanager.py runs a real Alertmanager with a receiver)",
    "ini": "a systemd unit: parsed below, not installed",
}


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence, counting from 1
    text: str

    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'plain'} block)"


def blocks() -> list[Block]:
    found: list[Block] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    opening: tuple[int, str, str] | None = None  # line, indent, language
    body: list[str] = []
    for n, line in enumerate(lines, start=1):
        fence = re.fullmatch(r"(\s*)```(\S*)\s*", line)
        if opening is None and fence:
            opening, body = (n, fence.group(1), fence.group(2)), []
        elif opening is not None and fence and fence.group(1) == opening[1] and not fence.group(2):
            found.append(Block(opening[2], opening[0], "\n".join(body) + "\n"))
            opening = None
        elif opening is not None:
            body.append(line.removeprefix(opening[1]))
    assert opening is None, f"README.md:{opening[0]}: a code block is never closed"
    return found


def of(lang: str) -> list[Block]:
    return [b for b in blocks() if b.lang == lang]


def after(block: Block) -> Block:
    """The block right after ``block``: the output an example shows."""
    every = blocks()
    return every[every.index(block) + 1]


def containing(lang: str, phrase: str) -> Block:
    matches = [b for b in of(lang) if phrase in b.text]
    assert len(matches) == 1, f"README.md has {len(matches)} {lang} blocks with {phrase!r}"
    return matches[0]


@pytest.mark.parametrize("block", of("toml"), ids=lambda b: f"line{b.line}")
def test_every_toml_block_parses_as_the_file_it_is_for(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        raw = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as exc:
        pytest.fail(f"{block.where()}: not TOML: {exc}")
    if set(raw) <= CLIENT_KEYS:  # the client's config.toml
        config = tmp_path / "config.toml"
        config.write_text(block.text, encoding="utf-8")
        monkeypatch.setenv("WARROOM_CONFIG_DIR", str(tmp_path))
        for variable in ("WARROOM_HUB", "WARROOM_TOKEN", "WARROOM_NAME", "WARROOM_CA"):
            monkeypatch.delenv(variable, raising=False)
        assert load_file(config) == raw, block.where()
        settings = client_settings(None, None, None)
        assert (settings.hub, settings.token, settings.name) == (raw["hub"], raw["token"], raw["name"])
        if "theme" in raw:
            from warroom.cli.tui import themes_for

            themes_for(raw["theme"])  # raises, naming the themes there are, for a theme that is not one
    elif set(raw) & THEME_TABLES:
        pytest.fail(f"{block.where()}: a theme example; check it with warroom.app.themes here")
    else:  # the hub's config file: its own parser refuses a key in the wrong table
        parse_hub_config(raw, where=block.where())


def test_every_shell_block_is_run_or_says_why_not() -> None:
    run = {"warroom serve", "warroom token create", "curl "}  # the tests below
    for block in of("sh"):
        reasons = [why for phrase, why in NOT_RUN.items() if phrase in block.text]
        ran = [phrase for phrase in run if block.text.startswith(phrase)]
        assert reasons or ran, f"{block.where()}: run this example here, or add it to NOT_RUN with why"
    for phrase in NOT_RUN:
        assert any(phrase in b.text for b in of("sh")), (
            f"NOT_RUN lists {phrase!r}, which README no longer has"
        )


def test_every_block_language_is_one_this_test_handles() -> None:
    for block in blocks():
        assert block.lang in {"toml", "sh", *OTHER_LANGUAGES}, f"{block.where()}: check or run it here"
    for block in of("ini"):
        unit = configparser.ConfigParser(interpolation=None, strict=True)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read_string(block.text, source=block.where())
        assert unit["Service"]["ExecStart"].split()[1] == "serve", block.where()


def test_every_command_in_the_commands_table_exists_with_its_options() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| command | what it does |\n| --- | --- |\n| `warroom") :]
    rows = table[: table.index("\n\n")].splitlines()[2:]
    assert len(rows) >= 20
    for row in rows:
        for usage in re.findall(r"`(warroom [^`]*)`", row.split(" | ")[0]):
            words = [w for w in usage.split()[1:] if re.fullmatch(r"[a-z]+", w)]
            two_words = ("token", "config", "runbook", "action", "escalate", "page", "db", "store")
            path = words[: 2 if words[0] in two_words else 1]
            shown = io.StringIO()
            with contextlib.redirect_stdout(shown), pytest.raises(SystemExit) as ended:
                build_parser().parse_args([*path, "--help"])
            assert ended.value.code == 0, usage
            for flag in re.findall(r"--[a-z][a-z-]+", usage):
                assert flag in shown.getvalue(), f"{usage}: `warroom {' '.join(path)}` has no {flag}"


@contextlib.contextmanager
def serving(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """README's ``warroom serve``, on ports the OS picks: the documented output comes first."""
    command = containing("sh", "warroom serve").text.split()
    assert command == ["warroom", "serve"]
    argv = [
        sys.executable,
        "-m",
        *command,
        "--port",
        "0",
        "--http-port",
        "0",
        "--db",
        str(tmp_path / "hub.db"),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "status page" in line:
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its log
        yield proc, lines
    finally:
        proc.terminate()
        proc.wait(20)


def sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A README example as a user pastes it: bash, with ``warroom`` on the PATH."""
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_the_hub_token_and_cli_examples_run(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    base = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    base |= {
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
        "WARROOM_CONFIG_DIR": str(tmp_path / "config"),
        "WARROOM_DATA_DIR": str(tmp_path / "data"),
    }
    with serving(tmp_path, base) as (_, output):
        # The output README shows, line by line, starts as the real one does.
        documented = [line.split()[0] for line in after(containing("sh", "warroom serve")).text.splitlines()]
        started = [line.split()[0] for line in output if line.strip() and "INFO" not in line]
        assert started[: len(documented)] == documented, output
        export = next(line for line in output if "export WARROOM_HUB=" in line)
        found = re.search(r"WARROOM_HUB=(\S+) WARROOM_TOKEN=(\S+)", export)
        http_line = next(line for line in output if line.split()[:1] == ["http"])
        assert found is not None
        env = base | {"WARROOM_HUB": found.group(1), "WARROOM_TOKEN": found.group(2)}
        env |= {"WARROOM_HTTP": http_line.split()[1]}
        headers = {"Authorization": f"Bearer {env['WARROOM_TOKEN']}"}
        declared = httpx.post(
            f"{env['WARROOM_HTTP']}/api/v1/incidents",
            json={"id": "INC-42", "title": "Checkout 500s", "severity": "SEV2", "actor": "ann"},
            headers=headers,
        )
        assert declared.status_code == 201, declared.text

        tokens = {}
        for line in containing("sh", "warroom token create").text.splitlines():
            command = line.split("#")[0].strip()
            made = sh(command, env)
            assert made.returncode == 0, (command, made.stderr)
            tokens[command.split()[3]] = made.stdout.strip()
            assert "Shown once" in made.stderr and len(made.stdout.splitlines()) == 1
        assert set(tokens) == {"maria", "sam", "alertmanager"}

        errors = next(b for b in blocks() if b.lang == "" and b.text.startswith("$ warroom"))
        lines = errors.text.splitlines()
        for n in range(0, len(lines), 2):
            command, expected = lines[n].removeprefix("$ "), lines[n + 1]
            as_viewer = "with a viewer's token" in command
            ran = sh(command.split("#")[0], env | ({"WARROOM_TOKEN": tokens["sam"]} if as_viewer else {}))
            assert (ran.returncode, ran.stderr) == (2, expected + "\n"), f"{errors.where()}: {command}"

        curl = containing("sh", "curl ")
        posted = sh(curl.text, env)
        assert posted.returncode == 0, (curl.where(), posted.stdout, posted.stderr)
        entries = httpx.get(f"{env['WARROOM_HTTP']}/api/v1/incidents/INC-42", headers=headers).json()[
            "entries"
        ]
        assert [(e["text"], e["kind"], e["author"]) for e in entries][-1] == (
            "deploy 2026.11.28-3 rolled out",
            "action",
            "ci",
        )
