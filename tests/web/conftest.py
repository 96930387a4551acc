"""Browser tests: Debian's Chromium, headless, driven by Playwright against ``observatory up``.

Chromium comes from apt (``chromium``), never from ``playwright install``. Without it
these tests skip locally with a message and fail in CI. Every test gets a page that
records console errors and every request, so a test can assert that nothing outside
localhost was fetched and nothing was logged as an error; each test saves a screenshot
under ``test-output/web/<test name>/``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import RunningObservatory, _factory

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS = Path(__file__).resolve().parents[2] / "test-output" / "web"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        message = f"Chromium is not installed at {CHROMIUM} (apt install chromium)"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: browser tests never skip)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class WatchedPage:
    """A page with what it logged and fetched."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    shot_dir: Path = RESULTS

    def outside_requests(self) -> list[str]:
        """Requests to anything but this machine (data: and file: URLs are local)."""
        outside = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "file", "blob", "about"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                outside.append(url)
        return outside

    def screenshot(self, name: str = "screenshot") -> Path:
        """Save a full-page screenshot in this test's output folder."""
        self.shot_dir.mkdir(parents=True, exist_ok=True)
        path = self.shot_dir / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def watched_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[WatchedPage]:
    """A fresh browser context and page; screenshot saved, errors checked at teardown."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    watched = WatchedPage(page, shot_dir=RESULTS / name)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            # A failed fetch logs only its status; the location says which request.
            watched.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def on_request(req: Request) -> None:
        watched.requests.append(req.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.console_errors.append(f"pageerror: {error}"))
    page.on("request", on_request)
    try:
        yield watched
    finally:
        try:
            watched.screenshot()
        finally:
            context.close()


@pytest.fixture
def observatory(tmp_path: Path) -> Iterator[Callable[..., RunningObservatory]]:
    """Start ``observatory up`` (embedded) on free ports; stopped at teardown."""
    with _factory(tmp_path, extra=(), env=None) as create:
        yield create
