"""Issue 14: ``DELETE /jobs/{id}`` cancels a running job and a job still queued, against
a real ``observatory up``: embedded, and (integration) one process per service, where
the gateway and the processor share nothing but RabbitMQ and PostgreSQL.

To keep a job queued, the processor's window is filled first: it holds at most
``prefetch`` (256) deliveries, each running a long ``sleep``, so the next job waits in
the broker, where no job store knows it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PREFETCH = 256
"""The processor's window (``Settings.prefetch``): deliveries it holds at once."""


def _job(http: httpx.Client, read_model: str, job_id: str) -> dict[str, object]:
    response = http.get(f"{read_model}/jobs/{job_id}")
    assert response.status_code == 200, response.text
    doc: dict[str, object] = response.json()
    return doc


def _executing(http: httpx.Client, read_model: str) -> int:
    response = http.get(f"{read_model}/jobs/recent", params={"status": "EXECUTING", "limit": 500})
    return len(response.json()) if response.status_code == 200 else 0


def test_issue_14_running_and_queued_jobs_are_cancelled_and_end_failed_cancelled(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    obs = observatory_factory("--job-timeout", "120", "--shutdown-timeout", "3")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]

    # Fill the processor: one `sleep 30` (the job to cancel while it runs) and fillers.
    # (Fillers sleep 28 s: the four-process mode keeps the default 30 s job timeout.)
    batch = [{"type": "sleep", "payload": {"seconds": 30}}] + [
        {"type": "sleep", "payload": {"seconds": 28}} for _ in range(PREFETCH - 1)
    ]
    submitted = http.post(f"{gateway}/jobs/batch", json=batch)
    assert submitted.status_code == 202, submitted.text
    running_ids = [result["jobId"] for result in submitted.json()["results"]]
    wait_until(
        lambda: _executing(http, read_model) == PREFETCH,
        timeout_s=60,
        message=lambda: f"{_executing(http, read_model)} of {PREFETCH} sleeps are running",
    )

    # The next job waits in the broker: no processor took it, no store knows it.
    queued_id = http.post(f"{gateway}/jobs", json={"type": "echo"}).json()["jobId"]
    assert http.get(f"{read_model}/jobs/{queued_id}").status_code == 404
    queued = http.delete(f"{gateway}/jobs/{queued_id}")
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "PENDING"
    assert http.get(f"{read_model}/jobs/{queued_id}").status_code == 404

    # The running `sleep 30`: cancelled in its handler, FAILED within the second.
    sleeper = running_ids[0]
    asked = time.monotonic()
    cancel = http.delete(f"{gateway}/jobs/{sleeper}")
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["status"] == "EXECUTING"
    wait_until(
        lambda: _job(http, read_model, sleeper)["status"] == "FAILED",
        timeout_s=10,
        message=lambda: str(_job(http, read_model, sleeper)),
    )
    took_s = time.monotonic() - asked
    with capsys.disabled():
        print(f"\n[{obs.mode}] running sleep 30 cancelled, FAILED after {took_s:.3f} s")  # type: ignore[attr-defined]
    assert took_s < 3.0
    ended = _job(http, read_model, sleeper)
    assert (ended["error"], ended["attempts"], ended["errors"]) == ("cancelled", 1, [])
    assert ended["cancelRequestedAt"] == cancel.json()["cancelRequestedAt"]
    assert ended["cancelRequestedBy"] == cancel.json()["cancelRequestedBy"]
    again = http.delete(f"{gateway}/jobs/{sleeper}")
    assert (again.status_code, again.json()["status"]) == (409, "FAILED")

    # Its slot freed, the queued job is taken, found cancelled and never run.
    wait_until(
        lambda: (
            http.get(f"{read_model}/jobs/{queued_id}").status_code == 200
            and _job(http, read_model, queued_id)["status"] == "FAILED"
        ),
        timeout_s=30,
        message=lambda: http.get(f"{read_model}/jobs/{queued_id}").text,
    )
    never_ran = _job(http, read_model, queued_id)
    assert (never_ran["error"], never_ran["attempts"], never_ran["startedAt"]) == (
        "cancelled",
        0,
        None,
    )

    # The timelines show the cancel (who, when) and the FAILED end.
    def timeline(job_id: str) -> list[dict[str, object]]:
        events: list[dict[str, object]] = _job(http, read_model, job_id)["events"]  # type: ignore[assignment]
        return sorted(events, key=lambda event: str(event["occurredAt"]))

    wait_until(
        lambda: len(timeline(sleeper)) == 4 and len(timeline(queued_id)) == 3,
        timeout_s=30,
        message=lambda: f"{timeline(sleeper)} {timeline(queued_id)}",
    )
    assert [e["eventType"] for e in timeline(sleeper)] == [
        "job.created",
        "job.validated",
        "job.executed",
        "job.failed",
    ]
    assert [e["eventType"] for e in timeline(queued_id)] == [
        "job.created",
        "job.validated",
        "job.failed",
    ]
    for job_id, answer in ((sleeper, cancel), (queued_id, queued)):
        failed = timeline(job_id)[-1]["payload"]
        assert isinstance(failed, dict)
        assert (failed["reason"], failed["error"]) == ("cancelled", "cancelled")
        assert failed["cancelRequestedAt"] == answer.json()["cancelRequestedAt"]
        assert failed["cancelRequestedBy"] == answer.json()["cancelRequestedBy"]

    # Cancel the fillers too: every job ends FAILED, and /stats equals the job store.
    for job_id in running_ids[1:]:
        assert http.delete(f"{gateway}/jobs/{job_id}").status_code == 202
    total = PREFETCH + 1

    def failed_in_store() -> int:
        response = http.get(f"{read_model}/jobs/recent", params={"status": "FAILED", "limit": 500})
        return len(response.json())

    def consistent() -> bool:
        stats = http.get(f"{read_model}/stats").json()
        counted = (stats["totalJobs"], stats["failedJobs"], stats["completedJobs"])
        return (
            bool(counted == (total, total, 0) and stats["inFlightJobs"] == 0)
            and failed_in_store() == total
        )

    wait_until(
        consistent,
        timeout_s=30,
        message=lambda: f"{http.get(f'{read_model}/stats').json()} store: {failed_in_store()}",
    )
