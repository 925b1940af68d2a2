"""Whether the event log answers reads and takes writes, as the hub last found.

While it does not, the hub refuses commands (never a false acknowledgement),
serves what it holds in memory, answers 503 on ``/healthz`` and tells every
client, whose header says so; it finds out by itself when the log is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("warroom.hub")


class LogHealth:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}  # "read" or "write" -> what the store said
        self.watchers: list[Callable[[str | None], None]] = []  # told when the log stops or starts

    @property
    def error(self) -> str | None:
        return next(iter(self.errors.values()), None)

    def wrote(self, error: str | None) -> None:
        self._set("write", error)

    def read(self, error: str | None) -> None:
        self._set("read", error)

    def _set(self, source: str, error: str | None) -> None:
        was = self.error
        if error is None:
            self.errors.pop(source, None)
        else:
            self.errors[source] = error
        now = self.error
        if (was is None) == (now is None):
            return
        log.log(logging.ERROR if now else logging.INFO, "event log %s", now or "answers again")
        for watcher in list(self.watchers):
            watcher(now)
