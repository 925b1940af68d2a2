"""A directory of runbook files: the good ones kept, the broken ones named with their problems.

The hub calls ``load_library`` at start and on ``config reload``; a broken
file never stops it. The CLI's ``runbook check`` reads files the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from warroom.runbooks.match import Index
from warroom.runbooks.model import Problem, Runbook
from warroom.runbooks.parse import MAX_FILE, parse_runbook, review_problems


@dataclass(frozen=True)
class Library:
    """The runbooks that loaded (by id), and every problem found, errors and stale warnings alike."""

    runbooks: dict[str, Runbook]
    problems: tuple[Problem, ...] = ()
    index: Index = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", Index(self.runbooks.values()))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def broken(self) -> tuple[str, ...]:
        """The files left out, each once, in order."""
        return tuple(dict.fromkeys(p.path for p in self.errors))


def runbook_files(paths: Iterable[str | Path]) -> list[Path]:
    """Each path as given when a file, else every ``*.md`` under it (recursively), sorted."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        out.extend(sorted(p for p in path.rglob("*.md") if p.is_file()) if path.is_dir() else [path])
    return out


def read_runbook(path: Path) -> tuple[Runbook | None, list[Problem]]:
    """One file, as ``parse_runbook`` reads it; an unreadable file is a problem at line 1."""
    name = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            return None, [Problem(name, 1, f"the file is larger than {MAX_FILE} bytes")]
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(name, raw[: exc.start].count(b"\n") + 1, "not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(name, 1, f"cannot read: {exc.strerror or exc}")]
    return parse_runbook(text, name)


def check_files(paths: Iterable[Path], today: date | None = None) -> Library:
    """Parse every file; a second runbook with an id already seen is an error and is left out."""
    runbooks: dict[str, Runbook] = {}
    problems: list[Problem] = []
    for path in paths:
        runbook, found = read_runbook(path)
        problems.extend(found)
        if runbook is None:
            continue
        first = runbooks.get(runbook.id)
        if first is not None:
            where = f"{first.path}:{first.line_of.get('id', 1)}"
            problems.append(
                Problem(
                    runbook.path,
                    runbook.line_of.get("id", 1),
                    f"duplicate runbook id {runbook.id!r} (also {where})",
                )
            )
            continue
        runbooks[runbook.id] = runbook
        if today is not None:
            problems.extend(review_problems(runbook, today))
    return Library(runbooks, tuple(problems))


def load_library(path: str | Path, today: date | None = None) -> Library:
    """Every ``*.md`` under ``path``; a missing directory is one problem, not an exception."""
    root = Path(path)
    if not root.is_dir():
        return Library({}, (Problem(str(root), 1, "no such directory"),))
    return check_files(runbook_files([root]), today)


def shipped_dir() -> Path:
    """The example runbooks that ship with warroom: in the wheel, else the checkout's ``runbooks/``."""
    packaged = Path(__file__).resolve().parent / "examples"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "runbooks"
