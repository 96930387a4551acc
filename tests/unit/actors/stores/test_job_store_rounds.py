"""Rounds in the job store contract (every ``open_job_store`` adapter: memory, SQLite,
PostgreSQL): a FAILED job retried runs again as a new round whose attempts count from 1;
what the earlier round wrote is replaced, and its late transitions change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp
from actors.domain.jobs import JobSpec, JobStatus, JobTransition

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
P, V, E, C, F = (
    JobStatus.PENDING,
    JobStatus.VALIDATED,
    JobStatus.EXECUTING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
)


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def spec(job_id: str) -> JobSpec:
    return JobSpec(id=job_id, type="fail", created_at=ts(0), correlation_id=f"corr-{job_id}")


def step(
    job: JobSpec,
    status: JobStatus,
    at_s: float,
    *,
    round_: int = 1,
    attempt: int = 1,
    error: str | None = None,
    retry_at_s: float | None = None,
    result: object = None,
    cancelled: bool = False,
) -> JobTransition:
    return JobTransition(
        job=job,
        status=status,
        at=ts(at_s),
        result=result,
        error=error,
        attempt=attempt,
        retry_at=None if retry_at_s is None else ts(retry_at_s),
        cancelled=cancelled,
        round=round_,
    )


async def _failed_round_one(store: JobStore, job: JobSpec) -> None:
    """Two attempts of round 1, both failed: the job is FAILED."""
    await store.apply_transitions(
        [
            step(job, V, 1),
            step(job, E, 1),
            step(job, P, 2, error="boom 1", retry_at_s=3),
            step(job, V, 3, attempt=2),
            step(job, E, 3, attempt=2),
            step(job, F, 4, attempt=2, error="boom 2"),
        ]
    )


async def test_a_failed_job_starts_a_new_round_from_attempt_one(job_store: JobStore) -> None:
    job = spec("job-r1")
    await _failed_round_one(job_store, job)
    failed = await job_store.get_job("job-r1")
    assert failed is not None
    assert (failed.status, failed.round, failed.attempts, failed.failed_attempts) == (F, 1, 2, 2)

    started = await job_store.apply_transitions(
        [step(job, V, 10, round_=2), step(job, E, 10, round_=2)]
    )

    assert started == [V, E]
    record = await job_store.get_job("job-r1")
    assert record is not None
    assert (record.status, record.round, record.attempts) == (E, 2, 1)
    assert (record.errors, record.error, record.finished_at) == ((), None, None)
    assert record.started_at == ts(10)
    assert record.to_json()["round"] == 2

    # Round 2's attempt 1 fails and is retried (attempt 1 of round 1 failed too: not
    # stale), its attempt 2 completes.
    await job_store.apply_transitions(
        [step(job, P, 11, round_=2, error="boom again", retry_at_s=12)]
    )
    done = await job_store.apply_transitions(
        [
            step(job, V, 12, round_=2, attempt=2),
            step(job, E, 12, round_=2, attempt=2),
            step(job, C, 13, round_=2, attempt=2, result={"ok": True}),
        ]
    )

    assert done == [V, E, C]
    final = await job_store.get_job("job-r1")
    assert final is not None
    assert (final.status, final.round, final.attempts, final.failed_attempts) == (C, 2, 2, 1)
    assert (final.result, final.finished_at, final.error) == ({"ok": True}, ts(13), None)
    assert [(entry.attempt, entry.error) for entry in final.errors] == [(1, "boom again")]


async def test_transitions_of_another_round_than_allowed_change_nothing(
    job_store: JobStore,
) -> None:
    retried, completed = spec("job-r2"), spec("job-r3")
    await _failed_round_one(job_store, retried)
    await job_store.apply_transitions([step(completed, E, 1), step(completed, C, 2)])
    await job_store.apply_transitions([step(retried, V, 10, round_=2)])

    late = await job_store.apply_transitions(
        [
            # a late delivery of round 1, once round 2 started
            step(retried, E, 11, attempt=3),
            # a round 2 for a job that did not fail
            step(completed, V, 11, round_=2),
        ]
    )

    assert late == [V, C]
    record = await job_store.get_job("job-r2")
    other = await job_store.get_job("job-r3")
    assert record is not None
    assert other is not None
    assert (record.status, record.round, record.attempts) == (V, 2, 0)
    assert (other.status, other.round, other.attempts) == (C, 1, 1)


async def test_a_cancelled_job_retried_loses_its_cancel_marker(job_store: JobStore) -> None:
    job = spec("job-r4")
    await job_store.apply_transitions([step(job, P, 1)])
    answer = await job_store.request_cancel("job-r4", requested_by="tester")
    assert answer.request is not None
    await job_store.apply_transitions([step(job, F, 2, error="cancelled", cancelled=True)])

    started = await job_store.apply_transitions(
        [step(job, V, 10, round_=2), step(job, E, 10, round_=2)]
    )

    assert started == [V, E]
    record = await job_store.get_job("job-r4")
    assert record is not None
    assert (record.status, record.round, record.cancel_requested_at) == (E, 2, None)
    assert record.cancel_requested_by is None


async def test_the_round_survives_closing_and_reopening_the_store(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> None:
    job = spec("job-r5")
    async with open_job_store() as store:
        await _failed_round_one(store, job)
        await store.apply_transitions([step(job, V, 10, round_=3)])
    async with open_job_store() as store:
        record = await store.get_job("job-r5")
        recent = await store.recent_jobs(limit=5, status=V)

    assert record is not None
    assert (record.status, record.round) == (V, 3)
    assert [job.round for job in recent] == [3]


async def test_a_job_created_failed_and_retried_in_one_batch_is_written_once(
    job_store: JobStore,
) -> None:
    job = spec("job-r6")

    statuses = await job_store.apply_transitions(
        [step(job, F, 1, error="boom"), step(job, V, 2, round_=2), step(job, E, 2, round_=2)]
    )

    assert statuses == [F, V, E]
    record = await job_store.get_job("job-r6")
    assert record is not None
    assert (record.status, record.round, record.attempts, record.errors) == (E, 2, 1, ())
