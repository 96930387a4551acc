"""``cluster up``'s verify step checks the services through the forwards and the Ingress:
``/healthz`` of each, and the dashboard's page at ``/`` of its host name."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from launcher.cluster._steps import DASHBOARD_TITLE, verify_healthz

if TYPE_CHECKING:
    from collections.abc import Iterator

INDEX_HTML = Path(__file__).resolve().parents[4] / "quart_app" / "web" / "index.html"

Answer = tuple[int, str, str]
"""Status, content type, body."""

HEALTHY: Answer = (200, "application/json", '{"status": "ok"}')
DASHBOARD: Answer = (200, "text/html; charset=utf-8", INDEX_HTML.read_text())
NOT_FOUND: Answer = (404, "application/json", '{"error": "Not Found"}')


def _server(answers: dict[tuple[str, str], Answer]) -> Iterator[str]:
    """A local stand-in for the forwards and the ingress controller: ``GET path`` answers
    ``answers[(Host without port, path)]``, 404 for anything else (like ingress-nginx
    for an unknown host)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            code, media, body = answers.get((host, self.path), NOT_FOUND)
            data = body.encode()
            self.send_response(code)
            self.send_header("content-type", media)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


_HEALTH = {
    ("127.0.0.1", "/healthz"): HEALTHY,
    ("observatory.localhost", "/healthz"): HEALTHY,
    ("gateway.observatory.localhost", "/healthz"): HEALTHY,
}


@pytest.fixture
def healthy() -> Iterator[str]:
    yield from _server({**_HEALTH, ("observatory.localhost", "/"): DASHBOARD})


@pytest.fixture
def dashboard_host_missing() -> Iterator[str]:
    # The Ingress of before issue 16: observatory.localhost went to the gateway, whose
    # routes do not include the dashboard; the read model sat on another host name.
    yield from _server(
        {("127.0.0.1", "/healthz"): HEALTHY, ("gateway.observatory.localhost", "/healthz"): HEALTHY}
    )


@pytest.fixture
def dashboard_not_served() -> Iterator[str]:
    # /healthz answers through the Ingress, but / is the gateway's 404.
    yield from _server(_HEALTH)


@pytest.fixture
def another_page_at_root() -> Iterator[str]:
    # / answers 200, but not the dashboard: JSON of another service.
    yield from _server({**_HEALTH, ("observatory.localhost", "/"): HEALTHY})


def test_the_dashboard_page_has_the_title_verify_looks_for() -> None:
    assert DASHBOARD_TITLE in INDEX_HTML.read_text()


async def test_issue_16_verify_goes_through_the_ingress_by_host_name(healthy: str) -> None:
    urls = {"gateway": healthy, "read-model": healthy}
    await verify_healthz(urls, attempts=1, ingress_url=healthy)


async def test_issue_16_verify_names_the_ingress_host_that_does_not_answer(
    dashboard_host_missing: str,
) -> None:
    urls = {"gateway": dashboard_host_missing, "read-model": dashboard_host_missing}
    with pytest.raises(
        RuntimeError,
        match=r"^http://observatory\.localhost/healthz \(via http://127\.0\.0\.1:\d+\) did not "
        r"answer 200 after 1 tries \(HTTP 404\)$",
    ):
        await verify_healthz(urls, attempts=1, ingress_url=dashboard_host_missing)


async def test_issue_16_verify_fails_when_the_dashboard_host_does_not_serve_the_dashboard(
    dashboard_not_served: str,
) -> None:
    urls = {"gateway": dashboard_not_served, "read-model": dashboard_not_served}
    with pytest.raises(
        RuntimeError,
        match=r"^http://observatory\.localhost/ \(via http://127\.0\.0\.1:\d+\) did not "
        r"answer the dashboard after 1 tries \(HTTP 404\)$",
    ):
        await verify_healthz(urls, attempts=1, ingress_url=dashboard_not_served)


async def test_issue_16_verify_tells_the_dashboard_from_another_answer_at_root(
    another_page_at_root: str,
) -> None:
    urls = {"gateway": another_page_at_root, "read-model": another_page_at_root}
    with pytest.raises(
        RuntimeError,
        match=r"^http://observatory\.localhost/ \(via http://127\.0\.0\.1:\d+\) did not "
        r"answer the dashboard after 2 tries \(HTTP 200 application/json, not the "
        r"dashboard's page\)$",
    ):
        await verify_healthz(urls, attempts=2, delay_s=0.0, ingress_url=another_page_at_root)
