"""Writing a review file: the one module here that touches the disk.

The CLI's ``-o FILE`` and the app's export key both come through here, so a
file they write is the same bytes, keeps the same blocks, and is replaced
whole (a crash mid-write leaves the old file, never half of the new one).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from warroom.core.state import IncidentState
from warroom.review.keep import KeepError
from warroom.review.postmortem import markdown


class ExportError(Exception):
    """The file could not be read, written, or its keep blocks do not close; one line, with the path."""


def read_text(path: Path, *, missing_ok: bool = False) -> str | None:
    """The file's text; None when it does not exist and ``missing_ok``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ExportError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def replace_file(path: Path, body: bytes) -> None:
    """Write ``body`` to ``path`` through a temporary file beside it, then rename it into place."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ExportError(f"{path}: cannot write it: {exc.strerror or exc}") from None


def write_review(
    path: Path, state: IncidentState, *, all_entries: bool = False, now: str | None = None
) -> str:
    """Write the review as Markdown to ``path``, carrying over the keep blocks of the file there.

    Returns what it wrote.
    """
    existing = read_text(path, missing_ok=True)
    try:
        text = markdown(state, all_entries=all_entries, now=now, existing=existing)
    except KeepError as err:
        raise ExportError(f"{path}:{err.line}: {err.message}; nothing written") from None
    replace_file(path, text.encode())
    return text
