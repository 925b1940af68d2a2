"""Line numbers for a TOML file's tables and keys (tomllib gives none for valid TOML).

Scans the text the way a reader does: each ``[table]`` or ``[[array]]`` header
opens a table, and ``key = value`` lines belong to the last one opened. Good
enough to point a person at the line to fix; where it cannot tell, it points
at the table's header, or at line 1.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _path(header: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in header.split("."))


class Lines:
    """Where each table (the n-th of an array of tables) and each of its keys starts."""

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, ...], list[int]] = {}
        self.keys: dict[tuple[tuple[str, ...], int, str], int] = {}
        current: tuple[tuple[str, ...], int] = ((), 0)
        for number, line in enumerate(text.splitlines(), 1):
            header = _HEADER.match(line)
            if header:
                path = _path(header.group(2))
                seen = self.tables.setdefault(path, [])
                seen.append(number)
                current = (path, len(seen) - 1)
                continue
            key = _KEY.match(line)
            if key:
                self.keys.setdefault((*current, key.group(1).strip("\"'")), number)

    def table(self, path: tuple[str, ...], index: int = 0) -> int:
        """The header line of a table (``index``: which of an array of tables), else its parent's."""
        while path:
            seen = self.tables.get(path)
            if seen:
                return seen[min(index, len(seen) - 1)]
            path, index = path[:-1], 0
        return 1

    def key(self, path: tuple[str, ...], key: str, index: int = 0) -> int:
        """The line of ``key`` in a table, else the table's header."""
        return self.keys.get((path, index, key)) or self.table(path, index)
