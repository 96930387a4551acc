"""``observatory tui``: the operator's console, a client of the read model and gateway only.

At start it looks for the observatory (:mod:`launcher.tui.locate`): a read model that
answers leads, through the loading splash, to the dashboard; otherwise the launcher
offers to launch the kind cluster (the steps of ``observatory cluster up``) or start the
embedded observatory (``observatory up``) as a child process.

The screens never call the app: each gets the client and whatever else it shows through
its constructor, and asks for the app's work (launching, restarting the forwards) by
posting its own messages, handled here by the ``on_<screen>_<message>`` methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
from textual import work
from textual.app import App

from actors._version import VERSION
from launcher.cluster import ClusterOptions, LauncherError, cluster_up
from launcher.cluster._steps import restart_port_forwards
from launcher.observatory_process import ObservatoryStartError, start_observatory
from launcher.tui.client import ApiUnavailable, ObservatoryClient, Unauthorized
from launcher.tui.dashboard_model import DashboardModel
from launcher.tui.locate import Location, Whereabouts, locate_observatory
from launcher.tui.models import MalformedDocument
from launcher.tui.options import TuiOptions
from launcher.tui.screens import DashboardScreen, LauncherScreen, SetupScreen, SplashScreen
from launcher.tui.screens.token import TokenScreen

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.screen import Screen

    from launcher.cluster import StepEvent
    from launcher.observatory_process import RunningObservatory

__all__ = ["ObservatoryApp"]

EMBEDDED_STOP_TIMEOUT_S = 30.0
"""How long the embedded observatory may drain after SIGTERM when the TUI quits."""


class ObservatoryApp(App[None]):
    """The TUI. Everything from outside comes in through ``options``."""

    TITLE = "Task Observatory"
    CSS_PATH = "observatory.tcss"

    def __init__(self, options: TuiOptions | None = None) -> None:
        super().__init__()
        self.options = options or TuiOptions()
        self.client = ObservatoryClient(
            self.options.read_model_url, gateway_url=self.options.gateway_url
        )
        self.model = DashboardModel()
        self.version = VERSION
        """The read model's version once known (the TUI's own until then)."""
        self.job_types: list[str] = []
        self.location: Location | None = None
        self.embedded: RunningObservatory | None = None
        """The ``observatory up`` child started with E, while it runs."""
        self._embedded_stop = anyio.Event()

    async def on_mount(self) -> None:
        self.locate()

    async def on_unmount(self) -> None:
        await self.client.aclose()

    async def _show(self, screen: Screen[None]) -> None:
        """Make ``screen`` the one screen above the default one."""
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        if len(self.screen_stack) == 2:
            await self.switch_screen(screen)
        else:
            await self.push_screen(screen)

    def _splash(self, headline: str) -> SplashScreen:
        return SplashScreen(headline, tick_s=self.options.spinner_tick_s)

    def _launcher(self, location: Location, message: str | None = None) -> LauncherScreen:
        return LauncherScreen(location, message, read_only=self.options.read_only)

    @work(exclusive=True, group="locate")
    async def locate(self) -> None:
        """Find the observatory; the splash while the first data loads, then the dashboard.

        Where none answers, the launcher.
        """
        splash = self._splash(f"Looking for the observatory at {self.client.read_model_url}")
        await self._show(splash)
        self.location = await locate_observatory(self.client, self.options.runner)
        if self.location.where is not Whereabouts.READ_MODEL:
            await self._show(self._launcher(self.location))
            return
        splash.set_headline(f"Loading from {self.client.read_model_url}")
        while True:
            try:
                await self.client.stats()
                break
            except Unauthorized as refused:
                token = await self.push_screen_wait(TokenScreen(str(refused)))
                if token is None:
                    self.exit()
                    return
                self.client.set_token(token)
            except (ApiUnavailable, MalformedDocument):
                break  # the dashboard shows what is unavailable and retries
        try:
            config = await self.client.config()
        except (ApiUnavailable, MalformedDocument):
            pass  # an older read model: no job types to offer; the gateway from GATEWAY_URL
        else:
            self.version = config.version
            self.job_types = config.job_types
        await self.model.load(self.client, now=self.options.clock())
        await self._show(
            DashboardScreen(
                self.client,
                self.model,
                self.options,
                version=self.version,
                job_types=self.job_types,
            )
        )

    # -- launcher actions ----------------------------------------------------------------

    def on_launcher_screen_cluster_launch_requested(
        self, _: LauncherScreen.ClusterLaunchRequested
    ) -> None:
        """L: run ``cluster up``'s steps on the setup screen, over the launcher."""
        self.push_screen(SetupScreen(self._cluster_up, clock=self.options.clock))

    async def _cluster_up(
        self, observe: Callable[[StepEvent], None], on_line: Callable[[str], None]
    ) -> None:
        runner = self.options.launch_runner(on_line)
        options = ClusterOptions(runner=runner, state_path=self.options.state_path)
        await cluster_up(options, observe)

    def on_setup_screen_launched(self, _: SetupScreen.Launched) -> None:
        """The setup screen finished: look again (the forwards now serve the read model)."""
        self.locate()

    def on_launcher_screen_forwards_restart_requested(
        self, _: LauncherScreen.ForwardsRestartRequested
    ) -> None:
        """F: restart the port-forwards of the running cluster, then look again."""
        self._restart_forwards()

    @work(exclusive=True, group="locate")
    async def _restart_forwards(self) -> None:
        await self._show(self._splash("Restarting the port-forwards"))
        try:
            said = await restart_port_forwards(self.options.state_path)
        except LauncherError as error:
            assert self.location is not None
            await self._show(self._launcher(self.location, f"Port-forwards failed: {error}"))
            return
        self.notify(said)
        self.locate()

    def on_launcher_screen_embedded_start_requested(
        self, _: LauncherScreen.EmbeddedStartRequested
    ) -> None:
        """E: start ``observatory up`` as a child of the TUI (it stops when the TUI quits)."""
        if self.embedded is not None:
            self.notify("The embedded observatory is already running.")
            return
        self._embedded_stop = anyio.Event()
        self.run_embedded()

    @work(group="embedded")
    async def run_embedded(self) -> None:
        """Own the ``observatory up`` child for as long as the TUI runs."""
        url = urlsplit(self.options.read_model_url)
        data_dir = Path(self.options.data_dir)
        await self._show(self._splash(f"Starting the embedded observatory (data in {data_dir}/)"))
        arguments = (
            "--host",
            url.hostname or "127.0.0.1",
            "--gateway-port",
            str(self.options.embedded_gateway_port),
            "--read-model-port",
            str(self.options.embedded_read_model_port),
        )
        try:
            async with start_observatory(
                *arguments, data_dir=data_dir, stop_timeout_s=EMBEDDED_STOP_TIMEOUT_S
            ) as running:
                self.embedded = running
                self.client.read_model_url = running.read_model
                self.client.gateway_url = running.gateway
                self.notify(
                    f"Embedded observatory started (PID {running.process.pid}); Q stops it."
                )
                self.locate()
                await self._embedded_stop.wait()
        except ObservatoryStartError as error:
            location = self.location or Location(Whereabouts.NOTHING, "")
            await self._show(
                self._launcher(location, f"The embedded observatory did not start: {error}")
            )
        finally:
            self.embedded = None

    async def action_quit(self) -> None:
        """Quit; an embedded observatory started here is stopped gracefully first."""
        if self.embedded is not None:
            self.notify("Stopping the embedded observatory...")
            self._embedded_stop.set()
            await self.workers.wait_for_complete([w for w in self.workers if w.group == "embedded"])
        self.exit()
