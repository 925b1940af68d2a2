"""What a runbook file says, as plain frozen data.

A ``Runbook`` is a snapshot of one file: attaching it to an incident copies
it, so later edits of the file do not change a running incident. Every part
keeps the line it came from (``line``, counting from 1), so a later check or
a run can point at the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from warroom.core.matchers import Matcher, parse_matchers

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file; printed as ``FILE:LINE: message``.

    A ``warning`` (a stale review date) leaves the runbook usable; an
    ``error`` keeps it out of the library.
    """

    path: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Command:
    """The fenced code block under a step: what a responder may copy or run locally.

    ``text`` may hold ``{{labels.X}}`` and ``{{annotations.X}}`` placeholders,
    filled from the attaching alert (shell-quoted) at run time, never here.
    """

    text: str
    language: str  # the fence's info string ("sh", "bash", "sql", ...); "" when none
    line: int  # of the opening fence


@dataclass(frozen=True)
class Step:
    """One ``- [ ]`` item.

    ``id`` is unique within its runbook: ``{#id}`` sets it, else it is the
    slug of ``text`` (a sub-step's default is ``PARENT.slug``). ``role`` is
    one of the incident roles (commander, comms, tech, scribe): the step goes
    to that role's holder on attach. ``due_minutes`` counts from the moment
    the runbook is attached.
    """

    id: str
    text: str
    line: int
    role: str | None = None
    due_minutes: int | None = None
    command: Command | None = None
    steps: tuple[Step, ...] = ()  # sub-steps, in file order

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "line": self.line,
            "role": self.role,
            "due_minutes": self.due_minutes,
            "command": None if self.command is None else asdict(self.command),
            "steps": [sub.to_dict() for sub in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        command = data.get("command")
        return cls(
            id=data["id"],
            text=data["text"],
            line=data["line"],
            role=data.get("role"),
            due_minutes=data.get("due_minutes"),
            command=None
            if command is None
            else Command(command["text"], command["language"], command["line"]),
            steps=tuple(cls.from_dict(sub) for sub in data.get("steps", ())),
        )

    def walk(self) -> Iterator[Step]:
        """This step, then its sub-steps depth-first, in file order."""
        yield self
        for sub in self.steps:
            yield from sub.walk()


@dataclass(frozen=True)
class Section:
    """The steps under one heading; ``heading`` is "" for steps before the first heading."""

    heading: str
    line: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class MatchLine:
    """One entry of ``match:``: every matcher on it must hold (any one line is enough)."""

    text: str
    matchers: tuple[Matcher, ...]
    line: int

    def matches(self, labels: Mapping[str, str]) -> bool:
        for matcher in self.matchers:  # noqa: SIM110 (a loop, not a generator: a storm calls this a lot)
            if not matcher.matches(labels):
                return False
        return True


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    path: str  # as given to the loader: what problems and timeline lines name
    owner: str | None = None
    last_reviewed: date | None = None
    review_every: int | None = None  # days
    match: tuple[MatchLine, ...] = ()
    aliases: tuple[str, ...] = ()  # runbook_url values this runbook answers to
    sections: tuple[Section, ...] = ()
    line_of: dict[str, int] = field(
        default_factory=dict, compare=False, repr=False
    )  # front-matter key -> line

    def steps(self) -> Iterator[Step]:
        """Every step and sub-step, depth-first, in file order."""
        for section in self.sections:
            for step in section.steps:
                yield from step.walk()

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps() if s.id == step_id), None)

    @property
    def review_due(self) -> date | None:
        """When the next review is due; None without both ``last_reviewed`` and ``review_every``."""
        if self.last_reviewed is None or self.review_every is None:
            return None
        return self.last_reviewed + timedelta(days=self.review_every)

    def is_stale(self, today: date) -> bool:
        due = self.review_due
        return due is not None and today > due

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: what an event carries when the runbook is attached (a snapshot)."""
        return {
            "id": self.id,
            "title": self.title,
            "path": self.path,
            "owner": self.owner,
            "last_reviewed": None if self.last_reviewed is None else self.last_reviewed.isoformat(),
            "review_every": self.review_every,
            "match": [
                {"text": m.text, "matchers": [str(x) for x in m.matchers], "line": m.line} for m in self.match
            ],
            "aliases": list(self.aliases),
            "sections": [
                {"heading": s.heading, "line": s.line, "steps": [step.to_dict() for step in s.steps]}
                for s in self.sections
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Runbook:
        """The inverse of ``to_dict``; raises ``WarroomError`` on a matcher that does not parse."""
        reviewed = data.get("last_reviewed")
        return cls(
            id=data["id"],
            title=data["title"],
            path=data["path"],
            owner=data.get("owner"),
            last_reviewed=None if reviewed is None else date.fromisoformat(reviewed),
            review_every=data.get("review_every"),
            match=tuple(
                MatchLine(m["text"], parse_matchers(m["matchers"], "match"), m["line"])
                for m in data.get("match", ())
            ),
            aliases=tuple(data.get("aliases", ())),
            sections=tuple(
                Section(s["heading"], s["line"], tuple(Step.from_dict(step) for step in s["steps"]))
                for s in data.get("sections", ())
            ),
        )
