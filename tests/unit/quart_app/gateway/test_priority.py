"""Priorities at the gateway (issue 18, item 3): ``priority`` 0 to 9 on ``POST /jobs`` and
``POST /jobs/batch`` (and a schedule's job template) is checked, carried in the
``job.created`` envelope, and queues the job by it on ``jobs.created``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from tests.unit.quart_app.gateway.running import take_published

if TYPE_CHECKING:
    from actors.broker.memory import MemoryBroker
    from actors.stores.sqlite import SQLiteJobStore
    from quart_app.gateway.service import GatewayService

pytestmark = pytest.mark.timeout(30)


def _job(name: str, priority: int | None = None) -> dict[str, object]:
    job: dict[str, object] = {"id": str(uuid.uuid4()), "type": "echo", "payload": {"n": name}}
    if priority is not None:
        job["priority"] = priority
    return job


def _names(messages: list[object]) -> list[object]:
    """The ``payload.n`` of each job published, in the order the queue delivers them."""
    envelopes = [e for m in messages for e in (m if isinstance(m, list) else [m])]
    return [e["payload"]["payload"]["n"] for e in envelopes]  # type: ignore[index]


async def test_single_submissions_are_queued_by_priority_default_5(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    for name, priority in [("low", 1), ("default", None), ("top", 9), ("mid", 5)]:
        response = await client.post("/jobs", json=_job(name, priority))
        assert response.status_code == 202

    messages = await take_published(broker)

    # The default (5) ranks with an explicit 5, in arrival order; 1 comes last.
    assert _names(messages) == ["top", "default", "mid", "low"]
    envelopes = {m["payload"]["payload"]["n"]: m["payload"] for m in messages}
    assert envelopes["top"]["priority"] == 9
    assert "priority" not in envelopes["default"]


async def test_a_batch_of_mixed_priorities_is_queued_higher_first_in_order_within_one(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    batch = [_job("a", 2), _job("b", 7), _job("c"), _job("d", 7), _job("e", 2)]

    response = await client.post("/jobs/batch", json=batch)

    assert response.status_code == 202
    assert _names(await take_published(broker)) == ["b", "d", "c", "a", "e"]


@pytest.mark.parametrize("priority", [-1, 10, 1.5, "high", True])
async def test_a_priority_outside_0_to_9_is_refused_with_its_path(
    gateway: GatewayService, broker: MemoryBroker, priority: object
) -> None:
    client = gateway.http.app.test_client()

    response = await client.post("/jobs", json={"type": "echo", "priority": priority})

    assert response.status_code == 400
    body = await response.get_json()
    assert [d["path"] for d in body["details"]] == ["/priority"]
    assert await take_published(broker) == []


async def test_a_schedule_template_priority_reaches_its_jobs(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    created = await client.post(
        "/schedules",
        json={"name": "urgent", "interval": "1h", "job": {"type": "echo", "priority": 8}},
    )
    assert created.status_code == 201, await created.get_json()
    schedule = await created.get_json()
    assert schedule["job"]["priority"] == 8

    ran = await client.post(f"/schedules/{schedule['id']}/run")

    assert ran.status_code in (200, 202), await ran.get_json()
    [message] = await take_published(broker)
    assert message["payload"]["priority"] == 8


async def test_a_delayed_job_keeps_its_priority_in_the_job_store_and_its_message(
    gateway: GatewayService, broker: MemoryBroker, jobs: SQLiteJobStore
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post("/jobs", json={"type": "echo", "delaySeconds": 60, "priority": 9})
    assert response.status_code == 202, await response.get_json()
    job_id = (await response.get_json())["jobId"]

    record = await jobs.get_job(job_id)

    assert record is not None
    assert record.spec.priority == 9
    assert await take_published(broker) == []  # kept until due, not queued yet
