"""A short run of bench/chaos.py: kills, restarts and drops, and nothing acknowledged is lost or doubled."""

from __future__ import annotations

from pathlib import Path

from bench.chaos import run
from bench.children import cleanup_children


async def test_chaos_loses_and_doubles_nothing(tmp_path: Path) -> None:
    try:
        assert await run(clients=6, room_count=2, kills=3, seed=7, work=tmp_path) == 0
    finally:
        cleanup_children()
