"""Issue 16 (item 10): ``/docs`` is an interactive API page (Swagger UI) on both services,
served from a package's files: it loads with every request off the service's origin
blocked, and "Try it out" on a GET route answers 401 without a token and 200 once the
token is given under Authorize."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import _factory

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Route

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(180)]

VIEWER = "viewer-token-for-the-docs-page-0123"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObservatory]:
    """One ``observatory up`` with API tokens, for the module."""
    tmp_path: Path = tmp_path_factory.mktemp("docs")
    with _factory(tmp_path, extra=(), env={"OBSERVATORY_API_TOKENS": f"viewer:{VIEWER}"}) as up:
        yield up()


@pytest.mark.parametrize(
    ("service", "title", "operation", "path"),
    [
        ("read_model", "Task Observatory read model", "operations-read-stats", "/stats"),
        (
            "gateway",
            "Task Observatory gateway",
            "operations-compatibility-proxyTargets",
            "/proxy/targets",
        ),
    ],
)
def test_the_docs_page_tries_a_route_with_the_token_and_fetches_nothing_elsewhere(
    secured: RunningObservatory,
    watched_page: WatchedPage,
    service: str,
    title: str,
    operation: str,
    path: str,
) -> None:
    base = getattr(secured, service)
    origin = urlsplit(base).netloc
    blocked: list[str] = []

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page = watched_page.page
    page.route("**/*", only_the_service)
    page.goto(f"{base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(title, timeout=20_000)
    expect(page.locator(".swagger-ui .errors-wrapper")).to_have_count(0)

    block = page.locator(f"#{operation}")
    block.locator(".opblock-summary").click()
    block.locator(".try-out__btn").click()
    block.locator(".execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("401", timeout=15_000)  # no token yet

    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").fill(VIEWER)
    dialog.locator(".auth-btn-wrapper .authorize").click()
    dialog.locator(".auth-btn-wrapper .btn-done").click()
    block.locator(".execute").click()
    expect(status).to_have_text("200", timeout=15_000)
    # It called this service itself, at the route's path.
    request_url = block.locator(".request-url pre").inner_text()
    assert request_url == f"{base}{path}", request_url
    expect(block.locator(".responses-wrapper .curl")).to_contain_text(f"Bearer {VIEWER}")

    assert blocked == []
    assert watched_page.outside_requests() == []
    # The browser logs the deliberate 401 of the first try; nothing else.
    expected = f"status of 401 () ({base}{path})"
    errors = [e for e in watched_page.console_errors if not e.endswith(expected)]
    assert errors == [], watched_page.console_errors
