"""A runbook step's command from the app: copied, or run on this machine after a yes.

The same path as ``warroom runbook run`` (``warroom.cli.runbook_run``): the
text from the local runbook library, never the room's copy; the values from
the alert that attached the runbook, each shell-quoted; the same timeout; a
finding and a step note afterwards. Only a key pressed here starts a run:
nothing from the hub can.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Log, Static

from warroom.app.tell import tell
from warroom.cli.runbook import UsageError, library_dir
from warroom.cli.runbook_run import (  # RunRefused: what callers catch
    DEFAULT_TIMEOUT,
    RunRefused,
    finding,
    prepare,
    result_line,
    run_local,
    step_note,
)
from warroom.client import CommandRejected, HubClient
from warroom.core.state import IncidentState
from warroom.core.text import visible
from warroom.runbooks.library import load_library

__all__ = ["RunRefused", "RunScreen", "first_line", "local_command", "question", "run_and_record"]

SHOWN_LINES = 5_000  # of output kept on screen; the finding keeps its head either way
KEPT_CHARS = 64 * 1024


async def local_command(state: IncidentState, runbook_id: str, step_id: str) -> str:
    """The step's command from the local library, filled from the room's alert; ``RunRefused`` if not."""
    try:
        where = library_dir(None, flag="")
    except UsageError as exc:
        raise RunRefused(str(exc)) from None
    library = await asyncio.to_thread(load_library, where)  # files: off the UI's loop
    return prepare(state, library, runbook_id, step_id)


def first_line(command: str) -> str:
    lines = command.splitlines() or [""]
    return visible(lines[0][:120]) + (" …" if len(lines) > 1 or len(lines[0]) > 120 else "")


def question(runbook_id: str, step_id: str, command: str) -> tuple[str, str, str]:
    """(question, detail, yes) for the confirmation: the exact command, made visible."""
    return (
        f"Run {visible(runbook_id)}/{visible(step_id)} on this machine?",
        f"/bin/sh -c, killed after {DEFAULT_TIMEOUT:g} s:\n{visible(command, multiline=True)}",
        "Run it",
    )


class RunScreen(ModalScreen[None]):
    """The command, its output as it arrives, and how it ended. Closing it does not stop the run."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    RunScreen { align: center middle; }
    RunScreen > Vertical { width: 90%; max-width: 110; height: 80%;
        border: round $primary; background: $surface; padding: 0 1; }
    RunScreen #run-command { color: $accent; margin-bottom: 1; }
    RunScreen #run-output { height: 1fr; }
    RunScreen #run-status { margin-top: 1; text-style: bold; }
    """

    def __init__(self, runbook_id: str, step_id: str, command: str) -> None:
        super().__init__()
        self.ref = f"{visible(runbook_id)}/{visible(step_id)}"
        self.command = command
        self._early: list[str] = []  # output that came before the log was mounted
        self.output = ""  # the head of what was shown, for whoever asks
        self.result: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content.assemble((self.ref, "bold"), " runs here, with /bin/sh -c:"))
            yield Static(Content(visible(self.command, multiline=True)), id="run-command")
            yield Log(max_lines=SHOWN_LINES, id="run-output")
            yield Label(Content("running… Escape closes this; the run goes on"), id="run-status")

    def on_mount(self) -> None:
        log = self.query_one(Log)
        for text in self._early:
            log.write(text)
        self._early = []
        if self.result is not None:
            self._show_result()

    def write(self, text: str) -> None:
        """A piece of output, made visible already by ``run_local``."""
        if len(self.output) < KEPT_CHARS:  # an endless output is shown by the log, not hoarded here
            self.output += text[: KEPT_CHARS - len(self.output)]
        if self.is_mounted:
            self.query_one(Log).write(text)
        else:
            self._early.append(text)

    def finished(self, result: str) -> None:
        self.result = result
        if self.is_mounted:
            self._show_result()

    def _show_result(self) -> None:
        status = self.query_one("#run-status", Label)
        status.update(Content(f"{self.result}; the finding goes to the timeline. Escape closes this."))


async def run_and_record(
    app: App[Any], client: HubClient, room: str, runbook_id: str, step_id: str, command: str, shown: RunScreen
) -> None:
    """Run it (same timeout as the CLI), show how it ended, and record the finding and the step note."""
    try:
        outcome = await run_local(command, DEFAULT_TIMEOUT, shown.write)
    except OSError as exc:
        tell(app, f"{runbook_id}/{step_id} did not start: {exc}", title="not run", severity="error")
        return
    result = result_line(outcome)
    shown.finished(result)
    severity = "information" if outcome.code == 0 else "warning"
    tell(app, f"{runbook_id}/{step_id}: {result}", title="ran locally", severity=severity)
    text = finding(runbook_id, step_id, command, outcome)
    records = [
        ("entry.added", {"kind": "finding", "text": text}),
        ("step.noted", {"runbook": runbook_id, "step": step_id, "text": step_note(outcome)}),
    ]
    for type_, data in records:
        try:
            await client.submit(type_, data, room)
        except CommandRejected as exc:
            tell(
                app, f"the run was not recorded: {exc.error.message}", title="not recorded", severity="error"
            )
            return
