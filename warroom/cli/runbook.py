"""``warroom runbook check`` and ``warroom runbook match``: the runbook library from the command line.

Neither needs a hub: they read files. Problems print as ``FILE:LINE: message``;
every string printed for people (file names, titles, match lines) passes
through ``visible``, since a runbook file is text someone else wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warroom.core.matchers import NAME
from warroom.core.text import visible

if TYPE_CHECKING:
    from warroom.runbooks.match import Attach

EXIT_STALE = 1
EXIT_ERROR = 2
LIBRARY_ENV = "WARROOM_RUNBOOKS"


class UsageError(Exception):
    """Bad input on the command line: one line on stderr and exit 2."""


def add_parser(sub: Any) -> list[Any]:
    """Register ``runbook check``, ``match``, ``attach`` and ``run``; returns those that talk to a hub."""
    runbook = sub.add_parser(
        "runbook", help="runbook files: check them, or see which would attach to an alert"
    )
    runbook_sub = runbook.add_subparsers(dest="runbook_command", required=True, parser_class=type(runbook))
    check = runbook_sub.add_parser(
        "check", help="check runbook files (or every *.md under a directory); exit 2 on an error, 1 if stale"
    )
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.add_argument(
        "--now", type=_date, metavar="YYYY-MM-DD", help="the day to check review dates against"
    )
    match = runbook_sub.add_parser("match", help="which runbooks attach to an alert with these labels")
    match.add_argument("labels", nargs="+", metavar="LABEL=VALUE")
    match.add_argument("--runbook-url", help="the alert's runbook_url: runbooks whose aliases name it attach")
    match.add_argument(
        "--library",
        metavar="DIR",
        help=f"the runbook directory (default: ${LIBRARY_ENV}, then runbooks in the config file)",
    )
    match.add_argument("--json", action="store_true")
    attach = runbook_sub.add_parser(
        "attach", help="attach a runbook of the hub's library to an incident; prints its seq"
    )
    attach.add_argument("incident")
    attach.add_argument("id", metavar="ID", help="the runbook's id in the hub's library")
    run = runbook_sub.add_parser(
        "run",
        help="run a step's command here (from the local library, labels of the attaching alert "
        "shell-quoted); records a finding. The hub never runs anything",
    )
    run.add_argument("incident")
    run.add_argument("step", metavar="STEP", help="RUNBOOK/STEP, or a step id unique in the room")
    run.add_argument("--runbook", metavar="ID", help="the attached runbook the step belongs to")
    run.add_argument("--alert", metavar="FINGERPRINT", help="fill the placeholders from this alert instead")
    run.add_argument("--dry-run", action="store_true", help="print the command and run nothing")
    run.add_argument("--yes", action="store_true", help="do not ask first (needed without a terminal)")
    run.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="kill it after this long (default 60)",
    )
    run.add_argument(
        "--library",
        metavar="DIR",
        help=f"the runbook directory (default: ${LIBRARY_ENV}, then runbooks in the config file)",
    )
    return [attach, run]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (up to 86400)")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        if args.runbook_command == "check":
            return _check(args)
        return _match(args)
    except UsageError as exc:
        print(f"warroom: {visible(str(exc))}", file=sys.stderr)
        return EXIT_ERROR


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: give YYYY-MM-DD") from None


def _check(args: argparse.Namespace) -> int:
    # Imported here, as in _match: Markdown and YAML would cost every other command 0.1 s to load.
    from warroom.runbooks.library import check_files, runbook_files

    for path in args.paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or directory")
    files = runbook_files(args.paths)
    if not files:
        raise UsageError(f"no *.md files in {' '.join(args.paths)}")
    library = check_files(files, args.now or date.today())
    for problem in library.problems:
        print(visible(str(problem)))
    if library.errors:
        return EXIT_ERROR
    if library.problems:
        return EXIT_STALE
    print(visible(f"{len(library.runbooks)} runbooks, no problems"))
    return 0


def _configured() -> str | None:
    """``runbooks`` in the client config file, if set."""
    from warroom.config import ConfigError, load_file

    try:
        value = load_file().get("runbooks")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return str(value) if value else None


def _labels(texts: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for text in texts:
        name, eq, value = text.partition("=")
        if not eq or not NAME.match(name):
            raise UsageError(f"label {text!r}: give NAME=VALUE, such as alertname=HighErrorRate")
        if name in labels:
            raise UsageError(f"label {name!r} is given twice")
        labels[name] = value
    return labels


def library_dir(given: str | None, flag: str = "give --library DIR, ") -> str:
    """The runbook library: ``--library``, else ``$WARROOM_RUNBOOKS``, else the config file's.

    ``flag`` is how the refusal offers the option (the app has none).
    """
    where = given or os.environ.get(LIBRARY_ENV) or _configured()
    if not where:
        raise UsageError(f"no runbook library: {flag}set {LIBRARY_ENV}, or set runbooks in the config file")
    if not Path(where).is_dir():
        raise UsageError(f"runbook library {where}: no such directory")
    return where


def _match(args: argparse.Namespace) -> int:
    from warroom.runbooks.library import load_library

    labels = _labels(args.labels)
    library = load_library(library_dir(args.library))
    for problem in library.errors:  # the hub would leave these out too, and keep going
        print(visible(f"warroom: left out: {problem}"), file=sys.stderr)
    found = library.index.match(labels, args.runbook_url)
    if args.json:
        print(json.dumps([_attach_dict(a) for a in found], indent=2))
        return 0
    if not found:
        print("no runbook attaches")
    width = max((len(a.runbook.id) for a in found), default=0)
    for attach in found:
        runbook = attach.runbook
        line = attach.line.line if attach.line is not None else runbook.line_of.get("aliases", 1)
        print(visible(f"{runbook.id:<{width}}  {runbook.title}"))
        print(visible(f"{'':<{width}}  by {attach.why}  ({runbook.path}:{line})"))
    return 0


def _attach_dict(attach: Attach) -> dict[str, Any]:
    runbook = attach.runbook
    return {
        "id": runbook.id,
        "title": runbook.title,
        "path": runbook.path,
        "match": attach.line.text if attach.line is not None else None,
        "matchers": [str(m) for m in attach.line.matchers] if attach.line is not None else [],
        "line": attach.line.line if attach.line is not None else runbook.line_of.get("aliases"),
        "alias": attach.alias,
    }
