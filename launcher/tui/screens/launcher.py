"""The launcher: shown when no observatory answers. L launches kind, E starts it embedded."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from launcher.tui.locate import Whereabouts
from launcher.tui.logo import LOGO

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.locate import Location

__all__ = ["LauncherScreen"]


class LauncherScreen(Screen[None]):
    """The logo, what was found, and the keys that start an observatory.

    The keys only ask: the screen posts one of its messages and the app does the work.

    Args:
        location: what :func:`~launcher.tui.locate.locate_observatory` found.
        message: a line about the last attempt (e.g. why the embedded start failed).
        read_only: refuse L, E and F (``--read-only``).
    """

    class ClusterLaunchRequested(Message):
        """L: the operator asked to launch the kind cluster (``observatory cluster up``)."""

    class EmbeddedStartRequested(Message):
        """E: the operator asked to start the embedded observatory (``observatory up``)."""

    class ForwardsRestartRequested(Message):
        """F: the operator asked to restart the running cluster's port-forwards."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "launch", "Launch the kind cluster"),
        Binding("e", "embedded", "Start embedded"),
        Binding("f", "forward", "Restart port-forwards"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, location: Location, message: str | None = None, *, read_only: bool) -> None:
        super().__init__()
        self.location = location
        self.message = message
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        cluster = self.location.where is Whereabouts.CLUSTER
        title = "Cluster detected" if cluster else "Cluster not detected"
        keys = []
        if not self.read_only:  # L, E and F are refused then: don't offer them
            keys += [
                "[b]L[/b]  launch the kind cluster (observatory cluster up)",
                "[b]E[/b]  start the embedded observatory in the background (observatory up)",
            ]
            if cluster:
                keys.append(
                    "[b]F[/b]  restart the port-forwards (observatory cluster port-forward)"
                )
        keys.append("[b]Q[/b]  quit")
        with Vertical(id="launcher"):
            yield Static(LOGO, id="logo")
            yield Static(f"[b]{title}[/b]", id="launcher-title")
            yield Static(self.location.detail, id="launcher-detail")
            yield Static("\n".join(keys), id="launcher-keys")
            if self.read_only:
                yield Static(
                    "Read-only: L, E and F are off (start with --allow-writes).", id="read-only"
                )
            yield Static(self.message or "", id="launcher-message")

    def show_message(self, message: str) -> None:
        """Say ``message`` under the keys."""
        self.message = message
        self.query_one("#launcher-message", Static).update(message)

    def _writes_allowed(self, what: str) -> bool:
        if self.read_only:
            self.show_message(f"Read-only: cannot {what} (start the TUI with --allow-writes).")
            return False
        return True

    def action_launch(self) -> None:
        if self._writes_allowed("launch the cluster"):
            self.post_message(self.ClusterLaunchRequested())

    def action_embedded(self) -> None:
        if self._writes_allowed("start the embedded observatory"):
            self.post_message(self.EmbeddedStartRequested())

    def action_forward(self) -> None:
        if self.location.where is not Whereabouts.CLUSTER:
            self.show_message("No running cluster was found: press L to launch one.")
        elif self._writes_allowed("restart the port-forwards"):
            self.post_message(self.ForwardsRestartRequested())
