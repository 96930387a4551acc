"""The screens ask, the app acts: a bare Textual app hosting a screen sees only its messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App
from textual.widgets import Static

from launcher.tui.locate import Location, Whereabouts
from launcher.tui.screens import LauncherScreen, SetupScreen

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.message import Message
    from textual.pilot import Pilot
    from textual.screen import Screen

    from launcher.cluster import StepEvent

    Until = Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]


class Host(App[None]):
    """Shows one screen and records the messages it posts (no ObservatoryApp involved)."""

    def __init__(self, screen: Screen[None]) -> None:
        super().__init__()
        self.first = screen
        self.received: list[type[Message]] = []

    def on_mount(self) -> None:
        self.push_screen(self.first)

    def on_launcher_screen_cluster_launch_requested(
        self, message: LauncherScreen.ClusterLaunchRequested
    ) -> None:
        self.received.append(type(message))

    def on_launcher_screen_embedded_start_requested(
        self, message: LauncherScreen.EmbeddedStartRequested
    ) -> None:
        self.received.append(type(message))

    def on_launcher_screen_forwards_restart_requested(
        self, message: LauncherScreen.ForwardsRestartRequested
    ) -> None:
        self.received.append(type(message))

    def on_setup_screen_launched(self, message: SetupScreen.Launched) -> None:
        self.received.append(type(message))


async def test_the_launcher_keys_post_one_request_each(until: Until) -> None:
    screen = LauncherScreen(Location(Whereabouts.CLUSTER, "kind-task-observatory"), read_only=False)
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("l", "e", "f")
        await until(pilot, lambda: len(app.received) == 3)
        assert app.received == [
            LauncherScreen.ClusterLaunchRequested,
            LauncherScreen.EmbeddedStartRequested,
            LauncherScreen.ForwardsRestartRequested,
        ]
        assert app.screen is screen  # the screen only asks; the app decides what follows


async def test_a_read_only_launcher_posts_nothing(until: Until) -> None:
    screen = LauncherScreen(Location(Whereabouts.CLUSTER, "kind-task-observatory"), read_only=True)
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("l", "e", "f")
        await pilot.pause()
        assert app.received == []
        message = screen.query_one("#launcher-message", Static).content
        assert str(message) == (
            "Read-only: cannot restart the port-forwards (start the TUI with --allow-writes)."
        )


async def test_a_successful_setup_posts_launched(until: Until) -> None:
    async def launch(observe: Callable[[StepEvent], None], on_line: Callable[[str], None]) -> None:
        on_line("all steps done")

    screen = SetupScreen(launch, clock=lambda: 0.0, tick_s=None)
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.received == [SetupScreen.Launched])
        assert screen.error is None
