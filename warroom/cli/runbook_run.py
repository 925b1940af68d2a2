"""``warroom runbook run``: a runbook step's command, run on this machine only.

The command text comes only from the local runbook library; the room says
which runbook and step, and which alert's labels fill the placeholders. Every
value is shell-quoted, so an alert cannot inject shell syntax. The hub never
runs anything, and no event or frame can make a client run anything: this
module is reached only from a person's own command, ``warroom runbook run``
or the app's run key (after a yes).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shlex
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from warroom.core.events import TEXT_MAX
from warroom.core.state import IncidentState
from warroom.core.text import visible
from warroom.runbooks.library import Library
from warroom.runbooks.shell import PLACEHOLDER, misplaced
from warroom.runbooks.steps import AMBIGUOUS, NO_SUCH_STEP, NOT_ATTACHED, NOWHERE, StepLookup, resolve_step

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
    pairs = ((rb_id, step) for rb_id, rb in state.runbooks.items() for step in rb.steps)
    try:
        return resolve_step(given, pairs, runbook)
    except StepLookup as why:
        room, step = state.room, why.step
        raise RunRefused(
            {
                NOT_ATTACHED: f"no runbook {why.runbook!r} is attached to {room}",
                NO_SUCH_STEP: f"runbook {why.runbook!r} in {room} has no step {step!r}",
                NOWHERE: f"no attached runbook in {room} has a step {step!r}",
                AMBIGUOUS: f"step {step!r} is in {', '.join(why.found)}: give RUNBOOK/{step}",
            }[why.kind]
        ) from None


def prepare(
    state: IncidentState, library: Library, runbook_id: str, step_id: str, fingerprint: str | None = None
) -> str:
    """The filled command of an attached step: its text from the local ``library``, never the room's.

    The values come from the alert ``fingerprint`` names, else the one that
    attached the runbook (none: a command with placeholders is refused).
    Used by ``warroom runbook run`` and the app's run key alike.
    """
    attached = state.runbooks.get(runbook_id)
    if attached is None or step_id not in attached.steps:
        raise RunRefused(f"no step {runbook_id}/{step_id} is attached to {state.room}")
    runbook = library.runbooks.get(runbook_id)
    step = runbook.step(step_id) if runbook is not None else None
    if step is None:
        raise RunRefused(f"the local runbook library has no step {runbook_id}/{step_id}")
    if step.command is None:
        raise RunRefused(f"step {runbook_id}/{step_id} has no command in the local library")
    fingerprint = fingerprint or attached.alert
    alert = state.alerts.get(fingerprint) if fingerprint else None
    if fingerprint and alert is None:
        raise RunRefused(f"alert {fingerprint} is no longer in {state.room}")
    labels = alert.labels if alert is not None else {}
    annotations = alert.annotations if alert is not None else {}
    return fill(step.command.text, labels, annotations)


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


async def run_local(command: str, timeout: float, output: Callable[[str], None]) -> Outcome:
    """Run ``command`` with ``/bin/sh -c`` in its own process group, handing ``output`` its output.

    ``output`` gets each piece as it arrives, made visible (newlines kept): the
    CLI prints it, the app shows it. On timeout the whole group is killed, so
    a pipeline's children go too.
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
            if text := decoder.decode(chunk):
                output(visible(text, multiline=True))

    reading = asyncio.ensure_future(pump())
    code: int | None
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        code = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    except asyncio.CancelledError:  # ctrl+c, or the app quitting: the group of its own would outlive us
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        reading.cancel()
        raise
    # A child that left the group may still hold the pipe: do not wait on it for long.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(reading), 2)
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    seconds = time.monotonic() - started
    tail = decoder.decode(b"", final=True)
    if tail:
        output(visible(tail, multiline=True))
    if kept and not kept.endswith(b"\n"):
        output("\n")
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


def step_note(outcome: Outcome) -> str:
    """The note the step gets: how the local run ended."""
    return f"ran locally: {result_line(outcome)}"


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
