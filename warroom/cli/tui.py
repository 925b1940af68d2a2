"""``warroom join`` and ``warroom demo``: the terminal app, on a hub or on an embedded one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from pathlib import Path

from textual.theme import BUILTIN_THEMES

from warroom.app.app import WarroomApp
from warroom.app.themes import LoadedThemes, load_themes, shipped_dir
from warroom.client import HubClient, Outbox
from warroom.config import ClientSettings, ConfigError, config_dir, data_dir


class UnknownTheme(ConfigError):
    """A --theme that names no theme; the message lists the ones there are."""


def themes_for(wanted: str | None) -> LoadedThemes:
    """The shipped and user themes, after checking that ``wanted`` is one of them or Textual's."""
    loaded = load_themes(shipped_dir(), config_dir() / "themes")
    if wanted is not None and wanted not in loaded.themes and wanted not in BUILTIN_THEMES:
        names = ", ".join([*sorted(loaded.themes), *sorted(BUILTIN_THEMES)])
        raise UnknownTheme(f"no theme named {wanted!r}; choose from: {names}")
    return loaded


def outbox_for(settings: ClientSettings) -> Outbox:
    """A durable outbox per hub and name, so what was typed offline survives a crash."""
    key = hashlib.sha256(f"{settings.hub}|{settings.name}".encode()).hexdigest()[:16]
    return Outbox(data_dir() / "outbox" / f"{key}.db")


def run_join(settings: ClientSettings, room: str | None, theme: str | None) -> int:
    client = HubClient(
        settings.hub, settings.token, settings.name, outbox=outbox_for(settings), ssl_context=settings.tls()
    )
    app = WarroomApp(client, room, themes_for(theme), theme)
    app.run()
    client.outbox.close()
    return app.return_code or 0


def join_command(room: str, url: str, token: str) -> str:
    """The line that opens a second terminal into the demo's incident."""
    return f"warroom join {room} --hub {url} --token {token} --name YOURNAME"


def run_demo(name: str, theme: str | None) -> int:
    return asyncio.run(_demo(name, themes_for(theme), theme))


async def _demo(name: str, themes: LoadedThemes, theme: str | None) -> int:
    from server.runner import HubServer
    from server.tokens import new_token
    from warroom.demo import demo_config, seed

    with tempfile.TemporaryDirectory(prefix="warroom-demo-") as tmp:
        token = new_token()
        server = HubServer(Path(tmp) / "demo.db", token, config=demo_config())
        await server.start()
        try:
            demo = await seed(server, name)
            join = join_command(demo.room, server.url, token)
            # Printed for a terminal that keeps it, and shown inside the app, which covers this
            # screen: a notification at the start and the help screen (F1) for as long as it runs.
            print("warroom demo: a hub on this machine with an example incident.", flush=True)
            print(f"Open a second terminal into the same incident with:\n  {join}", flush=True)
            moving = asyncio.create_task(demo.run())
            client = HubClient(server.url, token, name)
            app = WarroomApp(client, demo.room, themes, theme, join_hint=join)
            try:
                await app.run_async()
            finally:
                moving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await moving
        finally:
            await server.stop()
    return 0
