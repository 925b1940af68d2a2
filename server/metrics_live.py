"""What a scrape reads from a running hub server: the ``Live`` side of server/metrics.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.intake import INBOX

if TYPE_CHECKING:
    from server.runner import HubServer


class HubLive:
    def __init__(self, server: HubServer) -> None:
        self.server = server

    def connections(self) -> int:
        return len(self.server.sync.sessions)

    def send_queues(self) -> list[int]:
        return [session.queued for session in self.server.sync.sessions]

    def rooms_loaded(self) -> int:
        return sum(1 for room in self.server.hub.rooms.loaded if room != INBOX)

    def incidents(self) -> int:
        return sum(1 for room in self.server.hub.rooms.summaries if room != INBOX)

    def stats(self) -> dict[str, int]:
        return self.server.hub.stats

    def sink_deliveries(self) -> dict[str, int]:
        return dict(self.server.notifier.delivered_to)

    def polls(self) -> dict[str, int]:
        return dict(self.server.alerts.reconciler.polls)

    def log_up(self) -> bool:
        return self.server.hub.log_health.error is None
