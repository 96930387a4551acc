"""Issue 14 item 9: the example app runs as the README says, on a laptop with no internet.

``python -m http.server`` serves ``examples/fetcher/site`` (the README's command) and a
real ``observatory up --app examples.fetcher`` fetches from it: the async ``fetch-page``
and the sync ``page-links`` complete, a payload off ``schemas/page.json`` is refused with
400 and its path, and a 404 fails ``NonRetryable`` after exactly one attempt; embedded,
and (integration) with one process per service on the real servers. The read
model's ``GET /types`` describes the example's types with their schema, embedded and as
``serve read-model --app`` on the real servers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.e2e.example_site import REPO, SITE, serve_example_site
from tests.integration.fault_harness import Services

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import httpx

    from tests.e2e.conftest import RunningObservatory

pytestmark = pytest.mark.timeout(120)

SCHEMA = json.loads((REPO / "examples/fetcher/schemas/page.json").read_text())
APP = ("--app", "examples.fetcher")


@pytest.fixture
def site() -> Iterator[str]:
    """The README's ``python -m http.server`` for ``examples/fetcher/site``; its URL."""
    with serve_example_site() as url:
        yield url


def _submit(http: httpx.Client, gateway: str, job_type: str, payload: object) -> str:
    response = http.post(f"{gateway}/jobs", json={"type": job_type, "payload": payload})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def _terminal(
    http: httpx.Client, read_model: str, job_id: str, wait_until: Callable[..., None]
) -> dict[str, object]:
    found: dict[str, object] = {}

    def done() -> bool:
        found.update(http.get(f"{read_model}/jobs/{job_id}").json())
        return found.get("status") in ("COMPLETED", "FAILED")

    wait_until(done, timeout_s=30.0, message=lambda: f"job {job_id} not terminal: {found}")
    return found


def test_the_fetcher_example_fetches_refuses_and_fails_for_good_as_documented(
    observatory_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
    site: str,
) -> None:
    obs = observatory_factory(*APP)
    health = http.get(f"{obs.gateway}/healthz").json()
    assert {"fetch-page", "page-links"} <= set(health["handlerTypes"])
    _assert_types_describe_the_example(http, obs.read_model)

    fetched = _terminal(
        http,
        obs.read_model,
        _submit(http, obs.gateway, "fetch-page", {"url": f"{site}/index.html"}),
        wait_until,
    )
    body = (REPO / SITE / "index.html").read_bytes()
    assert fetched["status"] == "COMPLETED", fetched
    result = fetched["result"]
    assert isinstance(result, dict)
    assert (result["status"], result["title"], result["bytes"]) == (
        200,
        "Fetcher example: home",
        len(body),
    )
    assert result["truncated"] is False

    links = _terminal(
        http,
        obs.read_model,
        _submit(http, obs.gateway, "page-links", {"url": f"{site}/", "maxBytes": 100_000}),
        wait_until,
    )
    assert links["status"] == "COMPLETED", links
    assert links["result"] == {
        "url": f"{site}/",
        "title": "Fetcher example: home",
        "links": [f"{site}/about.html", f"{site}/jobs.html", f"{site}/missing.html"],
    }

    # Off the schema: refused at the gateway with the failing paths, nothing runs.
    for job_type in ("fetch-page", "page-links"):
        refused = http.post(
            f"{obs.gateway}/jobs",
            json={"type": job_type, "payload": {"url": "not a url", "maxBytes": 0}},
        )
        assert refused.status_code == 400, refused.text
        paths = sorted(d["path"] for d in refused.json()["details"])
        assert paths == ["/payload/maxBytes", "/payload/url"]

    # A 404: no retry can fix it, so one attempt and FAILED, for both kinds of handler.
    for job_type in ("fetch-page", "page-links"):
        missing = f"{site}/missing.html"
        job_id = _submit(http, obs.gateway, job_type, {"url": missing})
        failed = _terminal(http, obs.read_model, job_id, wait_until)
        assert (failed["status"], failed["attempts"]) == ("FAILED", 1), failed
        assert failed["error"] == (
            f"NonRetryable: GET {missing} answered 404 File not found; fetching it again "
            "would get the same answer."
        )
        events = failed["events"]
        assert isinstance(events, list)
        assert [e["eventType"] for e in events].count("job.executed") == 1


def _assert_types_describe_the_example(http: httpx.Client, read_model: str) -> None:
    types = {entry["type"]: entry for entry in http.get(f"{read_model}/types").json()}
    assert types["fetch-page"] == {
        "type": "fetch-page",
        "description": "Fetch a page on the event loop: its status, size, title and SHA-256.",
        "mode": "async",
        "payloadSchema": SCHEMA,
        "timeoutS": 15,
        "maxAttempts": 3,
        "retryBackoffS": 0.5,
        "concurrency": 8,
        "rateLimitPerS": None,
    }
    assert (types["page-links"]["mode"], types["page-links"]["payloadSchema"]) == (
        "thread",
        SCHEMA,
    )
    assert "echo" in types  # the built-in types stay
    config = http.get(f"{read_model}/config").json()
    assert {"fetch-page", "page-links", "echo"} <= set(config["jobTypes"])


@pytest.fixture
def env(servers_env: dict[str, str]) -> dict[str, str]:
    return servers_env


@pytest.mark.integration
def test_serve_read_model_with_the_app_describes_its_types(
    env: dict[str, str], tmp_path: Path, http: httpx.Client
) -> None:
    services = Services(env, tmp_path / "logs", args={"read-model": APP})
    try:
        services.start("read-model")
        _assert_types_describe_the_example(http, services.url("read-model"))
    finally:
        codes = services.stop_all()
    assert codes == {"read-model": 0}
