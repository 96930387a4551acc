"""Snapshots of the launcher, splash and dashboard screens (pytest-textual-snapshot).

Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after reviewing
the report of a failing run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from textual.widgets import DataTable

from launcher.tui.screens import DashboardScreen, LauncherScreen, SplashScreen
from launcher.tui.screens.fleet import QueuesScreen, WorkersScreen
from launcher.tui.screens.schedules import SchedulesScreen

from .test_issue_17_tui import QUEUES, WORKERS
from .test_issue_18_tui import NOW, SCHEDULES

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.pilot import Pilot
    from textual.screen import Screen

    from .conftest import FakeApi

    SnapCompare = Callable[..., bool]

SIZE = (110, 36)


def wait_for(kind: type[Screen[None]]) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        with anyio.fail_after(10):
            while not isinstance(pilot.app.screen, kind):
                await pilot.pause(0.02)
        await pilot.pause()

    return run_before


@pytest.mark.usefixtures("fake_tools")
def test_launcher_screen(api: FakeApi, snap_compare: SnapCompare) -> None:
    api.router.get(f"{api.read_model}/health").mock(
        side_effect=httpx.ConnectError("connection refused")
    )
    assert snap_compare(api.app(), terminal_size=SIZE, run_before=wait_for(LauncherScreen))


def test_splash_screen(api: FakeApi, snap_compare: SnapCompare) -> None:
    async def never(_: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    api.router.get(f"{api.read_model}/health").mock(side_effect=never)
    assert snap_compare(api.app(), terminal_size=SIZE, run_before=wait_for(SplashScreen))


def test_dashboard_screen(api: FakeApi, snap_compare: SnapCompare) -> None:
    assert snap_compare(api.app(), terminal_size=SIZE, run_before=wait_for(DashboardScreen))


def test_dashboard_filter_line_with_a_mistake(api: FakeApi, snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await wait_for(DashboardScreen)(pilot)
        await pilot.press("slash", *"status:failed colour:red")
        await pilot.pause()

    assert snap_compare(api.app(), terminal_size=SIZE, run_before=run_before)


def _fleet(kind: type[Screen[None]], key: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await wait_for(DashboardScreen)(pilot)
        await pilot.press(key)
        await wait_for(kind)(pilot)
        table = pilot.app.screen.query_one(DataTable)
        with anyio.fail_after(10):
            while not table.row_count:
                await pilot.pause(0.02)
        await pilot.pause()

    return run_before


def test_workers_screen(api: FakeApi, snap_compare: SnapCompare) -> None:
    api.router.get(f"{api.read_model}/workers").mock(return_value=httpx.Response(200, json=WORKERS))
    app = api.app(poll_interval_s=60.0)
    assert snap_compare(app, terminal_size=SIZE, run_before=_fleet(WorkersScreen, "w"))


def test_queues_screen(api: FakeApi, snap_compare: SnapCompare) -> None:
    api.router.get(f"{api.read_model}/queues").mock(return_value=httpx.Response(200, json=QUEUES))
    app = api.app(poll_interval_s=60.0)
    assert snap_compare(app, terminal_size=SIZE, run_before=_fleet(QueuesScreen, "u"))


def test_schedules_screen(api: FakeApi, snap_compare: SnapCompare) -> None:
    api.router.get(f"{api.read_model}/schedules").mock(
        return_value=httpx.Response(200, json={"schedules": SCHEDULES})
    )
    app = api.app(poll_interval_s=60.0, now=lambda: NOW)
    assert snap_compare(app, terminal_size=SIZE, run_before=_fleet(SchedulesScreen, "s"))
