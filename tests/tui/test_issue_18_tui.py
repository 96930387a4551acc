"""Issue 18, item 2 (TUI) with the real Textual pilot over a respx read model and gateway:
S lists ``GET /schedules`` with each one's next run, P pauses or resumes the highlighted
schedule (``PATCH /schedules/{id}``), R runs it now (``POST /schedules/{id}/run``), and a
refusal is said in the status line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from launcher.tui.screens import DashboardScreen, SchedulesScreen
from launcher.tui.screens.schedules import relative

from .conftest import GATEWAY, READ_MODEL
from .test_dashboard import on_dashboard, text_of
from .test_issue_17_tui import column

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.pilot import Pilot

    from .conftest import FakeApi

    Until = Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]

NOW = datetime(2026, 11, 27, 10, 16, 0, tzinfo=UTC)
HEARTBEAT = "0f0e0d0c-0000-4000-8000-000000000001"
NIGHTLY = "0f0e0d0c-0000-4000-8000-000000000002"
SCHEDULES = [
    {
        "id": HEARTBEAT,
        "name": "heartbeat",
        "cron": None,
        "interval": "30s",
        "timezone": "UTC",
        "job": {"type": "echo", "payload": {"ping": True}, "metadata": {}},
        "enabled": True,
        "catchUp": "one",
        "nextRunAt": "2026-11-27T10:16:12Z",
        "lastRunAt": "2026-11-27T10:15:42Z",
        "fires": 41,
        "misses": 0,
    },
    {
        "id": NIGHTLY,
        "name": "nightly-report",
        "cron": "0 2 * * *",
        "interval": None,
        "timezone": "Europe/Berlin",
        "job": {"type": "compute", "payload": {}, "metadata": {}},
        "enabled": False,
        "catchUp": "none",
        "nextRunAt": None,
        "lastRunAt": "2026-11-27T01:00:00Z",
        "fires": 3,
        "misses": 2,
    },
]


def _schedules_api(api: FakeApi) -> list[dict[str, object]]:
    """``GET /schedules`` over a list the gateway's PATCH changes; returns that list."""
    schedules: list[dict[str, object]] = json.loads(json.dumps(SCHEDULES))
    api.router.get(f"{READ_MODEL}/schedules", name="schedules").mock(
        side_effect=lambda _: httpx.Response(200, json={"schedules": schedules})
    )

    def patch(request: httpx.Request, schedule_id: str) -> httpx.Response:
        schedule = next(s for s in schedules if s["id"] == schedule_id)
        schedule["enabled"] = json.loads(request.content)["enabled"]
        schedule["nextRunAt"] = "2026-11-27T10:16:30Z" if schedule["enabled"] else None
        return httpx.Response(200, json=schedule)

    api.router.patch(
        url__regex=rf"^{GATEWAY}/schedules/(?P<schedule_id>[^/]+)$", name="patch"
    ).mock(side_effect=patch)
    return schedules


def _now() -> datetime:
    return NOW


def test_relative_times_say_how_far_and_when() -> None:
    assert relative("2026-11-27T10:16:12Z", NOW) == "in 12s (10:16:12Z)"
    assert relative("2026-11-27T10:13:00Z", NOW) == "3m ago (10:13:00Z)"
    assert relative("2026-11-27T01:00:00Z", NOW) == "9.3h ago (01:00:00Z)"
    assert relative("2026-12-01T02:00:00Z", NOW) == "in 4d (2026-12-01 02:00Z)"
    assert relative("2026-11-27T10:13:00Z", NOW, absolute=False) == "3m ago"
    assert relative(None, NOW) == "—"


async def test_s_lists_the_schedules_with_their_next_run(api: FakeApi, until: Until) -> None:
    schedules = _schedules_api(api)
    app = api.app(poll_interval_s=2.0, now=_now)
    async with app.run_test(size=(150, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        assert "schedules" in text_of(app, "#footer")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SchedulesScreen))
        await until(pilot, lambda: column(app, "#schedules", 0) == ["heartbeat", "nightly-report"])
        assert column(app, "#schedules", 1) == ["every 30s", "0 2 * * * (Europe/Berlin)"]
        assert column(app, "#schedules", 2) == ["echo", "compute"]
        assert column(app, "#schedules", 3) == ["enabled", "paused"]
        assert column(app, "#schedules", 4) == ["in 12s (10:16:12Z)", "paused"]
        assert column(app, "#schedules", 5) == ["18s ago", "9.3h ago"]
        assert column(app, "#schedules", 6) == ["41", "3"]
        assert column(app, "#schedules", 7) == ["0", "2"]
        assert "2 schedules, 1 paused" in text_of(app, "#fleet-status")
        assert "P  pause/resume" in text_of(app, "#footer")
        # Every poll interval it asks again.
        schedules[0]["fires"] = 42
        await until(pilot, lambda: column(app, "#schedules", 6) == ["42", "3"])
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_p_pauses_and_resumes_the_highlighted_schedule(api: FakeApi, until: Until) -> None:
    _schedules_api(api)
    app = api.app(poll_interval_s=30.0, now=_now)
    async with app.run_test(size=(150, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("s")
        await until(pilot, lambda: column(app, "#schedules", 0) == ["heartbeat", "nightly-report"])
        await pilot.press("p")  # heartbeat, highlighted first: enabled, so paused
        await until(pilot, lambda: column(app, "#schedules", 3) == ["paused", "paused"])
        patches = api.router.routes["patch"].calls
        assert len(patches) == 1
        assert str(patches[0].request.url) == f"{GATEWAY}/schedules/{HEARTBEAT}"
        assert json.loads(patches[0].request.content) == {"enabled": False}
        assert "heartbeat: paused." in text_of(app, "#schedule-action")

        await pilot.press("down", "p")  # nightly-report, paused: resumed
        await until(pilot, lambda: column(app, "#schedules", 3) == ["paused", "enabled"])
        assert len(patches) == 2
        assert str(patches[1].request.url) == f"{GATEWAY}/schedules/{NIGHTLY}"
        assert json.loads(patches[1].request.content) == {"enabled": True}
        assert column(app, "#schedules", 4) == ["paused", "in 30s (10:16:30Z)"]
        assert "nightly-report: resumed." in text_of(app, "#schedule-action")


async def test_r_runs_the_highlighted_schedule_now(api: FakeApi, until: Until) -> None:
    _schedules_api(api)
    job_id = "11111111-2222-4333-8444-555555555555"
    run = api.router.post(f"{GATEWAY}/schedules/{NIGHTLY}/run").mock(
        return_value=httpx.Response(
            202,
            json={
                "jobId": job_id,
                "eventId": "e1",
                "scheduleId": NIGHTLY,
                "scheduledAt": "2026-11-27T10:16:00Z",
            },
        )
    )
    app = api.app(poll_interval_s=30.0, now=_now)
    async with app.run_test(size=(150, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("s")
        await until(pilot, lambda: column(app, "#schedules", 0) == ["heartbeat", "nightly-report"])
        await pilot.press("down", "r")
        await until(pilot, lambda: job_id in text_of(app, "#schedule-action"))
        assert run.call_count == 1
        assert "nightly-report: ran now" in text_of(app, "#schedule-action")


async def test_a_refusal_is_said_in_the_status_line(api: FakeApi, until: Until) -> None:
    _schedules_api(api)
    api.router.post(f"{GATEWAY}/schedules/{HEARTBEAT}/run").mock(
        return_value=httpx.Response(
            403, json={"error": "A viewer token may not POST /schedules/<schedule_id>/run."}
        )
    )
    app = api.app(poll_interval_s=30.0, now=_now)
    async with app.run_test(size=(150, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("s")
        await until(pilot, lambda: column(app, "#schedules", 0) == ["heartbeat", "nightly-report"])
        await pilot.press("r")
        await until(pilot, lambda: "may not POST" in text_of(app, "#schedule-action"))
        assert text_of(app, "#schedule-action").startswith("heartbeat: A viewer token")


async def test_read_only_refuses_p_and_r_without_asking_the_gateway(
    api: FakeApi, until: Until
) -> None:
    _schedules_api(api)
    app = api.app(poll_interval_s=30.0, now=_now, read_only=True)
    async with app.run_test(size=(150, 40)) as pilot:
        await on_dashboard(app, pilot, until)
        await pilot.press("s")
        await until(pilot, lambda: column(app, "#schedules", 0) == ["heartbeat", "nightly-report"])
        assert "P  pause" not in text_of(app, "#footer")
        await pilot.press("p")
        await until(pilot, lambda: "Read-only" in text_of(app, "#schedule-action"))
        assert api.router.routes["patch"].call_count == 0
        assert column(app, "#schedules", 3) == ["enabled", "paused"]
