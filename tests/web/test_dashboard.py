"""The web dashboard in a real browser against a real ``observatory up``."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from playwright.sync_api import expect

from actors.domain.dead_letters import DeadLetter
from actors.errors import ValidationIssue
from actors.stores.sqlite import open_sqlite_dead_letter_store

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(120)]

NEW_TASK = "New Task"
"""The header button (its plus is an inline SVG, hidden from the accessible name)."""
STAT_IDS = {
    "stat-total": "totalJobs",
    "stat-completed": "completedJobs",
    "stat-failed": "failedJobs",
    "stat-inflight": "inFlightJobs",
}


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def settled_stats(obs: RunningObservatory, total: int) -> dict[str, object]:
    """/stats once ``total`` jobs are counted and none is in flight."""
    found: dict[str, object] = {}

    def done() -> bool:
        found.update(httpx.get(f"{obs.read_model}/stats").json())
        return found["totalJobs"] == total and found["inFlightJobs"] == 0

    wait_for(done, f"{total} finished jobs in /stats")
    return found


def open_dashboard(watched: WatchedPage, obs: RunningObservatory) -> None:
    watched.page.goto(f"{obs.read_model}/")
    watched.page.wait_for_selector("body[data-ready=true]", timeout=15_000)


def assert_clean(watched: WatchedPage) -> None:
    assert watched.console_errors == []
    assert watched.outside_requests() == []


def test_splash_hides_once_data_arrives_and_the_cards_match_stats(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    jobs = [{"type": "echo"}] * 5 + [{"type": "fail"}] * 2
    assert httpx.post(f"{obs.gateway}/jobs/batch", json=jobs).status_code == 202
    stats = settled_stats(obs, 7)
    page = watched_page.page
    page.goto(f"{obs.read_model}/")
    # The splash shows the logo and a status message, then gives way to the dashboard.
    expect(page.locator("#splash")).to_be_hidden(timeout=15_000)
    expect(page.locator("#app")).to_be_visible()
    assert "|_   _|" in page.locator("#splash-logo").inner_text()
    for element_id, key in STAT_IDS.items():
        expect(page.locator(f"#{element_id}")).to_have_text(f"{stats[key]:,}")
    expect(page.locator("#stat-alerts")).to_have_text("0")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(7)
    expect(page.locator("#jobs-table tbody tr[data-status=FAILED] .status-FAILED")).to_have_count(2)
    expect(page.locator("#connection")).to_have_text("Live")
    # The chart has bars for what finished, and the events table lists the trail: 4 per
    # echo job; a fail job's 3 attempts add a job.executed per start and per retry (8).
    expect(page.locator("#chart rect.bar-ok")).not_to_have_count(0)
    expect(page.locator("#events-table tbody tr")).to_have_count(5 * 4 + 2 * 8)
    assert_clean(watched_page)


def test_new_task_submits_and_the_job_turns_completed_live_with_its_timeline(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    page = watched_page.page
    open_dashboard(watched_page, obs)
    expect(page.locator("#connection")).to_have_text("Live")
    page.get_by_role("button", name=NEW_TASK).click()
    expect(page.locator("#task-modal")).to_be_visible()
    page.fill("#task-type", "echo")
    page.fill("#task-payload", '{"n": 42, "who": "browser"}')
    page.click("#task-submit")
    accepted = page.locator("#task-result .accepted-id")
    expect(accepted).to_be_visible(timeout=10_000)
    job_id = accepted.inner_text()
    assert str(uuid.UUID(job_id)) == job_id
    watched_page.screenshot("accepted")
    # The accepted id links to the job's detail.
    accepted.click()
    expect(page.locator("#task-modal")).to_be_hidden()
    expect(page.locator("#drawer")).to_have_attribute("data-job-id", job_id)
    page.keyboard.press("Escape")
    expect(page.locator("#drawer")).to_be_hidden()
    # No reload: the stream brings the job in, then its terminal status.
    row = page.locator(f"#jobs-table tbody tr[data-job-id='{job_id}']")
    expect(row).to_have_attribute("data-status", "COMPLETED", timeout=15_000)
    expect(row.locator(".status-COMPLETED")).to_have_text("COMPLETED")
    # The job really reached the system with the payload typed in the form.
    job = httpx.get(f"{obs.read_model}/jobs/{job_id}").json()
    assert job["payload"] == {"n": 42, "who": "browser"}
    row.click()
    drawer = page.locator("#drawer")
    expect(drawer).to_be_visible()
    timeline = drawer.locator(".timeline li")
    expect(timeline).to_have_count(4)
    assert [timeline.nth(i).get_attribute("data-event-type") for i in range(4)] == [
        "job.created",
        "job.validated",
        "job.executed",
        "job.completed",
    ]
    expect(drawer.locator("[data-field=payload]")).to_contain_text('"who": "browser"')
    expect(drawer.locator("[data-field=attempts]")).to_have_text("1")
    watched_page.screenshot("drawer")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    assert_clean(watched_page)


def test_new_task_validates_as_you_type_and_shows_the_gateways_400_by_the_field(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    page = watched_page.page
    open_dashboard(watched_page, obs)
    page.get_by_role("button", name=NEW_TASK).click()
    page.fill("#task-payload", '{"n": ')
    expect(page.locator("#task-payload-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#task-submit")).to_be_disabled()
    page.fill("#task-type", "no spaces allowed")
    expect(page.locator("#task-type-error")).to_contain_text("1 to 50 letters")
    page.fill("#task-type", "echo")
    page.fill("#task-payload", "[1, 2]")
    expect(page.locator("#task-payload-error")).to_contain_text("must be a JSON object")
    # Valid JSON the gateway refuses: a string with a NUL character no store keeps.
    page.fill("#task-payload", '{"text": "a\\u0000b"}')
    expect(page.locator("#task-submit")).to_be_enabled()
    page.click("#task-submit")
    expect(page.locator("#task-payload-error")).to_contain_text("/payload/text", timeout=10_000)
    expect(page.locator("#task-error")).not_to_be_empty()
    expect(page.locator("#task-payload")).to_have_class("invalid")
    expect(page.locator("#task-result")).to_be_empty()
    watched_page.screenshot("refused")
    assert httpx.get(f"{obs.read_model}/stats").json()["totalJobs"] == 0
    # The 400 itself is the browser's console line for a failed fetch; nothing else.
    assert [e for e in watched_page.console_errors if "400" not in e] == []
    assert watched_page.outside_requests() == []


def test_submitting_several_at_once_uses_the_batch_endpoint(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    page = watched_page.page
    open_dashboard(watched_page, obs)
    page.get_by_role("button", name=NEW_TASK).click()
    page.fill("#task-type", "echo")
    page.fill("#task-count", "12")
    with page.expect_request(lambda r: r.url.endswith("/jobs/batch")) as batch:
        page.click("#task-submit")
    assert len(json.loads(batch.value.post_data or "[]")) == 12
    expect(page.locator("#task-result")).to_contain_text("Accepted 12 jobs")
    settled_stats(obs, 12)
    page.keyboard.press("Escape")
    # Paging: 12 jobs are a full first page and two on the second.
    expect(page.locator("#jobs-table tbody tr")).to_have_count(10, timeout=10_000)
    page.click("#jobs-next")
    expect(page.locator("#jobs-page")).to_have_text("page 2")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(2)
    expect(page.locator("#jobs-next")).to_be_disabled()
    page.click("#jobs-prev")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(10)
    assert_clean(watched_page)


def test_filters_narrow_the_jobs_table(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    jobs = [{"type": "echo"}] * 3 + [{"type": "fail"}] * 2 + [{"type": "compute"}]
    assert httpx.post(f"{obs.gateway}/jobs/batch", json=jobs).status_code == 202
    settled_stats(obs, 6)
    page = watched_page.page
    open_dashboard(watched_page, obs)
    page.select_option("#filter-status", "FAILED")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(2)
    expect(page.locator("#jobs-table tbody tr[data-status=FAILED]")).to_have_count(2)
    # A failed job's drawer shows its error.
    page.locator("#jobs-table tbody tr[data-status=FAILED]").first.click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=error]")).to_contain_text("always fails")
    expect(drawer.locator(".timeline li").last).to_have_attribute("data-event-type", "job.failed")
    assert "[object" not in drawer.inner_text()
    page.keyboard.press("Escape")
    page.select_option("#filter-status", "")
    page.select_option("#filter-type", "echo")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(3)
    page.select_option("#filter-status", "FAILED")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(0)
    expect(page.locator("#jobs-empty")).to_have_text("No jobs match on this page.")
    assert_clean(watched_page)


def test_issue_14_a_cancelled_jobs_timeline_says_who_cancelled_it_and_when(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    job_id = httpx.post(
        f"{obs.gateway}/jobs", json={"type": "sleep", "payload": {"seconds": 30}}
    ).json()["jobId"]
    wait_for(
        lambda: httpx.get(f"{obs.read_model}/jobs/{job_id}").json().get("status") == "EXECUTING",
        "the sleep to run",
    )
    cancel = httpx.delete(f"{obs.gateway}/jobs/{job_id}")
    assert cancel.status_code == 202, cancel.text
    settled_stats(obs, 1)
    page = watched_page.page
    open_dashboard(watched_page, obs)
    row = page.locator("#jobs-table tbody tr[data-status=FAILED]")
    expect(row).to_have_count(1)
    row.click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=error]")).to_have_text("cancelled")
    last = drawer.locator(".timeline li").last
    expect(last).to_have_attribute("data-event-type", "job.failed")
    answer = cancel.json()
    expect(last.locator("[data-field=cancel]")).to_have_text(
        f"Cancelled: requested by {answer['cancelRequestedBy']} at {answer['cancelRequestedAt']}"
    )
    assert_clean(watched_page)


def test_issue_16_an_interrupted_attempt_says_so_in_the_timeline(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory("--shutdown-grace", "0.2")
    job_id = httpx.post(
        f"{obs.gateway}/jobs", json={"type": "sleep", "payload": {"seconds": 2}}
    ).json()["jobId"]
    wait_for(
        lambda: httpx.get(f"{obs.read_model}/jobs/{job_id}").json().get("status") == "EXECUTING",
        "the sleep to run",
    )
    assert obs.stop() == 0  # outlasts the grace: interrupted, kept for the next start
    again = observatory(data_dir=obs.data_dir)
    wait_for(
        lambda: httpx.get(f"{again.read_model}/jobs/{job_id}").json().get("status") == "COMPLETED",
        "the sleep to run again and complete",
    )
    settled_stats(again, 1)
    page = watched_page.page
    open_dashboard(watched_page, again)
    page.locator("#jobs-table tbody tr[data-status=COMPLETED]").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=attempts]")).to_have_text("1")
    expect(drawer.locator("[data-field=interrupted]")).to_have_text(
        "Interrupted by a stop: back to the queue, attempt 1 not counted"
    )
    assert_clean(watched_page)


def seed_dead_letters(data_dir: Path) -> tuple[str, str]:
    """Two dead letters as the processor records them: one fixable, one valid as is."""
    bad_type_id, fine_id = str(uuid.uuid4()), str(uuid.uuid4())

    def envelope(job: dict[str, object]) -> bytes:
        return json.dumps(
            {
                "contractVersion": "1.0.0",
                "eventType": "job.created",
                "eventId": str(uuid.uuid4()),
                "occurredAt": "2026-11-27T10:00:00Z",
                "producer": {"service": "gateway", "instanceId": "old", "version": "0.0.1"},
                "correlationId": str(uuid.uuid4()),
                "payload": job,
            }
        ).encode()

    records = [
        DeadLetter(
            dead_letter_id=bad_type_id,
            queue="jobs.created",
            reason="The job does not match the job contract.",
            errors=[ValidationIssue("/payload/type", "'bad type!' does not match the pattern")],
            body=envelope({"id": str(uuid.uuid4()), "type": "bad type!", "payload": {"n": 1}}),
            occurred_at="2026-11-27T10:00:01Z",
            service="processor",
            version="0.0.1",
        ),
        DeadLetter(
            dead_letter_id=fine_id,
            queue="jobs.created",
            reason="Refused by an older processor.",
            errors=[],
            body=envelope({"id": str(uuid.uuid4()), "type": "echo", "payload": {"n": 2}}),
            occurred_at="2026-11-27T10:00:02Z",
            service="processor",
            version="0.0.1",
        ),
    ]

    async def add() -> None:
        async with open_sqlite_dead_letter_store(data_dir / "dead-letters.sqlite3") as store:
            await store.add(records)

    data_dir.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop on this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, add).result()
    return bad_type_id, fine_id


def test_dead_letters_requeue_as_is_and_after_editing_and_the_jobs_complete(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    bad_type_id, fine_id = seed_dead_letters(data_dir)
    obs = observatory(data_dir=data_dir)
    page = watched_page.page
    open_dashboard(watched_page, obs)
    expect(page.locator("#dl-count")).to_have_text("2")
    bad = page.locator(f"#dl-list li[data-dead-letter-id='{bad_type_id}']")
    fine = page.locator(f"#dl-list li[data-dead-letter-id='{fine_id}']")
    # As it is, the bad one is refused with the gateway's reason, and stays.
    bad.locator(".dl-requeue").click()
    expect(page.locator("#dl-status")).to_contain_text("/payload/type", timeout=10_000)
    expect(bad).to_be_visible()
    # The good one goes through and leaves the panel.
    fine.locator(".dl-requeue").click()
    expect(page.locator("#dl-status")).to_contain_text("Requeued as job", timeout=10_000)
    expect(fine).to_have_count(0)
    # Edit the bad one: fix its type, then it goes through too.
    bad.locator(".dl-edit").click()
    body = page.locator("#dl-body")
    expect(body).to_have_value(re.compile(r'"type": "bad type!"'))
    body.fill(body.input_value().replace('"bad type!"', '"echo"'))
    page.click("#dl-submit")
    expect(page.locator("#dl-modal")).to_be_hidden(timeout=10_000)
    expect(page.locator("#dl-list li.none")).to_be_visible()
    expect(page.locator("#dl-count")).to_have_text("0")
    stats = settled_stats(obs, 2)
    assert stats["completedJobs"] == 2
    assert httpx.get(f"{obs.read_model}/dead-letters").json() == []
    expect(page.locator("#jobs-table tbody tr[data-status=COMPLETED]")).to_have_count(
        2, timeout=10_000
    )
    assert [e for e in watched_page.console_errors if "400" not in e] == []
    assert watched_page.outside_requests() == []


def test_requeue_all_sends_every_dead_letter_back(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    seed_dead_letters(data_dir)
    obs = observatory(data_dir=data_dir)
    page = watched_page.page
    open_dashboard(watched_page, obs)
    expect(page.locator("#dl-list li[data-dead-letter-id]")).to_have_count(2)
    page.click("#dl-requeue-all")
    # One is valid as it is, the other's type is refused; the refused one stays.
    expect(page.locator("#dl-status")).to_contain_text("Requeued 1; 1 refused", timeout=10_000)
    expect(page.locator("#dl-list li[data-dead-letter-id]")).to_have_count(1)
    expect(page.locator("#dl-count")).to_have_text("1")
    assert settled_stats(obs, 1)["completedJobs"] == 1
    # The refused one is discarded (two clicks: it cannot be undone).
    discard = page.locator("#dl-list li[data-dead-letter-id] .dl-discard")
    discard.click()
    expect(discard).to_have_text("Click again to discard")
    expect(page.locator("#dl-list li[data-dead-letter-id]")).to_have_count(1)
    discard.click()
    expect(page.locator("#dl-status")).to_contain_text("Discarded dead letter")
    expect(page.locator("#dl-list li.none")).to_be_visible()
    assert httpx.get(f"{obs.read_model}/dead-letters").json() == []
    assert_clean(watched_page)


def test_when_the_api_goes_away_the_pill_says_disconnected(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    page = watched_page.page
    open_dashboard(watched_page, obs)
    expect(page.locator("#connection")).to_have_text("Live")
    obs.stop()
    expect(page.locator("#connection")).to_have_text("Disconnected", timeout=20_000)
    expect(page.locator("#connection")).to_have_attribute("data-mode", "off")
    # It stays so while the stream keeps trying to reconnect (it does not flicker).
    modes = set()
    for _ in range(30):
        modes.add(page.locator("#connection").get_attribute("data-mode"))
        page.wait_for_timeout(200)
    assert modes == {"off"}
    assert watched_page.outside_requests() == []


def test_without_the_stream_the_page_polls_and_says_so(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    page = watched_page.page
    page.route("**/stream", lambda route: route.abort())
    open_dashboard(watched_page, obs)
    expect(page.locator("#connection")).to_have_text("Polling", timeout=10_000)
    response = httpx.post(f"{obs.gateway}/jobs", json={"type": "echo"})
    job_id = response.json()["jobId"]
    row = page.locator(f"#jobs-table tbody tr[data-job-id='{job_id}']")
    expect(row).to_have_attribute("data-status", "COMPLETED", timeout=15_000)
    expect(page.locator("#stat-completed")).to_have_text("1")
    assert [e for e in watched_page.console_errors if "/stream" not in e] == []
    assert watched_page.outside_requests() == []


def test_the_splash_says_what_is_wrong_and_retries_until_the_api_answers(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    page = watched_page.page
    page.route("**/config", lambda route: route.abort())
    page.goto(f"{obs.read_model}/")
    expect(page.locator("#splash-error")).to_be_visible(timeout=10_000)
    expect(page.locator("#splash-error-text")).to_contain_text("did not answer")
    expect(page.locator("#splash-countdown")).to_have_text(re.compile(r"^[0-5]$"))
    watched_page.screenshot("unreachable")
    page.unroute("**/config")
    expect(page.locator("#splash")).to_be_hidden(timeout=15_000)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert watched_page.outside_requests() == []


def test_launcher_page_from_disk_waits_then_opens_the_dashboard(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    import socket

    from quart_app.read_model.app import WEB_DIR

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    page = watched_page.page
    page.goto(f"{(WEB_DIR / 'launcher.html').as_uri()}?api={api}")
    expect(page.locator("#status")).to_contain_text(f"Not running at {api}", timeout=10_000)
    expect(page.locator("code", has_text="observatory cluster up")).to_be_visible()
    watched_page.screenshot("waiting")
    observatory("--read-model-port", str(port))
    page.wait_for_url(f"{api}/", timeout=20_000)
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    # Failed /health checks before the API was up are the only console errors.
    assert [e for e in watched_page.console_errors if "ERR_CONNECTION_REFUSED" not in e] == []
    assert watched_page.outside_requests() == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_phone_width_has_no_sideways_scroll_in_either_theme(
    observatory: Callable[..., RunningObservatory], browser: object, theme: str, tmp_path: Path
) -> None:
    from playwright.sync_api import Browser

    from tests.web.conftest import RESULTS

    assert isinstance(browser, Browser)
    obs = observatory()
    httpx.post(f"{obs.gateway}/jobs/batch", json=[{"type": "echo"}, {"type": "fail"}])
    settled_stats(obs, 2)
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        color_scheme=theme,  # type: ignore[arg-type]
    )
    try:
        page = context.new_page()
        page.goto(f"{obs.read_model}/")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        expect(page.locator("#stat-total")).to_have_text("2")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        expect(page.locator("#new-task-open")).to_be_in_viewport()
        out = RESULTS / f"phone-{theme}"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "screenshot.png"), full_page=True)
    finally:
        context.close()


def test_with_tokens_the_page_asks_for_one_and_each_role_gets_what_it_may(
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
        page.goto(f"{obs.read_model}/")
        # No token yet: the page asks for one instead of failing.
        expect(page.locator("#token-modal")).to_be_visible(timeout=15_000)
        page.fill("#token-input", "wrong-token-0123456789")
        page.click("#token-submit")
        expect(page.locator("#token-error")).to_contain_text("refused", timeout=10_000)
        page.fill("#token-input", viewer)
        page.click("#token-submit")
        expect(page.locator("#splash")).to_be_hidden(timeout=15_000)
        # The stream honours the token too (no side door): it is live.
        expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)
        assert page.evaluate("sessionStorage.getItem('observatory-token')") == viewer
        # A viewer may not submit: the gateway's 403 is shown.
        page.get_by_role("button", name=NEW_TASK).click()
        page.fill("#task-type", "echo")
        page.click("#task-submit")
        expect(page.locator("#task-error")).to_contain_text("viewer token may not POST /jobs")
        page.keyboard.press("Escape")
        # With a submitter token the same form submits, and the job completes live.
        page.click("#token-open")
        page.fill("#token-input", submitter)
        page.click("#token-submit")
        page.get_by_role("button", name=NEW_TASK).click()
        page.click("#task-submit")
        accepted = page.locator("#task-result .accepted-id")
        expect(accepted).to_be_visible(timeout=10_000)
        job_id = accepted.inner_text()
        page.keyboard.press("Escape")
        row = page.locator(f"#jobs-table tbody tr[data-job-id='{job_id}']")
        expect(row).to_have_attribute("data-status", "COMPLETED", timeout=15_000)
        # Without a token the API refuses; with the viewer's it answers.
        assert httpx.get(f"{obs.read_model}/stats").status_code == 401
        headers = {"Authorization": f"Bearer {viewer}"}
        assert httpx.get(f"{obs.read_model}/stats", headers=headers).json()["completedJobs"] == 1
        # The refusals logged by the browser are the 401s and the 403 asked for above.
        assert [e for e in watched_page.console_errors if "401" not in e and "403" not in e] == []
        assert watched_page.outside_requests() == []
    finally:
        obs.stop()
        if obs.process.stdout is not None:
            obs.process.stdout.close()
