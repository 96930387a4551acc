"""The dashboard against a respx read model and gateway: what it shows and what its keys do."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import anyio
import httpx
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static

from launcher.tui.dashboard_model import UpdateMode
from launcher.tui.screens import (
    DashboardScreen,
    DeadLettersScreen,
    HelpScreen,
    JobDetailScreen,
    NewTaskScreen,
)

from .conftest import ALERT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from textual.pilot import Pilot

    from launcher.tui.app import ObservatoryApp

    from .conftest import FakeApi

    Until = Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]


def text_of(app: ObservatoryApp, selector: str) -> str:
    """The plain text a widget of the current screen shows."""
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    content = app.screen.query_one(selector, Static).content
    console.print(Text.from_markup(content) if isinstance(content, str) else content)
    return console.export_text()


def job_rows(app: ObservatoryApp) -> list[tuple[str, str]]:
    """(status, style) of each row of the Recent Jobs table."""
    table = app.screen.query_one("#jobs", DataTable)
    rows = []
    for row in range(table.row_count):
        cell = table.get_cell_at(Coordinate(row, 0))
        assert isinstance(cell, Text)
        rows.append((cell.plain, str(cell.style)))
    return rows


async def on_dashboard(app: ObservatoryApp, pilot: Pilot[None], until: Until) -> None:
    await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    await until(pilot, lambda: "Total" in text_of(app, "#stats"))  # drawn once mounted


async def test_dashboard_shows_stats_and_colour_coded_jobs(api: FakeApi, until: Until) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        stats = text_of(app, "#stats")
        for label, value in [
            ("Total", "1,234"),
            ("Completed", "1,100"),
            ("Failed", "34"),
            ("In flight", "100"),
            ("Last event", "2026-11-27 10:15:30"),
            ("Throughput", "4.2 jobs/s"),
            ("Dead letters", "1"),
        ]:
            line = next(line for line in stats.splitlines() if line.strip().startswith(label))
            assert line.split()[-1] == value.split()[-1], line
            assert value in line
        assert job_rows(app) == [
            ("COMPLETED", "green"),
            ("FAILED", "bold red"),
            ("EXECUTING", "yellow"),
            ("PENDING", "blue"),
        ]
        assert "No active alerts" in text_of(app, "#alerts")
        footer = text_of(app, "#footer")
        for key in ("Q", "quit", "R", "refresh", "N", "new task", "D", "dead letters", "?", "help"):
            assert key in footer
        assert "v9.9.9" in footer  # the read model's version
        assert "polling" in footer  # this read model has no /stream


async def test_r_refreshes_now(api: FakeApi, until: Until) -> None:
    app = api.app(poll_interval_s=5.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        calls = api.router.routes["stats"].call_count
        api.stats = {**api.stats, "totalJobs": 2000}
        api.jobs = [{**api.jobs[0], "status": "FAILED"}]
        await pilot.press("r")
        await until(pilot, lambda: "2,000" in text_of(app, "#stats"))
        assert api.router.routes["stats"].call_count == calls + 1
        assert job_rows(app) == [("FAILED", "bold red")]


async def test_without_a_stream_it_polls(api: FakeApi, until: Until) -> None:
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        calls = api.router.routes["stats"].call_count
        api.stats = {**api.stats, "failedJobs": 99}
        await until(pilot, lambda: api.router.routes["stats"].call_count > calls)
        await until(pilot, lambda: "99" in text_of(app, "#stats"))
        assert app.model.mode is UpdateMode.POLLING


async def test_the_live_stream_updates_the_dashboard(api: FakeApi, until: Until) -> None:
    stats = {**api.stats, "totalJobs": 777}
    jobs = [{**api.jobs[2], "status": "COMPLETED"}]
    body = "".join(
        f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        for kind, data in [
            ("stats", stats),
            ("throughput", {"bucketSeconds": 10, "buckets": [], "perSecond": 12.5}),
            ("jobs", jobs),
            ("alerts", {"active": [], "resolved": []}),
            ("dead-letters", {"count": 7}),
        ]
    )
    api.router.routes["stream"].mock(
        return_value=httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
    )
    app = api.app(poll_interval_s=5.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await until(pilot, lambda: "777" in text_of(app, "#stats"))
        shown = text_of(app, "#stats")
        assert "12.5 jobs/s" in shown
        assert "Dead letters" in shown
        assert shown.split("Dead letters")[1].split()[0] == "7"
        assert job_rows(app) == [("COMPLETED", "green")]


async def test_alerts_panel_lists_active_alerts_and_degrades(api: FakeApi, until: Until) -> None:
    api.alerts = {"active": [ALERT], "resolved": []}
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        alerts = text_of(app, "#alerts")
        assert "CRITICAL" in alerts
        assert "HighFailureRate" in alerts
        assert "More than 10% of jobs fail" in alerts
        api.alerts_status = 503
        await pilot.press("r")
        await until(pilot, lambda: "Alerts unavailable (retrying)" in text_of(app, "#alerts"))


async def test_n_submits_the_exact_request_and_shows_the_id(api: FakeApi, until: Until) -> None:
    route = api.router.post(f"{api.gateway}/jobs").mock(
        return_value=httpx.Response(
            202,
            json={
                "jobId": "99999999-9999-4999-8999-999999999999",
                "eventId": "88888888-8888-4888-8888-888888888888",
            },
        )
    )
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen))
        await pilot.press(*"sleep", "tab")
        app.screen.query_one("#payload", Input).value = '{"seconds": 2}'
        await pilot.click("#submit")
        await until(pilot, lambda: "Accepted" in text_of(app, "#result"))
        assert "Accepted job 99999999-9999-4999-8999-999999999999" in text_of(app, "#result")
        assert route.call_count == 1
        request = route.calls.last.request
        assert request.url == f"{api.gateway}/jobs"
        assert json.loads(request.content) == {"type": "sleep", "payload": {"seconds": 2}}
        calls = api.router.routes["stats"].call_count
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await until(pilot, lambda: api.router.routes["stats"].call_count > calls)  # refreshed


async def test_n_with_a_count_submits_a_batch(api: FakeApi, until: Until) -> None:
    route = api.router.post(f"{api.gateway}/jobs/batch").mock(
        return_value=httpx.Response(
            202,
            json={
                "accepted": 3,
                "rejected": 0,
                "results": [{"jobId": f"id-{n}", "eventId": f"e-{n}"} for n in range(3)],
            },
        )
    )
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen))
        await pilot.press(*"echo")
        app.screen.query_one("#count", Input).value = "3"
        await pilot.press("enter")
        await until(pilot, lambda: "Accepted 3 jobs" in text_of(app, "#result"))
        assert json.loads(route.calls.last.request.content) == [{"type": "echo"}] * 3
        assert "first id-0, last id-2" in text_of(app, "#result")


async def test_a_400_shows_its_details(api: FakeApi, until: Until) -> None:
    api.router.post(f"{api.gateway}/jobs").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "The job does not match the job-submission contract: 1 problem(s).",
                "details": [{"path": "/type", "message": "Unknown job type 'nope'."}],
            },
        )
    )
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen))
        await pilot.press(*"nope", "enter")
        await until(pilot, lambda: "Rejected" in text_of(app, "#result"))
        result = text_of(app, "#result")
        assert "Rejected: The job does not match the job-submission contract" in result
        assert "/type: Unknown job type 'nope'." in result


async def test_the_form_is_checked_before_anything_is_sent(api: FakeApi, until: Until) -> None:
    route = api.router.post(f"{api.gateway}/jobs")
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewTaskScreen))
        app.screen.query_one("#payload", Input).value = "[1, 2]"
        app.screen.query_one("#count", Input).value = "0"
        await pilot.click("#submit")
        await until(pilot, lambda: "Type must be" in text_of(app, "#result"))
        result = text_of(app, "#result")
        assert "Payload must be a JSON object" in result
        assert "Count must be from 1 to 1000, not 0." in result
        assert not route.called
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_enter_opens_the_job_detail(api: FakeApi, until: Until) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("down", "enter")  # the FAILED job
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await until(pilot, lambda: "Timeline" in text_of(app, "#job"))
        detail = text_of(app, "#job")
        assert str(api.job_detail["id"]) in detail
        assert '"reason": "on purpose"' in detail
        assert "fail jobs always fail" in detail
        events = [line.split()[1] for line in detail.splitlines() if "job." in line]
        assert events == ["job.created", "job.validated", "job.executed", "job.failed"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_d_shows_the_dead_letters(api: FakeApi, until: Until) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeadLettersScreen))
        await until(pilot, lambda: "Body" in text_of(app, "#letter"))
        table = app.screen.query_one("#letters", DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[1:] == ["jobs.created", "processor", "The message is not JSON."]
        assert "Expecting value: line 1 column 1" in text_of(app, "#letter")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_question_mark_shows_the_keys(api: FakeApi, until: Until) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_read_only_refuses_new_tasks(api: FakeApi, until: Until) -> None:
    app = api.app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "read-only" in text_of(app, "#footer")


async def test_q_quits(api: FakeApi, until: Until) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_an_unreachable_read_model_is_shown_and_retried(api: FakeApi, until: Until) -> None:
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        api.router.routes["stats"].mock(side_effect=httpx.ConnectError("connection refused"))
        await pilot.press("r")
        await until(pilot, lambda: "connection refused" in text_of(app, "#status-line"))
        assert "retrying every 2 s" in text_of(app, "#status-line")
        assert "1,234" in text_of(app, "#stats")  # the last good values stay


async def test_while_live_it_does_not_poll_and_a_broken_stream_falls_back_then_reconnects(
    api: FakeApi, until: Until
) -> None:
    release = anyio.Event()
    stats = {**api.stats, "totalJobs": 4321}

    async def events() -> AsyncIterator[bytes]:
        yield f"retry: 3000\n\nevent: stats\ndata: {json.dumps(stats)}\n\n".encode()
        await release.wait()  # the connection stays open until the test breaks it

    api.router.routes["stream"].mock(
        side_effect=lambda _: httpx.Response(
            200, content=events(), headers={"content-type": "text/event-stream"}
        )
    )
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await until(pilot, lambda: "4,321" in text_of(app, "#stats"))
        assert app.model.mode is UpdateMode.LIVE
        assert "live" in text_of(app, "#footer")
        polls = api.router.routes["stats"].call_count
        await anyio.sleep(2.5)  # longer than the poll interval: no poll while live
        assert api.router.routes["stats"].call_count == polls
        release.set()
        await until(pilot, lambda: app.model.mode is UpdateMode.POLLING)
        assert "polling" in text_of(app, "#footer")
        release = anyio.Event()
        await until(pilot, lambda: api.router.routes["stream"].call_count == 2)
        await until(pilot, lambda: app.model.mode is UpdateMode.LIVE)
        release.set()


async def test_issue_16_an_interrupted_attempt_says_so_in_the_job_detail(
    api: FakeApi, until: Until
) -> None:
    events = list(api.job_detail["events"])  # type: ignore[call-overload]
    interrupted = {
        "eventType": "job.executed",
        "occurredAt": "2026-11-27T10:15:22.500Z",
        "producer": {"service": "processor", "instanceId": "x", "version": "0.1.0"},
        "payload": {"status": "PENDING", "attempt": 1, "interrupted": True},
    }
    api.job_detail["events"] = [*events[:3], interrupted, *events[3:]]
    app = api.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await until(pilot, lambda: "Timeline" in text_of(app, "#job"))
        detail = text_of(app, "#job")
        assert "job.executed (interrupted by a stop: attempt 1 not counted)" in detail
