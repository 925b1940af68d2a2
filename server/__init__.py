"""The warroom hub: the sync channel, the durable log and the HTTP API."""
