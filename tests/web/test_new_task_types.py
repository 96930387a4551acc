"""The New Task form offers the registered types and shows each one's payload schema.

A real ``observatory up --app examples.fetcher`` and Chromium: the form's list has the
app's types next to the built-in ones, typing a type shows where it runs, its options
and its schema's properties, "Use example payload" fills a payload built from the schema,
and that payload (pointed at the example's site) is accepted and completes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.example_site import REPO, serve_example_site
from tests.web.test_dashboard import NEW_TASK, assert_clean, open_dashboard, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(120)]


def test_new_task_offers_the_apps_types_and_shows_the_schema_as_a_hint(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory("--app", "examples.fetcher")
    page = watched_page.page
    open_dashboard(watched_page, obs)
    page.get_by_role("button", name=NEW_TASK).click()
    expect(page.locator("#task-modal")).to_be_visible()
    offered = page.locator("#job-types option").evaluate_all("(os) => os.map((o) => o.value)")
    assert {"fetch-page", "page-links", "echo", "sleep"} <= set(offered)

    # The default type, echo: built in, no schema.
    expect(page.locator("#task-type-about")).to_contain_text("Return the payload unchanged.")
    expect(page.locator("#task-schema-none")).to_be_visible()

    page.fill("#task-type", "page-links")
    expect(page.locator("#task-type-about")).to_contain_text("runs in a worker thread")
    page.fill("#task-type", "fetch-page")
    about = page.locator("#task-type-about")
    expect(about).to_contain_text("Fetch a page on the event loop")
    expect(about).to_contain_text("runs on the event loop · timeout 15 s · up to 3 attempts")
    expect(about).to_contain_text("at most 8 at once")
    schema = page.locator("#task-schema")
    expect(schema.locator("> summary")).to_have_text(
        "Payload schema: url (string, required), maxBytes (integer)"
    )
    schema.locator("> summary").click()
    expect(schema.locator("li[data-property=url]")).to_contain_text("required")
    expect(schema.locator("li[data-property=maxBytes]")).to_contain_text("default 1000000")
    raw = schema.locator("details.type-schema-json")
    raw.locator("summary").click()
    shown = json.loads(page.locator("#task-schema-json").inner_text())
    assert shown == json.loads((REPO / "examples/fetcher/schemas/page.json").read_text())
    watched_page.screenshot("schema-hint")

    page.click("#task-use-example")
    example = json.loads(page.locator("#task-payload").input_value())
    assert example == {"url": "http://127.0.0.1:8765/index.html"}
    expect(page.locator("#task-submit")).to_be_enabled()

    # The example, pointed at the site served for this test, runs to COMPLETED.
    with serve_example_site() as site:
        page.fill("#task-payload", json.dumps({**example, "url": f"{site}/about.html"}))
        page.click("#task-submit")
        accepted = page.locator("#task-result .accepted-id")
        expect(accepted).to_be_visible(timeout=10_000)
        job_id = accepted.inner_text()
        found: dict[str, object] = {}

        def done() -> bool:
            found.update(httpx.get(f"{obs.read_model}/jobs/{job_id}").json())
            return found.get("status") in ("COMPLETED", "FAILED")

        wait_for(done, f"job {job_id} terminal")
    assert found["status"] == "COMPLETED", found
    result = found["result"]
    assert isinstance(result, dict)
    assert result["title"] == "Fetcher example: about"

    page.fill("#task-type", "resize")
    expect(page.locator("#task-type-about")).to_contain_text(
        "'resize' is not among the registered types"
    )
    expect(page.locator("#task-schema")).to_have_count(0)
    assert_clean(watched_page)
