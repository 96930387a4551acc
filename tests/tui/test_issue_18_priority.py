"""Issue 18, item 3 against a real ``observatory up`` (no mocks): the dashboard's jobs
table has a Prio column, and the job screen shows a job's priority (9 as given, 5 for a
job submitted without one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from rich.console import Console
from textual.widgets import DataTable

from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.screens import DashboardScreen, JobDetailScreen
from launcher.tui.screens.job_detail import job_detail_text

from .test_issue_17_real import column
from .test_real_observatory import text_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Until = Callable[..., Awaitable[None]]


def _lines(job: dict[str, object]) -> list[str]:
    console = Console(width=120, record=True)
    console.print(job_detail_text({"id": "j", "events": [], **job}))
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_the_job_detail_shows_the_priority_and_whether_it_is_the_default() -> None:
    assert "Priority     9" in _lines({"priority": 9})
    assert "Priority     0" in _lines({"priority": 0})
    assert "Priority     5 (default)" in _lines({"priority": 5})
    # A read model that predates priorities sends none: its jobs all ran at 5.
    assert "Priority     5 (default)" in _lines({})


@pytest.mark.e2e
async def test_the_job_screen_shows_a_priority_9_job_on_a_real_observatory(
    tmp_path: Path, until: Until
) -> None:
    async with (
        start_observatory(data_dir=tmp_path / "observatory") as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        ids = {}
        for name, job in (("urgent", {"type": "echo", "priority": 9}), ("plain", {"type": "echo"})):
            answer = await http.post(f"{running.gateway}/jobs", json=job)
            assert answer.status_code == 202, answer.text
            ids[name] = answer.json()["jobId"]
        options = TuiOptions(
            read_model_url=running.read_model, spinner_tick_s=None, poll_interval_s=1.0
        )
        app = ObservatoryApp(options)
        async with app.run_test(size=(150, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await until(
                pilot, lambda: set(ids.values()) <= set(column(app, "#jobs", 2)), timeout_s=30
            )
            table = app.screen.query_one("#jobs", DataTable)
            assert [str(label.label) for label in table.columns.values()][-1] == "Prio"
            shown = dict(zip(column(app, "#jobs", 2), column(app, "#jobs", 4), strict=True))
            assert (shown[ids["urgent"]], shown[ids["plain"]]) == ("9", "5")

            table.move_cursor(row=column(app, "#jobs", 2).index(ids["urgent"]))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
            await until(pilot, lambda: "Timeline" in text_of(app, "#job"), timeout_s=20)
            detail = [line.strip() for line in text_of(app, "#job").splitlines()]
            assert ids["urgent"] in text_of(app, "#job")
            assert "Priority     9" in detail
            await pilot.press("escape", "q")
            await until(pilot, lambda: not app.is_running)
