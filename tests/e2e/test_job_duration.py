"""Issue 16 (item 11): the read model's ``durationMs`` of a job covers all its attempts,
the same in ``GET /jobs/{id}`` and ``GET /jobs/recent`` (which the dashboard and the TUI
show), against a real ``observatory up``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _ms(start: str, end: str) -> float:
    return (parse_timestamp(end) - parse_timestamp(start)).total_seconds() * 1000


def test_issue_16_a_retried_jobs_duration_covers_all_its_attempts(
    embedded_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    # 1 s between the two attempts; the last attempt fails at once, as the first does.
    obs = embedded_factory("--retry-backoff", "1")
    job = {"type": "fail", "metadata": {"maxAttempts": 2}}
    job_id = http.post(f"{obs.gateway}/jobs", json=job).json()["jobId"]
    url = f"{obs.read_model}/jobs/{job_id}"
    wait_until(
        lambda: http.get(url).json().get("status") == "FAILED",
        timeout_s=30,
        message=lambda: f"job {job_id} still {http.get(url).json().get('status')}",
    )
    detail = http.get(url).json()
    assert detail["attempts"] == 2
    # Before: the last attempt's startedAt to finishedAt, a few milliseconds.
    assert _ms(detail["startedAt"], detail["finishedAt"]) < 1000
    starts = [
        e["occurredAt"]
        for e in detail["events"]
        if e["eventType"] == "job.executed" and e["payload"]["status"] == "EXECUTING"
    ]
    assert len(starts) == 2
    assert detail["durationMs"] >= _ms(starts[0], detail["finishedAt"]) >= 1000
    assert detail["durationMs"] == round(_ms(detail["createdAt"], detail["finishedAt"]))
    [listed] = [j for j in http.get(f"{obs.read_model}/jobs/recent").json() if j["id"] == job_id]
    assert listed["durationMs"] == detail["durationMs"]
