"""Issue 19 (item 3): the job drawer shows the job's trace, linked to the trace viewer of
``OBSERVATORY_TRACE_URL``, in a real browser against a real ``observatory up`` tracing
(``--trace-console``: the spans go to its stdout, no backend needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import _factory
from tests.web.test_dashboard import assert_clean, open_dashboard, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.web.conftest import WatchedPage

pytestmark = [pytest.mark.web, pytest.mark.timeout(120)]

VIEWER = "http://127.0.0.1:16686/trace/{traceId}"


def test_issue_19_the_drawer_links_the_jobs_trace_to_the_trace_viewer(
    tmp_path: Path, watched_page: WatchedPage
) -> None:
    with _factory(tmp_path, extra=(), env={"OBSERVATORY_TRACE_URL": VIEWER}) as create:
        obs = create("--trace-console")
        job_id = httpx.post(f"{obs.gateway}/jobs", json={"type": "echo"}).json()["jobId"]

        def job() -> dict[str, object]:
            response = httpx.get(f"{obs.read_model}/jobs/{job_id}")
            return response.json() if response.status_code == 200 else {}

        wait_for(lambda: job().get("status") == "COMPLETED", "the job to complete")
        trace_id = job()["traceId"]
        assert isinstance(trace_id, str)
        page = watched_page.page
        open_dashboard(watched_page, obs)
        page.locator(f"tr[data-job-id='{job_id}']").click()
        link = page.locator("#drawer dd[data-field=trace] a")
        expect(link).to_have_text(trace_id)
        expect(link).to_have_attribute("href", VIEWER.replace("{traceId}", trace_id))
        assert_clean(watched_page)
        # The spans were printed: the job's trace is in them.
        assert any(trace_id in line for line in obs.output)
