"""The war room app: one worker owns the hub connection; screens get state pushed down."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from textual import events
from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message
from textual.screen import Screen

from warroom.app import paste_guard
from warroom.app.alert_detail import AlertDetailScreen
from warroom.app.keymap import ACTS
from warroom.app.picker import PickerScreen
from warroom.app.screens import IncidentScreen
from warroom.app.tell import tell
from warroom.app.themes import APP_VARIABLES, DEFAULT_THEME, LoadedThemes
from warroom.client import HubClient, Unauthorized
from warroom.core.text import visible

log = logging.getLogger("warroom.app")


class HubChanged(Message):
    """Something arrived from the hub (kind: connection, outbox, state, presence)."""

    def __init__(self, kind: str, room: str | None) -> None:
        super().__init__()
        self.kind = kind
        self.room = room


class WarroomCommands(Provider):
    """Every war room action in the command palette, the same list the keys come from."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not isinstance(screen, IncidentScreen):
            return []
        return [(a.title, a.help, partial(screen.run_action, a.action)) for a in ACTS if a.listed]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class WarroomApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "warroom"
    COMMANDS = App.COMMANDS | {WarroomCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # a short terminal shrinks the side panels
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def __init__(
        self,
        client: HubClient,
        room: str | None,
        themes: LoadedThemes,
        theme: str | None = None,
        clock: Callable[[], datetime] | None = None,
        join_hint: str | None = None,
    ) -> None:
        super().__init__()
        paste_guard.install()  # before the driver starts reading the terminal
        self.client = client
        self.join_hint = join_hint  # how a second terminal joins (the demo's hub): shown in the app
        self.room = room
        self._themes = themes
        self._wanted_theme = theme or DEFAULT_THEME
        self.now = clock or (lambda: datetime.now(UTC))
        self._state_pending = False  # a HubChanged("state") is queued, not yet handled

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    async def on_event(self, event: events.Event) -> None:
        """An incident screen sees each key as it is read, before it is forwarded (see route_key)."""
        if isinstance(event, events.Key) and not event.is_forwarded and self.screen_stack:
            screen = self.screen
            if isinstance(screen, IncidentScreen) and screen.route_key(event):
                return
        await super().on_event(event)

    def on_mount(self) -> None:
        for theme in self._themes.themes.values():
            self.register_theme(theme)
        for problem in self._themes.problems:
            tell(self, problem, title="theme skipped", severity="warning", timeout=15)
        if self._wanted_theme in self.available_themes:
            self.theme = self._wanted_theme
        else:
            wanted = visible(self._wanted_theme)  # shown as ␛, not quoted away as \x1b
            tell(self, f"no theme named {wanted!r}; using {DEFAULT_THEME}", severity="warning")
            self.theme = DEFAULT_THEME
        if self.join_hint:
            self.notify(
                f"Open a second terminal into this incident with:\n{self.join_hint}\n(F1 shows it again)",
                title="demo",
                timeout=60,
                markup=False,
            )
        self.client.listen(self._relay)
        self._show_dropped()
        if self.room:
            self.client.expect(self.room)  # asked for with the hello, while the screen is still built
        self.run_worker(self._stay_connected(), name="hub", exit_on_error=False)
        if self.room:
            self.open_incident(self.room)
        else:
            self.push_screen(PickerScreen(self.client, self.now))

    def _relay(self, kind: str, room: str | None) -> None:
        """One message for the state changes that arrive before the next redraw.

        A message per event cost more than folding it: while a redraw is due, the
        events that arrive are noted by the screen (``listen_events``) and drawn by it.
        """
        if kind == "state":
            screen = self._live_screen()
            if self._state_pending or (isinstance(screen, IncidentScreen) and screen.redraw_due):
                return
            self._state_pending = True
        self.post_message(HubChanged(kind, room))

    async def _stay_connected(self) -> None:
        try:
            await self.client.run()
        except Unauthorized as exc:
            tell(  # the hub's answer is quoted: text, never markup
                self,
                f"{exc}. Check --token or WARROOM_TOKEN.",
                title="not connected",
                severity="error",
                timeout=60,
            )
        except Exception as exc:  # a bug, not the network: said, not left to a header that says "live"
            log.exception("the hub connection failed")
            await self.client.close()
            tell(
                self,
                f"the connection to the hub stopped: {exc!r}. Restart warroom to reconnect.",
                title="not connected",
                severity="error",
                timeout=60,
            )

    def open_incident(self, room: str) -> None:
        self.push_screen(IncidentScreen(self.client, room, self.now))

    def _show_dropped(self) -> None:
        """Each command that left the outbox unsent, said once: what was typed is never lost silently."""
        dropped, self.client.dropped = self.client.dropped, []
        for item in dropped:
            tell(self, item.describe(), title="not sent", severity="error", timeout=30)

    def on_hub_changed(self, message: HubChanged) -> None:
        if message.kind == "state":
            self._state_pending = False
        if message.kind == "dropped":
            self._show_dropped()
        screen = self._live_screen()
        if isinstance(screen, IncidentScreen | PickerScreen):
            screen.hub_changed(message.kind)

    def _live_screen(self) -> Screen[object] | None:
        """The screen that shows the hub's state: an incident beneath its alert's details stays live."""
        stack = self.screen_stack
        if not stack:
            return None  # the app is closing: a change that arrives now has nothing to show it on
        if isinstance(stack[-1], AlertDetailScreen) and len(stack) > 1:
            return stack[-2]
        return stack[-1]

    async def action_quit(self) -> None:
        await self.client.close()  # a clean 1000, not a dropped socket
        self.exit()

    async def on_unmount(self) -> None:
        await self.client.close()
