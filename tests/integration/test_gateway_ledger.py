"""Issue 16: two gateways, each with a job store of its own on the same PostgreSQL
schema, answer alike: a job id claimed through one is a duplicate or a conflict at the
other, and an ``Idempotency-Key`` answered by one is replayed by the other."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import asyncpg
import pytest

from actors.broker.memory import MemoryBroker
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.stores.postgres import open_postgres_job_store
from quart_app.gateway.service import GatewayService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def gateways(postgres_url: str) -> AsyncIterator[tuple[GatewayService, GatewayService]]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    broker = MemoryBroker()
    await broker.declare_topology()
    try:
        async with AsyncExitStack() as stack, anyio.create_task_group() as tg:
            services = []
            for _ in range(2):
                jobs = await stack.enter_async_context(
                    open_postgres_job_store(postgres_url, schema=schema)
                )
                service = GatewayService(
                    broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY, jobs=jobs
                )
                await tg.start(service.ledger.run)
                await tg.start(service.confirmer.run)
                await tg.start(service.publisher.run)
                services.append(service)
            yield services[0], services[1]
            for service in services:
                service.publisher.request_stop()
                service.ledger.request_stop()
                service.confirmer.request_stop()
    finally:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


async def test_issue_16_a_job_id_claimed_at_one_gateway_is_known_to_the_other(
    gateways: tuple[GatewayService, GatewayService],
) -> None:
    one, other = (g.http.app.test_client() for g in gateways)
    job = {"id": str(uuid.uuid4()), "type": "echo", "payload": {"n": 1}}

    first = await one.post("/jobs", json=job)
    again = await other.post("/jobs", json=job)
    changed = await other.post("/jobs", json={**job, "metadata": {"by": "other"}})

    assert (first.status_code, again.status_code, changed.status_code) == (202, 202, 409)
    assert await again.get_json() == await first.get_json()
    assert [d["path"] for d in (await changed.get_json())["details"]] == ["/metadata"]


async def test_issue_16_an_idempotency_key_answered_by_one_gateway_is_replayed_by_the_other(
    gateways: tuple[GatewayService, GatewayService],
) -> None:
    one, other = (g.http.app.test_client() for g in gateways)
    headers = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    batch = [{"type": "echo"}, {"type": "no space"}]

    first = await one.post("/jobs/batch", json=batch, headers=headers)
    replayed = await other.post("/jobs/batch", json=batch, headers=headers)
    mismatch = await other.post("/jobs/batch", json=batch[:1], headers=headers)

    assert (first.status_code, replayed.status_code, mismatch.status_code) == (202, 202, 422)
    assert await replayed.get_json() == await first.get_json()
    assert replayed.headers["Idempotent-Replayed"] == "true"
