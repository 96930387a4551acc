"""``cluster up``'s verify step checks the services through the forwards and the Ingress."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from launcher.cluster._steps import verify_healthz

if TYPE_CHECKING:
    from collections.abc import Iterator


def _server(answers: dict[str, int]) -> Iterator[str]:
    """A local stand-in for the forwards and the ingress controller: /healthz answers
    ``answers[Host without port]`` (404 for any other host, like ingress-nginx)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            seen.append(host)
            code = answers.get(host, 404) if self.path == "/healthz" else 404
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

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


@pytest.fixture
def healthy() -> Iterator[str]:
    yield from _server(
        {"127.0.0.1": 200, "observatory.localhost": 200, "gateway.observatory.localhost": 200}
    )


@pytest.fixture
def dashboard_host_missing() -> Iterator[str]:
    # The Ingress of before issue 16: observatory.localhost went to the gateway, whose
    # routes do not include the dashboard; the read model sat on another host name.
    yield from _server({"127.0.0.1": 200, "gateway.observatory.localhost": 200})


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
