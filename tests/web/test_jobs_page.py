"""Issue 17 (item 5): the dashboard's Jobs page (search, infinite scroll, bulk actions) and
its Workers and Queues panels, in a real browser against a real ``observatory up``."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(180)]

ONCE = {"maxAttempts": 1}


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def _search(obs: RunningObservatory, **params: object) -> list[dict[str, object]]:
    """Every job the API's search lists for ``params`` (all pages)."""
    found: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{obs.read_model}/jobs", params=query).json()  # type: ignore[arg-type]
        found += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return found


def _submit(obs: RunningObservatory, job: dict[str, object], **headers: str) -> str:
    response = httpx.post(f"{obs.gateway}/jobs", json=job, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def _open_jobs_page(page: Page, obs: RunningObservatory, query: str = "") -> None:
    page.goto(f"{obs.read_model}/#jobs{query}")
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    expect(page.locator("#search-page")).to_be_visible()


def _row_ids(page: Page) -> list[str]:
    ids = page.locator("#search-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.jobId)"
    )
    return [str(job_id) for job_id in ids]


def test_search_filters_narrow_the_table_and_stay_in_the_address(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    correlation = f"order-{uuid.uuid4()}"
    echoes = [_submit(obs, {"type": "echo"}) for _ in range(3)]
    tagged = _submit(obs, {"type": "echo"}, **{"X-Correlation-Id": correlation})
    failed = [_submit(obs, {"type": "fail", "metadata": ONCE}) for _ in range(2)]
    _wait_for(lambda: len(_search(obs, status=["COMPLETED", "FAILED"])) == 6, "six ended jobs")
    page = watched_page.page

    # From the dashboard, the navigation leads to the Jobs page: every job, newest first.
    page.goto(f"{obs.read_model}/")
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    page.locator("#nav-jobs").click()
    expect(page.locator("#search-page")).to_be_visible()
    expect(page.locator("#dashboard-page")).to_be_hidden()
    expect(page.locator("#search-table tbody tr")).to_have_count(6)
    expect(page.locator("#search-foot")).to_have_text("end of results")

    # A status box narrows it at once, and the address says so.
    page.locator("#search-statuses input[value=FAILED]").check()
    expect(page.locator("#search-table tbody tr")).to_have_count(2)
    assert sorted(_row_ids(page)) == sorted(failed)
    assert "status=FAILED" in page.evaluate("location.hash")
    # A reload keeps the filter (the box, the table).
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    expect(page.locator("#search-statuses input[value=FAILED]")).to_be_checked()
    expect(page.locator("#search-table tbody tr")).to_have_count(2)

    # Type (a multiple choice list) and correlation id (text, on Enter).
    page.locator("#search-statuses input[value=FAILED]").uncheck()
    page.locator("#search-type").select_option(["echo"])
    expect(page.locator("#search-table tbody tr")).to_have_count(4)
    assert sorted(_row_ids(page)) == sorted([*echoes, tagged])
    page.locator("#search-correlation").fill(correlation)
    page.locator("#search-correlation").press("Enter")
    expect(page.locator("#search-table tbody tr")).to_have_count(1)
    assert _row_ids(page) == [tagged]
    # Clicking a row opens the job's drawer.
    page.locator(f"#search-table tr[data-job-id='{tagged}']").click()
    expect(page.locator("#drawer")).to_have_attribute("data-job-id", tagged)
    page.keyboard.press("Escape")

    # Error text matching nothing: an empty table that says so.
    page.locator("#search-clear").click()
    expect(page.locator("#search-table tbody tr")).to_have_count(6)
    page.locator("#search-error").fill("no job failed like this")
    page.locator("#search-error").press("Enter")
    expect(page.locator("#search-foot")).to_have_text("No job matches this filter.")
    expect(page.locator("#search-table tbody tr")).to_have_count(0)

    # A filter the API refuses (400) is shown as the API says it, and cleared once fixed.
    page.evaluate("location.hash = '#jobs?createdAfter=yesterday'")
    expect(page.locator("#search-problem")).to_contain_text("createdAfter")
    expect(page.locator("#search-table tbody tr")).to_have_count(0)
    page.evaluate("location.hash = '#jobs?type=fail'")
    expect(page.locator("#search-table tbody tr")).to_have_count(2)
    expect(page.locator("#search-problem")).to_be_hidden()
    # The refused request logged its 400 (the browser's own line); nothing else went wrong.
    unexpected = [e for e in watched_page.console_errors if "400" not in e]
    assert unexpected == []
    watched_page.console_errors.clear()
    assert watched_page.outside_requests() == []


def test_scrolling_to_the_end_loads_the_next_pages_without_duplicate_rows(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    answer = httpx.post(f"{obs.gateway}/jobs/batch", json=[{"type": "echo"}] * 120)
    assert answer.status_code in (200, 202, 207), answer.text
    _wait_for(lambda: len(_search(obs, status="COMPLETED")) == 120, "120 completed jobs")
    expected = [str(job["id"]) for job in _search(obs)]
    page = watched_page.page
    _open_jobs_page(page, obs)

    rows = page.locator("#search-table tbody tr")
    expect(rows).to_have_count(50)  # one page: the end is out of view
    expect(page.locator("#search-foot")).not_to_have_text("end of results")
    page.locator("#search-foot").scroll_into_view_if_needed()
    expect(rows).to_have_count(100)
    page.locator("#search-foot").scroll_into_view_if_needed()
    expect(rows).to_have_count(120)
    expect(page.locator("#search-foot")).to_have_text("end of results")
    ids = _row_ids(page)
    assert len(set(ids)) == len(ids) == 120
    assert ids == expected  # the same jobs in the same order as the API's own paging
    # Three pages were asked for, each with the cursor of the one before.
    searches = [url for url in watched_page.requests if "/jobs?" in url]
    assert len(searches) == 3
    assert ["cursor=" in url for url in searches] == [False, True, True]
    assert watched_page.console_errors == []


def test_bulk_retry_confirms_with_the_count_then_retries_the_failed_jobs(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    again: dict[str, object] = {
        "type": "fail",
        "payload": {"succeedFromRound": 2},
        "metadata": ONCE,
    }
    batch = {"X-Correlation-Id": f"batch-{uuid.uuid4()}"}
    failing = [_submit(obs, again, **batch) for _ in range(3)]
    other = _submit(obs, {"type": "fail", "metadata": ONCE})
    done = _submit(obs, {"type": "echo"}, **batch)
    _wait_for(lambda: len(_search(obs, status="FAILED")) == 4, "four failed jobs")
    _wait_for(lambda: len(_search(obs, status="COMPLETED")) == 1, "the echo job")
    page = watched_page.page
    _open_jobs_page(page, obs, "?status=FAILED")
    expect(page.locator("#search-table tbody tr")).to_have_count(4)
    # Nothing waits under a FAILED filter: that button is off and says why.
    expect(page.locator("#bulk-cancel")).to_be_disabled()
    expect(page.locator("#bulk-why")).to_contain_text("no waiting status")
    expect(page.locator("#bulk-retry")).to_be_enabled()

    # Narrow to the batch: three failed jobs (its echo job completed).
    page.locator("#search-correlation").fill(batch["X-Correlation-Id"])
    page.locator("#search-correlation").press("Enter")
    expect(page.locator("#search-table tbody tr")).to_have_count(3)

    page.locator("#bulk-retry").click()
    dialog = page.locator("#bulk-modal")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#bulk-question")).to_have_text("This will retry 3 failed jobs.")
    expect(dialog.locator("#bulk-question")).to_have_attribute("data-count", "3")
    # Counting did nothing: every job is still FAILED in round 1.
    assert {(j["status"], j["round"]) for j in _search(obs, status="FAILED")} == {("FAILED", 1)}
    dialog.locator("#bulk-confirm").click()
    expect(dialog.locator("#bulk-answer")).to_have_text("Retried 3 jobs.")
    expect(page.locator("#bulk-status")).to_have_text("Retried 3 jobs.")
    watched_page.screenshot("bulk-retry-answered")
    dialog.locator("#bulk-dismiss").click()
    expect(dialog).to_be_hidden()

    # Through the API: the three ran a second round and completed; the others did not move.
    def states() -> dict[str, tuple[object, object]]:
        return {str(j["id"]): (j["status"], j["round"]) for j in _search(obs)}

    _wait_for(
        lambda: all(states()[i] == ("COMPLETED", 2) for i in failing), "the retried jobs' round 2"
    )
    assert states()[other] == ("FAILED", 1)
    assert states()[done] == ("COMPLETED", 1)
    assert watched_page.console_errors == []


def test_the_workers_panel_shows_the_processor_and_follows_it_live(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    _wait_for(
        lambda: any(
            w["service"] == "processor" and w["status"] == "alive"
            for w in httpx.get(f"{obs.read_model}/workers").json()["workers"]
        ),
        "the processor's first heartbeat",
    )
    page = watched_page.page
    page.goto(f"{obs.read_model}/")
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    expect(page.locator("#connection")).to_have_attribute("data-mode", "live", timeout=15_000)

    processor = page.locator("#workers-table tbody tr[data-status=alive]").filter(
        has_text="processor"
    )
    expect(processor).to_have_count(1, timeout=15_000)
    api = next(
        w
        for w in httpx.get(f"{obs.read_model}/workers").json()["workers"]
        if w["service"] == "processor"
    )
    row = page.locator(f"#workers-table tr[data-worker-id='{api['id']}']")
    expect(row).to_contain_text(str(api["host"]))
    expect(row).to_contain_text("echo")  # among the types it serves
    before = int(row.locator("[data-field=done]").inner_text().replace(",", ""))

    # Jobs done now show up in the panel without a reload (the stream's workers event).
    for _ in range(3):
        _submit(obs, {"type": "echo"})
    expect(row.locator("[data-field=done]")).to_have_text(str(before + 3), timeout=30_000)

    # The queues panel: every topology queue, its depth drawn from samples kept in the page.
    queue = page.locator("#queues-table tr[data-queue='jobs.created']")
    expect(queue).to_have_count(1)
    expect(queue.locator("[data-field=consumers]")).not_to_have_text("0")
    # Those came over the stream: the page never asked GET /workers or GET /queues.
    assert [u for u in watched_page.requests if u.endswith(("/workers", "/queues"))] == []
    samples = queue.locator("svg.spark")
    _wait_for(lambda: int(samples.get_attribute("data-samples") or 0) >= 3, "three samples")
    assert watched_page.console_errors == []
    assert watched_page.outside_requests() == []


def test_bulk_buttons_are_off_for_a_viewer_token_and_say_why(
    watched_page: WatchedPage, tmp_path: Path
) -> None:
    from tests.e2e.conftest import start_observatory

    viewer, submitter = "viewer-" + uuid.uuid4().hex, "submitter-" + uuid.uuid4().hex
    obs = start_observatory(
        tmp_path / "data",
        env={"OBSERVATORY_API_TOKENS": f"viewer:{viewer},submitter:{submitter}"},
    )
    try:
        page = watched_page.page
        page.goto(f"{obs.read_model}/#jobs")
        expect(page.locator("#token-modal")).to_be_visible(timeout=15_000)
        page.fill("#token-input", viewer)
        page.click("#token-submit")
        expect(page.locator("#search-page")).to_be_visible(timeout=15_000)
        for button in ("#bulk-cancel", "#bulk-retry", "#bulk-requeue"):
            expect(page.locator(button)).to_be_disabled()
        expect(page.locator("#bulk-why")).to_contain_text("A viewer token may only read")
        # A submitter token (the key button) switches them on; the search needs no role.
        page.click("#token-open")
        page.fill("#token-input", submitter)
        page.click("#token-submit")
        expect(page.locator("#bulk-retry")).to_be_enabled()
        expect(page.locator("#bulk-requeue")).to_be_enabled()
        expect(page.locator("#bulk-why")).to_have_text("")
        expect(page.locator("#search-foot")).to_have_text("No job matches this filter.")
        # The only refusals the browser logged are the 401s before a token was given.
        assert [e for e in watched_page.console_errors if "401" not in e] == []
    finally:
        obs.stop()
        if obs.process.stdout is not None:
            obs.process.stdout.close()


def test_requeue_dead_letters_counts_them_first_and_reports_what_the_gateway_did(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    # A probe is a deliberately malformed message: it becomes a dead letter, and a requeue
    # refuses it (there is no job in it), which the answer says.
    assert httpx.post(f"{obs.gateway}/probes/dead-letter").status_code == 202
    _wait_for(
        lambda: len(httpx.get(f"{obs.read_model}/dead-letters").json()) == 1, "the dead letter"
    )
    page = watched_page.page
    _open_jobs_page(page, obs, "?type=echo")
    page.locator("#bulk-requeue").click()
    dialog = page.locator("#bulk-modal")
    expect(dialog.locator("#bulk-note")).to_contain_text("only the time range")
    expect(dialog.locator("#bulk-question")).to_have_text("This will requeue 1 dead letter.")
    dialog.locator("#bulk-confirm").click()
    expect(dialog.locator("#bulk-answer")).to_contain_text("Requeued 0 dead letters; 1 refused")
    # Refused, so it is kept: the API still lists it.
    assert len(httpx.get(f"{obs.read_model}/dead-letters").json()) == 1
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert watched_page.console_errors == []
