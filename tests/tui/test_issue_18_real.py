"""Issue 18, item 2 against a real ``observatory up`` (no mocks): S lists a schedule
created through the gateway with its next run, P pauses it (the read model then says
so), R runs its job once now (one more fire, the job completes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.screens import DashboardScreen, SchedulesScreen

from .test_issue_17_real import column
from .test_real_observatory import text_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Until = Callable[..., Awaitable[None]]

pytestmark = pytest.mark.e2e


async def test_schedules_screen_pauses_and_runs_on_a_real_observatory(
    tmp_path: Path, until: Until
) -> None:
    async with (
        start_observatory(data_dir=tmp_path / "observatory") as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        body = {"name": "tui-hourly", "interval": "1h", "job": {"type": "echo"}}
        created = await http.post(f"{running.gateway}/schedules", json=body)
        assert created.status_code == 201, created.text
        schedule_id = created.json()["id"]
        url = f"{running.read_model}/schedules/{schedule_id}"
        options = TuiOptions(
            read_model_url=running.read_model, spinner_tick_s=None, poll_interval_s=1.0
        )
        app = ObservatoryApp(options)
        async with app.run_test(size=(150, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, SchedulesScreen))
            await until(pilot, lambda: column(app, "#schedules", 0) == ["tui-hourly"], timeout_s=30)
            assert column(app, "#schedules", 1) == ["every 1h"]
            assert column(app, "#schedules", 3) == ["enabled"]
            assert column(app, "#schedules", 4)[0].startswith("in 60m (")  # an hour off

            await pilot.press("p")
            await until(pilot, lambda: column(app, "#schedules", 3) == ["paused"], timeout_s=30)
            paused = (await http.get(url)).json()
            assert paused["enabled"] is False
            assert paused["nextRunAt"] is None

            await pilot.press("r")
            await until(pilot, lambda: "ran now, job" in text_of(app, "#schedule-action"))
            job_id = text_of(app, "#schedule-action").split("job ")[-1].strip().rstrip(".")
            assert (await http.get(url)).json()["fires"] == 1
            await until(pilot, lambda: column(app, "#schedules", 6) == ["1"], timeout_s=30)
            job: dict[str, object] = {}
            for _ in range(300):  # the job it ran reaches the read model, completed
                answer = await http.get(f"{running.read_model}/jobs/{job_id}")
                job = answer.json() if answer.status_code == 200 else {}
                if job.get("status") == "COMPLETED":
                    break
                await anyio.sleep(0.1)
            assert job.get("status") == "COMPLETED", job
            metadata = job["metadata"]
            assert isinstance(metadata, dict)
            assert metadata["scheduleId"] == schedule_id
            await pilot.press("escape", "q")
            await until(pilot, lambda: not app.is_running)
