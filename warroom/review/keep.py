"""Keep blocks: text a team writes into the review that survives regenerating it.

Every section of the document ends with an empty block::

    <!-- warroom:keep -->
    <!-- /warroom:keep -->

Whatever is written between the two markers of an existing file is put back
into the same section's block when the file is written again. A block belongs
to the ``## `` heading above it (``preamble``: above the first one). The
markers must stand alone on their lines; an opening marker without its close,
or a close without an opening, is refused rather than guessed at, so a typo
never costs anyone their text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

OPEN = "<!-- warroom:keep -->"
CLOSE = "<!-- /warroom:keep -->"


class KeepError(ValueError):
    """A keep block that does not close (or a close without an opening); ``line`` counts from 1."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"{line}: {message}")
        self.line = line
        self.message = message


def keep_block(texts: Iterable[str] = ()) -> str:
    """The markers around each kept text; one empty block when there is none."""
    blocks = [f"{OPEN}\n{text}\n{CLOSE}" if text else f"{OPEN}\n{CLOSE}" for text in texts]
    return "\n\n".join(blocks) or f"{OPEN}\n{CLOSE}"


def read_kept(document: str, headings: Mapping[str, str], preamble: str) -> dict[str, list[str]]:
    """The non-empty keep blocks of ``document``, by section key (``headings``: heading -> key)."""
    kept: dict[str, list[str]] = {}
    section = preamble
    inside: list[str] | None = None
    opened = 0
    for number, line in enumerate(document.splitlines(), 1):
        marker = line.strip()
        if inside is None:
            if marker == OPEN:
                inside, opened = [], number
            elif marker == CLOSE:
                raise KeepError(number, f"{CLOSE} without an {OPEN} above it")
            elif line.startswith("## ") and line[3:].rstrip() in headings:
                section = headings[line[3:].rstrip()]
        elif marker == CLOSE:
            text = "\n".join(inside).strip("\n")
            if text.strip():
                kept.setdefault(section, []).append(text)
            inside = None
        elif marker == OPEN:
            raise KeepError(number, f"{OPEN} inside the keep block opened on line {opened}")
        else:
            inside.append(line)
    if inside is not None:
        raise KeepError(opened, f"this keep block is never closed with {CLOSE}")
    return kept
