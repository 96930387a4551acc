"""Issue 17 (item 3): bulk actions on the gateway by the search filters.

``POST /jobs/cancel`` and ``POST /jobs/retry`` against a real SQLite job store and the
in-memory broker, through the gateway's HTTP app.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import TYPE_CHECKING

import pytest

from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from contracts import SchemaName, get_contracts
from quart_app.gateway import bulk
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import (
    SUBMITTER,
    VIEWER,
    stored_job,
    take_audited,
    take_published,
)

if TYPE_CHECKING:
    from actors.broker.memory import MemoryBroker
    from actors.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.timeout(60)


_job = functools.partial(stored_job, job_type="resize")


async def test_bulk_cancel_keeps_a_request_for_each_waiting_or_running_job_matching(
    gateway: GatewayService, jobs: SQLiteJobStore, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    pending = await _job(jobs, JobStatus.PENDING)
    validated = await _job(jobs, JobStatus.VALIDATED)
    running = await _job(jobs, JobStatus.VALIDATED, JobStatus.EXECUTING)
    other_type = await _job(jobs, JobStatus.PENDING, job_type="echo")
    ended = [
        await _job(jobs, JobStatus.EXECUTING, JobStatus.COMPLETED),
        await _job(jobs, JobStatus.EXECUTING, JobStatus.FAILED),
    ]

    response = await client.post("/jobs/cancel", json={"type": ["resize"]})

    assert response.status_code == 200
    body = await response.get_json()
    audit_event_id = body.pop("auditEventId")
    counts = {"matched": 3, "actedOn": 3, "skipped": 0, "more": False}
    understood = {"status": ["EXECUTING", "PENDING", "VALIDATED"], "type": ["resize"]}
    assert body == {**counts, "filter": {**understood, "limit": 10_000}}
    kept = await jobs.cancel_requests([pending, validated, running, other_type, *ended])
    assert set(kept) == {pending, validated, running}
    # The action itself is an event of the audit trail: who, the filter, the counts.
    [event] = await take_audited(broker)
    assert get_contracts().issues(SchemaName.EVENT_ENVELOPE, event) == []
    assert get_contracts().issues(SchemaName.BULK_ACTION, event["payload"]) == []
    assert (event["eventType"], event["eventId"]) == ("jobs.bulk-action", audit_event_id)
    assert event["payload"] == {
        "id": audit_event_id,
        "action": "cancel",
        "by": {"role": "anonymous"},
        "filter": {**understood, "limit": 10_000},
        **counts,
    }


async def test_bulk_cancel_by_status_and_creation_time_acts_on_those_only(
    gateway: GatewayService, jobs: SQLiteJobStore
) -> None:
    client = gateway.http.app.test_client()
    old = await _job(jobs, JobStatus.PENDING, created="2026-01-01T00:00:00.000000Z")
    new_pending = await _job(jobs, JobStatus.PENDING)
    running = await _job(jobs, JobStatus.EXECUTING, created="2026-01-01T00:00:00.000000Z")

    response = await client.post(
        "/jobs/cancel", json={"status": "PENDING", "createdBefore": "2026-02-01T00:00:00+01:00"}
    )

    body = await response.get_json()
    assert (body["matched"], body["actedOn"]) == (1, 1)
    assert body["filter"]["createdBefore"] == "2026-01-31T23:00:00.000000Z"
    assert set(await jobs.cancel_requests([old, new_pending, running])) == {old}


async def test_bulk_cancel_pages_through_the_store_and_says_when_more_match(
    gateway: GatewayService, jobs: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "PAGE", 2)  # several pages from a few jobs
    client = gateway.http.app.test_client()
    ids = [await _job(jobs, JobStatus.PENDING) for _ in range(7)]

    capped = await client.post("/jobs/cancel", json={"limit": 5})
    capped_body = await capped.get_json()
    everything = await client.post("/jobs/cancel", json={})
    everything_body = await everything.get_json()

    assert (capped_body["matched"], capped_body["actedOn"], capped_body["more"]) == (5, 5, True)
    assert (everything_body["matched"], everything_body["more"]) == (7, False)
    assert set(await jobs.cancel_requests(ids)) == set(ids)


async def test_a_bulk_filter_matching_nothing_answers_zeros(
    gateway: GatewayService, jobs: SQLiteJobStore, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    await _job(jobs, JobStatus.PENDING)

    cancel = await client.post("/jobs/cancel", json={"type": "nothing-of-this-type"})
    retry = await client.post("/jobs/retry", json={"error": "no such error text"})

    for response in (cancel, retry):
        assert response.status_code == 200
        body = await response.get_json()
        assert (body["matched"], body["actedOn"], body["skipped"], body["more"]) == (0, 0, 0, False)
    assert await take_published(broker) == []


async def test_bulk_retry_by_type_and_error_text_retries_those_failed_jobs_only(
    gateway: GatewayService, jobs: SQLiteJobStore, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    resize = [await _job(jobs, JobStatus.EXECUTING, JobStatus.FAILED) for _ in range(3)]
    await _job(jobs, JobStatus.EXECUTING, JobStatus.FAILED, job_type="echo")
    await _job(jobs, JobStatus.PENDING)

    response = await client.post("/jobs/retry", json={"type": ["resize"], "error": "BOO"})

    body = await response.get_json()
    assert (body["matched"], body["actedOn"], body["requeued"]) == (3, 3, 3)
    published = await take_published(broker)
    assert sorted(e["payload"]["id"] for e in published) == sorted(resize)
    assert {e["payload"]["round"] for e in published} == {2}


@pytest.mark.parametrize("path", ["/jobs/cancel", "/jobs/retry"])
async def test_an_unknown_filter_field_is_refused_naming_it(
    gateway: GatewayService, path: str
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post(path, json={"type": "resize", "colour": "red"})

    assert response.status_code == 400
    document = await response.get_json()
    assert document["error"] == "Unknown filter field 'colour'."
    assert [detail["path"] for detail in document["details"]] == ["/colour"]


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/jobs/cancel", {"status": ["PENDING", "COMPLETED"]}, "/status"),
        ("/jobs/cancel", {"createdAfter": "yesterday"}, "/createdAfter"),
        ("/jobs/cancel", {"limit": 10_001}, "/limit"),
        ("/jobs/retry", {"status": ["PENDING"]}, "/status"),
        ("/jobs/retry", {"type": [1]}, "/type"),
    ],
)
async def test_a_malformed_bulk_filter_is_refused_with_its_path(
    gateway: GatewayService, path: str, body: dict[str, object], where: str
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post(path, json=body)

    assert response.status_code == 400
    assert [d["path"] for d in (await response.get_json())["details"]] == [where]


async def test_bulk_actions_need_the_submitter_role(
    secured: GatewayService, jobs: SQLiteJobStore, broker: MemoryBroker
) -> None:
    client = secured.http.app.test_client()
    job_id = await _job(jobs, JobStatus.PENDING)

    viewer = await client.post(
        "/jobs/cancel", json={}, headers={"Authorization": f"Bearer {VIEWER}"}
    )
    viewer_retry = await client.post(
        "/jobs/retry", json={}, headers={"Authorization": f"Bearer {VIEWER}"}
    )
    assert (viewer.status_code, viewer_retry.status_code) == (403, 403)
    assert await jobs.cancel_requests([job_id]) == {}

    submitter = await client.post(
        "/jobs/cancel", json={}, headers={"Authorization": f"Bearer {SUBMITTER}"}
    )
    assert (await submitter.get_json())["actedOn"] == 1
    assert set(await jobs.cancel_requests([job_id])) == {job_id}
    # Only the action that happened is in the audit trail, naming the role, not the token.
    [event] = await take_audited(broker)
    assert event["payload"]["by"]["role"] == "submitter"
    assert event["payload"]["by"]["token"].startswith("sha256:")
    assert SUBMITTER not in json.dumps(event)


async def test_a_gateway_without_a_job_store_says_it_cannot_cancel_in_bulk(
    broker: MemoryBroker,
) -> None:
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY)
    client = service.http.app.test_client()

    response = await client.post("/jobs/cancel", json={})

    assert response.status_code == 503


async def test_a_dry_run_counts_the_matching_jobs_and_does_nothing(
    gateway: GatewayService, jobs: SQLiteJobStore, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    failed = [await _job(jobs, JobStatus.EXECUTING, JobStatus.FAILED) for _ in range(3)]
    waiting = [await _job(jobs, JobStatus.PENDING) for _ in range(2)]

    retry = await client.post("/jobs/retry", json={"type": "resize", "dryRun": True})
    cancel = await client.post("/jobs/cancel", json={"status": "PENDING", "dryRun": True})
    capped = await client.post("/jobs/retry", json={"limit": 2, "dryRun": True})

    assert await retry.get_json() == {
        "matched": 3,
        "actedOn": 0,
        "skipped": 0,
        "more": False,
        "requeued": 0,
        "filter": {"status": ["FAILED"], "type": ["resize"], "limit": 10_000},
        "dryRun": True,
    }
    cancel_body = await cancel.get_json()
    assert (cancel_body["matched"], cancel_body["actedOn"], cancel_body["dryRun"]) == (2, 0, True)
    capped_body = await capped.get_json()
    assert (capped_body["matched"], capped_body["more"]) == (2, True)
    # Nothing was published nor kept: the jobs are as they were, and a dry run is no
    # action of the audit trail.
    assert await take_published(broker) == []
    assert await take_audited(broker) == []
    assert await jobs.cancel_requests([*failed, *waiting]) == {}
    # The real thing afterwards acts on as many as the dry run counted.
    done = await client.post("/jobs/retry", json={"type": "resize"})
    assert (await done.get_json())["actedOn"] == 3
    assert "dryRun" not in await done.get_json()
    [event] = await take_audited(broker)
    assert (event["payload"]["action"], event["payload"]["actedOn"]) == ("retry", 3)


async def test_a_dry_run_flag_that_is_not_a_boolean_is_refused(gateway: GatewayService) -> None:
    client = gateway.http.app.test_client()
    response = await client.post("/jobs/cancel", json={"dryRun": "yes"})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["details"] == [{"path": "/dryRun", "message": "Expected true or false."}]


async def test_bulk_cancel_by_priority_acts_on_that_priority_only(
    gateway: GatewayService, jobs: SQLiteJobStore
) -> None:
    """The search's priority filter (issue 18) is a bulk filter too: 0 included."""
    client = gateway.http.app.test_client()
    by_priority: dict[int, str] = {}
    for priority in (0, 5, 9):
        job_id = str(uuid.uuid4())
        spec = JobSpec(job_id, "resize", utc_now(), "c", priority=priority)
        await jobs.apply_transitions([JobTransition(spec, JobStatus.PENDING, utc_now())])
        by_priority[priority] = job_id

    lowest = await client.post("/jobs/cancel", json={"priority": 0})
    bad = await client.post("/jobs/cancel", json={"priority": 10})
    named = await client.post("/jobs/cancel", json={"priority": "high"})

    assert lowest.status_code == 200
    body = await lowest.get_json()
    assert (body["matched"], body["actedOn"], body["filter"]["priority"]) == (1, 1, 0)
    assert set(await jobs.cancel_requests(list(by_priority.values()))) == {by_priority[0]}
    for refused in (bad, named):
        assert refused.status_code == 400
        details = (await refused.get_json())["details"]
        assert details == [{"path": "/priority", "message": "Expected an integer from 0 to 9."}]
