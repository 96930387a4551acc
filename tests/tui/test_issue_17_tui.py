"""Issue 17, item 5 (TUI) with the real Textual pilot over a respx read model: the jobs
table keeps its highlighted job through live updates, the filter line narrows it with
``GET /jobs`` and shows its mistakes, and W and U show ``GET /workers`` and ``/queues``."""

from __future__ import annotations

import functools
import json
import uuid
from typing import TYPE_CHECKING

import anyio
import httpx
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input

from launcher.tui.screens import DashboardScreen
from launcher.tui.screens.fleet import QueuesScreen, WorkersScreen

from .conftest import READ_MODEL
from .test_dashboard import on_dashboard, text_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from anyio.abc import ObjectReceiveStream
    from textual.pilot import Pilot

    from launcher.tui.app import ObservatoryApp

    from .conftest import FakeApi

    Until = Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]


def _job(status: str = "PENDING", job_type: str = "echo") -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "type": job_type,
        "status": status,
        "createdAt": "2026-11-27T10:16:00Z",
        "updatedAt": "2026-11-27T10:16:00Z",
    }


def column(app: ObservatoryApp, selector: str, index: int) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_cell_at(Coordinate(row, index))) for row in range(table.row_count)]


def highlighted_id(app: ObservatoryApp) -> str:
    table = app.screen.query_one("#jobs", DataTable)
    return str(table.get_cell_at(Coordinate(table.cursor_row, 2)))


def _on_top(app: ObservatoryApp, job_id: str) -> bool:
    return column(app, "#jobs", 2)[:1] == [job_id]


def _live_jobs(api: FakeApi, updates: ObjectReceiveStream[list[dict[str, object]]]) -> None:
    """/stream sends a ``jobs`` event for each list the test puts into ``updates``."""

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 3000\n\n"
        async for jobs in updates:
            yield f"event: jobs\ndata: {json.dumps(jobs)}\n\n".encode()

    api.router.routes["stream"].mock(
        side_effect=lambda _: httpx.Response(
            200, content=events(), headers={"content-type": "text/event-stream"}
        )
    )


async def test_the_cursor_stays_on_its_job_while_new_jobs_arrive_above_it(
    api: FakeApi, until: Until
) -> None:
    send, receive = anyio.create_memory_object_stream[list[dict[str, object]]](1)
    _live_jobs(api, receive)
    app = api.app(poll_interval_s=30.0)
    async with send, receive, app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        jobs = [dict(job) for job in api.jobs]
        await send.send(jobs)
        await until(pilot, lambda: column(app, "#jobs", 2) == [str(j["id"]) for j in jobs])
        await pilot.press("down", "down")  # the EXECUTING sleep job, third row
        chosen = str(jobs[2]["id"])
        assert highlighted_id(app) == chosen

        for update in range(1, 4):  # three live updates, each with a new job on top
            jobs = [_job(), *jobs]
            await send.send(jobs)
            top = str(jobs[0]["id"])
            await until(pilot, functools.partial(_on_top, app, top))
            table = app.screen.query_one("#jobs", DataTable)
            assert table.cursor_row == 2 + update
            assert highlighted_id(app) == chosen

        # The highlighted job leaves the table: the cursor keeps its index (clamped).
        jobs = [job for job in jobs if job["id"] != chosen]
        await send.send(jobs)
        await until(pilot, lambda: chosen not in column(app, "#jobs", 2))
        assert app.screen.query_one("#jobs", DataTable).cursor_row == 5
        await send.send(jobs[:2])
        await until(pilot, lambda: len(column(app, "#jobs", 2)) == 2)
        assert app.screen.query_one("#jobs", DataTable).cursor_row == 1
        assert highlighted_id(app) == jobs[1]["id"]


def _install_search(api: FakeApi) -> list[httpx.QueryParams]:
    """``GET /jobs`` over ``api.jobs``: status and type filters; returns the queries seen."""
    seen: list[httpx.QueryParams] = []

    def search(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        seen.append(params)
        statuses, types = params.get_list("status"), params.get_list("type")
        if params.get("q") == "bad":  # a refusal the TUI's own parse does not foresee
            return httpx.Response(400, json={"error": "q must not be 'bad' here."})
        items = [
            {**job, "attempts": 1, "round": 1}
            for job in api.jobs
            if (not statuses or job["status"] in statuses) and (not types or job["type"] in types)
        ]
        return httpx.Response(200, json={"items": items, "nextCursor": None})

    api.router.get(host="read-model.test", path="/jobs").mock(side_effect=search)
    return seen


async def test_the_filter_line_narrows_the_table_and_shows_mistakes(
    api: FakeApi, until: Until
) -> None:
    seen = _install_search(api)
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        assert len(column(app, "#jobs", 0)) == 4
        await pilot.press("slash")
        line = app.screen.query_one("#filter", Input)
        assert line.display
        assert line.has_focus

        await pilot.press(*"status:nope")
        await until(pilot, lambda: "status:nope is not a status" in text_of(app, "#filter-error"))
        assert len(column(app, "#jobs", 0)) == 4  # nothing applied while it is wrong
        await pilot.press("enter")
        assert not seen
        for _ in "nope":
            await pilot.press("backspace")
        await pilot.press(*"failed type:fail", "enter")
        await until(pilot, lambda: column(app, "#jobs", 0) == ["FAILED"])
        assert not app.screen.query_one("#filter-error").display
        assert seen[-1].get_list("status") == ["FAILED"]
        assert seen[-1].get_list("type") == ["fail"]
        title = str(app.screen.query_one("#jobs", DataTable).border_title)
        assert "status:failed type:fail" in title

        # Live: a new matching job appears at the next refresh; others stay out.
        new_failed = _job("FAILED", "fail")
        api.jobs = [new_failed, _job("COMPLETED", "fail"), *api.jobs]
        await until(pilot, lambda: column(app, "#jobs", 2)[0] == new_failed["id"])
        assert column(app, "#jobs", 0) == ["FAILED", "FAILED"]

        # An unknown key and an open quote are named; Esc clears the filter.
        line.focus()
        line.value = 'colour:red error:"unclosed'
        await until(pilot, lambda: "No closing quotation" in text_of(app, "#filter-error"))
        line.value = "colour:red"
        await until(pilot, lambda: "Unknown key 'colour'" in text_of(app, "#filter-error"))
        await pilot.press("escape")
        await until(pilot, lambda: len(column(app, "#jobs", 0)) == len(api.jobs))
        assert not line.display
        assert "Recent jobs" in str(app.screen.query_one("#jobs", DataTable).border_title)


async def test_a_filter_the_read_model_refuses_is_said(api: FakeApi, until: Until) -> None:
    _install_search(api)
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("slash", *"q:bad", "enter")
        await until(pilot, lambda: "q must not be 'bad' here." in text_of(app, "#status-line"))
        assert "retrying every 2 s" in text_of(app, "#status-line")


WORKERS = {
    "alive": 1,
    "gone": 1,
    "workers": [
        {
            "id": "processor-a1",
            "service": "processor",
            "status": "alive",
            "lastSeenAt": "2026-11-27T10:16:00Z",
            "secondsSinceSeen": 0.4,
            "host": "node-1",
            "pid": 4242,
            "version": "0.1.0",
            "startedAt": "2026-11-27T10:00:00Z",
            "intervalS": 5,
            "handlerTypes": ["echo", "sleep"],
            "inFlight": [{"jobId": "33333333-3333-4333-8333-333333333333", "type": "sleep"}],
            "inFlightCount": 1,
            "done": 120,
            "failed": 3,
            "actors": [],
        },
        {
            "id": "processor-b2",
            "service": "processor",
            "status": "gone",
            "lastSeenAt": "2026-11-27T10:10:00Z",
            "secondsSinceSeen": 360.0,
            "host": "node-2",
            "pid": 77,
            "version": "0.1.0",
            "startedAt": "2026-11-27T09:00:00Z",
            "intervalS": 5,
            "handlerTypes": ["echo"],
            "inFlight": [],
            "inFlightCount": 0,
            "done": 9,
            "failed": 0,
            "actors": [],
        },
    ],
}
QUEUES = [
    {
        "name": "jobs.created",
        "depth": 12,
        "ready": 12,
        "unacked": None,
        "delayed": None,
        "consumers": 2,
        "publishPerS": None,
        "deliverPerS": None,
        "depthChangePerS": -1.5,
    },
    {
        "name": "jobs.dead-letter",
        "depth": 0,
        "ready": 0,
        "unacked": 0,
        "delayed": None,
        "consumers": 0,
        "publishPerS": 0.25,
        "deliverPerS": 0.0,
        "depthChangePerS": 0.0,
    },
]


async def test_w_shows_the_workers_and_refreshes(api: FakeApi, until: Until) -> None:
    workers = json.loads(json.dumps(WORKERS))
    route = api.router.get(f"{READ_MODEL}/workers").mock(
        side_effect=lambda _: httpx.Response(200, json=workers)
    )
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen))
        await until(pilot, lambda: column(app, "#workers", 2) == ["processor-a1", "processor-b2"])
        assert column(app, "#workers", 0) == ["alive", "gone"]
        assert column(app, "#workers", 3) == ["node-1:4242", "node-2:77"]
        assert column(app, "#workers", 4) == ["0s ago", "6m ago"]
        assert column(app, "#workers", 5) == ["1 (33333333)", "0"]
        assert column(app, "#workers", 6) == ["120", "9"]
        assert column(app, "#workers", 8) == ["echo, sleep", "echo"]
        assert "1 alive, 1 gone or stopped" in text_of(app, "#fleet-status")
        calls = route.call_count
        workers["workers"][0]["done"] = 121
        await until(pilot, lambda: column(app, "#workers", 6) == ["121", "9"])
        assert route.call_count > calls
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_u_shows_the_queues_with_a_dash_for_unknown_figures(
    api: FakeApi, until: Until
) -> None:
    api.router.get(f"{READ_MODEL}/queues").mock(return_value=httpx.Response(200, json=QUEUES))
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, QueuesScreen))
        await until(
            pilot, lambda: column(app, "#queues", 0) == ["jobs.created", "jobs.dead-letter"]
        )
        table = app.screen.query_one("#queues", DataTable)
        rows = [
            [str(table.get_cell_at(Coordinate(row, col))) for col in range(9)]
            for row in range(table.row_count)
        ]
        assert rows == [
            ["jobs.created", "12", "12", "—", "—", "2", "—", "—", "-1.5"],
            ["jobs.dead-letter", "0", "0", "0", "—", "0", "0.25", "0", "0"],
        ]
        assert "2 queues, 12 messages" in text_of(app, "#fleet-status")
        assert "rates compare with the previous refresh" in text_of(app, "#fleet-status")


async def test_u_says_the_rates_are_rabbitmqs_own_when_its_management_api_answered(
    api: FakeApi, until: Until
) -> None:
    answered = [{**queue, "source": "management"} for queue in QUEUES]
    api.router.get(f"{READ_MODEL}/queues").mock(return_value=httpx.Response(200, json=answered))
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("u")
        await until(pilot, lambda: "2 queues, 12 messages" in text_of(app, "#fleet-status"))
        assert "rates are RabbitMQ's own (its management API)" in text_of(app, "#fleet-status")


async def test_a_fleet_screen_says_when_the_read_model_cannot_answer(
    api: FakeApi, until: Until
) -> None:
    api.router.get(f"{READ_MODEL}/queues").mock(
        return_value=httpx.Response(503, json={"error": "The broker cannot be asked now."})
    )
    app = api.app(poll_interval_s=2.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("u")
        await until(pilot, lambda: "answered HTTP 503" in text_of(app, "#fleet-status"))
        assert "retrying every 2 s" in text_of(app, "#fleet-status")
