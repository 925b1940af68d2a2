"""Where a runbook command's placeholders may stand: bare, so shell quoting of the value holds.

``shlex.quote`` makes a value one word only where the shell reads it bare.
Inside single quotes the value would close the quotes; inside double quotes,
backticks or a here-document, ``$(...)`` in it would run. So a placeholder
must stand outside every quote, and a command with a here-document takes
none. Pure: the checker and ``warroom runbook run`` both ask it.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\s*(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def misplaced(command: str) -> list[tuple[int, str]]:
    """Each placeholder that does not stand bare: its offset in ``command``, and why."""
    out: list[tuple[int, str]] = []
    spans = {m.start(): m for m in PLACEHOLDER.finditer(command)}
    heredoc = False
    quote = ""  # the open quote: ', " or `
    n = 0
    while n < len(command):
        ch = command[n]
        if n in spans and (quote or heredoc):
            where = "a here-document" if heredoc and not quote else f"{quote}quotes{quote}"
            out.append((n, f"{spans[n].group()} inside {where}: put it outside quotes, bare"))
            n = spans[n].end()
            continue
        if ch == "\\" and quote != "'":
            n += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif command.startswith("<<", n):
            heredoc = True
        n += 1
    return out
