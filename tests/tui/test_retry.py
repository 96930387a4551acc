"""Issue 14 (item 5): T on the job screen retries a FAILED job, against a real
``observatory up`` subprocess (Textual pilot, no mocks)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from rich.console import Console
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.screens import DashboardScreen, JobDetailScreen

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Until = Callable[..., Awaitable[None]]

pytestmark = pytest.mark.e2e


def text_of(app: ObservatoryApp, selector: str) -> str:
    console = Console(width=220, record=True, file=io.StringIO())
    content = app.screen.query_one(selector, Static).content
    console.print(Text.from_markup(content) if isinstance(content, str) else content)
    return console.export_text()


def job_ids(app: ObservatoryApp) -> list[str]:
    table = app.screen.query_one("#jobs", DataTable)
    return [str(table.get_cell_at(Coordinate(row, 2))) for row in range(table.row_count)]


async def _wait_status(http: httpx.AsyncClient, url: str, status: str) -> None:
    with anyio.fail_after(30):
        while (await http.get(url)).json().get("status") != status:  # noqa: ASYNC110
            await anyio.sleep(0.1)


async def test_t_on_the_job_screen_retries_a_failed_job(tmp_path: Path, until: Until) -> None:
    async with (
        start_observatory(data_dir=tmp_path / "observatory") as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        job = {"type": "fail", "payload": {"succeedFromRound": 2}, "metadata": {"maxAttempts": 1}}
        job_id = (await http.post(f"{running.gateway}/jobs", json=job)).json()["jobId"]
        await _wait_status(http, f"{running.read_model}/jobs/{job_id}", "FAILED")
        options = TuiOptions(
            read_model_url=running.read_model, spinner_tick_s=None, poll_interval_s=2.0
        )
        app = ObservatoryApp(options)
        async with app.run_test(size=(160, 50)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await until(pilot, lambda: job_id in job_ids(app), timeout_s=20)
            app.screen.query_one("#jobs", DataTable).move_cursor(row=job_ids(app).index(job_id))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
            await until(pilot, lambda: "Timeline" in text_of(app, "#job"))
            assert "FAILED" in text_of(app, "#job")
            assert "T  retry" in text_of(app, "#footer")

            await pilot.press("t")

            await until(pilot, lambda: "Retry requested: round 2" in text_of(app, "#retry-status"))
            await _wait_status(http, f"{running.read_model}/jobs/{job_id}", "COMPLETED")

            def shows_round_two() -> bool:
                detail = text_of(app, "#job")
                return "COMPLETED" in detail and "job.completed" in detail

            for _ in range(50):
                await pilot.press("r")
                if shows_round_two():
                    break
                await pilot.pause(0.2)
            detail = text_of(app, "#job")
            assert "retry requested: round 2, by anonymous" in detail
            assert "Round" in detail
            assert "job.completed" in detail

            # A COMPLETED job is not retried: the gateway's 409 is shown.
            await pilot.press("t")
            await until(pilot, lambda: "Retry refused" in text_of(app, "#retry-status"))
            assert "only a FAILED job can be retried" in text_of(app, "#retry-status")
            await pilot.press("escape", "q")
            await until(pilot, lambda: not app.is_running)
