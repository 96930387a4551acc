"""Launcher mode with fake ``docker``/``kind``/``kubectl`` on PATH recording their arguments."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import httpx
import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import Static

from launcher.cluster import CompletedCommand, LauncherError
from launcher.tui.locate import Whereabouts
from launcher.tui.screens import DashboardScreen, LauncherScreen, SetupScreen
from launcher.tui.setup_progress import StepState
from tests.cluster_calls import fresh_cluster_up

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.pilot import Pilot

    from launcher.tui.app import ObservatoryApp

    from .conftest import FakeApi, FakeTools

    Until = Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]

LAUNCH = [
    ["kubectl", "config", "get-contexts", "-o", "name"],  # looking for a cluster
    *fresh_cluster_up(300),
]


def text_of(app: ObservatoryApp, selector: str) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    content = app.screen.query_one(selector, Static).content
    console.print(Text.from_markup(content) if isinstance(content, str) else content)
    return console.export_text()


@pytest.fixture
def forwards_serve_the_read_model(api: FakeApi, fake_tools: FakeTools) -> None:
    """/health answers once the port-forwards are recorded, as through real forwards."""

    def health(_: httpx.Request) -> httpx.Response:
        if not fake_tools.state.exists():
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json={"status": "ok", "version": "9.9.9"})

    api.router.get(f"{api.read_model}/health").mock(side_effect=health)


@pytest.mark.usefixtures("forwards_serve_the_read_model")
async def test_nothing_running_shows_the_launcher(
    api: FakeApi, fake_tools: FakeTools, until: Until
) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        assert app.location is not None
        assert app.location.where is Whereabouts.NOTHING
        assert "Cluster not detected" in text_of(app, "#launcher-title")
        keys = text_of(app, "#launcher-keys")
        for key in ("L  launch the kind cluster", "E  start the embedded", "Q  quit"):
            assert key in keys
        assert "connection refused" in text_of(app, "#launcher-detail")
        assert fake_tools.calls() == [["kubectl", "config", "get-contexts", "-o", "name"]]
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)


@pytest.mark.usefixtures("forwards_serve_the_read_model")
async def test_l_launches_the_cluster_and_goes_on_to_the_dashboard(
    api: FakeApi, fake_tools: FakeTools, until: Until
) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, SetupScreen))
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert fake_tools.calls() == LAUNCH
        states = {step.name: step.state for step in setup.progress.steps}
        assert states == {
            "prerequisites": StepState.DONE,
            "cluster": StepState.DONE,
            "images": StepState.DONE,
            "load": StepState.DONE,
            "deploy": StepState.DONE,
            "pods": StepState.DONE,
            "port-forwards": StepState.DONE,
            "verify": StepState.SKIPPED,
            "ready": StepState.DONE,
        }
        assert setup.progress.step("cluster").message == "created kind cluster 'task-observatory'"
        assert all(s.elapsed_s(setup.progress.now()) is not None for s in setup.progress.steps)
        await until(pilot, lambda: "1,234" in text_of(app, "#stats"))


@pytest.mark.usefixtures("forwards_serve_the_read_model")
async def test_a_failed_step_shows_the_error_and_hint_and_any_key_returns(
    api: FakeApi, fake_tools: FakeTools, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KIND_CREATE_FAIL", "1")
    app = api.app()
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, SetupScreen))
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        await until(pilot, lambda: setup.error is not None)
        await pilot.pause()
        assert [s.state for s in setup.progress.steps[:3]] == [
            StepState.DONE,
            StepState.FAILED,
            StepState.PENDING,
        ]
        failure = text_of(app, "#failure")
        assert "Launch failed: `kind create cluster --name task-observatory" in failure
        assert "exit code 1" in failure
        assert "Hint: Read kind's message" in failure
        assert "Press any key to return to the launcher." in failure
        steps = text_of(app, "#steps")
        assert "✓  1. prerequisites" in steps
        assert "✗  2. cluster" in steps
        assert "failed" in steps
        output = text_of(app, "#output")  # the last lines of the command that failed
        assert "$ kind create cluster --name task-observatory" in output
        assert "ERROR: failed to create cluster" in output
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        assert not any(call[:2] == ["docker", "build"] for call in fake_tools.calls())


@pytest.mark.usefixtures("forwards_serve_the_read_model")
async def test_a_running_cluster_is_detected_and_f_restarts_the_forwards(
    api: FakeApi, fake_tools: FakeTools, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KIND_CLUSTERS", "task-observatory")
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        assert app.location is not None
        assert app.location.where is Whereabouts.CLUSTER
        assert "Cluster detected" in text_of(app, "#launcher-title")
        assert "F  restart the port-forwards" in text_of(app, "#launcher-keys")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert len(fake_tools.forward_pids()) == 6  # with the Jaeger UI


@pytest.mark.usefixtures("forwards_serve_the_read_model")
async def test_read_only_refuses_to_launch(
    api: FakeApi, fake_tools: FakeTools, until: Until
) -> None:
    app = api.app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        await pilot.press("l", "e")
        await pilot.pause()
        assert isinstance(app.screen, LauncherScreen)
        assert "Read-only: cannot start the embedded observatory" in text_of(
            app, "#launcher-message"
        )
        assert fake_tools.calls() == [["kubectl", "config", "get-contexts", "-o", "name"]]


class DockerIsDown:
    """An injected runner: records each command and fails ``docker info`` as a stopped daemon."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.argvs: list[list[str]] = []

    async def run(
        self, argv: list[str], *, timeout_s: float, hint: str = "", check: bool = True
    ) -> CompletedCommand:
        self.argvs.append(argv)
        self.on_line("Cannot connect to the Docker daemon. Is the docker daemon running?")
        raise LauncherError(argv, exit_code=1, stderr="daemon down", hint="Start Docker.")


@pytest.mark.usefixtures("forwards_serve_the_read_model")
async def test_the_launch_runner_is_injectable(api: FakeApi, until: Until) -> None:
    runners: list[DockerIsDown] = []

    def launch_runner(on_line: Callable[[str], None]) -> DockerIsDown:
        runners.append(DockerIsDown(on_line))
        return runners[-1]

    app = api.app(launch_runner=launch_runner)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LauncherScreen))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, SetupScreen))
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        await until(pilot, lambda: setup.error is not None)
        assert [r.argvs for r in runners] == [[["docker", "info"]]]
        assert setup.progress.step("prerequisites").state is StepState.FAILED
        assert "Hint: Start Docker." in text_of(app, "#failure")
        assert "Is the docker daemon running?" in text_of(app, "#output")
