"""The one rule for text that came from a person, a script or a monitoring system.

Such text is data. It is never parsed as markup, and no byte of it may steer a
terminal: C0 and C1 control characters, DEL, bidi overrides and the other
invisible format characters are shown as visible placeholders instead (ESC as
``␛``). Every printer (the app, the CLI, notifications, sinks, the status page)
passes untrusted strings through ``visible``; the hub refuses such characters
in what people type (``find_control``) and makes them visible in what
monitoring sends.
"""

from __future__ import annotations

import json
import re

# U+2400..U+241F are the Unicode "control pictures" for C0: ␀ ␁ … ␛ … ␟.
_C0 = {chr(c): chr(0x2400 + c) for c in range(0x20)}
_OTHER = {
    "\x7f": "␡",  # DEL
    # Bidi embeddings, overrides and isolates reorder what surrounds them on screen.
    **{ch: "⁅bidi⁆" for ch in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"},
    # Invisible characters that hide text or split words where nobody can see it.
    **{ch: "⁅zw⁆" for ch in "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"},
    **{chr(c): "⁅zw⁆" for c in (*range(0x206A, 0x2070), *range(0xFFF9, 0xFFFC))},
    # Tag characters: invisible text that some programs read (and some models obey).
    **{chr(c): "⁅tag⁆" for c in range(0xE0000, 0xE0080)},
    "\u2028": "␤",  # line separator
    "\u2029": "¶",  # paragraph separator
}
_C1 = {chr(c): "\ufffd" for c in range(0x80, 0xA0)}  # C1: CSI (0x9b) and OSC (0x9d) among them
PLACEHOLDERS: dict[str, str] = {**_C0, **_C1, **_OTHER}

_UNSAFE = re.compile("[" + "".join(re.escape(ch) for ch in PLACEHOLDERS) + "]")
_UNSAFE_MULTILINE = re.compile("[" + "".join(re.escape(ch) for ch in PLACEHOLDERS if ch not in "\n\t") + "]")
TAB = "    "


def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control and invisible format character made visible.

    One line (the default): a newline shows as ``⏎`` and a tab as a space, so
    one entry stays one screen line. ``multiline`` keeps newlines, and turns
    tabs into spaces (a raw tab moves a terminal's cursor past what was drawn).
    """
    # The usual case, checked at C speed: every character hidden here is one Python calls
    # unprintable (a test holds that), so printable text has none. The regular expression
    # costs a few microseconds a line: seconds for a 100,000-entry ``warroom show``.
    if multiline:
        text = text.replace("\r\n", "\n").replace("\t", TAB)
        if text.replace("\n", "").isprintable():
            return text
        return _UNSAFE_MULTILINE.sub(_placeholder, text)
    if text.isprintable():
        return text
    if "\n" in text or "\t" in text:
        text = text.replace("\r\n", "\n").replace("\n", "⏎").replace("\t", " ")
    return _UNSAFE.sub(_placeholder, text)


def _placeholder(match: re.Match[str]) -> str:
    return PLACEHOLDERS[match.group()]


def find_control(text: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """The first character a person may not type here, with its position, or None.

    Newline and tab are allowed where the text is multi-line; a carriage
    return never is (``\\r\\n`` is taken as a newline before this is asked).
    """
    found = (_UNSAFE_MULTILINE if multiline else _UNSAFE).search(text)
    return None if found is None else (found.start(), found.group())


def describe_char(ch: str) -> str:
    """A control character as an error message names it: ``ESC (U+001B)``."""
    names = {"\x1b": "ESC", "\r": "carriage return", "\n": "newline", "\t": "tab", "\x07": "BEL"}
    kind = "control character" if ch in _C0 or ch in _C1 or ch == "\x7f" else "invisible character"
    return f"{names.get(ch, kind)} (U+{ord(ch):04X})"


_UNSAFE_IN_JSON = re.compile(
    "|".join(re.escape(ch) for ch in PLACEHOLDERS if ord(ch) >= 0x7F).encode()
)


def json_safe(data: bytes) -> bytes:
    """UTF-8 JSON with every character this module hides written as ``\\uXXXX``.

    A JSON encoder escapes C0 controls itself but leaves DEL, C1 controls,
    bidi and zero-width characters raw: a parser reads the same strings
    either way, and a terminal shown the output obeys none of them.
    """
    if data.isascii():  # the usual case, checked at memory speed: only DEL can be there
        return data.replace(b"\x7f", b"\\u007f")
    return _UNSAFE_IN_JSON.sub(lambda m: json.dumps(m.group().decode())[1:-1].encode(), data)
