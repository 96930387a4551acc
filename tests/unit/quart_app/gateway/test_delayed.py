"""Delayed jobs at the gateway (issue 18, item 1): ``runAt`` and ``delaySeconds`` are
checked, a job due later is kept in the job store's scheduled set instead of being
published, and a job due now (or in the past) is published at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actors.broker.memory import MemoryBroker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import format_timestamp, parse_timestamp
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import JobStatus
from actors.stores.memory import MemoryJobStore
from quart_app.gateway.service import GatewayService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def broker() -> MemoryBroker:
    broker = MemoryBroker()
    await broker.declare_topology()
    return broker


@pytest.fixture
def jobs() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
async def gateway(broker: MemoryBroker, jobs: MemoryJobStore) -> AsyncIterator[GatewayService]:
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY, jobs=jobs)
    async with anyio.create_task_group() as tg:
        await tg.start(service.publisher.run)
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        yield service
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()


async def _published(broker: MemoryBroker) -> list[Any]:
    async with broker.open_consumer(JOBS_CREATED, prefetch=100) as consumer:
        if await broker.queue_depth(JOBS_CREATED) == 0:
            return []
        deliveries = await consumer.receive_batch(100)
        await consumer.ack(deliveries)
        return [json.loads(d.body) for d in deliveries]


async def test_a_delayed_job_is_kept_pending_with_its_time_and_not_published(
    gateway: GatewayService, broker: MemoryBroker, jobs: MemoryJobStore
) -> None:
    client = gateway.http.app.test_client()
    before = datetime.now(UTC)

    response = await client.post("/jobs", json={"type": "echo", "delaySeconds": 90})

    assert response.status_code == 202
    job_id = (await response.get_json())["jobId"]
    record = await jobs.get_job(job_id)
    assert record is not None
    assert record.status is JobStatus.PENDING
    assert record.scheduled_for is not None
    wait = parse_timestamp(record.scheduled_for) - before
    assert timedelta(seconds=90) <= wait < timedelta(seconds=95)
    assert await _published(broker) == []
    # Its message waits in the scheduled set, due at its time, as the gateway built it.
    [due] = await jobs.claim_due_jobs(
        now=format_timestamp(before + timedelta(seconds=96)),
        lease_until=format_timestamp(before + timedelta(seconds=200)),
        limit=10,
    )
    envelope = json.loads(due.message.body)
    assert envelope["payload"]["scheduledFor"] == record.scheduled_for
    assert "delaySeconds" not in envelope["payload"]


async def test_run_at_in_a_batch_is_kept_and_the_others_are_published(
    gateway: GatewayService, broker: MemoryBroker, jobs: MemoryJobStore
) -> None:
    client = gateway.http.app.test_client()
    run_at = format_timestamp(datetime.now(UTC) + timedelta(hours=2))

    response = await client.post(
        "/jobs/batch", json=[{"type": "echo", "runAt": run_at}, {"type": "echo"}]
    )

    assert response.status_code == 202
    later, now = (await response.get_json())["results"]
    record = await jobs.get_job(later["jobId"])
    assert record is not None
    assert record.scheduled_for == run_at
    published = await _published(broker)
    envelopes = [e for pack in published for e in (pack if isinstance(pack, list) else [pack])]
    assert [envelope["payload"]["id"] for envelope in envelopes] == [now["jobId"]]


async def test_a_run_at_in_the_past_runs_at_once(
    gateway: GatewayService, broker: MemoryBroker, jobs: MemoryJobStore
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post(
        "/jobs", json={"type": "echo", "runAt": "2020-01-01T00:00:00+01:00"}
    )

    assert response.status_code == 202
    [envelope] = await _published(broker)
    assert "scheduledFor" not in envelope["payload"]
    assert await jobs.get_job(envelope["payload"]["id"]) is None


@pytest.mark.parametrize(
    ("fields", "error", "paths"),
    [
        (
            {"runAt": "2030-01-01T00:00:00Z", "delaySeconds": 5},
            "The job's schedule is not valid: Give either runAt or delaySeconds, not both.",
            ["/runAt", "/delaySeconds"],
        ),
        (
            {"runAt": "2099-01-01T00:00:00Z"},
            "The job's schedule is not valid: runAt '2099-01-01T00:00:00Z' is more than 30 "
            "days ahead; schedule it later.",
            ["/runAt"],
        ),
    ],
)
async def test_a_bad_schedule_is_refused_with_400_and_nothing_is_kept(
    gateway: GatewayService,
    broker: MemoryBroker,
    jobs: MemoryJobStore,
    fields: dict[str, object],
    error: str,
    paths: list[str],
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post("/jobs", json={"type": "echo", **fields})
    batch = await client.post("/jobs/batch", json=[{"type": "echo", **fields}])

    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == error
    assert [detail["path"] for detail in body["details"]] == paths
    assert batch.status_code == 400
    assert (await batch.get_json())["results"][0]["error"] == error
    assert await _published(broker) == []
    assert (await jobs.search_jobs(_everything())).items == []


@pytest.mark.parametrize("delay", [0, -1, 2_592_001, "10"])
async def test_a_delay_out_of_range_breaks_the_contract(
    gateway: GatewayService, delay: object
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post("/jobs", json={"type": "echo", "delaySeconds": delay})

    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "The job does not match the job-submission contract: 1 problem(s)."
    assert [detail["path"] for detail in body["details"]] == ["/delaySeconds"]


def _everything() -> Any:
    from actors.domain.search import JobQuery

    return JobQuery()
