"""The gateway refuses what the handlers cannot run, when it knows them (issue 14)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from contracts import SchemaName, get_contracts
from tests.unit.quart_app.gateway.running import (
    echo_and_typed_handlers,
    new_broker,
    running_gateway,
    take_published,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from actors.broker.memory import MemoryBroker
    from quart_app.gateway.service import GatewayService

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def gateway() -> Callable[..., AbstractAsyncContextManager[tuple[GatewayService, MemoryBroker]]]:
    @asynccontextmanager
    async def start(
        *, check_types: bool = True, simulate: bool = False
    ) -> AsyncIterator[tuple[GatewayService, MemoryBroker]]:
        broker = await new_broker()
        async with running_gateway(
            broker,
            handlers=echo_and_typed_handlers(),
            check_types=check_types,
            simulate_unknown_types=simulate,
        ) as service:
            yield service, broker

    return start


async def test_an_unknown_type_is_refused_naming_it(
    gateway: Callable[..., AbstractAsyncContextManager[tuple[GatewayService, MemoryBroker]]],
) -> None:
    async with gateway() as (service, broker):
        client = service.http.app.test_client()
        response = await client.post("/jobs", json={"type": "resize"})
        body = await response.get_json()

        assert response.status_code == 400
        assert get_contracts().issues(SchemaName.ERROR, body) == []
        assert body["error"] == "no handler for type 'resize'"
        assert body["details"] == [
            {
                "path": "/type",
                "message": "No handler for type 'resize' is loaded; load the app declaring "
                "it (--app) or use one of: echo, typed.",
            }
        ]
        health = await (await client.get("/healthz")).get_json()
        assert health["handlerTypes"] == ["echo", "typed"]
        assert [m["payload"]["type"] for m in await take_published(broker)] == []


async def test_a_payload_off_its_schema_is_refused_with_each_path(
    gateway: Callable[..., AbstractAsyncContextManager[tuple[GatewayService, MemoryBroker]]],
) -> None:
    async with gateway() as (service, broker):
        client = service.http.app.test_client()
        response = await client.post("/jobs", json={"type": "typed", "payload": {"width": "x"}})
        missing = await client.post("/jobs", json={"type": "typed"})
        fine = await client.post("/jobs", json={"type": "typed", "payload": {"width": 2}})

        assert response.status_code == 400
        body = await response.get_json()
        assert body["error"] == (
            "The payload does not match the payload schema of type 'typed': 1 problem(s)."
        )
        assert body["details"] == [
            {"path": "/payload/width", "message": '"x" is not of type "integer"'}
        ]
        assert [d["path"] for d in (await missing.get_json())["details"]] == ["/payload/width"]
        assert fine.status_code == 202
        assert [m["payload"]["type"] for m in await take_published(broker)] == ["typed"]


async def test_a_batch_refuses_each_such_job_and_takes_the_rest(
    gateway: Callable[..., AbstractAsyncContextManager[tuple[GatewayService, MemoryBroker]]],
) -> None:
    async with gateway() as (service, broker):
        client = service.http.app.test_client()
        batch = [
            {"type": "echo"},
            {"type": "resize"},
            {"type": "typed", "payload": {"width": 1.5}},
        ]
        response = await client.post("/jobs/batch", json=batch)
        body = await response.get_json()

        assert response.status_code == 202
        assert (body["accepted"], body["rejected"]) == (1, 2)
        _, unknown, off_schema = body["results"]
        assert unknown["error"] == "no handler for type 'resize'"
        assert [d["path"] for d in unknown["details"]] == ["/type"]
        assert [d["path"] for d in off_schema["details"]] == ["/payload/width"]
        assert [m["payload"]["type"] for m in await take_published(broker)] == ["echo"]


async def test_without_the_handlers_or_when_simulating_unknown_types_pass(
    gateway: Callable[..., AbstractAsyncContextManager[tuple[GatewayService, MemoryBroker]]],
) -> None:
    async with gateway(check_types=False) as (service, broker):
        client = service.http.app.test_client()
        assert (await client.post("/jobs", json={"type": "resize"})).status_code == 202
        off_schema = {"type": "typed", "payload": {"width": "x"}}
        assert (await client.post("/jobs", json=off_schema)).status_code == 202
        assert "handlerTypes" not in await (await client.get("/healthz")).get_json()
        assert [m["payload"]["type"] for m in await take_published(broker)] == ["resize", "typed"]
    async with gateway(simulate=True) as (service, broker):
        client = service.http.app.test_client()
        assert (await client.post("/jobs", json={"type": "resize"})).status_code == 202
        # Known types keep their schema.
        assert (await client.post("/jobs", json=off_schema)).status_code == 400
        assert [m["payload"]["type"] for m in await take_published(broker)] == ["resize"]
