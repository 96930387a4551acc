"""Issue 18 (item 3): a job's priority in the dashboard, in a real browser against a real
``observatory up``: the Jobs page's Priority column and filter (bulk actions refuse a
priority filter, which the gateway's bulk actions do not take), the recent jobs table's
badge, and the job drawer."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(180)]


def _submit(obs: RunningObservatory, job: dict[str, object]) -> str:
    response = httpx.post(f"{obs.gateway}/jobs", json=job)
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def _ended(obs: RunningObservatory, job_ids: list[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    for job_id in job_ids:
        while httpx.get(f"{obs.read_model}/jobs/{job_id}").json().get("status") != "COMPLETED":
            if time.monotonic() > deadline:
                raise AssertionError(f"Timed out after {timeout_s} s waiting for job {job_id}")
            time.sleep(0.1)


def test_priority_shows_in_the_jobs_table_the_filter_and_the_drawer(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    urgent = _submit(obs, {"type": "echo", "priority": 9})
    plain = _submit(obs, {"type": "echo"})
    low = _submit(obs, {"type": "echo", "priority": 0})
    _ended(obs, [urgent, plain, low])
    page = watched_page.page

    # The recent jobs of the dashboard: a badge for a priority other than 5 only.
    page.goto(f"{obs.read_model}/")
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    recent = page.locator("#jobs-table")
    expect(recent.locator(f"tr[data-job-id='{urgent}'] [data-field=priority]")).to_have_text("P9")
    expect(recent.locator(f"tr[data-job-id='{low}'] [data-field=priority]")).to_have_text("P0")
    expect(recent.locator(f"tr[data-job-id='{plain}'] [data-field=priority]")).to_have_count(0)

    # The Jobs page: a Priority column on every row.
    page.goto(f"{obs.read_model}/#jobs")
    expect(page.locator("#search-page")).to_be_visible()
    table = page.locator("#search-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("thead th").nth(2)).to_have_text("Priority")
    for job_id, shown in ((urgent, "9"), (plain, "5"), (low, "0")):
        cell = table.locator(f"tr[data-job-id='{job_id}'] [data-field=priority]")
        expect(cell).to_have_text(shown)

    # The priority filter narrows the table, stays in the address, and the bulk actions
    # on jobs take it (the gateway's bulk filter has priority too).
    page.locator("#search-priority").select_option("9")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(f"tr[data-job-id='{urgent}']")).to_be_visible()
    assert "priority=9" in page.evaluate("location.hash")
    expect(page.locator("#search-summary")).to_contain_text("priority 9")
    expect(page.locator("#bulk-retry")).to_be_enabled()
    expect(page.locator("#bulk-cancel")).to_be_enabled()
    expect(page.locator("#bulk-why")).not_to_contain_text("priority")
    with page.expect_request(
        lambda r: r.url.endswith("/jobs/retry") and r.method == "POST"
    ) as asked:
        page.locator("#bulk-retry").click()
    sent = json.loads(asked.value.post_data or "{}")
    assert (sent["priority"], sent["status"], sent["dryRun"]) == (9, "FAILED", True)
    expect(page.locator("#bulk-question")).to_have_text("No failed jobs match: nothing to retry.")
    page.locator("#bulk-dismiss").click()
    expect(page.locator("#bulk-modal")).to_be_hidden()
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    expect(page.locator("#search-priority")).to_have_value("9")
    expect(table.locator("tbody tr")).to_have_count(1)

    # The drawer says the job's priority.
    table.locator(f"tr[data-job-id='{urgent}']").click()
    expect(page.locator("#drawer")).to_have_attribute("data-job-id", urgent)
    expect(page.locator("#drawer [data-field=priority]")).to_have_text("9")
    page.keyboard.press("Escape")
    page.locator("#search-priority").select_option("")
    expect(table.locator("tbody tr")).to_have_count(3)
    table.locator(f"tr[data-job-id='{plain}']").click()
    expect(page.locator("#drawer")).to_have_attribute("data-job-id", plain)
    expect(page.locator("#drawer [data-field=priority]")).to_have_text("5 (default)")

    assert watched_page.console_errors == []
    assert watched_page.outside_requests() == []
