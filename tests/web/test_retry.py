"""Issue 14 (item 5): Retry buttons of the web dashboard, in a real browser against a real
``observatory up``: on a failed row and in the job drawer, calling the gateway."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(120)]


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def _job(obs: RunningObservatory, job_id: str) -> dict[str, object]:
    response = httpx.get(f"{obs.read_model}/jobs/{job_id}")
    return response.json() if response.status_code == 200 else {}


def test_failed_jobs_are_retried_from_their_row_and_from_the_drawer(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    once = {"maxAttempts": 1}
    flaky = httpx.post(
        f"{obs.gateway}/jobs",
        json={"type": "fail", "payload": {"succeedFromRound": 2}, "metadata": once},
    ).json()["jobId"]
    stubborn = httpx.post(f"{obs.gateway}/jobs", json={"type": "fail", "metadata": once}).json()[
        "jobId"
    ]
    done = httpx.post(f"{obs.gateway}/jobs", json={"type": "echo"}).json()["jobId"]
    _wait_for(
        lambda: (
            [_job(obs, i).get("status") for i in (flaky, stubborn, done)]
            == ["FAILED", "FAILED", "COMPLETED"]
        ),
        "two failed jobs and a completed one",
    )
    page = watched_page.page
    page.goto(f"{obs.read_model}/")
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)

    # Only failed rows have a Retry button; the row's button retries without the row's
    # click (the drawer then opens on the retried job to say so).
    rows = page.locator("#jobs-table tbody tr")
    expect(rows.locator("button.row-retry")).to_have_count(2)
    expect(page.locator(f"tr[data-job-id='{done}'] button.row-retry")).to_have_count(0)
    page.locator(f"tr[data-job-id='{flaky}'] button.row-retry").click()
    drawer = page.locator("#drawer")
    expect(drawer).to_have_attribute("data-job-id", flaky)
    expect(drawer.locator("#retry-status")).to_contain_text("Retry requested: round 2")
    # The stream brings the new round in: the job completes, its timeline shows the request.
    expect(page.locator(f"tr[data-job-id='{flaky}']")).to_have_attribute(
        "data-status", "COMPLETED", timeout=20_000
    )
    expect(drawer.locator("[data-field=round]")).to_have_text("2", timeout=10_000)
    expect(drawer.locator(".retry-request")).to_have_attribute("data-round", "2")
    expect(drawer.locator(".timeline li").last).to_have_attribute(
        "data-event-type", "job.completed", timeout=10_000
    )
    expect(drawer.locator("button.drawer-retry")).to_have_count(0)
    watched_page.screenshot("retried-from-row")
    page.keyboard.press("Escape")

    # The drawer of a failed job has its own Retry button.
    page.locator(f"tr[data-job-id='{stubborn}']").click()
    expect(drawer).to_have_attribute("data-job-id", stubborn)
    drawer.locator("button.drawer-retry").click()
    expect(drawer.locator("#retry-status")).to_contain_text("Retry requested: round 2")
    _wait_for(
        lambda: (
            (_job(obs, stubborn).get("status"), _job(obs, stubborn).get("round")) == ("FAILED", 2)
        ),
        "the second round of the stubborn job to fail",
    )
    expect(drawer.locator("[data-field=round]")).to_have_text("2", timeout=10_000)
    watched_page.screenshot("retried-from-drawer")
    assert httpx.get(f"{obs.read_model}/jobs/{flaky}").json()["status"] == "COMPLETED"
    assert watched_page.console_errors == []
    assert watched_page.outside_requests() == []
