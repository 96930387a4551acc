"""Snapshots of the launcher, splash and dashboard screens (pytest-textual-snapshot).

Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after reviewing
the report of a failing run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from launcher.tui.screens import DashboardScreen, LauncherScreen, SplashScreen

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.pilot import Pilot
    from textual.screen import Screen

    from .conftest import FakeApi

    SnapCompare = Callable[..., bool]

SIZE = (110, 36)


def wait_for(kind: type[Screen[None]]) -> Callable[[Pilot[None]], object]:
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
