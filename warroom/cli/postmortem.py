"""``warroom postmortem``: write an incident's review, or check a review for blame language.

``warroom postmortem INCIDENT`` reads the room as ``warroom show`` does (an
observer: nothing is recorded) and prints the review as Markdown (or JSON);
``-o FILE`` writes it there instead (``warroom.review.files``: the keep
blocks of the file it replaces carry over, and the file is replaced whole).
``warroom postmortem check FILE`` prints ``FILE:LINE: blameless: "phrase"``
for each blame phrase and exits 1 when it found any, 0 when clean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from warroom.core.schema import format_time, parse_time
from warroom.core.text import json_safe, visible
from warroom.review import blameless, files
from warroom.review.postmortem import build, markdown

CHECK = "check"
EXIT_FOUND = 1


class _Fail(Exception):
    """One line on stderr, exit 2."""


def add_parser(sub: Any) -> Any:
    """Register ``postmortem``; returns its parser, for the hub options."""
    parser = sub.add_parser(
        "postmortem",
        help="an incident's review as Markdown or JSON; 'postmortem check FILE' flags blame language",
    )
    parser.add_argument("incident", metavar="INCIDENT | check", help="the incident, or check")
    parser.add_argument("file", nargs="?", metavar="FILE", help="with check: the review file to check")
    parser.add_argument("--format", choices=("md", "json"), default="md", help="md (default) or json")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write it here; keep blocks of the file already there stay"
    )
    parser.add_argument(
        "--all", action="store_true", help="every entry: plain notes and the hub's delivery lines too"
    )
    parser.add_argument(
        "--now", metavar="TIME", help="judge overdue action items at TIME (default: the log's last event)"
    )
    parser.add_argument(
        "--words", metavar="FILE", help="with check: the phrases to flag, one a line (default: built in)"
    )
    return parser


async def run(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    try:
        if args.incident == CHECK:
            return check(args)
        if args.file is not None:
            raise _Fail(f"unexpected {args.file!r}: only 'postmortem check FILE' takes a file")
        if args.words is not None:
            raise _Fail("--words goes with 'postmortem check FILE'")
        return await _export(args, cli)
    except _Fail as err:
        raise cli.UserError(str(err)) from None


async def _export(args: argparse.Namespace, cli: Any) -> int:
    now = _time(args.now) if args.now else None

    async def work(client: Any) -> int:
        state = (await client.join(args.incident, observe=True)).state
        if args.format == "md" and args.output:
            files.write_review(Path(args.output), state, all_entries=args.all, now=now)
        elif args.format == "json":
            body = json_safe(
                orjson.dumps(build(state, all_entries=args.all, now=now), option=orjson.OPT_INDENT_2)
            )
            if not args.output:
                sys.stdout.buffer.write(body + b"\n")
                return 0
            files.replace_file(Path(args.output), body + b"\n")
        else:
            sys.stdout.write(visible(markdown(state, all_entries=args.all, now=now), multiline=True))
            return 0
        print(visible(f"{state.room}: review written to {args.output}"))
        return 0

    try:
        result: int = await cli._with_client(args, work)
    except files.ExportError as err:
        raise _Fail(str(err)) from None
    return result


def _time(value: str) -> str:
    try:
        return format_time(parse_time(value))
    except ValueError:
        raise _Fail(f"--now {value!r}: expected a time such as 2026-12-01T09:00:00Z or a date") from None


def _read(path: str) -> str:
    try:
        return files.read_text(Path(path)) or ""
    except files.ExportError as err:
        raise _Fail(str(err)) from None


def check(args: argparse.Namespace) -> int:
    """Print each blame phrase as FILE:LINE; 1 when there is any, 0 when clean."""
    if args.file is None:
        raise _Fail("check what? warroom postmortem check FILE")
    if args.output or args.all or args.now or args.format != "md":
        raise _Fail("postmortem check takes a FILE and --words only")
    phrases: list[str] | tuple[str, ...] = blameless.DEFAULT_PHRASES
    if args.words is not None:
        phrases = blameless.parse_phrases(_read(args.words))
        if not phrases:
            raise _Fail(f"{args.words}: no phrases in it (one a line; # starts a comment)")
    found = blameless.check(_read(args.file), phrases)
    for finding in found:
        print(visible(f'{args.file}:{finding.line}: blameless: "{finding.phrase}"'))
    return EXIT_FOUND if found else 0
