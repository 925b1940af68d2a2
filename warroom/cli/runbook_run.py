"""``warroom runbook run``: a runbook step's command, run on this machine only.

The command text comes only from the local runbook library; the room says
which runbook and step, and which alert's labels fill the placeholders. Every
value is shell-quoted, so an alert cannot inject shell syntax. The hub never
runs anything, and no event or frame can make a client run anything: this
module is reached only from the command line.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from warroom.core.events import TEXT_MAX
from warroom.core.state import IncidentState
from warroom.core.text import visible
from warroom.runbooks.shell import PLACEHOLDER, misplaced

DEFAULT_TIMEOUT = 60.0  # seconds
EXIT_TIMEOUT = 124  # as timeout(1)
KEEP_BYTES = 64 * 1024  # of output kept to record; the rest is shown, not kept
RECORD_LINES = 20
RECORD_CHARS = 2000
FIRST_CHARS = 300  # of the command's first line, in the finding


class RunRefused(Exception):
    """Nothing was run: one line on stderr and exit 2."""


def split_step(given: str, runbook: str | None, state: IncidentState) -> tuple[str, str]:
    """``RUNBOOK/STEP``, or a step id unique among the room's attached runbooks."""
    if "/" in given and runbook is None:
        runbook, _, step = given.partition("/")
    else:
        step = given
    if runbook is not None:
        attached = state.runbooks.get(runbook)
        if attached is None:
            raise RunRefused(f"no runbook {runbook!r} is attached to {state.room}")
        if step not in attached.steps:
            raise RunRefused(f"runbook {runbook!r} in {state.room} has no step {step!r}")
        return runbook, step
    found = [rb_id for rb_id, rb in state.runbooks.items() if step in rb.steps]
    if not found:
        raise RunRefused(f"no attached runbook in {state.room} has a step {step!r}")
    if len(found) > 1:
        raise RunRefused(f"step {step!r} is in {', '.join(sorted(found))}: give RUNBOOK/{step}")
    return found[0], step


def fill(text: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its value, shell-quoted.

    A missing value stops everything: a command with a hole in it may do
    something else entirely.
    """
    for _, why in misplaced(text)[:1]:  # the checker refuses these; a file may have changed since
        raise RunRefused(f"not run: {why}")
    for match in PLACEHOLDER.finditer(text):
        kind, name = match.groups()
        values = labels if kind == "labels" else annotations
        if name not in values:
            raise RunRefused(f"missing {kind[:-1]}: {name}")
        if values[name].startswith("-"):
            option = "starts with '-', which the command would read as an option"
            raise RunRefused(f"not run: {kind[:-1]} {name} {option}")

    def quoted(match: re.Match[str]) -> str:
        kind, name = match.groups()
        return shlex.quote((labels if kind == "labels" else annotations)[name])

    return PLACEHOLDER.sub(quoted, text)


@dataclass(frozen=True)
class Outcome:
    code: int | None  # None when it timed out
    seconds: float
    output: str  # the first KEEP_BYTES, decoded
    timeout: float


async def run_local(command: str, timeout: float) -> Outcome:
    """Run ``command`` with ``/bin/sh -c`` in its own process group, echoing its output.

    On timeout the whole group is killed, so a pipeline's children go too.
    """
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    kept = bytearray()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    assert proc.stdout is not None
    stdout = proc.stdout

    async def pump() -> None:
        while chunk := await stdout.read(4096):
            if len(kept) < KEEP_BYTES:
                kept.extend(chunk[: KEEP_BYTES - len(kept)])
            sys.stdout.write(visible(decoder.decode(chunk), multiline=True))
            sys.stdout.flush()

    reading = asyncio.ensure_future(pump())
    code: int | None
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        code = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    # A child that left the group may still hold the pipe: do not wait on it for long.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(reading), 2)
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    seconds = time.monotonic() - started
    tail = decoder.decode(b"", final=True)
    if tail:
        sys.stdout.write(visible(tail, multiline=True))
    if kept and not kept.endswith(b"\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    return Outcome(code, seconds, kept.decode("utf-8", "replace"), timeout)


def exit_status(outcome: Outcome) -> int:
    if outcome.code is None:
        return EXIT_TIMEOUT
    return outcome.code if outcome.code >= 0 else 128 - outcome.code  # killed by a signal


def result_line(outcome: Outcome) -> str:
    if outcome.code is None:
        return f"timed out after {outcome.timeout:g} s"
    if outcome.code < 0:
        return f"killed by signal {-outcome.code} after {outcome.seconds:.1f} s"
    return f"exit {outcome.code} after {outcome.seconds:.1f} s"


def finding(runbook: str, step: str, command: str, outcome: Outcome) -> str:
    """The timeline entry: what ran, how it ended, and the head of its output (made visible)."""
    first = command.splitlines()[0] if command.strip() else command
    more = " …" if len(command.splitlines()) > 1 or len(first) > FIRST_CHARS else ""
    first = first[:FIRST_CHARS]
    lines = [f"ran {runbook}/{step} locally: {first}{more}", result_line(outcome)]
    output = outcome.output.splitlines()
    head = "\n".join(output[:RECORD_LINES])
    cut = len(output) > RECORD_LINES or len(head) > RECORD_CHARS
    head = head[:RECORD_CHARS]
    if head:
        lines.append("output:")
        lines.append(head + ("\n[… output cut]" if cut else ""))
    else:
        lines.append("no output")
    text = visible("\n".join(lines), multiline=True)  # may grow: a placeholder is wider than its character
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 2] + " …"
