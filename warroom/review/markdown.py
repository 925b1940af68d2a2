"""Markdown pieces that user text cannot break out of.

Every string that came from a person or a monitoring system passes through
``inline`` (one line: a list item, a heading), ``cell`` (a table cell) or
``paragraphs`` (multi-line text). They make control characters visible and
backslash-escape what GitHub-flavoured Markdown would read as structure: a
pipe that would add a table column, a ``#`` that would start a heading, a
``<`` that would open HTML (a keep-block marker among it), backticks,
emphasis, links, and what a line may start with (lists, quotes, setext
underlines). A newline never reaches a cell or a list item: it shows as ⏎.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from warroom.core.text import visible

# ASCII punctuation CommonMark lets a backslash escape, that GFM gives a meaning anywhere in a line.
_ANYWHERE = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]<>|~&#$"})
# What makes a line something other than a paragraph line once the above is escaped: a
# bullet, a heading underline or thematic break, an ordered list ("1." or "1)").
_LINE_START = re.compile(r"^([-+=])|^(\d+)([.)])")
_STARTERS = frozenset("-+=0123456789")


def _escape(text: str) -> str:
    text = text.translate(_ANYWHERE)
    if text[:1] not in _STARTERS:
        return text
    return _LINE_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", text)


def inline(text: str | None) -> str:
    """One line of running text: no newline, nothing that Markdown reads as structure."""
    return _escape(visible(text or "").strip())


def cell(text: str | None) -> str:
    """A table cell: one line, its pipes escaped; an empty cell stays empty."""
    return inline(text)


def paragraphs(text: str | None) -> str:
    """Multi-line text as paragraphs: a blank line parts them, each line is escaped on its own.

    Leading blanks are dropped (four would make a code block), so no line can
    open a block of its own.
    """
    out: list[str] = []
    for block in re.split(r"\n\s*\n", visible(text or "", multiline=True).strip()):
        lines = [_escape(line.strip()) for line in block.splitlines() if line.strip()]
        if lines:
            out.append("\n".join(lines))
    return "\n\n".join(out)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GFM table; cells must already be escaped (``cell``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def bullets(items: Sequence[str]) -> str:
    """A bullet list of already-escaped lines."""
    return "\n".join(f"- {item}" for item in items)
