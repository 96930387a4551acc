"""Issue 17, item 5 against a real ``observatory up`` (no mocks): the filter line finds a
real FAILED job, and a job by its priority, through ``GET /jobs``, W lists the embedded processor with its job types,
U the embedded broker's queues."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.screens import DashboardScreen
from launcher.tui.screens.fleet import QueuesScreen, WorkersScreen

from .test_real_observatory import text_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Until = Callable[..., Awaitable[None]]

pytestmark = pytest.mark.e2e


def column(app: ObservatoryApp, selector: str, index: int) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_cell_at(Coordinate(row, index))) for row in range(table.row_count)]


async def test_filter_workers_and_queues_on_a_real_observatory(
    tmp_path: Path, until: Until
) -> None:
    async with (
        start_observatory(data_dir=tmp_path / "observatory") as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        tag = uuid.uuid4().hex[:12]
        for job_type, priority in (("fail", 5), ("echo", 5), ("echo", 8)):
            job = {
                "type": job_type,
                "payload": {"tag": tag},
                "metadata": {"maxAttempts": 1},
                "priority": priority,
            }
            assert (await http.post(f"{running.gateway}/jobs", json=job)).status_code == 202
        options = TuiOptions(
            read_model_url=running.read_model, spinner_tick_s=None, poll_interval_s=1.0
        )
        app = ObservatoryApp(options)
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await pilot.press("slash", *f"status:failed type:fail q:{tag}", "enter")
            # live: the fail job shows once it has failed, whatever the timing
            await until(pilot, lambda: column(app, "#jobs", 0) == ["FAILED"], timeout_s=30)
            assert column(app, "#jobs", 1) == ["fail"]
            await pilot.press("escape", "slash", *f"priority:8 q:{tag}", "enter")
            await until(pilot, lambda: column(app, "#jobs", 1) == ["echo"], timeout_s=30)
            await pilot.press("escape")
            await until(pilot, lambda: len(column(app, "#jobs", 0)) >= 3, timeout_s=30)

            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, WorkersScreen))
            await until(pilot, lambda: "processor" in column(app, "#workers", 1), timeout_s=30)
            row = column(app, "#workers", 1).index("processor")
            assert column(app, "#workers", 0)[row] == "alive"
            assert "echo" in column(app, "#workers", 8)[row].split(", ")
            assert "alive" in text_of(app, "#fleet-status")
            await pilot.press("escape", "u")
            await until(pilot, lambda: isinstance(app.screen, QueuesScreen))
            await until(pilot, lambda: "jobs.created" in column(app, "#queues", 0), timeout_s=30)
            row = column(app, "#queues", 0).index("jobs.created")
            assert int(column(app, "#queues", 5)[row]) >= 1  # the processor consumes it
            await pilot.press("escape", "q")
            await until(pilot, lambda: not app.is_running)
