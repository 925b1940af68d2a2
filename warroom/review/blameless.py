"""The blameless check: phrases that put an incident on a person instead of on the system.

A review asks what made a mistake easy to make, not who made it. ``check``
finds the phrases of a list (``DEFAULT_PHRASES``, or a team's own, one a line)
in a document, line by line, case-insensitively and on word boundaries
("blame" is not found in "blameless"). Words in a phrase may be parted by any
run of spaces, and a straight or curly apostrophe matches either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_PHRASES: tuple[str, ...] = (
    "human error",
    "operator error",
    "user error",
    "pilot error",
    "should have",
    "should've",
    "shouldn't have",
    "could have prevented",
    "careless",
    "carelessly",
    "carelessness",
    "fault of",
    "'s fault",
    "to blame",
    "blamed",
    "negligent",
    "negligence",
    "incompetent",
    "incompetence",
    "sloppy",
    "reckless",
    "lazy",
    "stupid",
    "forgot to",
    "didn't bother",
    "failed to notice",
)


@dataclass(frozen=True, slots=True)
class Finding:
    line: int  # from 1
    phrase: str  # as the document has it


def parse_phrases(text: str) -> list[str]:
    """A phrase file: one phrase a line; blank lines and lines starting with ``#`` are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


_CURLY = "\u2019"
_APOSTROPHE = f"['{_CURLY}]"


def _pattern(phrase: str) -> str:
    words = [re.sub(f"['{_CURLY}]", _APOSTROPHE, re.escape(word)) for word in phrase.split()]
    body = r"\s+".join(words)
    start = r"\b" if phrase[:1].isalnum() else ""
    end = r"\b" if phrase[-1:].isalnum() else ""
    return f"{start}{body}{end}"


def compile_phrases(phrases: Iterable[str]) -> re.Pattern[str]:
    """One pattern for every phrase, the longest first so "shouldn't have" wins over a shorter one."""
    ordered = sorted({p.strip() for p in phrases if p.strip()}, key=lambda p: (-len(p), p))
    if not ordered:
        raise ValueError("no phrases to look for")
    return re.compile("|".join(_pattern(p) for p in ordered), re.IGNORECASE)


def check(text: str, phrases: Sequence[str] = DEFAULT_PHRASES) -> list[Finding]:
    """Every blame phrase in ``text``, in order."""
    pattern = compile_phrases(phrases)
    return [
        Finding(number, match.group())
        for number, line in enumerate(text.splitlines(), 1)
        for match in pattern.finditer(line)
    ]
