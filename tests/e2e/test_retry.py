"""Issue 14 (item 5): retry FAILED jobs against a real ``observatory up``, over HTTP only.

A ``fail`` job told to complete from its second round (``succeedFromRound``) fails,
is retried and completes; its timeline shows both rounds and the retry request; the
counters (``/stats``) equal what the job store holds after every step; bulk retry
answers the count; a COMPLETED job is a 409 and an unknown one a 404.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

_PAGE = 500


def _store_counts(
    http: httpx.Client, read_model: str
) -> tuple[int, int, int, dict[str, Counter[str]]]:
    """(total, completed, failed, statuses by type) of every job in the job store, paged
    through ``/jobs/recent``."""
    statuses: list[tuple[str, str]] = []
    offset = 0
    while True:
        page = http.get(f"{read_model}/jobs/recent", params={"limit": _PAGE, "offset": offset})
        page.raise_for_status()
        jobs = page.json()
        statuses.extend((job["type"], job["status"]) for job in jobs)
        if len(jobs) < _PAGE:
            break
        offset += _PAGE
    by_type: dict[str, Counter[str]] = {}
    for job_type, status in statuses:
        by_type.setdefault(job_type, Counter())[status] += 1
    every = Counter(status for _, status in statuses)
    return len(statuses), every["COMPLETED"], every["FAILED"], by_type


def _stats_equal_the_store(http: httpx.Client, read_model: str) -> bool:
    """Whether ``/stats`` (the counters) says what the job store holds, type by type."""
    stats = http.get(f"{read_model}/stats").json()
    total, completed, failed, by_type = _store_counts(http, read_model)
    if (stats["totalJobs"], stats["completedJobs"], stats["failedJobs"]) != (
        total,
        completed,
        failed,
    ):
        return False
    expected = {
        job_type: {
            "total": sum(counts.values()),
            "completed": counts["COMPLETED"],
            "failed": counts["FAILED"],
        }
        for job_type, counts in by_type.items()
    }
    return bool(stats["byType"] == expected)


def _job(http: httpx.Client, read_model: str, job_id: str) -> dict[str, object]:
    response = http.get(f"{read_model}/jobs/{job_id}")
    return response.json() if response.status_code == 200 else {}


def test_a_failed_job_retried_completes_with_both_rounds_and_counts_as_one_job(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    # Embedded (SQLite, memory counters), and four processes against the real servers
    # (PostgreSQL job store, Redis counters, MongoDB event store, RabbitMQ).
    obs = observatory_factory("--retry-backoff", "0.05")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    flaky = {"type": "fail", "payload": {"succeedFromRound": 2, "message": "round 1 fails"}}
    job_id = http.post(f"{gateway}/jobs", json={**flaky, "metadata": {"maxAttempts": 2}}).json()[
        "jobId"
    ]
    done = http.post(f"{gateway}/jobs", json={"type": "echo"}).json()["jobId"]

    def ended() -> bool:
        return (
            _job(http, read_model, job_id).get("status") == "FAILED"
            and _job(http, read_model, done).get("status") == "COMPLETED"
        )

    wait_until(ended, timeout_s=60, message=lambda: str(_job(http, read_model, job_id)))
    failed = _job(http, read_model, job_id)
    assert (failed["round"], failed["attempts"], failed["error"]) == (1, 2, "round 1 fails")
    wait_until(
        lambda: _stats_equal_the_store(http, read_model),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/stats").json()),
    )
    assert http.get(f"{read_model}/stats").json()["failedJobs"] == 1

    retry = http.post(f"{gateway}/jobs/{job_id}/retry")

    assert retry.status_code == 202, retry.text
    body = retry.json()
    assert (body["jobId"], body["round"], body["requestedBy"]) == (
        job_id,
        2,
        {"role": "anonymous"},
    )
    wait_until(
        lambda: _job(http, read_model, job_id).get("status") == "COMPLETED",
        timeout_s=60,
        message=lambda: str(_job(http, read_model, job_id)),
    )
    completed = _job(http, read_model, job_id)
    assert (completed["round"], completed["attempts"], completed["errors"]) == (2, 1, [])
    assert completed["result"] == {"round": 2, "attempt": 1}

    # Its timeline: round 1's two attempts and failure, the retry request, round 2.
    def whole_timeline() -> bool:
        events = _job(http, read_model, job_id).get("events")
        return isinstance(events, list) and events[-1]["eventType"] == "job.completed"

    wait_until(whole_timeline, timeout_s=30, message=lambda: str(_job(http, read_model, job_id)))
    events = _job(http, read_model, job_id)["events"]
    assert isinstance(events, list)
    timeline = [
        (e["eventType"], e["payload"].get("round", 1), e["payload"].get("attempt"))
        for e in events
        if e["eventType"] != "job.executed" or e["payload"]["status"] == "EXECUTING"
    ]
    assert timeline == [
        ("job.created", 1, None),
        ("job.validated", 1, None),
        ("job.executed", 1, 1),
        ("job.executed", 1, 2),
        ("job.failed", 1, None),
        ("job.created", 2, 1),
        ("job.validated", 2, None),
        ("job.executed", 2, 1),
        ("job.completed", 2, None),
    ]
    request = events[[e["eventType"] for e in events].index("job.created", 1)]
    assert request["eventId"] == body["eventId"]
    assert request["payload"]["retry"]["requestedBy"] == {"role": "anonymous"}
    assert request["payload"]["retry"]["previousError"] == "round 1 fails"

    # One job with its final outcome: failed -1, completed +1.
    wait_until(
        lambda: _stats_equal_the_store(http, read_model),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/stats").json()),
    )
    stats = http.get(f"{read_model}/stats").json()
    assert (stats["totalJobs"], stats["completedJobs"], stats["failedJobs"]) == (2, 2, 0)
    assert stats["byType"]["fail"] == {"total": 1, "completed": 1, "failed": 0}

    # Only a FAILED job is retried; an unknown one is not found.
    conflict = http.post(f"{gateway}/jobs/{job_id}/retry")
    assert (conflict.status_code, conflict.json()["status"]) == (409, "COMPLETED")
    assert "only a FAILED job can be retried" in conflict.json()["error"]
    assert http.post(f"{gateway}/jobs/{uuid.uuid4()}/retry").status_code == 404


def test_bulk_retry_answers_the_count_and_the_counters_follow(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory("--retry-backoff", "0.05")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    one_attempt = {"maxAttempts": 1}
    always = [
        http.post(f"{gateway}/jobs", json={"type": "fail", "metadata": one_attempt}).json()["jobId"]
        for _ in range(3)
    ]
    flaky = http.post(
        f"{gateway}/jobs",
        json={"type": "fail", "payload": {"succeedFromRound": 2}, "metadata": one_attempt},
    ).json()["jobId"]
    ids = [*always, flaky]

    def all_failed(round_: int) -> Callable[[], bool]:
        def check() -> bool:
            jobs = [_job(http, read_model, job_id) for job_id in always]
            return all((j.get("status"), j.get("round")) == ("FAILED", round_) for j in jobs)

        return check

    wait_until(all_failed(1), timeout_s=60, message=lambda: str(_store_counts(http, read_model)))
    wait_until(
        lambda: _job(http, read_model, flaky).get("status") == "FAILED",
        timeout_s=60,
        message=lambda: str(_job(http, read_model, flaky)),
    )
    wait_until(
        lambda: _stats_equal_the_store(http, read_model),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/stats").json()),
    )

    refused = http.post(f"{gateway}/jobs/retry", json={"status": "COMPLETED"})
    bulk = http.post(f"{gateway}/jobs/retry", json={"type": "fail", "status": "FAILED"})

    assert refused.status_code == 400
    assert bulk.status_code == 200, bulk.text
    assert (bulk.json()["requeued"], bulk.json()["actedOn"], bulk.json()["more"]) == (4, 4, False)
    wait_until(all_failed(2), timeout_s=60, message=lambda: str(_store_counts(http, read_model)))
    wait_until(
        lambda: _job(http, read_model, flaky).get("status") == "COMPLETED",
        timeout_s=60,
        message=lambda: str(_job(http, read_model, flaky)),
    )
    wait_until(
        lambda: _stats_equal_the_store(http, read_model),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/stats").json()),
    )
    stats = http.get(f"{read_model}/stats").json()
    assert (stats["totalJobs"], stats["completedJobs"], stats["failedJobs"]) == (4, 1, 3)
    assert {_job(http, read_model, job_id)["round"] for job_id in ids} == {2}
