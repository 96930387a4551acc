"""Issue 14 (item 5): a FAILED job retried runs again as a new round, through the
processor and the metrics engine (in-process broker, SQLite stores, memory counters).

The retry request is what the gateway publishes (``retry_envelope`` of
``quart_app.gateway.retry``); the job store, the audit trail and the counters must agree
after every round: one job, counted with its latest outcome.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.events import (
    Envelope,
    EventType,
    Producer,
    is_retry_request,
    lifecycle_event_id,
)
from actors.domain.handlers import DEFAULT_REGISTRY, JobContext
from actors.domain.jobs import JobRecord, JobSpec, JobStatus
from actors.errors import JobFailed
from actors.stores.memory import MemoryCounters
from quart_app.gateway.retry import retry_envelope
from tests.pipeline import Pipeline, open_pipeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path


pytestmark = pytest.mark.timeout(60)

PRODUCER = Producer("gateway", "gateway-test", "0.0.0")
BY = {"role": "submitter", "token": "sha256:0123456789ab"}


async def _wait_for(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0) -> None:
    """Wait until an async predicate over the stores holds (a short bounded poll: the
    stores work in worker threads, there is no in-process event to wait on)."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _quiet(pipe: Pipeline) -> bool:
    stats = pipe.broker.statistics()
    return all(q.unacked == 0 and q.ready == 0 and q.delayed == 0 for q in stats.queues.values())


async def _settled(pipe: Pipeline, job_id: str, status: JobStatus, round_: int) -> JobRecord:
    record: JobRecord | None = None

    async def done() -> bool:
        nonlocal record
        record = await pipe.jobs.get_job(job_id)
        return record is not None and (record.status, record.round) == (status, round_)

    await _wait_for(done)
    await _wait_for(lambda: _quiet(pipe))
    assert record is not None
    return record


async def _retry(pipe: Pipeline, record: JobRecord) -> Envelope:
    envelope = retry_envelope(record, producer=PRODUCER, by=BY, at=utc_now())
    await pipe.broker.publish_batch(JOBS_CREATED, [envelope.to_message()])
    return envelope


async def _counters_match_the_store(pipe: Pipeline) -> bool:
    stats = await pipe.counters.snapshot()
    jobs = await pipe.jobs.recent_jobs(limit=100)
    by_status = [record.status for record in jobs]
    return (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (
        len(jobs),
        by_status.count(JobStatus.COMPLETED),
        by_status.count(JobStatus.FAILED),
    )


@pytest.fixture
async def pipe(tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, retry_backoff_s=0.02)
    async with open_pipeline(tmp_path, settings, DEFAULT_REGISTRY.copy()) as pipeline:
        yield pipeline


async def test_a_failed_job_retried_runs_new_rounds_until_it_completes(pipe: Pipeline) -> None:
    job_id = str(uuid.uuid4())
    now = utc_now()
    job = {
        "id": job_id,
        "type": "fail",
        "status": "PENDING",
        "createdAt": now,
        "payload": {"succeedFromRound": 3, "message": "not yet"},
        "metadata": {"maxAttempts": 2},
    }
    created = Envelope.job_created(job, producer=PRODUCER, correlation_id=str(uuid.uuid4()), at=now)
    await pipe.broker.publish_batch(JOBS_CREATED, [created.to_message()])

    first = await _settled(pipe, job_id, JobStatus.FAILED, 1)
    assert (first.attempts, first.error) == (2, "not yet")
    await _wait_for(lambda: _counters_match_the_store(pipe))

    # Round 2 fails again (both attempts), round 3 completes at its first attempt.
    second_request = await _retry(pipe, first)
    second = await _settled(pipe, job_id, JobStatus.FAILED, 2)
    assert (second.attempts, [e.attempt for e in second.errors]) == (2, [1, 2])
    await _wait_for(lambda: _counters_match_the_store(pipe))
    third_request = await _retry(pipe, second)
    third = await _settled(pipe, job_id, JobStatus.COMPLETED, 3)
    assert (third.attempts, third.errors, third.error) == (1, (), None)
    assert third.result == {"round": 3, "attempt": 1}
    await _wait_for(lambda: _counters_match_the_store(pipe))

    # Both requests again (a double click, a late redelivery): nothing runs or counts.
    await pipe.broker.publish_batch(
        JOBS_CREATED, [second_request.to_message(), third_request.to_message()]
    )
    await _wait_for(lambda: _quiet(pipe))
    # A retry of a job that is not FAILED (the gateway answers 409; sent here anyway).
    await _retry(pipe, third)
    await _wait_for(lambda: _quiet(pipe))

    record = await pipe.jobs.get_job(job_id)
    assert record is not None
    assert (record.status, record.round, record.attempts) == (JobStatus.COMPLETED, 3, 1)
    stats = await pipe.counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs, stats.in_flight) == (
        1,
        1,
        0,
        0,
    )
    assert stats.by_type["fail"].to_json() == {"total": 1, "completed": 1, "failed": 0}

    events = await pipe.events.events_for_job(job_id)
    kinds = [
        (e.event_type.value, e.payload.get("round", 1), e.payload.get("attempt"))
        for e in events
        if e.event_type is not EventType.EXECUTED or e.payload["status"] == "EXECUTING"
    ]
    assert kinds == [
        ("job.created", 1, None),
        ("job.validated", 1, None),
        ("job.executed", 1, 1),
        ("job.executed", 1, 2),
        ("job.failed", 1, None),
        ("job.created", 2, 1),
        ("job.validated", 2, None),
        ("job.executed", 2, 1),
        ("job.executed", 2, 2),
        ("job.failed", 2, None),
        ("job.created", 3, 1),
        ("job.validated", 3, None),
        ("job.executed", 3, 1),
        ("job.completed", 3, None),
    ]
    requests = [e for e in events if is_retry_request(e.event_type, e.event_id, e.payload)]
    assert [e.event_id for e in requests] == [second_request.event_id, third_request.event_id]
    assert all(e.payload["retry"]["requestedBy"] == BY for e in requests)  # type: ignore[index]
    assert len({e.event_id for e in events}) == len(events)

    # The counters replayed from the audit trail say the same.
    rebuilt = MemoryCounters()
    await rebuilt.rebuild(pipe.events)
    assert (await rebuilt.snapshot()).to_json() == stats.to_json()


async def test_a_retry_taken_while_the_failing_round_is_still_in_flight_runs(
    tmp_path: Path,
) -> None:
    # The retry may reach the processor before the failed round left its in-flight
    # registry (the gateway saw FAILED in the store at once): parked on the job, it must
    # be started once the round is released, never settled unrun.
    gate = anyio.Event()

    async def gated(job: JobContext) -> object:
        if job.round == 1:
            await gate.wait()
            raise JobFailed("round 1 fails")
        return {"round": job.round}

    handlers = DEFAULT_REGISTRY.copy()
    handlers.register("gated", gated, max_attempts=1)
    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, retry_backoff_s=0.02)
    async with open_pipeline(tmp_path, settings, handlers) as pipe:
        job_id, now = str(uuid.uuid4()), utc_now()
        job = {"id": job_id, "type": "gated", "status": "PENDING", "createdAt": now}
        created = Envelope.job_created(
            job, producer=PRODUCER, correlation_id=str(uuid.uuid4()), at=now
        )
        await pipe.broker.publish_batch(JOBS_CREATED, [created.to_message()])

        async def running() -> bool:
            record = await pipe.jobs.get_job(job_id)
            return record is not None and record.status is JobStatus.EXECUTING

        await _wait_for(running)
        spec = JobSpec(job_id, "gated", now, created.correlation_id)
        as_failed = JobRecord(spec, JobStatus.FAILED, now, attempts=1, error="round 1 fails")
        await _retry(pipe, as_failed)

        async def parked() -> bool:
            return pipe.broker.statistics().queues[JOBS_CREATED].ready == 0

        await _wait_for(parked)
        gate.set()

        record = await _settled(pipe, job_id, JobStatus.COMPLETED, 2)
        assert record.result == {"round": 2}
        await _wait_for(lambda: _counters_match_the_store(pipe))
        stats = await pipe.counters.snapshot()
        assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (1, 1, 0)


def _delete_events(path: Path, event_ids: list[str]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany("DELETE FROM events WHERE event_id = ?", [(i,) for i in event_ids])


async def test_a_replay_gives_back_an_earlier_round_s_lost_events(
    pipe: Pipeline, tmp_path: Path
) -> None:
    # A processor that died after storing round 1 FAILED but before publishing its events
    # leaves them to its redelivery; if the job was retried meanwhile, that replay tells
    # the job's later round, so it gives back the earlier rounds' validated and failed.
    job_id, now = str(uuid.uuid4()), utc_now()
    job = {
        "id": job_id,
        "type": "fail",
        "status": "PENDING",
        "createdAt": now,
        "payload": {"succeedFromRound": 2},
        "metadata": {"maxAttempts": 1},
    }
    created = Envelope.job_created(job, producer=PRODUCER, correlation_id=str(uuid.uuid4()), at=now)
    await pipe.broker.publish_batch(JOBS_CREATED, [created.to_message()])
    failed = await _settled(pipe, job_id, JobStatus.FAILED, 1)
    request = await _retry(pipe, failed)
    await _settled(pipe, job_id, JobStatus.COMPLETED, 2)
    await _wait_for(lambda: _counters_match_the_store(pipe))
    lost = [
        lifecycle_event_id(job_id, EventType.VALIDATED),
        lifecycle_event_id(job_id, EventType.FAILED),
    ]
    await anyio.to_thread.run_sync(_delete_events, tmp_path / "ev.sqlite3", lost)

    await pipe.broker.publish_batch(JOBS_CREATED, [request.to_message()])  # replayed
    await _wait_for(lambda: _quiet(pipe))

    async def given_back() -> bool:
        ids = {e.event_id for e in await pipe.events.events_for_job(job_id)}
        return set(lost) <= ids

    await _wait_for(given_back)
    rebuilt = MemoryCounters()
    await rebuilt.rebuild(pipe.events)
    assert (await rebuilt.snapshot()).to_json() == (await pipe.counters.snapshot()).to_json()
    assert await _counters_match_the_store(pipe)
