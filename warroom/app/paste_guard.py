"""Pasted text with an ESC byte in it stays one paste, in order.

Textual's input parser (8.2) reads an ESC inside a bracketed paste as the
start of a key sequence: the characters after it arrive as key presses,
ahead of the paste itself, so a pasted terminal log landed scrambled in the
composer, and other control bytes (BEL) were dropped. The terminal's own
input is rewritten before the parser reads it: between the paste's start and
end markers each control byte but newline, return and tab becomes its
picture (``␛``, ``␇``: what every warroom screen shows for it anyway), so the
parser sees plain text and hands the whole paste over, in order, as one
``Paste``.
"""

from __future__ import annotations

from typing import Any

START, END = "\x1b[200~", "\x1b[201~"
ESC = "\x1b"
PICTURES = {code: 0x2400 + code for code in range(0x20) if chr(code) not in "\n\r\t"} | {0x7F: 0x2421}


def _partial(data: str, marker: str) -> int:
    """How many characters at the end of ``data`` could begin ``marker`` (2 at least: a lone ESC is a key)."""
    for size in range(min(len(marker) - 1, len(data)), 1, -1):
        if marker.startswith(data[-size:]):
            return size
    return 0


class PasteGuard:
    """Feeds one terminal's input through, paste by paste; keeps a marker split across reads."""

    def __init__(self) -> None:
        self.inside = False
        self.held = ""
        self.after_esc = False  # the last read ended in an ESC that went through: a key, or a marker's start

    def __call__(self, data: str) -> str:
        data, self.held = self.held + data, ""
        out: list[str] = []
        at = 0
        if self.after_esc and data:
            self.after_esc = False
            rest = START[1:]
            if data.startswith(rest):  # the ESC already passed on was this paste's start
                out.append(rest)
                at, self.inside = len(rest), True
            elif rest.startswith(data):
                self.held, self.after_esc = data, True
                return ""
        while at < len(data):
            marker = END if self.inside else START
            found = data.find(marker, at)
            if found < 0:
                rest = data[at:]
                keep = _partial(rest, marker) if rest else 0
                if self.inside and rest.endswith(ESC) and not keep:
                    keep = 1  # inside a paste a trailing ESC may begin its end marker
                self.held = rest[len(rest) - keep :] if keep else ""
                out.append(self._text(rest[: len(rest) - keep]))
                self.after_esc = not self.inside and not keep and rest.endswith(ESC)
                break
            out.append(self._text(data[at:found]))
            out.append(marker)
            at = found + len(marker)
            self.inside = not self.inside
        return "".join(out)

    def _text(self, text: str) -> str:
        return text.translate(PICTURES) if self.inside else text


def install() -> None:
    """Give the Linux driver a parser that reads through a PasteGuard (no-op where there is none)."""
    try:
        from textual._xterm_parser import XTermParser
        from textual.drivers import linux_driver
    except ImportError:  # another platform's driver: its parser is left as it is
        return
    if getattr(getattr(linux_driver, "XTermParser", None), "guarded", False):
        return

    class GuardedParser(XTermParser):
        guarded = True

        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self._guard = PasteGuard()

        def feed(self, data: str) -> Any:
            return super().feed(self._guard(data) if data else data)

    vars(linux_driver)["XTermParser"] = GuardedParser  # the name run_input_thread builds its parser from
