"""Issue 14 (item 5): ``POST /jobs/{id}/retry`` and ``POST /jobs/retry`` on the gateway."""

from __future__ import annotations

import functools
import json
import uuid
from typing import TYPE_CHECKING

import pytest

from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.events import EventType, is_retry_request, retry_requested_event_id
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import JobStatus
from contracts import SchemaName, get_contracts
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import (
    SUBMITTER,
    TOKENS,
    VIEWER,
    running_gateway,
    stored_job,
    take_audited,
    take_published,
)

if TYPE_CHECKING:
    from actors.broker.memory import MemoryBroker
    from actors.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.timeout(30)


_job = functools.partial(stored_job, job_type="fail")


async def test_retrying_a_failed_job_publishes_its_next_round_from_attempt_one(
    gateway: GatewayService, broker: MemoryBroker, jobs: SQLiteJobStore
) -> None:
    client = gateway.http.app.test_client()
    job_id = await _job(jobs, JobStatus.EXECUTING, JobStatus.FAILED)

    first = await client.post(f"/jobs/{job_id}/retry")
    again = await client.post(f"/jobs/{job_id}/retry")

    assert (first.status_code, again.status_code) == (202, 202)
    body = await first.get_json()
    assert body == {
        "jobId": job_id,
        "round": 2,
        "eventId": retry_requested_event_id(job_id, 2),
        "requestedBy": {"role": "anonymous"},
    }
    # Until a processor takes it the job is FAILED: asking again is the same round.
    assert (await again.get_json())["eventId"] == body["eventId"]
    published = await take_published(broker)
    assert len(published) == 2
    envelope = published[0]
    assert get_contracts().issues(SchemaName.EVENT_ENVELOPE, envelope) == []
    payload = envelope["payload"]
    assert isinstance(payload, dict)
    assert get_contracts().issues(SchemaName.JOB, payload) == []
    assert (envelope["eventType"], envelope["eventId"]) == ("job.created", body["eventId"])
    assert (payload["id"], payload["type"], payload["payload"]) == (job_id, "fail", {"n": 1})
    assert (payload["round"], payload["attempt"], payload["status"]) == (2, 1, "PENDING")
    assert payload["retry"] == {
        "round": 2,
        "requestedAt": payload["updatedAt"],
        "requestedBy": {"role": "anonymous"},
        "previousError": "boom",
        "previousAttempts": 1,
    }
    assert is_retry_request(EventType.CREATED, str(envelope["eventId"]), payload)


@pytest.mark.parametrize(
    "statuses",
    [(JobStatus.EXECUTING, JobStatus.COMPLETED), (JobStatus.PENDING,), (JobStatus.EXECUTING,)],
)
async def test_retrying_a_job_that_is_not_failed_is_a_conflict_naming_its_status(
    gateway: GatewayService,
    broker: MemoryBroker,
    jobs: SQLiteJobStore,
    statuses: tuple[JobStatus, ...],
) -> None:
    client = gateway.http.app.test_client()
    job_id = await _job(jobs, *statuses)
    status = statuses[-1].value

    response = await client.post(f"/jobs/{job_id}/retry")

    assert response.status_code == 409
    body = await response.get_json()
    assert get_contracts().issues(SchemaName.ERROR, body) == []
    assert body == {
        "error": f"Job {job_id} is {status}; only a FAILED job can be retried.",
        "status": status,
    }
    assert await take_published(broker) == []


async def test_retrying_an_unknown_job_is_not_found(gateway: GatewayService) -> None:
    client = gateway.http.app.test_client()
    job_id = str(uuid.uuid4())

    response = await client.post(f"/jobs/{job_id}/retry")

    assert response.status_code == 404
    assert (await response.get_json())["error"] == f"There is no job {job_id!r} in the job store."


async def test_the_retry_request_names_the_token_s_role_never_the_token(
    broker: MemoryBroker, jobs: SQLiteJobStore
) -> None:
    async with running_gateway(broker, jobs, api_tokens=TOKENS) as gateway:
        client = gateway.http.app.test_client()
        job_id = await _job(jobs, JobStatus.FAILED)

        viewer = await client.post(
            f"/jobs/{job_id}/retry", headers={"Authorization": f"Bearer {VIEWER}"}
        )
        submitter = await client.post(
            f"/jobs/{job_id}/retry", headers={"Authorization": f"Bearer {SUBMITTER}"}
        )

        assert viewer.status_code == 403
        assert submitter.status_code == 202
        by = (await submitter.get_json())["requestedBy"]
        assert by["role"] == "submitter"
        assert by["token"].startswith("sha256:")
        assert SUBMITTER not in json.dumps(await take_published(broker))


async def test_bulk_retry_requeues_the_failed_jobs_matching_the_filter(
    gateway: GatewayService, broker: MemoryBroker, jobs: SQLiteJobStore
) -> None:
    client = gateway.http.app.test_client()
    old = await _job(jobs, JobStatus.FAILED, at="2026-01-01T00:00:00.000000Z")
    recent = [await _job(jobs, JobStatus.FAILED) for _ in range(3)]
    other_type = await _job(jobs, JobStatus.FAILED, job_type="echo")
    await _job(jobs, JobStatus.COMPLETED)

    by_type = await client.post(
        "/jobs/retry", json={"type": "fail", "since": "2026-06-01T00:00:00Z"}
    )
    published = await take_published(broker)
    limited = await client.post("/jobs/retry", json={"status": "FAILED", "limit": 2})
    everything = await client.post("/jobs/retry")

    assert by_type.status_code == 200
    by_type_body = await by_type.get_json()
    understood = {
        "status": ["FAILED"],
        "type": ["fail"],
        "since": "2026-06-01T00:00:00.000000Z",
        "limit": 10_000,
    }
    assert by_type_body == {
        "matched": 3,
        "actedOn": 3,
        "skipped": 0,
        "more": False,
        "requeued": 3,
        "filter": understood,
        "auditEventId": by_type_body["auditEventId"],
    }
    # Each of the three bulk retries is one jobs.bulk-action event of the audit trail.
    audited = await take_audited(broker)
    assert [e["eventType"] for e in audited] == ["jobs.bulk-action"] * 3
    assert audited[0]["eventId"] == by_type_body["auditEventId"]
    assert audited[0]["payload"]["filter"] == understood
    assert [(e["payload"]["action"], e["payload"]["actedOn"]) for e in audited] == [
        ("retry", 3),
        ("retry", 2),
        ("retry", 5),
    ]
    assert sorted(e["payload"]["id"] for e in published) == sorted(recent)
    limited_body = await limited.get_json()
    assert (limited_body["requeued"], limited_body["more"]) == (2, True)
    everything_body = await everything.get_json()
    assert (everything_body["requeued"], everything_body["more"]) == (5, False)
    ids = {e["payload"]["id"] for e in await take_published(broker)}
    assert {old, other_type} <= ids


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"status": "COMPLETED"}, "/status"),
        ({"since": "yesterday"}, "/since"),
        ({"limit": 0}, "/limit"),
        ({"type": 3}, "/type"),
        ({"colour": "red"}, "/colour"),
        ([], ""),
    ],
)
async def test_a_bulk_retry_filter_that_is_not_valid_is_refused_with_its_path(
    gateway: GatewayService, body: object, path: str
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post("/jobs/retry", json=body)

    assert response.status_code == 400
    document = await response.get_json()
    assert document["error"] == (
        "Unknown filter field 'colour'." if path == "/colour" else "The retry filter is not valid."
    )
    assert [detail["path"] for detail in document["details"]] == [path]


async def test_a_gateway_without_a_job_store_says_it_cannot_retry(broker: MemoryBroker) -> None:
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY)
    client = service.http.app.test_client()

    one = await client.post(f"/jobs/{uuid.uuid4()}/retry")
    bulk = await client.post("/jobs/retry", json={})

    assert (one.status_code, bulk.status_code) == (503, 503)
    message = "This gateway has no job store configured, so it cannot retry jobs."
    assert (await one.get_json())["error"] == message
    assert (await bulk.get_json())["error"] == message


async def test_a_submission_never_starts_a_round(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post(
        "/jobs",
        json={
            "id": str(uuid.uuid4()),
            "type": "echo",
            "status": "PENDING",
            "createdAt": utc_now(),
            "round": 5,
            "retry": {"round": 5},
        },
    )

    assert response.status_code == 202
    (envelope,) = await take_published(broker)
    assert "round" not in envelope["payload"]
    assert "retry" not in envelope["payload"]
