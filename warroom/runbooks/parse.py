"""One runbook file's text -> a ``Runbook`` and every problem in it, each with its line.

Pure: the caller reads the file and says what day it is. The front matter is
YAML (the safe loader: plain data, never objects), the body CommonMark read
with markdown-it, whose tokens carry their source lines. A file with any
error gives no runbook; a stale review date is a warning only.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from warroom.core.errors import WarroomError
from warroom.core.events import ROLES, validate_command
from warroom.core.matchers import parse_matchers
from warroom.core.text import describe_char, find_control
from warroom.runbooks.model import Command, MatchLine, Problem, Runbook, Section, Step
from warroom.runbooks.shell import misplaced

# libyaml when PyYAML has it (seven times faster: a hub reads the whole library at start);
# either way the safe loader, which builds plain data and never objects.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FILE = 1 << 20  # bytes: a runbook is a page, not a data set
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
FIELDS = ("id", "title", "owner", "last_reviewed", "review_every", "match", "aliases")
REQUIRED = ("id", "title")
TASK = re.compile(r"\[([ xX])\][ \t]+(.*)\Z", re.DOTALL)
# ``{#id role=tech due=+15m}`` at the end of a step's text; ``{{labels.x}}`` is not one.
ATTRS = re.compile(r"(?<!\{)\{[ \t]*((?:#|[A-Za-z_]+=)[^{}]*)\}[ \t]*\Z")
DUE = re.compile(r"\+?(?:(\d{1,4})h)?(?:(\d{1,5})m)?\Z")
EVERY = re.compile(r"(\d{1,5})([dw])\Z")
NEWLINE = re.compile(r"\r\n?")
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
GOOD_PLACEHOLDER = re.compile(r"\s*(labels|annotations)\.[A-Za-z_][A-Za-z0-9_]*\s*\Z")


def parse_runbook(text: str, path: str) -> tuple[Runbook | None, list[Problem]]:
    """The runbook in ``text`` (None when it has an error), and its problems in line order."""
    parser = _Parser(path)
    runbook = parser.parse(text)
    if runbook is not None and not any(p.severity == "error" for p in parser.problems):
        parser.problems.extend(unattachable(runbook))
    problems = sorted(parser.problems, key=lambda p: p.line)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return runbook, problems


def unattachable(runbook: Runbook) -> list[Problem]:
    """What the hub would refuse to copy into a room: the rule for typed text, and the size bound.

    A file the checker passes must attach; the room takes no control or
    invisible character (a soft hyphen, a zero-width joiner) in what it shows.
    """
    texts: list[tuple[int, str]] = [(runbook.line_of.get("title", 1), runbook.title)]
    for section in runbook.sections:
        texts.append((section.line, section.heading))
    for step in runbook.steps():
        texts.append((step.line, step.text))
        if step.command is not None:
            texts.extend(
                (step.command.line + 1 + n, line) for n, line in enumerate(step.command.text.split("\n"))
            )
    out = []
    for line, text in texts:
        if (found := find_control(text, multiline=True)) is not None:
            out.append(
                Problem(
                    runbook.path, line, f"{describe_char(found[1])} is not allowed: a room shows text only"
                )
            )
    if not out:
        try:
            validate_command(
                "runbook.attached", {"runbook": runbook.id, "snapshot": runbook.to_dict()}, from_client=False
            )
        except WarroomError as exc:
            out.append(Problem(runbook.path, 1, f"the hub could not attach it: {exc.message}"))
    return out


def review_problems(runbook: Runbook, today: date) -> list[Problem]:
    """The stale warning, when ``last_reviewed + review_every`` is before ``today``."""
    due = runbook.review_due
    if due is None or not runbook.is_stale(today):
        return []
    line = runbook.line_of.get("last_reviewed", 1)
    message = f"stale: last reviewed {runbook.last_reviewed}, due {due}"
    return [Problem(runbook.path, line, message, "warning")]


def split_matchers(line: str) -> list[str]:
    """``'a="x, y", b=~"c|d"'`` (braces optional, as amtool takes it) -> its matchers' texts."""
    text = line.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    out: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    out.append("".join(current).strip())
    return [piece for piece in out if piece]


def slug(text: str) -> str:
    """A step's default id: lower-case words joined by ``-`` (Markdown marks dropped)."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"\{\{.*?\}\}|`", " ", text.lower()))
    return "-".join(words)[:48].strip("-") or "step"


@dataclass
class _Item:
    """A list item being read: a step once its text starts with ``[ ]``."""

    line: int
    text: str | None = None
    is_step: bool = False
    step_id: str = ""
    explicit_id: bool = False
    role: str | None = None
    due: int | None = None
    command: Command | None = None
    children: list[Step] = field(default_factory=list)


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def parse(self, text: str) -> Runbook | None:
        if len(text) > MAX_FILE:
            self.error(1, f"the file is larger than {MAX_FILE} characters")
            return None
        # Lines as markdown-it counts them (\r\n, \r and \n end a line; nothing else), so the
        # numbers of both halves agree.
        text = NEWLINE.sub("\n", text.removeprefix("\ufeff"))
        lines = text.split("\n")
        if not lines or lines[0].rstrip() != "---":
            self.error(1, "no front matter: a runbook starts with a '---' line, then id: and title:")
            return None
        end = next((n for n, ln in enumerate(lines[1:], 1) if ln.rstrip() in ("---", "...")), None)
        if end is None:
            self.error(1, "the front matter has no closing '---' line")
            return None
        front = self.front_matter("\n".join(lines[1:end]), offset=1)
        # Blank lines in place of the front matter keep markdown-it's line numbers the file's.
        body = "\n" * (end + 1) + "\n".join(lines[end + 1 :])
        sections = self.body(body, first_line=end + 2, total=len(lines))
        if front is None:
            return None
        fields, line_of = front
        return Runbook(path=self.path, sections=sections, line_of=line_of, **fields)

    # -- front matter -------------------------------------------------------------------------

    def front_matter(self, text: str, offset: int) -> tuple[dict[str, Any], dict[str, int]] | None:
        loader = LOADER(text)
        try:
            node = loader.get_single_node()  # the nodes know their lines; the data is built from them
            data = None if node is None else loader.construct_document(node)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = offset + 1 + (mark.line if mark is not None else 0)
            why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.error(line, f"the front matter is not valid YAML: {why}")
            return None
        finally:
            loader.dispose()
        if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
            self.error(offset, "the front matter must be fields (id: ..., title: ...)")
            return None
        line_of: dict[str, int] = {}
        value_lines: dict[str, list[int]] = {}
        for key, value in node.value:
            name = str(key.value)
            at = offset + 1 + key.start_mark.line
            if name in line_of:
                self.error(at, f"field {name!r} is given twice (first at line {line_of[name]})")
            line_of[name] = at
            items = value.value if isinstance(value, yaml.SequenceNode) else [value]
            value_lines[name] = [offset + 1 + item.start_mark.line for item in items]
        for name in data:
            if str(name) not in FIELDS:
                self.error(
                    line_of.get(str(name), offset), f"unknown field {name!r} (fields: {', '.join(FIELDS)})"
                )
        for name in REQUIRED:
            if name not in data:
                self.error(offset, f"missing field {name!r}")
        fields: dict[str, Any] = {
            "id": self.runbook_id(data.get("id"), line_of.get("id", offset)),
            "title": self.text_field(data, "title", line_of),
            "owner": self.text_field(data, "owner", line_of),
            "last_reviewed": self.date_field(data, line_of),
            "review_every": self.every_field(data, line_of),
            "match": self.match_field(data, line_of, value_lines.get("match", [])),
            "aliases": self.aliases_field(data, line_of),
        }
        return fields, line_of

    def runbook_id(self, value: Any, line: int) -> str:
        if value is None:
            return ""
        if not isinstance(value, str) or not ID.match(value):
            self.error(line, f"id {value!r}: letters, digits, '-', '_' and '.', 64 at most")
            return ""
        return value

    def text_field(self, data: dict[str, Any], name: str, line_of: dict[str, int]) -> str | None:
        value = data.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
            self.error(line_of.get(name, 1), f"{name} must be one line of text")
            return None
        return value.strip()

    def date_field(self, data: dict[str, Any], line_of: dict[str, int]) -> date | None:
        value = data.get("last_reviewed")
        if value is None:
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # a quoted date is still a date
                value = date.fromisoformat(value.strip())
        if isinstance(value, datetime):  # YAML reads "2026-11-01 10:00" as a time: its day counts
            value = value.date()
        if not isinstance(value, date):
            self.error(line_of["last_reviewed"], f"last_reviewed {value!r}: give a date, YYYY-MM-DD")
            return None
        return value

    def every_field(self, data: dict[str, Any], line_of: dict[str, int]) -> int | None:
        value = data.get("review_every")
        if value is None:
            return None
        found = EVERY.match(value.strip()) if isinstance(value, str) else None
        days = None
        if found:
            days = int(found.group(1)) * (7 if found.group(2) == "w" else 1)
        elif isinstance(value, int) and not isinstance(value, bool):
            days = value
        if days is None or days <= 0:
            self.error(
                line_of["review_every"], f"review_every {value!r}: give days or weeks, such as 90d or 12w"
            )
            return None
        return days

    def match_field(
        self, data: dict[str, Any], line_of: dict[str, int], lines: list[int]
    ) -> tuple[MatchLine, ...]:
        value = data.get("match")
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(line_of["match"], "match must be a list of matcher lines, such as - 'alertname=\"X\"'")
            return ()
        out: list[MatchLine] = []
        for n, entry in enumerate(value):
            line = lines[n] if n < len(lines) else line_of["match"]
            if not isinstance(entry, str):
                self.error(line, f'match entry {entry!r} must be text, such as \'alertname="X", job="api"\'')
                continue
            try:
                matchers = parse_matchers(split_matchers(entry), where=f"match[{n}]")
            except WarroomError as err:
                self.error(line, err.message)
                continue
            out.append(MatchLine(entry.strip(), matchers, line))
        return tuple(out)

    def aliases_field(self, data: dict[str, Any], line_of: dict[str, int]) -> tuple[str, ...]:
        value = data.get("aliases")
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.error(line_of["aliases"], "aliases must be a list of runbook_url values")
            return ()
        return tuple(v.strip() for v in value)

    # -- body ---------------------------------------------------------------------------------

    def body(self, text: str, first_line: int, total: int) -> tuple[Section, ...]:
        tokens = MarkdownIt("commonmark").parse(text)
        source = text.split("\n")
        sections: list[Section] = []
        heading, heading_line = "", first_line
        steps: list[Step] = []
        stack: list[_Item] = []
        seen: dict[str, int] = {}
        for n, token in enumerate(tokens):
            line = token.map[0] + 1 if token.map else first_line
            if token.type == "heading_open":
                if steps:
                    sections.append(Section(heading, heading_line, tuple(steps)))
                heading, heading_line, steps = tokens[n + 1].content.strip(), line, []
            elif token.type == "list_item_open":
                stack.append(_Item(line))
            elif token.type == "inline" and stack and stack[-1].text is None:
                self.item_text(stack, token.content, seen)
            elif token.type == "fence":
                self.fence(token, source, stack)
            elif token.type == "list_item_close":
                step = self.close_item(stack.pop())
                if step is not None:
                    # A step's parent is the nearest step above it; a plain bullet is skipped over.
                    parent = next((item for item in reversed(stack) if item.is_step), None)
                    (parent.children if parent is not None else steps).append(step)
        if steps:
            sections.append(Section(heading, heading_line, tuple(steps)))
        if not sections:
            self.error(
                min(first_line, max(total, 1)), "no steps: a runbook needs at least one '- [ ] step' item"
            )
        return tuple(sections)

    def item_text(self, stack: list[_Item], content: str, seen: dict[str, int]) -> None:
        item = stack[-1]
        task = TASK.match(content)
        item.text = ""
        if task is None:
            return
        item.is_step = True
        text = " ".join(task.group(2).split())
        attrs = ATTRS.search(text)
        if attrs is not None:
            text = text[: attrs.start()].rstrip()
            self.attributes(item, attrs.group(1))
        item.text = text
        if not item.explicit_id:
            parent = next((it for it in reversed(stack[:-1]) if it.is_step), None)
            item.step_id = slug(text) if parent is None else f"{parent.step_id}.{slug(text)}"
        if item.step_id in seen:
            hint = "" if item.explicit_id else "; give one of them its own {#id}"
            self.error(
                item.line, f"duplicate step id {item.step_id!r} (first at line {seen[item.step_id]}){hint}"
            )
        else:
            seen[item.step_id] = item.line

    def attributes(self, item: _Item, text: str) -> None:
        for word in text.split():
            key, _, value = word.partition("=")
            if word.startswith("#"):
                if not ID.match(word[1:]):
                    self.error(
                        item.line, f"step id {word[1:]!r}: letters, digits, '-', '_' and '.', 64 at most"
                    )
                item.step_id, item.explicit_id = word[1:], True
            elif key == "role":
                if value not in ROLES:
                    self.error(item.line, f"role={value}: not a role ({', '.join(ROLES)})")
                else:
                    item.role = value
            elif key == "due":
                found = DUE.match(value)
                if not value.strip("+") or found is None:
                    self.error(
                        item.line,
                        f"due={value}: give minutes or hours after attaching, such as +15m or +1h30m",
                    )
                else:
                    item.due = int(found.group(1) or 0) * 60 + int(found.group(2) or 0)
            else:
                self.error(item.line, f"unknown step attribute {word!r} (#id, role=, due=)")

    def fence(self, token: Token, source: list[str], stack: list[_Item]) -> None:
        assert token.map is not None
        start, end = token.map
        closing = source[end - 1].strip() if end - 1 < len(source) else ""
        fence_char = token.markup[0]
        terminated = end - start >= 2 and len(closing) >= len(token.markup) and set(closing) == {fence_char}
        if not terminated:
            self.error(start + 1, f"unterminated code block: no closing {token.markup} line")
            return
        owner = stack[-1] if stack else None
        if owner is None or not owner.is_step:
            return  # a code block in prose is documentation, not a command
        for n, text_line in enumerate(token.content.split("\n")):
            for found in PLACEHOLDER.finditer(text_line):
                if not GOOD_PLACEHOLDER.match(found.group(1)):
                    self.error(
                        start + 2 + n,
                        f"placeholder {found.group()}: only {{{{labels.NAME}}}} and {{{{annotations.NAME}}}}",
                    )
        for offset, why in misplaced(token.content):
            self.error(start + 2 + token.content.count("\n", 0, offset), why)
        if owner.command is not None:
            self.error(start + 1, f"a step has one command; this step's is at line {owner.command.line}")
            return
        owner.command = Command(token.content.rstrip("\n"), token.info.strip(), start + 1)

    def close_item(self, item: _Item) -> Step | None:
        if not item.is_step:
            return None  # a plain bullet: prose (its nested steps went to the step above it)
        return Step(
            id=item.step_id,
            text=item.text or "",
            line=item.line,
            role=item.role,
            due_minutes=item.due,
            command=item.command,
            steps=tuple(item.children),
        )
