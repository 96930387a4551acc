"""Issues 8 and 14: ``DELETE /jobs/{id}`` on the gateway (202 / 404 / 409 / 503)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from actors.broker.memory import MemoryBroker
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import JobStatus
from contracts import SchemaName, get_contracts
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import stored_job

if TYPE_CHECKING:
    from actors.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("statuses", "status"),
    [
        ((JobStatus.PENDING,), "PENDING"),
        ((JobStatus.VALIDATED,), "VALIDATED"),
        ((JobStatus.EXECUTING,), "EXECUTING"),
    ],
)
async def test_cancelling_a_job_that_has_not_ended_is_accepted_and_kept(
    gateway: GatewayService,
    jobs: SQLiteJobStore,
    statuses: tuple[JobStatus, ...],
    status: str,
) -> None:
    client = gateway.http.app.test_client()
    job_id = await stored_job(jobs, *statuses)

    first = await client.delete(f"/jobs/{job_id}")
    again = await client.delete(f"/jobs/{job_id}")

    assert (first.status_code, again.status_code) == (202, 202)
    body = await first.get_json()
    record = await jobs.get_job(job_id)
    assert record is not None
    assert record.status.value == status  # the processor alone changes job states
    assert body == {
        "jobId": job_id,
        "status": status,
        "cancelRequestedAt": record.cancel_requested_at,
        "cancelRequestedBy": "address:<local>",
    }
    assert await again.get_json() == body
    requests = await jobs.cancel_requests([job_id])
    assert requests[job_id].requested_at == record.cancel_requested_at


async def test_cancelling_a_job_still_queued_keeps_the_request_for_the_processor(
    gateway: GatewayService, jobs: SQLiteJobStore
) -> None:
    client = gateway.http.app.test_client()
    job_id = str(uuid.uuid4())  # accepted by a gateway, taken by no processor yet

    response = await client.delete(f"/jobs/{job_id}")

    assert response.status_code == 202
    body = await response.get_json()
    assert (body["jobId"], body["status"]) == (job_id, "PENDING")
    assert await jobs.get_job(job_id) is None
    request = (await jobs.cancel_requests([job_id]))[job_id]
    assert (request.requested_at, request.requested_by) == (
        body["cancelRequestedAt"],
        body["cancelRequestedBy"],
    )


@pytest.mark.parametrize(
    ("statuses", "status"),
    [
        ((JobStatus.EXECUTING, JobStatus.COMPLETED), "COMPLETED"),
        ((JobStatus.EXECUTING, JobStatus.FAILED), "FAILED"),
    ],
)
async def test_cancelling_an_ended_job_is_a_conflict_naming_its_status(
    gateway: GatewayService, jobs: SQLiteJobStore, statuses: tuple[JobStatus, ...], status: str
) -> None:
    client = gateway.http.app.test_client()
    job_id = await stored_job(jobs, *statuses)

    response = await client.delete(f"/jobs/{job_id}")

    assert response.status_code == 409
    body = await response.get_json()
    assert body["status"] == status
    assert get_contracts().issues(SchemaName.ERROR, body) == []
    assert body["error"] == f"Job {job_id} is already {status}; it cannot be cancelled."
    record = await jobs.get_job(job_id)
    assert record is not None
    assert record.cancel_requested_at is None
    assert await jobs.cancel_requests([job_id]) == {}


@pytest.mark.parametrize("job_id", ["not-a-job", "550e8400e29b41d4a716446655440000"])
async def test_cancelling_an_id_that_is_not_a_uuid_is_not_found(
    gateway: GatewayService, jobs: SQLiteJobStore, job_id: str
) -> None:
    client = gateway.http.app.test_client()

    response = await client.delete(f"/jobs/{job_id}")

    assert response.status_code == 404
    assert (await response.get_json())["error"] == (
        f"There is no job {job_id!r}: job ids are UUIDs, and this is not one."
    )
    assert await jobs.cancel_requests([job_id]) == {}


async def test_a_gateway_without_a_job_store_says_it_cannot_cancel() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY)
    client = service.http.app.test_client()

    response = await client.delete(f"/jobs/{uuid.uuid4()}")

    assert response.status_code == 503
    assert (await response.get_json())["error"] == (
        "This gateway has no job store configured, so it cannot cancel jobs."
    )
