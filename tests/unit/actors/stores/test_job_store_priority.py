"""Priorities in the job store contract (every ``open_job_store`` adapter: memory, SQLite,
PostgreSQL): a job keeps the ``priority`` it was submitted with (5 without one), read back
by ``get_job``, ``recent_jobs`` and ``search_jobs``, which also filters on it (issue 18,
item 3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from actors.broker import OutgoingMessage
from actors.domain.clock import format_timestamp
from actors.domain.jobs import DEFAULT_PRIORITY, JobSpec, JobStatus, JobTransition
from actors.domain.scheduling import ScheduledJob
from actors.domain.search import JobQuery

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def spec(job_id: str, created_s: float, *, priority: int | None = None) -> JobSpec:
    job = JobSpec(
        id=job_id,
        type="echo",
        created_at=ts(created_s),
        correlation_id=f"corr-{job_id}",
        payload={"message": job_id},
        metadata={},
    )
    return job if priority is None else replace(job, priority=priority)


def move(job: JobSpec, status: JobStatus, at_s: float) -> JobTransition:
    return JobTransition(job=job, status=status, at=ts(at_s))


async def test_a_job_submitted_with_priority_9_reads_back_9(job_store: JobStore) -> None:
    urgent = spec("job-urgent", 1, priority=9)
    await job_store.apply_transitions([move(urgent, JobStatus.PENDING, 1)])
    # Later transitions carry the spec again; the stored priority stays.
    await job_store.apply_transitions(
        [move(urgent, JobStatus.VALIDATED, 2), move(urgent, JobStatus.EXECUTING, 3)]
    )

    record = await job_store.get_job("job-urgent")
    assert record is not None
    assert record.spec.priority == 9
    assert record.spec == urgent
    assert record.to_json()["priority"] == 9
    [recent] = await job_store.recent_jobs(limit=10)
    assert recent.spec.priority == 9


async def test_a_job_submitted_without_priority_reads_back_5(job_store: JobStore) -> None:
    await job_store.apply_transitions([move(spec("job-plain", 1), JobStatus.PENDING, 1)])

    record = await job_store.get_job("job-plain")
    assert record is not None
    assert record.spec.priority == DEFAULT_PRIORITY == 5
    assert record.to_summary()["priority"] == 5


async def test_priority_0_is_kept_not_taken_for_missing(job_store: JobStore) -> None:
    await job_store.apply_transitions([move(spec("job-low", 1, priority=0), JobStatus.FAILED, 1)])

    record = await job_store.get_job("job-low")
    assert record is not None
    assert record.spec.priority == 0


async def test_a_delayed_job_keeps_its_priority(job_store: JobStore) -> None:
    job = spec("job-later", 0, priority=8)
    message = OutgoingMessage(body=b"{}", message_id="event-later", correlation_id="c")
    await job_store.schedule_jobs(
        [ScheduledJob(spec=job, scheduled_for=ts(60), at=ts(0), message=message)]
    )

    record = await job_store.get_job("job-later")
    assert record is not None
    assert (record.status, record.spec.priority) == (JobStatus.PENDING, 8)


async def test_search_filters_on_priority(job_store: JobStore) -> None:
    await job_store.apply_transitions(
        [
            move(spec("job-a", 1, priority=9), JobStatus.PENDING, 1),
            move(spec("job-b", 2), JobStatus.COMPLETED, 2),
            move(spec("job-c", 3, priority=9), JobStatus.FAILED, 3),
            move(spec("job-d", 4, priority=0), JobStatus.PENDING, 4),
        ]
    )

    async def ids(query: JobQuery) -> list[str]:
        page = await job_store.search_jobs(query)
        return [record.id for record in page.items]

    assert await ids(JobQuery(priority=9)) == ["job-c", "job-a"]
    assert await ids(JobQuery(priority=5)) == ["job-b"]
    assert await ids(JobQuery(priority=0)) == ["job-d"]
    assert await ids(JobQuery(priority=1)) == []
    assert await ids(JobQuery(priority=9, statuses=frozenset({JobStatus.PENDING}))) == ["job-a"]
    page = await job_store.search_jobs(JobQuery(priority=9))
    assert [record.spec.priority for record in page.items] == [9, 9]


async def test_priority_survives_reopening(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> None:
    async with open_job_store() as store:
        await store.apply_transitions([move(spec("job-kept", 1, priority=2), JobStatus.PENDING, 1)])
    async with open_job_store() as store:
        record = await store.get_job("job-kept")
    assert record is not None
    assert record.spec.priority == 2
