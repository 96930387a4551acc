"""The TUI's New Task form offers the registered types and hints the typed one's schema.

Against respx (``GET /types`` as the read model answers it, and an older read model
without it) and against a real ``observatory up --app examples.fetcher``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from textual.widgets import Input

from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.screens import DashboardScreen, NewTaskScreen
from tests.e2e.example_site import REPO, serve_example_site

from .test_dashboard import on_dashboard, text_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from textual.pilot import Pilot

    from .conftest import FakeApi

    Until = Callable[..., Awaitable[None]]

SCHEMA = json.loads((REPO / "examples/fetcher/schemas/page.json").read_text())
FETCH_PAGE = {
    "type": "fetch-page",
    "description": "Fetch a page on the event loop: its status, size, title and SHA-256.",
    "mode": "async",
    "payloadSchema": SCHEMA,
    "timeoutS": 15,
    "maxAttempts": 3,
    "retryBackoffS": 0.5,
    "concurrency": 8,
}
ECHO = {
    "type": "echo",
    "description": "Return the payload unchanged.",
    "mode": "async",
    "payloadSchema": None,
    "timeoutS": None,
    "maxAttempts": None,
    "retryBackoffS": None,
    "concurrency": None,
}


async def _open_form(app: ObservatoryApp, pilot: Pilot[None], until: Until) -> NewTaskScreen:
    await on_dashboard(app, pilot, until)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, NewTaskScreen))
    screen = app.screen
    assert isinstance(screen, NewTaskScreen)
    return screen


async def test_the_form_offers_types_from_types_and_hints_the_schema(
    api: FakeApi, until: Until
) -> None:
    api.router.routes["types"].mock(return_value=httpx.Response(200, json=[ECHO, FETCH_PAGE]))
    app = api.app()
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await _open_form(app, pilot, until)
        await until(pilot, lambda: "fetch-page" in screen.types)
        # /config said compute, echo, fail, sleep; /types adds the app's type.
        assert "fetch-page" in text_of(app, "#types")
        assert "compute" in text_of(app, "#types")

        await pilot.press(*"echo")
        await until(pilot, lambda: "Return the payload unchanged." in text_of(app, "#type-hint"))
        assert "any JSON object (no schema)" in text_of(app, "#type-hint")

        screen.query_one("#type", Input).value = ""
        await pilot.press(*"fetch-page")
        await until(pilot, lambda: "runs on the event loop" in text_of(app, "#type-hint"))
        hint = text_of(app, "#type-hint")
        assert "timeout 15 s · up to 3 attempts · at most 8 at once" in hint
        assert "url string, matches ^https?://[^/\\s]+ required — The page's address" in hint
        assert "maxBytes integer, ≥ 1, ≤ 10000000, default 1000000" in hint

        await pilot.press("ctrl+t")
        payload = screen.query_one("#payload", Input)
        await until(pilot, lambda: payload.value != "")
        assert json.loads(payload.value) == {"url": "http://127.0.0.1:8765/index.html"}

        screen.query_one("#type", Input).value = "resize"
        await until(pilot, lambda: "'resize' is not among" in text_of(app, "#type-hint"))


async def test_an_older_read_model_without_types_still_has_the_form(
    api: FakeApi, until: Until
) -> None:
    types = api.router.routes["types"].mock(
        return_value=httpx.Response(404, json={"error": "No such route."})
    )
    app = api.app()
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await _open_form(app, pilot, until)
        await until(pilot, lambda: types.called)
        await pilot.press(*"echo")
        await pilot.pause()
        assert text_of(app, "#type-hint").strip() == ""
        assert "Registered: compute, echo, fail, sleep" in text_of(app, "#types")
        assert screen.types == {}


@pytest.mark.e2e
async def test_the_form_on_a_real_observatory_with_the_example_app(
    tmp_path: Path, until: Until
) -> None:
    async with start_observatory("--app", "examples.fetcher", data_dir=tmp_path / "obs") as running:
        options = TuiOptions(
            read_model_url=running.read_model, spinner_tick_s=None, poll_interval_s=2.0
        )
        app = ObservatoryApp(options)
        async with app.run_test(size=(120, 50)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            assert {"fetch-page", "page-links"} <= set(app.job_types)  # from /config
            screen = await _open_form(app, pilot, until)
            await until(pilot, lambda: "page-links" in screen.types)
            await pilot.press(*"page-links")
            await until(pilot, lambda: "runs in a worker thread" in text_of(app, "#type-hint"))
            await pilot.press("ctrl+t")
            payload = screen.query_one("#payload", Input)
            await until(pilot, lambda: payload.value != "")
            example = json.loads(payload.value)
            with serve_example_site() as site:
                payload.value = json.dumps({**example, "url": f"{site}/jobs.html"})
                await pilot.click("#submit")
                await until(pilot, lambda: "Accepted job" in text_of(app, "#result"))
                job_id = text_of(app, "#result").split("Accepted job ")[1].split()[0]
                job: dict[str, object] = {}
                # The job runs in the observatory: poll its state over HTTP (bounded).
                with anyio.fail_after(20):
                    async with httpx.AsyncClient() as http:
                        while job.get("status") not in ("COMPLETED", "FAILED"):
                            await pilot.pause(0.1)
                            job = (await http.get(f"{running.read_model}/jobs/{job_id}")).json()
            assert job["status"] == "COMPLETED", job
            assert job["result"] == {
                "url": f"{site}/jobs.html",
                "title": "Fetcher example: jobs",
                "links": [f"{site}/index.html", f"{site}/about.html"],
            }
