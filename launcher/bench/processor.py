"""The ``processor`` phase: the processor alone, in this process, on pre-published jobs:
once one envelope per message (as ``POST /jobs`` publishes), once packed (as
``POST /jobs/batch`` publishes, :func:`actors.pipeline.packing.pack_envelopes`).

It uses the real adapters (RabbitMQ + PostgreSQL, in a namespace and schema of its own,
removed afterwards) unless the system under test is embedded, then the in-process broker
and SQLite.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from actors.domain.clock import utc_now
from launcher.bench.options import BenchMode
from launcher.bench.phase import (
    TEARDOWN_S,
    PhaseFailed,
    job_submission,
    progress_lines,
    record_rate,
)
from launcher.observatory_process import drop_postgres_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import TaskStatus

    from actors.broker import Broker, OutgoingMessage
    from actors.stores import JobStore
    from launcher.bench.options import BenchOptions
    from launcher.bench.report import PhaseOutcome

__all__ = ["created_messages", "processor_phase"]

_PROCESSOR_POLL_S = 0.02
_PUBLISH_CHUNK = 1000
"""Envelopes pre-published per ``publish_batch`` (packed first, in the packed drain)."""


def created_messages(start: int, stop: int, instance: str) -> list[OutgoingMessage]:
    """``job.created`` envelopes as the gateway publishes them, for jobs ``start..stop``
    (the processor and peer_celery phases drain the same ones)."""
    from actors.domain.events import Envelope, Producer
    from quart_app.gateway.app import build_job

    producer = Producer("gateway", instance, "bench")
    now = utc_now()
    messages: list[OutgoingMessage] = []
    for index in range(start, stop):
        job = build_job(job_submission(index), now)
        correlation_id = str(uuid.uuid4())
        envelope = Envelope.job_created(
            job, producer=producer, correlation_id=correlation_id, at=now
        )
        messages.append(envelope.to_message())
    return messages


@asynccontextmanager
async def _processor_adapters(
    options: BenchOptions, work_dir: Path, namespace: str
) -> AsyncIterator[tuple[Broker, JobStore]]:
    """The processor phase's broker and job store; everything made is removed afterwards."""
    from actors.broker import open_amqp_broker, open_memory_broker
    from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
    from actors.stores import open_postgres_job_store, open_sqlite_job_store

    if options.mode is BenchMode.EMBEDDED:
        await anyio.Path(work_dir).mkdir(parents=True, exist_ok=True)
        async with (
            open_memory_broker() as memory,
            open_sqlite_job_store(work_dir / "processor-jobs.sqlite3") as sqlite,
        ):
            yield memory, sqlite
        return
    schema = namespace.replace("-", "_")
    try:
        async with (
            open_amqp_broker(
                options.rabbitmq_url, namespace=f"{namespace}.", connection_name="observatory-bench"
            ) as amqp,
            open_postgres_job_store(options.postgres_url, schema=schema, max_size=8) as postgres,
        ):
            try:
                yield amqp, postgres
            finally:
                with anyio.move_on_after(TEARDOWN_S, shield=True):
                    for queue in (*ALL_QUEUES, *map(retry_queue, RETRY_DELAYS_S)):
                        await amqp.delete_queue(queue)
    finally:
        await drop_postgres_schema(options.postgres_url, schema)


async def processor_phase(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
    """Time a fresh ProcessorService draining N pre-published ``job.created`` envelopes,
    twice: one envelope per message, then packed as ``POST /jobs/batch`` publishes them.

    ``processor_single_rate`` is the first drain, ``processor_alone_rate`` the second (the
    one set against the relay and the peer), each on fresh queues and an empty job table.
    """
    from actors.pipeline.packing import MAX_ENVELOPES_PER_MESSAGE

    for key, packed in (("processor_single_rate", False), ("processor_alone_rate", True)):
        # Each drain on queues and a job table of its own: a fuller table is slower.
        namespace = f"bench-{uuid.uuid4().hex[:10]}"
        async with _processor_adapters(options, work_dir / key, namespace) as (broker, store):
            await broker.declare_topology()
            await _drain(broker, store, options, work_dir, outcome, key=key, packed=packed)
    outcome.add_note(
        f"processor_alone_rate: jobs pre-published as POST /jobs/batch publishes them, up to "
        f"{MAX_ENVELOPES_PER_MESSAGE} envelopes per message; processor_single_rate: one "
        "envelope per message, as POST /jobs publishes."
    )


async def _drain(
    broker: Broker,
    store: JobStore,
    options: BenchOptions,
    work_dir: Path,
    outcome: PhaseOutcome,
    *,
    key: str,
    packed: bool,
) -> None:
    """Pre-publish N fresh ``job.created`` (``packed``: as JSON arrays, as the gateway's
    batch route does), then time a fresh ProcessorService until all are done: ``key``."""
    from actors.broker.names import JOBS_CREATED
    from actors.config.settings import Settings
    from actors.pipeline.packing import pack_envelopes
    from actors.processor.service import ProcessorService

    n = options.jobs
    instance = f"bench-{uuid.uuid4().hex[:10]}"
    for start in range(0, n, _PUBLISH_CHUNK):
        batch = created_messages(start, min(n, start + _PUBLISH_CHUNK), instance)
        await broker.publish_batch(JOBS_CREATED, pack_envelopes(batch) if packed else batch)
        outcome.progress = f"{key}: pre-published {min(n, start + _PUBLISH_CHUNK)}/{n}"
    settings = Settings(data_dir=work_dir / key, instance_id=instance)
    processor = ProcessorService(broker, store, settings)
    persister = processor.persister

    def done() -> int:
        return persister.completed + persister.failed

    stopped = anyio.Event()

    async def run_processor(*, task_status: TaskStatus[None]) -> None:
        try:
            await processor.run(task_status=task_status)
        finally:
            stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(progress_lines, outcome, lambda: f"{key}: processed {done()}/{n}")
        started = anyio.current_time()
        await tg.start(run_processor)
        # The persister's counters are plain attributes, with no event to wait on.
        while done() < n:
            if stopped.is_set():
                raise PhaseFailed(f"The processor stopped after {done()} of {n} jobs ({key}).")
            await anyio.sleep(_PROCESSOR_POLL_S)
        record_rate(outcome, key, n, anyio.current_time() - started)
        processor.request_stop()
        with anyio.move_on_after(settings.shutdown_s + 5):
            await stopped.wait()
        if not stopped.is_set():
            outcome.add_note(f"The processor did not stop within its shutdown time ({key}).")
        tg.cancel_scope.cancel()
    if persister.failed:
        outcome.add_note(f"{persister.failed} jobs FAILED instead of COMPLETED ({key}).")
