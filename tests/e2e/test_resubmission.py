"""Issue 16, items 1 to 3, against a real ``observatory up``: embedded, and (integration)
one process per service, where the gateway keeps its ledger in PostgreSQL.

1. A job id submitted again after its job completed: the same job is answered as the
   first time (its original ``eventId``) and its timeline gains nothing; another job
   under that id is refused with 409 naming the field.
2. ``Idempotency-Key``: a retried request gets the kept answer (the same job, not a
   second one); the same key with another body 422.
3. ``X-Correlation-Id``: a client's token travels as it is, into the job's record.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _job(http: httpx.Client, read_model: str, job_id: str) -> dict[str, object]:
    response = http.get(f"{read_model}/jobs/{job_id}")
    return response.json() if response.status_code == 200 else {}


def _event_types(job: dict[str, object]) -> list[str]:
    events = job.get("events")
    assert isinstance(events, list)
    return [str(event["eventType"]) for event in events]


def test_issue_16_resubmission_key_and_correlation_id_through_the_real_gateway(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = observatory_factory()
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    job_id = str(uuid.uuid4())
    job = {"id": job_id, "type": "echo", "payload": {"n": 1}}
    correlation = "order-42 / first try"

    first = http.post(f"{gateway}/jobs", json=job, headers={"X-Correlation-Id": correlation})
    assert first.status_code == 202, first.text
    assert first.headers["X-Correlation-Id"] == correlation
    wait_until(
        lambda: (
            _job(http, read_model, job_id).get("status") == "COMPLETED"
            and "job.completed" in _event_types(_job(http, read_model, job_id))
        ),
        timeout_s=60,
        message=lambda: str(_job(http, read_model, job_id)),
    )
    done = _job(http, read_model, job_id)
    assert done["correlationId"] == correlation
    timeline = _event_types(done)

    # 1. The same job again: answered as the first time, nothing published.
    again = http.post(f"{gateway}/jobs", json=job)
    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    changed = http.post(f"{gateway}/jobs", json={**job, "payload": {"n": 2}})
    assert changed.status_code == 409, changed.text
    assert [d["path"] for d in changed.json()["details"]] == ["/payload"]
    batch = http.post(f"{gateway}/jobs/batch", json=[job])
    assert batch.json()["results"] == [first.json()]
    # A job submitted after the resubmissions completes: they had time to reach the trail.
    marker = http.post(f"{gateway}/jobs", json={"type": "echo"}).json()["jobId"]
    wait_until(
        lambda: _job(http, read_model, marker).get("status") == "COMPLETED",
        timeout_s=60,
        message=lambda: str(_job(http, read_model, marker)),
    )
    assert _event_types(_job(http, read_model, job_id)) == timeline
    assert timeline.count("job.created") == 1

    # 2. Idempotency-Key: the kept answer, not a second job; another body 422.
    key = {"Idempotency-Key": f"e2e-{uuid.uuid4()}"}
    keyed = http.post(f"{gateway}/jobs", json={"type": "echo"}, headers=key)
    assert keyed.status_code == 202, keyed.text
    replayed = http.post(f"{gateway}/jobs", json={"type": "echo"}, headers=key)
    assert (replayed.status_code, replayed.json()) == (202, keyed.json())
    assert replayed.headers["Idempotent-Replayed"] == "true"
    other = http.post(f"{gateway}/jobs", json={"type": "sleep"}, headers=key)
    assert other.status_code == 422, other.text

    # 3. A correlation id that is not printable ASCII up to 128 characters: 400.
    refused = http.post(
        f"{gateway}/jobs", json={"type": "echo"}, headers={"X-Correlation-Id": "x" * 129}
    )
    assert refused.status_code == 400
    assert refused.json()["details"][0]["path"] == "/headers/X-Correlation-Id"
