"""The processor and the metrics engine running together over the in-memory broker and
SQLite stores, for tests that drive them through the broker (imported as ``tests.pipeline``)."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from actors.broker import OutgoingMessage
from actors.broker.memory import MemoryBroker, open_memory_broker
from actors.broker.names import JOBS_CREATED
from actors.domain.clock import utc_now
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.metrics_engine.service import MetricsEngineService
from actors.observability.prometheus import create_registry
from actors.processor.service import ProcessorService
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    SQLiteDeadLetterStore,
    SQLiteEventStore,
    SQLiteJobStore,
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from actors.config.settings import Settings
    from actors.domain.handlers import HandlerRegistry
    from actors.domain.rate_limits import RateBuckets
    from actors.stores import JobStore

__all__ = ["Pipeline", "created_envelope", "created_message", "open_pipeline"]


@dataclass
class Pipeline:
    broker: MemoryBroker
    jobs: SQLiteJobStore
    events: SQLiteEventStore
    dead_letters: SQLiteDeadLetterStore
    counters: MemoryCounters
    processor: ProcessorService
    metrics_engine: MetricsEngineService
    registry: CollectorRegistry


@asynccontextmanager
async def open_pipeline(
    tmp_path: Path,
    settings: Settings,
    handlers: HandlerRegistry,
    *,
    before_start: Callable[[MemoryBroker, SQLiteJobStore], Awaitable[None]] | None = None,
    remember_ids: bool = True,
    rate_buckets: RateBuckets | None = None,
) -> AsyncIterator[Pipeline]:
    """Run both services until the block exits (``before_start`` sees the broker and the
    job store before they start; ``rate_buckets``: the processor's, default in memory)."""
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(open_memory_broker(None))
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "jobs.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "ev.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "dl.sqlite3")
        )
        await broker.declare_topology()
        if before_start is not None:
            await before_start(broker, jobs)
        counters = MemoryCounters(remember_ids=remember_ids)
        registry = create_registry()
        engine = MetricsEngineService(broker, events, counters, dead, settings, registry=registry)
        processor = ProcessorService(
            broker, jobs, settings, handlers=handlers, registry=registry, rate_buckets=rate_buckets
        )
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await tg.start(processor.run)
            yield Pipeline(broker, jobs, events, dead, counters, processor, engine, registry)
            processor.request_stop()
            engine.request_stop()


def created_envelope(
    job_type: str = "echo",
    job_id: str | None = None,
    *,
    payload: dict[str, object] | None = None,
    **job: object,
) -> dict[str, object]:
    """One ``job.created`` envelope for a new job (a fresh event id, correlation id and,
    unless given, job id); ``job`` adds fields to the job document (``metadata``, ...)."""
    job_id = job_id or str(uuid.uuid4())
    return {
        "contractVersion": "1.0.0",
        "eventType": "job.created",
        "eventId": str(uuid.uuid4()),
        "occurredAt": utc_now(),
        "producer": {"service": "test", "instanceId": "test-1", "version": "0.0.0"},
        "correlationId": str(uuid.uuid4()),
        "idempotencyKey": job_id,
        "payload": {
            "id": job_id,
            "type": job_type,
            "status": "PENDING",
            "createdAt": utc_now(),
            "payload": payload or {},
            **job,
        },
    }


def envelope_message(envelope: dict[str, object]) -> OutgoingMessage:
    """``envelope`` as a broker message, under a fresh message id."""
    return OutgoingMessage(body=json.dumps(envelope).encode(), message_id=str(uuid.uuid4()))


def envelope_job_id(envelope: dict[str, object]) -> str:
    """The id of the job a ``job.created`` envelope carries."""
    payload = envelope["payload"]
    assert isinstance(payload, dict)
    return str(payload["id"])


async def crashed_after_a_failed_attempt(
    broker: MemoryBroker, jobs: JobStore, envelope: dict[str, object]
) -> None:
    """As left by a processor that stored attempt 1's failure and its retry, then crashed
    before acknowledging the delivery: the job PENDING for a retry due now, and attempt
    1's ``job.created`` delivered again by the broker."""
    payload = envelope["payload"]
    assert isinstance(payload, dict)
    spec = JobSpec(
        str(payload["id"]),
        str(payload["type"]),
        str(payload["createdAt"]),
        str(envelope["correlationId"]),
    )
    await jobs.apply_transitions(
        [
            JobTransition(spec, JobStatus.VALIDATED, utc_now()),
            JobTransition(spec, JobStatus.EXECUTING, utc_now()),
            JobTransition(spec, JobStatus.PENDING, utc_now(), error="lost", retry_at=utc_now()),
        ]
    )
    await broker.publish_batch(JOBS_CREATED, [envelope_message(envelope)])
    async with broker.open_consumer(JOBS_CREATED, prefetch=1) as consumer:
        deliveries = await consumer.receive_batch(1)
        await consumer.reject(deliveries, requeue=True)


def created_message(
    job_type: str,
    job_id: str | None = None,
    *,
    payload: dict[str, object] | None = None,
    message_id: str | None = None,
) -> OutgoingMessage:
    """:func:`created_envelope` as a broker message (a fresh message id unless given)."""
    envelope = created_envelope(job_type, job_id, payload=payload)
    if message_id is None:
        return envelope_message(envelope)
    return OutgoingMessage(body=json.dumps(envelope).encode(), message_id=message_id)
