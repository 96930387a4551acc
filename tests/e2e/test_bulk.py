"""Issue 17 (item 3): bulk cancel and bulk retry by the search filters, against a real
``observatory up`` (embedded), over HTTP only.

Running ``sleep`` jobs are cancelled in bulk by type (they end FAILED, cancelled); then a
bulk retry by type retries the FAILED ``fail`` jobs only, not the cancelled ``sleep``
ones; the counters (``/stats``) equal what the job store holds after each step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_retry import _job, _stats_equal_the_store, _store_counts

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_bulk_cancel_and_bulk_retry_act_on_the_filtered_jobs_and_the_counters_follow(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory("--retry-backoff", "0.05")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    failing = [
        http.post(f"{gateway}/jobs", json={"type": "fail", "metadata": {"maxAttempts": 1}}).json()[
            "jobId"
        ]
        for _ in range(3)
    ]
    sleeping = [
        http.post(f"{gateway}/jobs", json={"type": "sleep", "payload": {"seconds": 120}}).json()[
            "jobId"
        ]
        for _ in range(2)
    ]

    def statuses(ids: list[str], status: str) -> Callable[[], bool]:
        return lambda: all(_job(http, read_model, i).get("status") == status for i in ids)

    wait_until(statuses(failing, "FAILED"), timeout_s=60, message=lambda: "fail jobs")
    wait_until(statuses(sleeping, "EXECUTING"), timeout_s=60, message=lambda: "sleep jobs")

    unknown = http.post(f"{gateway}/jobs/cancel", json={"type": ["sleep"], "colour": "red"})
    nothing = http.post(f"{gateway}/jobs/cancel", json={"type": ["no-such-type"]})
    cancel = http.post(f"{gateway}/jobs/cancel", json={"type": ["sleep"]})

    assert (unknown.status_code, unknown.json()["error"]) == (400, "Unknown filter field 'colour'.")
    assert nothing.status_code == 200
    assert (nothing.json()["matched"], nothing.json()["actedOn"]) == (0, 0)
    assert cancel.status_code == 200, cancel.text
    assert (cancel.json()["matched"], cancel.json()["actedOn"]) == (2, 2)
    wait_until(statuses(sleeping, "FAILED"), timeout_s=60, message=lambda: "cancelled sleeps")
    assert {_job(http, read_model, i)["error"] for i in sleeping} == {"cancelled"}
    wait_until(
        lambda: _stats_equal_the_store(http, read_model),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/stats").json()),
    )
    assert http.get(f"{read_model}/stats").json()["failedJobs"] == 5

    retry = http.post(f"{gateway}/jobs/retry", json={"type": ["fail"]})

    assert retry.status_code == 200, retry.text
    assert (retry.json()["matched"], retry.json()["actedOn"], retry.json()["more"]) == (
        3,
        3,
        False,
    )

    def retried() -> bool:
        jobs = [_job(http, read_model, i) for i in failing]
        return all((j.get("status"), j.get("round")) == ("FAILED", 2) for j in jobs)

    wait_until(retried, timeout_s=60, message=lambda: str(_store_counts(http, read_model)))
    assert {_job(http, read_model, i)["round"] for i in sleeping} == {1}
    wait_until(
        lambda: _stats_equal_the_store(http, read_model),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/stats").json()),
    )
    stats = http.get(f"{read_model}/stats").json()
    assert (stats["totalJobs"], stats["completedJobs"], stats["failedJobs"]) == (5, 0, 5)

    # Each bulk action that ran is itself an event of the audit trail: who, filter, counts.
    def audited() -> list[dict[str, object]]:
        answer = http.get(f"{read_model}/events", params={"type": "jobs.bulk-action"})
        answer.raise_for_status()
        return list(answer.json())

    wait_until(lambda: len(audited()) == 3, timeout_s=30, message=lambda: str(audited()))
    actions = {event["eventId"]: event["payload"] for event in audited()}
    assert set(actions) == {
        nothing.json()["auditEventId"],
        cancel.json()["auditEventId"],
        retry.json()["auditEventId"],
    }
    recorded = actions[retry.json()["auditEventId"]]
    assert recorded == {
        "id": retry.json()["auditEventId"],
        "action": "retry",
        "by": {"role": "anonymous"},
        "filter": retry.json()["filter"],
        "matched": 3,
        "actedOn": 3,
        "skipped": 0,
        "more": False,
    }
    assert http.get(f"{read_model}/stats").json()["totalJobs"] == 5
