"""Delayed jobs in the job store contract (every ``open_job_store`` adapter: memory,
SQLite, PostgreSQL): the scheduled set keeps a job PENDING with its ``scheduledFor`` until
it is due, hands each due job to one taker at a time, survives reopening, and a cancel
makes a waiting job due at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from actors.broker import OutgoingMessage
from actors.domain.clock import format_timestamp
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.scheduling import ScheduledJob
from actors.domain.search import JobQuery

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def scheduled(job_id: str, due_s: float, *, at_s: float = 0) -> ScheduledJob:
    spec = JobSpec(
        id=job_id,
        type="echo",
        created_at=ts(at_s),
        correlation_id=f"corr-{job_id}",
        payload={"n": 1},
        metadata={"who": "test"},
    )
    # A job.created carries its job's priority in its payload and as the message's own.
    message = OutgoingMessage(
        body=f'{{"job":"{job_id}","payload":{{"priority":7}}}}'.encode(),
        message_id=f"event-{job_id}",
        correlation_id="c",
        priority=7,
    )
    return ScheduledJob(spec=spec, scheduled_for=ts(due_s), at=ts(at_s), message=message)


async def test_a_scheduled_job_is_pending_with_its_time_until_due(job_store: JobStore) -> None:
    await job_store.schedule_jobs([scheduled("job-1", 10)])

    record = await job_store.get_job("job-1")
    assert record is not None
    assert record.status is JobStatus.PENDING
    assert record.scheduled_for == ts(10)
    assert record.attempts == 0
    assert record.spec.payload == {"n": 1}
    assert record.to_json()["scheduledFor"] == ts(10)
    page = await job_store.search_jobs(JobQuery(statuses=frozenset({JobStatus.PENDING})))
    assert [item.scheduled_for for item in page.items] == [ts(10)]
    assert await job_store.claim_due_jobs(now=ts(9.9), lease_until=ts(40), limit=10) == []


async def test_due_jobs_are_taken_earliest_first_with_their_messages(job_store: JobStore) -> None:
    await job_store.schedule_jobs([scheduled("job-late", 5), scheduled("job-early", 3)])
    await job_store.schedule_jobs([scheduled("job-future", 60)])

    taken = await job_store.claim_due_jobs(now=ts(5), lease_until=ts(35), limit=10)

    assert [job.job_id for job in taken] == ["job-early", "job-late"]
    assert taken[0].message == OutgoingMessage(
        body=b'{"job":"job-early","payload":{"priority":7}}',
        message_id="event-job-early",
        correlation_id="c",
        priority=7,
    )


async def test_a_taken_job_is_not_handed_out_again_until_its_lease_ends(
    job_store: JobStore,
) -> None:
    await job_store.schedule_jobs([scheduled("job-1", 1), scheduled("job-2", 2)])

    first = await job_store.claim_due_jobs(now=ts(3), lease_until=ts(33), limit=1)
    second = await job_store.claim_due_jobs(now=ts(3), lease_until=ts(33), limit=10)
    during = await job_store.claim_due_jobs(now=ts(20), lease_until=ts(50), limit=10)
    after = await job_store.claim_due_jobs(now=ts(34), lease_until=ts(64), limit=10)

    assert [job.job_id for job in first] == ["job-1"]
    assert [job.job_id for job in second] == ["job-2"]
    assert during == []
    # Nobody removed them (a publisher that died): taken again once the lease ran out.
    assert [job.job_id for job in after] == ["job-1", "job-2"]


async def test_concurrent_takers_never_get_the_same_job(job_store: JobStore) -> None:
    await job_store.schedule_jobs([scheduled(f"job-{n:03}", 1) for n in range(60)])
    got: list[list[str]] = []

    async def take() -> None:
        jobs = await job_store.claim_due_jobs(now=ts(2), lease_until=ts(32), limit=25)
        got.append([job.job_id for job in jobs])

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(take)

    every = [job_id for batch in got for job_id in batch]
    assert len(every) == len(set(every)) == 60


async def test_removed_jobs_are_gone_from_the_scheduled_set_but_not_the_job_store(
    job_store: JobStore,
) -> None:
    await job_store.schedule_jobs([scheduled("job-1", 1), scheduled("job-2", 1)])
    await job_store.claim_due_jobs(now=ts(2), lease_until=ts(3), limit=10)

    await job_store.remove_scheduled(["job-1"])
    await job_store.remove_scheduled([])

    again = await job_store.claim_due_jobs(now=ts(10), lease_until=ts(40), limit=10)
    assert [job.job_id for job in again] == ["job-2"]
    assert await job_store.get_job("job-1") is not None


async def test_scheduling_a_stored_job_again_changes_nothing(job_store: JobStore) -> None:
    await job_store.schedule_jobs([scheduled("job-1", 10)])
    await job_store.schedule_jobs([scheduled("job-1", 99, at_s=5)])
    job = scheduled("job-ran", 1).spec
    await job_store.apply_transitions([JobTransition(job, JobStatus.VALIDATED, ts(1))])
    await job_store.schedule_jobs([scheduled("job-ran", 50)])

    record = await job_store.get_job("job-1")
    assert record is not None
    assert record.scheduled_for == ts(10)
    assert [
        j.job_id for j in await job_store.claim_due_jobs(now=ts(99), lease_until=ts(200), limit=9)
    ] == ["job-1"]
    ran = await job_store.get_job("job-ran")
    assert ran is not None
    assert (ran.status, ran.scheduled_for) == (JobStatus.VALIDATED, None)


async def test_the_run_keeps_the_scheduled_time_on_the_record(job_store: JobStore) -> None:
    job = scheduled("job-1", 1)
    await job_store.schedule_jobs([job])

    await job_store.apply_transitions(
        [
            JobTransition(job.spec, JobStatus.VALIDATED, ts(1)),
            JobTransition(job.spec, JobStatus.EXECUTING, ts(1)),
            JobTransition(job.spec, JobStatus.COMPLETED, ts(2), result={"ok": True}),
        ]
    )

    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, record.scheduled_for) == (
        JobStatus.COMPLETED,
        1,
        ts(1),
    )


async def test_a_cancel_makes_a_waiting_job_due_at_once_and_held(job_store: JobStore) -> None:
    job = scheduled("job-1", 3600)
    await job_store.schedule_jobs([job])

    answer = await job_store.request_cancel("job-1", requested_by="token:aaaa")

    assert answer.request is not None
    # Due now (the cancel's time is the wall clock's, long after the test's epoch).
    taken = await job_store.claim_due_jobs(now=ts(1), lease_until=ts(31), limit=10)
    assert taken == []
    taken = await job_store.claim_due_jobs(
        now=format_timestamp(datetime.now(UTC) + timedelta(seconds=1)),
        lease_until=format_timestamp(datetime.now(UTC) + timedelta(seconds=60)),
        limit=10,
    )
    assert [due.job_id for due in taken] == ["job-1"]
    # The processor's start is refused: it never runs.
    outcomes = await job_store.apply_transitions(
        [JobTransition(job.spec, JobStatus.VALIDATED, ts(3600))]
    )
    assert outcomes == [JobStatus.PENDING]


async def test_a_cancel_kept_while_queued_is_adopted_and_due_at_once(job_store: JobStore) -> None:
    await job_store.request_cancel("job-1", requested_by="token:aaaa")

    await job_store.schedule_jobs([scheduled("job-1", 3600, at_s=2)])

    record = await job_store.get_job("job-1")
    assert record is not None
    assert record.cancel_requested_by == "token:aaaa"
    taken = await job_store.claim_due_jobs(now=ts(2), lease_until=ts(32), limit=10)
    assert [due.job_id for due in taken] == ["job-1"]


async def test_scheduled_jobs_survive_reopening_the_store(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> None:
    async with open_job_store() as store:
        await store.schedule_jobs([scheduled("job-1", 5)])

    async with open_job_store() as store:
        record = await store.get_job("job-1")
        taken = await store.claim_due_jobs(now=ts(5), lease_until=ts(35), limit=10)

    assert record is not None
    assert record.scheduled_for == ts(5)
    assert [due.job_id for due in taken] == ["job-1"]


async def test_issue_18_count_scheduled_counts_the_delayed_jobs_until_removed(
    job_store: JobStore,
) -> None:
    assert await job_store.count_scheduled() == 0
    await job_store.schedule_jobs([scheduled("job-1", 1), scheduled("job-2", 50)])
    assert await job_store.count_scheduled() == 2

    [taken] = await job_store.claim_due_jobs(now=ts(5), lease_until=ts(35), limit=10)
    assert await job_store.count_scheduled() == 2  # taken, not published yet

    await job_store.remove_scheduled([taken.job_id])
    assert await job_store.count_scheduled() == 1
