"""The TUI against a real ``observatory up`` subprocess: no mocks anywhere."""

from __future__ import annotations

import io
import json
import re
import socket
from typing import TYPE_CHECKING

import anyio
import pytest
from rich.console import Console
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static

from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.dashboard_model import UpdateMode
from launcher.tui.screens import DashboardScreen, JobDetailScreen, NewTaskScreen

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Until = Callable[..., Awaitable[None]]

pytestmark = pytest.mark.e2e


def text_of(app: ObservatoryApp, selector: str) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    content = app.screen.query_one(selector, Static).content
    console.print(Text.from_markup(content) if isinstance(content, str) else content)
    return console.export_text()


def job_ids(app: ObservatoryApp) -> list[str]:
    table = app.screen.query_one("#jobs", DataTable)
    return [str(table.get_cell_at(Coordinate(row, 2))) for row in range(table.row_count)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_submit_and_watch_a_job_on_a_real_observatory(tmp_path: Path, until: Until) -> None:
    async with start_observatory(data_dir=tmp_path / "observatory") as running:
        options = TuiOptions(
            read_model_url=running.read_model, spinner_tick_s=None, poll_interval_s=2.0
        )
        app = ObservatoryApp(options)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await until(pilot, lambda: "Total" in text_of(app, "#stats"))
            assert "echo" in app.job_types
            await until(pilot, lambda: app.model.mode is UpdateMode.LIVE)  # its /stream
            assert app.client.gateway_url == running.gateway  # from its /config
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen))
            await pilot.press(*"echo")
            app.screen.query_one("#payload", Input).value = json.dumps({"hello": "tui"})
            await pilot.press("enter")
            await until(pilot, lambda: "Accepted job" in text_of(app, "#result"))
            match = re.search(r"Accepted job ([0-9a-f-]{36})", text_of(app, "#result"))
            assert match is not None
            job_id = match[1]
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await until(pilot, lambda: job_id in job_ids(app), timeout_s=20)
            table = app.screen.query_one("#jobs", DataTable)
            row = job_ids(app).index(job_id)
            table.move_cursor(row=row)
            await until(
                pilot,
                lambda: (
                    str(table.get_cell_at(Coordinate(job_ids(app).index(job_id), 0))) == "COMPLETED"
                ),
                timeout_s=20,
            )
            assert "Total" in text_of(app, "#stats")
            table.move_cursor(row=job_ids(app).index(job_id))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
            await until(pilot, lambda: "Timeline" in text_of(app, "#job"))
            detail = text_of(app, "#job")
            assert job_id in detail
            assert '"hello": "tui"' in detail  # payload, and the echo's result
            assert "job.completed" in detail
            await pilot.press("escape", "q")
            await until(pilot, lambda: not app.is_running)


@pytest.mark.usefixtures("fake_tools")
async def test_e_starts_the_embedded_observatory_and_q_stops_it(
    tmp_path: Path, until: Until
) -> None:
    options = TuiOptions(
        read_model_url=f"http://127.0.0.1:{free_port()}",
        embedded_gateway_port=free_port(),
        data_dir=tmp_path / "embedded",
        spinner_tick_s=None,
        poll_interval_s=2.0,
    )
    app = ObservatoryApp(options)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.location is not None)
        await pilot.pause()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), timeout_s=60)
        running = app.embedded
        assert running is not None
        assert running.read_model == options.read_model_url
        assert running.process.returncode is None
        await pilot.press("q")
        with anyio.fail_after(60):
            await running.process.wait()
        await until(pilot, lambda: not app.is_running)
    assert running.process.returncode == 0
    assert (tmp_path / "embedded").is_dir()
