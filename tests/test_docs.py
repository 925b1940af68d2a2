"""The protocol and HTTP API documents name every code, frame, event type and field the code defines.

A new error code, close code, frame, frame field, event type or event field fails
here until docs/protocol.md describes it; a new error code also needs its HTTP
status in docs/api.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from warroom.core.errors import HTTP_STATUS, Code
from warroom.core.events import EVENT_TYPES
from warroom.core.protocol import CLIENT_FRAMES, Close

ROOT = Path(__file__).parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
API = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")

# Frames the hub sends; the code has no table of them
# (see server/session.py, server/writer.py and server/room.py).
HUB_FRAMES = (
    "welcome",
    "error",
    "ack",
    "joined",
    "snapshot",
    "events",
    "synced",
    "presence",
    "incidents",
    "left",
    "result",
    "policy",
    "state_at",
)
HEADING = re.compile(r"^(#+) ", re.MULTILINE)
# The protocol document without its code blocks, whose "# ..." comment lines are not headings.
PROSE = re.sub(r"^```.*?^```$", "", PROTOCOL, flags=re.MULTILINE | re.DOTALL)


def missing(text: str, names: Iterable[object]) -> list[str]:
    """The names that do not appear in ``text`` in backticks, such as `unknown_ref`."""
    return [str(name) for name in names if f"`{name}`" not in text]


def section(name: str) -> str:
    """The part of docs/protocol.md under the heading naming `name`, up to the next heading of that level."""
    headings = list(HEADING.finditer(PROSE))
    for n, heading in enumerate(headings):
        line = PROSE[heading.start() : PROSE.index("\n", heading.start())]
        if f"`{name}`" in line:
            level = len(heading.group(1))
            ends = [h.start() for h in headings[n + 1 :] if len(h.group(1)) <= level]
            return PROSE[heading.start() : ends[0] if ends else len(PROSE)]
    raise AssertionError(f"docs/protocol.md has no heading naming `{name}`")


def test_every_error_code_is_in_the_protocol_document() -> None:
    assert missing(PROTOCOL, [code.value for code in Code]) == []


def test_every_close_code_is_in_the_protocol_document() -> None:
    assert missing(PROTOCOL, [close.value for close in Close]) == []


def test_every_client_frame_has_a_section_naming_each_of_its_fields() -> None:
    for kind, fields in CLIENT_FRAMES.items():
        assert missing(section(kind), [f.name for f in fields]) == [], kind


def test_every_hub_frame_has_a_section() -> None:
    for kind in HUB_FRAMES:
        assert section(kind)


def test_every_event_type_has_a_section_naming_each_of_its_fields() -> None:
    for name, kind in EVENT_TYPES.items():
        assert missing(section(name), [f.name for f in kind.fields]) == [], name


def test_the_api_document_gives_the_http_status_of_every_error_code() -> None:
    for code in Code:
        row = f"| `{code.value}` | {HTTP_STATUS[code]} |"
        assert row in API, f"docs/api.md has no table row starting {row!r}"
