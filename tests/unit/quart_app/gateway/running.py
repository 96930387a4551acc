"""What the gateway's unit tests share: a running gateway over the in-memory broker, the
messages it published, and jobs written straight into its job store.

Imported as ``tests.unit.quart_app.gateway.running``.
"""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from actors.broker.memory import MemoryBroker
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import utc_now, wall_clock
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from quart_app.gateway.service import GatewayService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from actors.domain.clock import Clock
    from actors.domain.handlers import JobContext
    from actors.stores import DeadLetterStore, JobStore

__all__ = [
    "SUBMITTER",
    "TOKENS",
    "VIEWER",
    "echo_and_typed_handlers",
    "new_broker",
    "running_gateway",
    "stored_job",
    "take_published",
]

SUBMITTER = "submitter-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
TOKENS = {SUBMITTER: "submitter", VIEWER: "viewer"}
"""Tokens for a secured gateway: one of each role."""


async def _do_nothing(job: JobContext) -> object:
    return None


def echo_and_typed_handlers() -> HandlerRegistry:
    """Handlers of two types that do nothing: ``echo``, taking any payload, and ``typed``,
    whose payload must be an object with an integer ``width``."""
    handlers = HandlerRegistry()
    handlers.register("echo", _do_nothing)
    handlers.register(
        "typed",
        _do_nothing,
        payload_schema={
            "type": "object",
            "required": ["width"],
            "properties": {"width": {"type": "integer"}},
        },
    )
    return handlers


async def new_broker() -> MemoryBroker:
    """An in-memory broker with the topology declared."""
    broker = MemoryBroker()
    await broker.declare_topology()
    return broker


@asynccontextmanager
async def running_gateway(
    broker: MemoryBroker,
    jobs: JobStore | None = None,
    *,
    dead_letters: DeadLetterStore | None = None,
    handlers: HandlerRegistry = DEFAULT_REGISTRY,
    check_types: bool = False,
    clock: Clock = wall_clock,
    **settings: Any,
) -> AsyncIterator[GatewayService]:
    """A gateway on ``broker`` whose publisher, ledger and confirmer run until the block
    ends, going by ``clock``; ``settings`` are :class:`Settings` fields (``gateway_port``
    is 0)."""
    service = GatewayService(
        broker,
        Settings(gateway_port=0, **settings),
        handlers=handlers,
        jobs=jobs,
        dead_letters=dead_letters,
        check_types=check_types,
        clock=clock,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(service.publisher.run)
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        yield service
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()


async def take_published(broker: MemoryBroker, *, most: int = 500) -> list[Any]:
    """The messages waiting on ``jobs.created`` (taken off the queue), decoded."""
    if await broker.queue_depth(JOBS_CREATED) == 0:
        return []
    async with broker.open_consumer(JOBS_CREATED, prefetch=most) as consumer:
        deliveries = await consumer.receive_batch(most)
        await consumer.ack(deliveries)
        return [json.loads(d.body) for d in deliveries]


async def take_audited(broker: MemoryBroker) -> list[dict[str, Any]]:
    """The envelopes waiting on ``jobs.completed`` (taken off the queue): what the gateway
    published there, its bulk actions' ``jobs.bulk-action`` events."""
    if await broker.queue_depth(JOBS_COMPLETED) == 0:
        return []
    async with broker.open_consumer(JOBS_COMPLETED, prefetch=100) as consumer:
        deliveries = await consumer.receive_batch(100)
        await consumer.ack(deliveries)
    envelopes: list[dict[str, Any]] = []
    for delivery in deliveries:
        document = json.loads(delivery.body)
        envelopes += document if isinstance(document, list) else [document]
    return envelopes


async def stored_job(
    jobs: JobStore,
    *statuses: JobStatus,
    job_type: str = "echo",
    created: str | None = None,
    at: str | None = None,
) -> str:
    """A new job written to ``jobs`` through ``statuses`` in turn (a ``FAILED`` one with
    the error ``boom``); returns its id. ``created`` is its creation time, ``at`` the time
    of its transitions (both now unless given)."""
    job_id = str(uuid.uuid4())
    spec = JobSpec(job_id, job_type, created or utc_now(), str(uuid.uuid4()), payload={"n": 1})
    when = at or utc_now()
    await jobs.apply_transitions(
        [
            JobTransition(spec, status, when, error="boom" if status is JobStatus.FAILED else None)
            for status in statuses
        ]
    )
    return job_id
