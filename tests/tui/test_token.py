"""With API tokens on, the TUI asks for one (or takes OBSERVATORY_API_TOKEN) and sends it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from textual.widgets import Input, Static

from launcher.tui.client import ObservatoryClient, Unauthorized
from launcher.tui.screens import DashboardScreen
from launcher.tui.screens.token import TokenScreen

from .conftest import READ_MODEL

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.pilot import Pilot

    from .conftest import FakeApi

    Until = Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]

TOKEN = "viewer-token-0123456789abcdef"


def require_token(api: FakeApi) -> list[str | None]:
    """Make /stats answer 401 without the token; every Authorization header it saw."""
    seen: list[str | None] = []

    def stats(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "This API needs a token."})
        return httpx.Response(200, json=api.stats)

    api.router.routes["stats"].side_effect = stats
    return seen


async def test_a_401_asks_for_the_token_then_every_request_carries_it(
    api: FakeApi, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBSERVATORY_API_TOKEN", raising=False)
    seen = require_token(api)
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TokenScreen))
        assert "no token was sent" in str(app.screen.query_one("#token-reason", Static).content)
        field = app.screen.query_one(Input)
        assert field.password  # never shown on screen
        field.value = TOKEN
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert seen[0] is None
        assert seen[-1] == f"Bearer {TOKEN}"
        jobs = api.router.routes["jobs"].calls.last.request
        assert jobs.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_esc_at_the_token_question_quits(
    api: FakeApi, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBSERVATORY_API_TOKEN", raising=False)
    require_token(api)
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TokenScreen))
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_token_from_the_environment_is_used_without_asking(
    api: FakeApi, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBSERVATORY_API_TOKEN", TOKEN)
    seen = require_token(api)
    app = api.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert seen
    assert all(header == f"Bearer {TOKEN}" for header in seen)


async def test_a_refused_token_says_so(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    require_token(api)
    async with ObservatoryClient(READ_MODEL, token="wrong-token-0123456789") as client:
        with pytest.raises(Unauthorized, match="the token was refused"):
            await client.stats()
