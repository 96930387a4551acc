"""Issue 8: retries with backoff up to maxAttempts, and cancel, through the processor.

The processor and metrics engine run on embedded adapters (in-process broker with its
delayed redelivery, SQLite stores) with short backoffs, fed raw ``job.created`` messages.
"""

from __future__ import annotations

from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import format_timestamp, utc_now
from actors.domain.events import EventType
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.domain.jobs import CANCELLED, JobSpec, JobStatus, JobTransition
from actors.errors import JobFailed
from tests.pipeline import (
    crashed_after_a_failed_attempt,
    created_envelope,
    envelope_job_id,
    envelope_message,
    open_pipeline,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from actors.broker.memory import MemoryBroker
    from actors.domain.events import Envelope
    from actors.domain.jobs import JobRecord
    from actors.stores.memory import MemoryCounters
    from actors.stores.sqlite import (
        SQLiteEventStore,
        SQLiteJobStore,
    )

pytestmark = pytest.mark.timeout(30)

BACKOFF_S = 0.02


@dataclass
class Rig:
    broker: MemoryBroker
    jobs: SQLiteJobStore
    events: SQLiteEventStore
    counters: MemoryCounters
    registry: CollectorRegistry
    runs: Counter[str]
    """Handler runs per job id."""
    handlers: HandlerRegistry


def _registry(runs: Counter[str]) -> HandlerRegistry:
    handlers = HandlerRegistry()

    async def flaky(job: JobContext) -> object:
        """Fails until attempt ``payload.succeedOn``."""
        runs[job.id] += 1
        succeed_on = job.payload.get("succeedOn", 3)
        if job.attempt < (succeed_on if isinstance(succeed_on, int) else 3):
            raise JobFailed(f"attempt {job.attempt} of {job.max_attempts} failed")
        return {"attempt": job.attempt}

    async def always(job: JobContext) -> object:
        runs[job.id] += 1
        raise RuntimeError("boom")

    async def stuck(job: JobContext) -> object:
        runs[job.id] += 1
        await anyio.sleep_forever()
        return None

    handlers.register("flaky", flaky)
    handlers.register("always", always)
    handlers.register("once", always, max_attempts=1)
    handlers.register("stuck", stuck, timeout_s=0.05)
    return handlers


@asynccontextmanager
async def _rig(
    tmp_path: Path,
    *,
    backoff_s: float = BACKOFF_S,
    before_start: Callable[[MemoryBroker, SQLiteJobStore], Awaitable[None]] | None = None,
) -> AsyncIterator[Rig]:
    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, retry_backoff_s=backoff_s)
    runs: Counter[str] = Counter()
    handlers = _registry(runs)
    async with open_pipeline(tmp_path, settings, handlers, before_start=before_start) as pipe:
        yield Rig(pipe.broker, pipe.jobs, pipe.events, pipe.counters, pipe.registry, runs, handlers)


async def _wait_for(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0) -> None:
    """Wait until an async predicate over the stores holds (they work in worker threads,
    so there is no in-process event to wait on: a short bounded poll)."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _ended(rig: Rig, job_id: str) -> JobRecord:
    record: JobRecord | None = None

    async def ended() -> bool:
        nonlocal record
        record = await rig.jobs.get_job(job_id)
        return record is not None and record.status.is_terminal

    await _wait_for(ended)
    assert record is not None
    await _wait_for(lambda: _quiet(rig))
    return record


async def _quiet(rig: Rig) -> bool:
    """Every message settled, none waiting for its delay."""
    stats = rig.broker.statistics()
    return all(q.unacked == 0 and q.ready == 0 and q.delayed == 0 for q in stats.queues.values())


def _of_type(events: list[Envelope], event_type: EventType) -> list[Envelope]:
    return [event for event in events if event.event_type is event_type]


async def test_a_handler_failing_twice_then_succeeding_completes_on_its_third_attempt(
    tmp_path: Path,
) -> None:
    async with _rig(tmp_path) as rig:
        job = created_envelope("flaky")
        job_id = envelope_job_id(job)
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])

        record = await _ended(rig, job_id)

        assert (record.status, record.attempts, record.result) == (
            JobStatus.COMPLETED,
            3,
            {"attempt": 3},
        )
        assert [(e.attempt, e.error) for e in record.errors] == [
            (1, "attempt 1 of 3 failed"),
            (2, "attempt 2 of 3 failed"),
        ]
        assert (record.error, record.next_attempt_at) == (None, None)
        assert record.to_json()["errors"] == [e.to_json() for e in record.errors]
        assert rig.runs[job_id] == 3

        await _wait_for(lambda: _counted(rig, completed=1))
        events = await rig.events.events_for_job(job_id)
        executed = _of_type(events, EventType.EXECUTED)
        starts = [e for e in executed if e.payload["status"] == "EXECUTING"]
        retries = [e for e in executed if e.payload.get("willRetry") is True]
        assert [e.payload["attempt"] for e in starts] == [1, 2, 3]
        assert [(e.payload["attempt"], e.payload["status"]) for e in retries] == [
            (1, "PENDING"),
            (2, "PENDING"),
        ]
        assert all(e.payload["nextAttemptAt"] and e.payload["error"] for e in retries)
        assert len(_of_type(events, EventType.COMPLETED)) == 1
        assert _of_type(events, EventType.FAILED) == []
        assert len(_of_type(events, EventType.CREATED)) == 1
        assert len(_of_type(events, EventType.VALIDATED)) == 1
        stats = await rig.counters.snapshot()
        assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (1, 1, 0)
        sample = rig.registry.get_sample_value
        assert sample("processor_jobs_retried_total", {"type": "flaky"}) == 2
        assert sample("processor_jobs_completed_total", {"type": "flaky"}) == 1
        assert sample("processor_jobs_failed_total", {"type": "flaky"}) is None


async def _counted(rig: Rig, *, completed: int = 0, failed: int = 0) -> bool:
    stats = await rig.counters.snapshot()
    return (stats.completed_jobs, stats.failed_jobs) == (completed, failed)


async def test_an_always_failing_job_fails_after_max_attempts_counted_once(
    tmp_path: Path,
) -> None:
    async with _rig(tmp_path) as rig:
        job = created_envelope("always")
        job_id = envelope_job_id(job)
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])

        record = await _ended(rig, job_id)
        await _wait_for(lambda: _counted(rig, failed=1))
        # The same submission again once it is terminal: never run, never counted again.
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])
        await _wait_for(lambda: _quiet(rig))

        assert (record.status, record.attempts, record.error) == (
            JobStatus.FAILED,
            3,
            "RuntimeError: boom",
        )
        assert [(e.attempt, e.error) for e in record.errors] == [
            (1, "RuntimeError: boom"),
            (2, "RuntimeError: boom"),
            (3, "RuntimeError: boom"),
        ]
        assert rig.runs[job_id] == 3
        events = await rig.events.events_for_job(job_id)
        assert len(_of_type(events, EventType.FAILED)) == 1
        assert _of_type(events, EventType.FAILED)[0].payload["attempts"] == 3
        stats = await rig.counters.snapshot()
        assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (1, 0, 1)
        sample = rig.registry.get_sample_value
        assert sample("processor_jobs_failed_total", {"type": "always"}) == 1
        assert sample("processor_jobs_retried_total", {"type": "always"}) == 2


async def test_max_attempts_come_from_metadata_then_the_type_then_the_settings(
    tmp_path: Path,
) -> None:
    async with _rig(tmp_path) as rig:
        cases = {
            "override-up": (created_envelope("always", metadata={"maxAttempts": 4}), 4),
            "override-down": (created_envelope("always", metadata={"maxAttempts": 1}), 1),
            "invalid-ignored": (created_envelope("always", metadata={"maxAttempts": "9"}), 3),
            "type-default": (created_envelope("once"), 1),
            "type-overridden": (created_envelope("once", metadata={"maxAttempts": 2}), 2),
        }
        await rig.broker.publish_batch(
            JOBS_CREATED, [envelope_message(envelope) for envelope, _ in cases.values()]
        )

        attempts = {}
        for name, (envelope, _) in cases.items():
            record = await _ended(rig, envelope_job_id(envelope))
            assert record.status is JobStatus.FAILED
            attempts[name] = (record.attempts, len(record.errors), rig.runs[record.id])

        assert attempts == {name: (n, n, n) for name, (_, n) in cases.items()}


async def test_a_timeout_counts_as_a_failed_attempt(tmp_path: Path) -> None:
    async with _rig(tmp_path) as rig:
        job = created_envelope("stuck", metadata={"maxAttempts": 2})
        job_id = envelope_job_id(job)
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])

        record = await _ended(rig, job_id)

        assert (record.status, record.attempts, rig.runs[job_id]) == (JobStatus.FAILED, 2, 2)
        assert [e.attempt for e in record.errors] == [1, 2]
        assert all("timed out after 0.05 s" in e.error for e in record.errors)


async def test_a_duplicate_of_a_failed_attempt_during_the_backoff_is_not_run_again(
    tmp_path: Path,
) -> None:
    async with _rig(tmp_path, backoff_s=0.5) as rig:
        job = created_envelope("flaky", payload={"succeedOn": 2})
        job_id = envelope_job_id(job)
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])

        async def waiting() -> bool:
            record = await rig.jobs.get_job(job_id)
            return record is not None and record.next_attempt_at is not None

        await _wait_for(waiting)
        waiting_record = await rig.jobs.get_job(job_id)
        assert waiting_record is not None
        assert waiting_record.status is JobStatus.PENDING
        assert waiting_record.to_json()["nextAttemptAt"] == waiting_record.next_attempt_at
        # Attempt 1's message again (a duplicate publish or a resubmission).
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])
        await _wait_for(
            lambda: _broker_idle_but_delayed(rig.broker),
        )
        assert rig.runs[job_id] == 1

        record = await _ended(rig, job_id)
        assert (record.status, record.attempts, rig.runs[job_id]) == (JobStatus.COMPLETED, 2, 2)
        events = await rig.events.events_for_job(job_id)
        starts = [e for e in _of_type(events, EventType.EXECUTED) if "willRetry" not in e.payload]
        assert [e.payload["attempt"] for e in starts] == [1, 2]


async def _broker_idle_but_delayed(broker: MemoryBroker) -> bool:
    queue = broker.statistics().queues[JOBS_CREATED]
    return (queue.ready, queue.unacked, queue.delayed) == (0, 0, 1)


async def test_a_redelivery_after_a_crash_that_lost_the_retry_publishes_it_again(
    tmp_path: Path,
) -> None:
    """A processor stored attempt 1's failure and crashed before publishing the retry."""
    job = created_envelope("flaky", payload={"succeedOn": 2})
    job_id = envelope_job_id(job)

    async def crashed_mid_retry(broker: MemoryBroker, jobs: SQLiteJobStore) -> None:
        await crashed_after_a_failed_attempt(broker, jobs, job)

    async with _rig(tmp_path, before_start=crashed_mid_retry) as rig:
        record = await _ended(rig, job_id)

        assert (record.status, record.attempts, rig.runs[job_id]) == (JobStatus.COMPLETED, 2, 1)
        assert [(e.attempt, e.error) for e in record.errors] == [(1, "lost")]


async def test_a_job_cancelled_while_waiting_for_a_retry_ends_failed_cancelled_once(
    tmp_path: Path,
) -> None:
    async with _rig(tmp_path, backoff_s=0.3) as rig:
        job = created_envelope("always")
        job_id = envelope_job_id(job)
        await rig.broker.publish_batch(JOBS_CREATED, [envelope_message(job)])

        async def waiting() -> bool:
            record = await rig.jobs.get_job(job_id)
            return record is not None and record.next_attempt_at is not None

        await _wait_for(waiting)
        marked = await rig.jobs.request_cancel(job_id, requested_by="address:test")
        assert marked.request is not None
        assert marked.status is JobStatus.PENDING

        record = await _ended(rig, job_id)
        await _wait_for(lambda: _counted(rig, failed=1))

        assert (record.status, record.error, record.attempts, rig.runs[job_id]) == (
            JobStatus.FAILED,
            CANCELLED,
            1,
            1,
        )
        assert [e.attempt for e in record.errors] == [1]
        events = await rig.events.events_for_job(job_id)
        [failed] = _of_type(events, EventType.FAILED)
        assert (failed.payload["error"], failed.payload["reason"]) == (CANCELLED, CANCELLED)
        assert failed.payload["cancelRequestedAt"] == marked.request.requested_at
        assert failed.payload["cancelRequestedBy"] == "address:test"
        stats = await rig.counters.snapshot()
        assert (stats.total_jobs, stats.failed_jobs) == (1, 1)
        assert rig.registry.get_sample_value("processor_jobs_failed_total", {"type": "always"}) == 1
        # Cancelling again: terminal now, nothing is marked.
        again = await rig.jobs.request_cancel(job_id, requested_by="address:test")
        assert (again.status, again.request) == (JobStatus.FAILED, None)


async def test_a_pending_job_cancelled_before_a_processor_takes_it_is_never_run(
    tmp_path: Path,
) -> None:
    job = created_envelope("flaky", payload={"succeedOn": 1})
    job_id = envelope_job_id(job)

    async def pending_and_cancelled(broker: MemoryBroker, jobs: SQLiteJobStore) -> None:
        payload = job["payload"]
        assert isinstance(payload, dict)
        spec = JobSpec(job_id, "flaky", str(payload["createdAt"]), str(job["correlationId"]))
        await jobs.apply_transitions([JobTransition(spec, JobStatus.PENDING, utc_now())])
        assert (await jobs.request_cancel(job_id, requested_by="test")).request is not None
        await broker.publish_batch(JOBS_CREATED, [envelope_message(job)])

    async with _rig(tmp_path, before_start=pending_and_cancelled) as rig:
        record = await _ended(rig, job_id)
        await _wait_for(lambda: _counted(rig, failed=1))

        assert (record.status, record.error, record.attempts, record.errors) == (
            JobStatus.FAILED,
            CANCELLED,
            0,
            (),
        )
        assert rig.runs[job_id] == 0
        events = await rig.events.events_for_job(job_id)
        assert [e.event_type for e in events] == [
            EventType.CREATED,
            EventType.VALIDATED,
            EventType.FAILED,
        ]
        stats = await rig.counters.snapshot()
        assert (stats.total_jobs, stats.failed_jobs, stats.in_flight) == (1, 1, 0)


def test_retry_at_is_a_timestamp_the_stores_order_as_time() -> None:
    # The stores compare nextAttemptAt as text: the fixed-width format keeps time order.
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert format_timestamp(now) < format_timestamp(now + timedelta(microseconds=1))
