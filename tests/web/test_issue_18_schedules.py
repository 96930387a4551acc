"""Issue 18, item 2 (web): the dashboard's Schedules panel in a real browser against a real
``observatory up``: a schedule created through the gateway is listed with its next run,
Pause stops its fires, Run now fires one job (checked through the API), the job's drawer
names the schedule, and a viewer token leaves the buttons off, saying why."""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.test_dashboard import assert_clean, open_dashboard, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.e2e.conftest import RunningObservatory
    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(180)]


def _create(obs: RunningObservatory, headers: dict[str, str] | None = None) -> dict[str, object]:
    body = {"name": "every-2s", "interval": "2s", "job": {"type": "echo", "payload": {"n": 1}}}
    response = httpx.post(f"{obs.gateway}/schedules", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def _schedule(obs: RunningObservatory, schedule_id: object) -> dict[str, object]:
    found: dict[str, object] = httpx.get(f"{obs.read_model}/schedules/{schedule_id}").json()
    return found


def _fires(obs: RunningObservatory, schedule_id: object) -> int:
    fires = _schedule(obs, schedule_id)["fires"]
    assert isinstance(fires, int)
    return fires


def test_the_panel_lists_a_schedule_pauses_it_and_runs_it_now(
    observatory: Callable[..., RunningObservatory], watched_page: WatchedPage
) -> None:
    obs = observatory()
    schedule_id = _create(obs)["id"]
    page = watched_page.page
    open_dashboard(watched_page, obs)

    row = page.locator(f"#schedules-table tr[data-schedule-id='{schedule_id}']")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("every-2s")
    expect(row.locator("td").nth(1)).to_have_text("every 2s · UTC")
    expect(row.locator("td").nth(2)).to_have_text("echo")
    expect(row.locator("[data-field=state]")).to_have_text("enabled")
    next_run = row.locator("[data-field=next]")
    expect(next_run).to_have_text(re.compile(r"^(in \d+ s|due now) · "))
    assert (next_run.get_attribute("data-at") or "").endswith("Z")
    # It fires on its own, and the panel follows (asked again every few seconds).
    wait_for(lambda: _fires(obs, schedule_id) >= 1, "the first fire")
    expect(row.locator("[data-field=fires]")).not_to_have_text("0", timeout=10_000)

    # A job it fired on time: its drawer names the schedule and the occurrence.
    fired = httpx.get(f"{obs.read_model}/jobs/recent").json()[0]
    occurrence = httpx.get(f"{obs.read_model}/jobs/{fired['id']}").json()["metadata"]
    assert occurrence["scheduleTrigger"] == "schedule"
    page.locator(f"#jobs-table tr[data-job-id='{fired['id']}']").click()
    expect(page.locator("#drawer dd[data-field=schedule]")).to_have_text(
        f"from schedule every-2s at {occurrence['scheduledAt']}"
    )
    page.locator("#drawer-close").click()

    toggle = row.locator("button[data-action=toggle]")
    expect(toggle).to_have_text("Pause")
    expect(toggle).to_be_enabled()
    toggle.click()
    expect(page.locator("#schedules-status")).to_have_text("every-2s: paused.")
    expect(row).to_have_attribute("data-enabled", "false")
    expect(row.locator("[data-field=state]")).to_have_text("paused")
    expect(next_run).to_have_text("paused")
    expect(toggle).to_have_text("Resume")
    paused = _schedule(obs, schedule_id)
    assert paused["enabled"] is False
    assert paused["nextRunAt"] is None
    fires = _fires(obs, schedule_id)
    time.sleep(5)  # paused: two intervals and more pass, and nothing fires
    assert _fires(obs, schedule_id) == fires

    row.locator("button[data-action=run]").click()
    expect(page.locator("#schedules-status")).to_contain_text("every-2s: ran now, job ")
    assert _fires(obs, schedule_id) == fires + 1
    expect(row.locator("[data-field=fires]")).to_have_text(str(fires + 1))
    job_id = page.locator("#schedules-status button[data-job-id]").get_attribute("data-job-id")
    assert job_id
    wait_for(
        lambda: httpx.get(f"{obs.read_model}/jobs/{job_id}").json().get("status") == "COMPLETED",
        "the job it ran now to complete",
    )
    job = httpx.get(f"{obs.read_model}/jobs/{job_id}").json()
    assert job["metadata"]["scheduleId"] == schedule_id
    assert job["metadata"]["scheduleTrigger"] == "manual"

    # The job's drawer says which schedule fired it, and for which time.
    page.locator("#schedules-status button[data-job-id]").click()
    expect(page.locator("#drawer")).to_be_visible()
    expect(page.locator("#drawer dd[data-field=schedule]")).to_have_text(
        f"from schedule every-2s at {job['metadata']['scheduledAt']} (run now)"
    )
    page.locator("#drawer-close").click()

    # Resumed, it has a next run again.
    toggle.click()
    expect(row.locator("[data-field=state]")).to_have_text("enabled")
    expect(next_run).to_have_text(re.compile(r"^(in \d+ s|due now) · "))
    assert _schedule(obs, schedule_id)["enabled"] is True
    assert_clean(watched_page)


def test_schedule_buttons_are_off_for_a_viewer_token_and_say_why(
    watched_page: WatchedPage, tmp_path: Path
) -> None:
    from tests.e2e.conftest import start_observatory

    viewer, submitter = "viewer-" + uuid.uuid4().hex, "submitter-" + uuid.uuid4().hex
    obs = start_observatory(
        tmp_path / "data",
        env={"OBSERVATORY_API_TOKENS": f"viewer:{viewer},submitter:{submitter}"},
    )
    try:
        schedule_id = _create(obs, {"Authorization": f"Bearer {submitter}"})["id"]
        page = watched_page.page
        page.goto(f"{obs.read_model}/")
        expect(page.locator("#token-modal")).to_be_visible(timeout=15_000)
        page.fill("#token-input", viewer)
        page.click("#token-submit")
        row = page.locator(f"#schedules-table tr[data-schedule-id='{schedule_id}']")
        expect(row).to_have_count(1, timeout=15_000)
        for action in ("toggle", "run"):
            expect(row.locator(f"button[data-action={action}]")).to_be_disabled()
        expect(page.locator("#schedules-why")).to_contain_text("A viewer token may only read")
        # A submitter token (the key button) switches them on.
        page.click("#token-open")
        page.fill("#token-input", submitter)
        page.click("#token-submit")
        expect(row.locator("button[data-action=toggle]")).to_be_enabled()
        expect(row.locator("button[data-action=run]")).to_be_enabled()
        expect(page.locator("#schedules-why")).to_have_text("")
        # The only refusals the browser logged are the 401s before a token was given.
        assert [e for e in watched_page.console_errors if "401" not in e] == []
    finally:
        obs.stop()
        if obs.process.stdout is not None:
            obs.process.stdout.close()
