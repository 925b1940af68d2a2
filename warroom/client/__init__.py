"""The hub client the TUI and the CLI are built on."""

from warroom.client.hub_client import (
    CommandRejected,
    ConnectionState,
    HubClient,
    HubUnavailable,
    Unauthorized,
)
from warroom.client.outbox import Outbox

__all__ = [
    "CommandRejected",
    "ConnectionState",
    "HubClient",
    "HubUnavailable",
    "Outbox",
    "Unauthorized",
]
