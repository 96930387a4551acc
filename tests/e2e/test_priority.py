"""Issue 18, item 3: priorities against a real ``observatory up``: embedded, and
(integration) one process per service on RabbitMQ and PostgreSQL.

With 1,000 priority-0 jobs queued (each sleeps half a second, so most wait), a
priority-9 job submitted after them starts before most of them. Its position among the
starts is printed (a figure; the assertion is only "before most").
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LOW = 1000
BATCH = 100


def _started_at(http: httpx.Client, read_model: str, job_id: str) -> datetime:
    """When the job's handler was started: its ``job.executed`` event."""
    response = http.get(f"{read_model}/jobs/{job_id}", timeout=30)
    assert response.status_code == 200, response.text
    [executed] = [e for e in response.json()["events"] if e["eventType"] == "job.executed"]
    return datetime.fromisoformat(executed["occurredAt"].replace("Z", "+00:00"))


def test_issue_18_a_priority_9_job_starts_before_most_of_1000_queued_before_it(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    obs = observatory_factory()
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    low: list[str] = []
    for _ in range(LOW // BATCH):
        batch = [
            {
                "id": str(uuid.uuid4()),
                "type": "sleep",
                "payload": {"seconds": 0.5},
                "priority": 0,
            }
            for _ in range(BATCH)
        ]
        response = http.post(f"{gateway}/jobs/batch", json=batch)
        assert response.status_code == 202, response.text
        low.extend(str(job["id"]) for job in batch)
    response = http.post(
        f"{gateway}/jobs", json={"type": "echo", "payload": {"urgent": True}, "priority": 9}
    )
    assert response.status_code == 202, response.text
    urgent = response.json()["jobId"]

    def all_done() -> bool:
        stats = http.get(f"{read_model}/stats").json()
        return bool(stats["completedJobs"] >= LOW + 1)

    wait_until(
        all_done,
        timeout_s=240,
        message=lambda: f"stats: {http.get(f'{read_model}/stats').json()}",
    )
    urgent_at = _started_at(http, read_model, urgent)
    started_after = sum(1 for job_id in low if _started_at(http, read_model, job_id) > urgent_at)
    position = LOW - started_after + 1
    with capsys.disabled():
        print(
            f"\n  priority 9 after {LOW} priority-0 jobs: started {position}th, "
            f"before {started_after} of them"
        )
    assert started_after > LOW // 2
    assert http.get(f"{read_model}/jobs/{urgent}").json()["status"] == "COMPLETED"
