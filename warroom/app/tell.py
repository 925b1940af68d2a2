"""Notices that quote text from outside the source (the hub, the outbox, an exception)."""

from __future__ import annotations

from typing import Any

from textual.app import App

from warroom.core.text import visible


def tell(app: App[Any], text: str, **kw: Any) -> None:
    """Notify with ``text`` made visible and never read as markup: the hub's words can carry ESC or bidi."""
    app.notify(visible(text), markup=False, **kw)
