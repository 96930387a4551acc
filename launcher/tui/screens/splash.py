"""The loading splash: the logo, a braille spinner and status messages in turn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from launcher.tui.logo import LOGO
from launcher.tui.spinner import message_at, spinner_at

if TYPE_CHECKING:
    from textual.app import ComposeResult

__all__ = ["SplashScreen"]


class SplashScreen(Screen[None]):
    """Shown while the TUI looks for the observatory and loads the first data.

    Args:
        headline: what is happening, e.g. "Looking for the observatory at ...".
        tick_s: seconds per spinner frame; ``None`` holds the first frame (snapshots).
    """

    def __init__(self, headline: str, *, tick_s: float | None) -> None:
        super().__init__()
        self.headline = headline
        self.tick = 0
        self._tick_s = tick_s

    def compose(self) -> ComposeResult:
        with Vertical(id="splash"):
            yield Static(LOGO, id="logo")
            yield Static(self.headline, id="headline")
            yield Static(self._status_line(), id="spinner")

    def on_mount(self) -> None:
        if self._tick_s is not None:
            self.set_interval(self._tick_s, self.advance)

    def advance(self) -> None:
        """Show the next spinner frame (and, every full turn, the next message)."""
        self.tick += 1
        self.query_one("#spinner", Static).update(self._status_line())

    def set_headline(self, headline: str) -> None:
        """Say what is happening now."""
        self.headline = headline
        self.query_one("#headline", Static).update(headline)

    def status_line(self) -> str:
        """The spinner line as shown now."""
        return self._status_line()

    def _status_line(self) -> str:
        return f"{spinner_at(self.tick)} {message_at(self.tick)}..."
