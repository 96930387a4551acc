"""The ``event_store`` phase: the audit trail's ceiling, the event store alone appending
each job's four lifecycle events as the metrics engine does, with nothing else running.

Every job the system finishes passes through it four times (``job.created``,
``job.validated``, ``job.executed``, ``job.completed``), so ``e2e_rate_batch`` cannot
pass ``event_store_rate`` (jobs whose four events were stored, per second), and
``e2e_batch_vs_event_store`` says how close the whole pipeline comes to it. It uses the
system's kind of event store: SQLite when the system under test is embedded, otherwise
MongoDB at ``MONGO_URL`` (in a database of its own, dropped afterwards) or, when that is
unset, a fresh nx-27017 stand-in, as ``--mode local`` runs.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from actors.domain.clock import utc_now
from launcher.bench.options import BenchMode
from launcher.bench.phase import TEARDOWN_S, PhaseFailed, progress_lines, record_rate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from actors.domain.events import Envelope
    from actors.stores import EventStore
    from launcher.bench.options import BenchOptions
    from launcher.bench.report import PhaseOutcome

__all__ = ["EVENTS_PER_JOB", "event_store_phase", "lifecycle_events"]

EVENTS_PER_JOB = 4
"""Lifecycle events of a job that completes on its first attempt."""
_JOBS_PER_APPEND = 100
"""Jobs whose events go in one append (400 events: a persister flush under load)."""


def lifecycle_events(index: int, at: str) -> list[Envelope]:
    """The four events of bench job ``index``, shaped as the gateway and processor emit
    them (each carries the job document; the terminal one its attempts and result)."""
    from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
    from actors.domain.jobs import JobStatus
    from actors.processor.emitter import job_document
    from launcher.bench.phase import job_submission
    from quart_app.gateway.app import build_job

    created = Envelope.job_created(
        build_job(job_submission(index), at),
        producer=Producer("gateway", "gateway-bench", "bench"),
        correlation_id=str(uuid.uuid4()),
        at=at,
    )
    spec = created.job_spec()
    processor = Producer("processor", "processor-bench", "bench")
    later = [
        (EventType.VALIDATED, job_document(spec, JobStatus.VALIDATED, at)),
        (EventType.EXECUTED, job_document(spec, JobStatus.EXECUTING, at, attempt=1)),
        (
            EventType.COMPLETED,
            job_document(spec, JobStatus.COMPLETED, at, attempts=1, result=dict(spec.payload)),
        ),
    ]
    return [created] + [
        Envelope(
            event_type=event_type,
            event_id=lifecycle_event_id(spec.id, event_type),
            occurred_at=at,
            producer=processor,
            correlation_id=created.correlation_id,
            idempotency_key=f"{spec.id}:{event_type.value}",
            payload=payload,
        )
        for event_type, payload in later
    ]


@asynccontextmanager
async def _event_store(options: BenchOptions, work_dir: Path) -> AsyncIterator[EventStore]:
    """The phase's event store, empty; whatever it made is removed afterwards."""
    from actors.stores import open_sqlite_event_store
    from actors.stores.mongo import open_mongo_event_store
    from launcher.observatory_process import open_mongo_stand_in

    await anyio.Path(work_dir).mkdir(parents=True, exist_ok=True)
    if options.mode is BenchMode.EMBEDDED:
        async with open_sqlite_event_store(work_dir / "bench-events.sqlite3") as sqlite:
            yield sqlite
        return
    if options.mongo_url is None:
        async with (
            open_mongo_stand_in(work_dir / "nx-27017") as url,
            open_mongo_event_store(url, database="bench") as stand_in,
        ):
            yield stand_in
        return
    database = f"bench-{uuid.uuid4().hex[:10]}"
    try:
        async with open_mongo_event_store(options.mongo_url, database=database) as mongo:
            yield mongo
    finally:
        await _drop_database(options.mongo_url, database)


async def _drop_database(url: str, database: str) -> None:
    import pymongo

    with anyio.move_on_after(TEARDOWN_S, shield=True):
        client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(
            url, serverSelectionTimeoutMS=5000
        )
        try:
            await client.drop_database(database)
        finally:
            await client.close()


async def event_store_phase(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
    """Time appending N jobs' lifecycle events, ``_JOBS_PER_APPEND`` jobs per append.

    The events are built before the clock starts: only the store's work is timed.
    """
    from actors.errors import StoreUnavailable

    n = options.jobs
    at = utc_now()
    appends = [
        [
            event
            for index in range(start, min(n, start + _JOBS_PER_APPEND))
            for event in lifecycle_events(index, at)
        ]
        for start in range(0, n, _JOBS_PER_APPEND)
    ]
    stored = [0]
    try:
        async with _event_store(options, work_dir / "event_store") as store:
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    progress_lines, outcome, lambda: f"stored {stored[0]}/{n * EVENTS_PER_JOB}"
                )
                started = anyio.current_time()
                for events in appends:
                    result = await store.append(events)
                    stored[0] += result.stored
                elapsed = anyio.current_time() - started
                tg.cancel_scope.cancel()
    except StoreUnavailable as exc:
        raise PhaseFailed(f"The event store failed: {exc}") from exc
    if stored[0] != n * EVENTS_PER_JOB:
        raise PhaseFailed(f"The event store kept {stored[0]} of {n * EVENTS_PER_JOB} events.")
    record_rate(outcome, "event_store_rate", n, elapsed)
    outcome.add_note(
        f"{type(store).__name__}: {EVENTS_PER_JOB} lifecycle events per job, "
        f"{_JOBS_PER_APPEND * EVENTS_PER_JOB} events per append; "
        f"{n * EVENTS_PER_JOB / elapsed:,.0f} events/s."
    )
