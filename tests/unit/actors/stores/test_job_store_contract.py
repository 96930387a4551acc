"""The job store contract: every adapter (``open_job_store`` params) must pass all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.jobs import JobSpec, JobStatus, JobTransition

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    """A fixed-width timestamp ``seconds`` after a fixed epoch."""
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def spec(job_id: str, *, created_s: float = 0, job_type: str = "echo") -> JobSpec:
    return JobSpec(
        id=job_id,
        type=job_type,
        created_at=ts(created_s),
        correlation_id=f"corr-{job_id}",
        payload={"message": f"hello {job_id}", "nested": {"n": [1, 2]}},
        metadata={"source": "test"},
    )


def move(
    job: JobSpec,
    status: JobStatus,
    at_s: float,
    *,
    result: object = None,
    error: str | None = None,
) -> JobTransition:
    return JobTransition(job=job, status=status, at=ts(at_s), result=result, error=error)


async def test_first_transition_creates_the_job_from_its_spec(job_store: JobStore) -> None:
    job = spec("job-1")

    assert await job_store.apply_transitions([move(job, JobStatus.PENDING, 1)]) == [
        JobStatus.PENDING
    ]

    record = await job_store.get_job("job-1")
    assert record is not None
    assert record.spec == job
    assert record.status is JobStatus.PENDING
    assert record.updated_at == ts(1)
    assert (record.attempts, record.started_at, record.finished_at) == (0, None, None)
    assert (record.result, record.error) == (None, None)


async def test_a_job_first_seen_mid_lifecycle_is_created_in_that_state(
    job_store: JobStore,
) -> None:
    assert await job_store.apply_transitions([move(spec("job-1"), JobStatus.EXECUTING, 2)]) == [
        JobStatus.EXECUTING
    ]

    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, record.started_at) == (JobStatus.EXECUTING, 1, ts(2))


async def test_unknown_job_is_none(job_store: JobStore) -> None:
    assert await job_store.get_job("missing") is None


async def test_an_empty_batch_changes_nothing(job_store: JobStore) -> None:
    assert await job_store.apply_transitions([]) == []
    assert await job_store.recent_jobs(limit=10) == []


async def test_a_job_moves_forward_through_its_lifecycle(job_store: JobStore) -> None:
    job = spec("job-1")
    lifecycle = [JobStatus.PENDING, JobStatus.VALIDATED, JobStatus.EXECUTING, JobStatus.COMPLETED]

    outcomes = [
        await job_store.apply_transitions([move(job, status, at_s, result={"echo": "hi"})])
        for at_s, status in enumerate(lifecycle, start=1)
    ]

    assert outcomes == [[status] for status in lifecycle]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert record.status is JobStatus.COMPLETED
    assert (record.updated_at, record.started_at, record.finished_at) == (ts(4), ts(3), ts(4))
    assert (record.attempts, record.result, record.error) == (1, {"echo": "hi"}, None)


async def test_a_terminal_job_never_changes(job_store: JobStore) -> None:
    job = spec("job-1")
    await job_store.apply_transitions(
        [move(job, JobStatus.EXECUTING, 1), move(job, JobStatus.COMPLETED, 2, result=[1, 2])]
    )

    outcomes = await job_store.apply_transitions(
        [
            move(job, JobStatus.FAILED, 3, error="late failure"),
            move(job, JobStatus.VALIDATED, 4),
            move(job, JobStatus.EXECUTING, 5),
            move(job, JobStatus.COMPLETED, 6, result="other"),
        ]
    )

    assert outcomes == [JobStatus.COMPLETED] * 4
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.result, record.error) == (JobStatus.COMPLETED, [1, 2], None)
    assert (record.attempts, record.finished_at, record.updated_at) == (1, ts(2), ts(2))


async def test_a_job_never_moves_back_to_a_lower_rank(job_store: JobStore) -> None:
    job = spec("job-1")
    await job_store.apply_transitions([move(job, JobStatus.EXECUTING, 2)])

    outcomes = await job_store.apply_transitions(
        [move(job, JobStatus.VALIDATED, 3), move(job, JobStatus.PENDING, 4)]
    )

    assert outcomes == [JobStatus.EXECUTING, JobStatus.EXECUTING]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.EXECUTING, 1)


async def test_every_move_into_executing_counts_an_attempt(job_store: JobStore) -> None:
    job = spec("job-1")

    await job_store.apply_transitions([move(job, JobStatus.EXECUTING, 1)])
    await job_store.apply_transitions([move(job, JobStatus.EXECUTING, 5)])

    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.attempts, record.started_at) == (2, ts(5))


async def test_result_of_a_completed_and_error_of_a_failed_job_are_stored(
    job_store: JobStore,
) -> None:
    done, broken = spec("done"), spec("broken")

    await job_store.apply_transitions(
        [
            move(done, JobStatus.COMPLETED, 1, result={"answer": 42, "items": ["a", None]}),
            move(broken, JobStatus.FAILED, 2, error="ValueError: bad input"),
        ]
    )

    done_record = await job_store.get_job("done")
    broken_record = await job_store.get_job("broken")
    assert done_record is not None
    assert broken_record is not None
    assert (done_record.result, done_record.error) == ({"answer": 42, "items": ["a", None]}, None)
    assert (broken_record.status, broken_record.error) == (
        JobStatus.FAILED,
        "ValueError: bad input",
    )
    assert (broken_record.result, broken_record.finished_at) == (None, ts(2))


async def test_each_transition_of_a_batch_reports_its_own_outcome(job_store: JobStore) -> None:
    job = spec("job-1")

    outcomes = await job_store.apply_transitions(
        [
            move(job, JobStatus.PENDING, 1),
            move(job, JobStatus.VALIDATED, 2),
            move(job, JobStatus.PENDING, 3),
            move(job, JobStatus.EXECUTING, 4),
            move(job, JobStatus.FAILED, 5, error="boom"),
            move(job, JobStatus.COMPLETED, 6),
        ]
    )

    assert outcomes == [
        JobStatus.PENDING,
        JobStatus.VALIDATED,
        JobStatus.VALIDATED,
        JobStatus.EXECUTING,
        JobStatus.FAILED,
        JobStatus.FAILED,
    ]


async def test_a_batch_of_a_thousand_transitions_applies_in_one_call(job_store: JobStore) -> None:
    jobs = [spec(f"job-{n:04d}", created_s=n) for n in range(250)]
    lifecycle = [JobStatus.PENDING, JobStatus.VALIDATED, JobStatus.EXECUTING, JobStatus.COMPLETED]
    batch = [
        move(job, status, at_s=1000 + step, result={"n": n})
        for step, status in enumerate(lifecycle)
        for n, job in enumerate(jobs)
    ]

    outcomes = await job_store.apply_transitions(batch)

    assert len(batch) == 1000
    assert outcomes == [transition.status for transition in batch]
    completed = await job_store.recent_jobs(limit=1000, status=JobStatus.COMPLETED)
    assert len(completed) == 250
    record = await job_store.get_job("job-0007")
    assert record is not None
    assert (record.attempts, record.result) == (1, {"n": 7})


async def test_recent_jobs_are_newest_first_then_by_id(job_store: JobStore) -> None:
    await job_store.apply_transitions(
        [
            move(spec("b", created_s=2), JobStatus.PENDING, 10),
            move(spec("a", created_s=2), JobStatus.PENDING, 10),
            move(spec("old", created_s=1), JobStatus.PENDING, 10),
            move(spec("new", created_s=3), JobStatus.PENDING, 10),
        ]
    )

    recent = await job_store.recent_jobs(limit=10)

    assert [record.id for record in recent] == ["new", "b", "a", "old"]


async def test_recent_jobs_pages_with_limit_and_offset(job_store: JobStore) -> None:
    await job_store.apply_transitions(
        [move(spec(f"job-{n}", created_s=n), JobStatus.PENDING, 10) for n in range(5)]
    )

    first = await job_store.recent_jobs(limit=2)
    second = await job_store.recent_jobs(limit=2, offset=2)
    last = await job_store.recent_jobs(limit=2, offset=4)

    assert [record.id for record in first + second + last] == [
        "job-4",
        "job-3",
        "job-2",
        "job-1",
        "job-0",
    ]
    assert await job_store.recent_jobs(limit=2, offset=5) == []


async def test_recent_jobs_filter_by_status_and_type(job_store: JobStore) -> None:
    echo_done = spec("echo-done", created_s=1, job_type="echo")
    echo_new = spec("echo-new", created_s=2, job_type="echo")
    sleep_done = spec("sleep-done", created_s=3, job_type="sleep")
    await job_store.apply_transitions(
        [
            move(echo_done, JobStatus.COMPLETED, 5),
            move(echo_new, JobStatus.PENDING, 5),
            move(sleep_done, JobStatus.COMPLETED, 5),
        ]
    )

    by_status = await job_store.recent_jobs(limit=10, status=JobStatus.COMPLETED)
    by_type = await job_store.recent_jobs(limit=10, job_type="echo")
    by_both = await job_store.recent_jobs(limit=10, status=JobStatus.COMPLETED, job_type="echo")
    by_nothing = await job_store.recent_jobs(limit=10, status=JobStatus.FAILED)

    assert [record.id for record in by_status] == ["sleep-done", "echo-done"]
    assert [record.id for record in by_type] == ["echo-new", "echo-done"]
    assert [record.id for record in by_both] == ["echo-done"]
    assert by_nothing == []


async def test_recent_jobs_refuses_a_negative_limit(job_store: JobStore) -> None:
    with pytest.raises(ValueError, match=r"^limit must not be negative, not -1\.$"):
        await job_store.recent_jobs(limit=-1)


async def test_jobs_survive_closing_and_reopening_the_store(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> None:
    job = spec("job-1")
    async with open_job_store() as store:
        await store.apply_transitions(
            [move(job, JobStatus.EXECUTING, 1), move(job, JobStatus.COMPLETED, 2, result="ok")]
        )

    async with open_job_store() as reopened:
        record = await reopened.get_job("job-1")
        outcome = await reopened.apply_transitions([move(job, JobStatus.FAILED, 3)])

    assert record is not None
    assert (record.spec, record.status, record.result, record.attempts) == (
        job,
        JobStatus.COMPLETED,
        "ok",
        1,
    )
    assert outcome == [JobStatus.COMPLETED]


# -- retries and cancel (issue 8) ---------------------------------------------------------


def attempt_move(
    job: JobSpec,
    status: JobStatus,
    at_s: float,
    attempt: int,
    *,
    error: str | None = None,
    retry_at_s: float | None = None,
    cancelled: bool = False,
) -> JobTransition:
    return JobTransition(
        job=job,
        status=status,
        at=ts(at_s),
        error=error,
        attempt=attempt,
        retry_at=None if retry_at_s is None else ts(retry_at_s),
        cancelled=cancelled,
    )


async def test_issue_8_a_retry_moves_the_job_back_to_pending_with_its_error_recorded(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    await job_store.apply_transitions(
        [move(job, JobStatus.VALIDATED, 1), move(job, JobStatus.EXECUTING, 2)]
    )

    outcome = await job_store.apply_transitions(
        [attempt_move(job, JobStatus.PENDING, 3, 1, error="boom", retry_at_s=4)]
    )

    assert outcome == [JobStatus.PENDING]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, record.next_attempt_at) == (
        JobStatus.PENDING,
        1,
        ts(4),
    )
    assert [entry.to_json() for entry in record.errors] == [
        {"attempt": 1, "error": "boom", "at": ts(3)}
    ]
    assert (record.error, record.failed_attempts) == (None, 1)
    assert record.to_json()["errors"] == [{"attempt": 1, "error": "boom", "at": ts(3)}]
    assert record.to_json()["nextAttemptAt"] == ts(4)


async def test_issue_8_attempts_and_errors_accumulate_until_the_final_outcome(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    for attempt in (1, 2):
        base = attempt * 10
        await job_store.apply_transitions(
            [
                attempt_move(job, JobStatus.VALIDATED, base, attempt),
                attempt_move(job, JobStatus.EXECUTING, base + 1, attempt),
                attempt_move(
                    job, JobStatus.PENDING, base + 2, attempt, error=f"e{attempt}", retry_at_s=99
                ),
            ]
        )
    outcome = await job_store.apply_transitions(
        [
            attempt_move(job, JobStatus.VALIDATED, 30, 3),
            attempt_move(job, JobStatus.EXECUTING, 31, 3),
            attempt_move(job, JobStatus.FAILED, 32, 3, error="e3"),
        ]
    )

    assert outcome == [JobStatus.VALIDATED, JobStatus.EXECUTING, JobStatus.FAILED]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, record.error, record.next_attempt_at) == (
        JobStatus.FAILED,
        3,
        "e3",
        None,
    )
    assert [(e.attempt, e.error) for e in record.errors] == [(1, "e1"), (2, "e2"), (3, "e3")]


async def test_issue_8_several_attempts_in_one_batch_append_every_error_in_order(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    await job_store.apply_transitions(
        [
            attempt_move(job, JobStatus.EXECUTING, 1, 1),
            attempt_move(job, JobStatus.PENDING, 2, 1, error="e1", retry_at_s=3),
        ]
    )

    outcomes = await job_store.apply_transitions(
        [
            attempt_move(job, JobStatus.VALIDATED, 4, 2),
            attempt_move(job, JobStatus.EXECUTING, 5, 2),
            attempt_move(job, JobStatus.PENDING, 6, 2, error="e2", retry_at_s=7),
            attempt_move(job, JobStatus.EXECUTING, 7, 2),  # stale: attempt 2 just failed
            attempt_move(job, JobStatus.VALIDATED, 8, 3),
            attempt_move(job, JobStatus.EXECUTING, 9, 3),
            attempt_move(job, JobStatus.FAILED, 10, 3, error="e3"),
        ]
    )

    assert outcomes == [
        JobStatus.VALIDATED,
        JobStatus.EXECUTING,
        JobStatus.PENDING,
        JobStatus.PENDING,
        JobStatus.VALIDATED,
        JobStatus.EXECUTING,
        JobStatus.FAILED,
    ]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert [entry.to_json() for entry in record.errors] == [
        {"attempt": 1, "error": "e1", "at": ts(2)},
        {"attempt": 2, "error": "e2", "at": ts(6)},
        {"attempt": 3, "error": "e3", "at": ts(10)},
    ]
    assert (record.status, record.attempts, record.error, record.started_at) == (
        JobStatus.FAILED,
        3,
        "e3",
        ts(9),
    )
    assert (record.next_attempt_at, record.finished_at, record.updated_at) == (
        None,
        ts(10),
        ts(10),
    )


async def test_issue_8_transitions_of_an_attempt_that_already_failed_change_nothing(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    await job_store.apply_transitions(
        [
            attempt_move(job, JobStatus.EXECUTING, 1, 1),
            attempt_move(job, JobStatus.PENDING, 2, 1, error="boom", retry_at_s=5),
        ]
    )

    stale = await job_store.apply_transitions(
        [
            attempt_move(job, JobStatus.VALIDATED, 3, 1),
            attempt_move(job, JobStatus.EXECUTING, 3, 1),
            attempt_move(job, JobStatus.PENDING, 3, 1, error="again", retry_at_s=9),
            attempt_move(job, JobStatus.COMPLETED, 4, 1),
        ]
    )

    assert stale == [JobStatus.PENDING] * 4
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, len(record.errors), record.next_attempt_at) == (
        JobStatus.PENDING,
        1,
        1,
        ts(5),
    )


async def test_issue_14_a_cancel_is_accepted_until_the_job_ends(job_store: JobStore) -> None:
    waiting, running, done = spec("job-1"), spec("job-2"), spec("job-3")
    await job_store.apply_transitions(
        [
            move(waiting, JobStatus.VALIDATED, 1),
            move(running, JobStatus.EXECUTING, 1),
            move(done, JobStatus.COMPLETED, 1),
        ]
    )

    marked = await job_store.request_cancel("job-1", requested_by="token:aaaa")
    again = await job_store.request_cancel("job-1", requested_by="token:bbbb")
    busy = await job_store.request_cancel("job-2", requested_by="address:127.0.0.1")
    finished = await job_store.request_cancel("job-3", requested_by="token:aaaa")

    assert marked.status is JobStatus.VALIDATED
    assert marked.request is not None
    assert (marked.request.job_id, marked.request.requested_by) == ("job-1", "token:aaaa")
    assert again == marked  # the first request is kept
    assert busy.status is JobStatus.EXECUTING
    assert busy.request is not None
    assert (finished.status, finished.request) == (JobStatus.COMPLETED, None)
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.cancel_requested_at, record.cancel_requested_by) == (
        marked.request.requested_at,
        "token:aaaa",
    )
    assert record.to_json()["cancelRequestedAt"] == marked.request.requested_at
    assert record.to_json()["cancelRequestedBy"] == "token:aaaa"
    ended = await job_store.get_job("job-3")
    assert ended is not None
    assert (ended.cancel_requested_at, ended.cancel_requested_by) == (None, None)
    assert ended.status is JobStatus.COMPLETED


async def test_issue_14_the_requests_of_running_jobs_are_found_by_id(job_store: JobStore) -> None:
    await job_store.apply_transitions(
        [move(spec(f"job-{n}"), JobStatus.EXECUTING, 1) for n in range(3)]
    )
    first = await job_store.request_cancel("job-0", requested_by="token:aaaa")
    queued = await job_store.request_cancel("job-9", requested_by="token:bbbb")

    found = await job_store.cancel_requests(["job-0", "job-1", "job-9", "missing"])

    assert first.request is not None
    assert queued.request is not None
    assert found == {"job-0": first.request, "job-9": queued.request}
    assert await job_store.cancel_requests([]) == {}


async def test_issue_14_a_job_cancelled_while_queued_is_created_marked_and_never_started(
    job_store: JobStore,
) -> None:
    job = spec("job-1")

    answer = await job_store.request_cancel("job-1", requested_by="address:10.0.0.1")
    started = await job_store.apply_transitions(
        [move(job, JobStatus.VALIDATED, 2), move(job, JobStatus.EXECUTING, 2)]
    )
    again = await job_store.apply_transitions([move(job, JobStatus.EXECUTING, 3)])
    ended = await job_store.apply_transitions(
        [attempt_move(job, JobStatus.FAILED, 4, 1, error="cancelled", cancelled=True)]
    )

    # Not stored when asked: the request is kept for the processor that takes the job.
    assert answer.status is None
    assert answer.request is not None
    assert started == [JobStatus.PENDING, JobStatus.PENDING]
    assert again == [JobStatus.PENDING]
    assert ended == [JobStatus.FAILED]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.error, record.attempts, record.errors) == (
        JobStatus.FAILED,
        "cancelled",
        0,
        (),
    )
    assert record.spec == job
    assert (record.cancel_requested_at, record.cancel_requested_by) == (
        answer.request.requested_at,
        "address:10.0.0.1",
    )
    # Adopted by the job: the same request, now its marker.
    assert await job_store.cancel_requests(["job-1"]) == {"job-1": answer.request}


async def test_issue_14_a_running_job_cancelled_ends_failed_keeping_its_attempt(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    await job_store.apply_transitions([attempt_move(job, JobStatus.EXECUTING, 1, 1)])
    assert (await job_store.request_cancel("job-1", requested_by="t")).request is not None

    # A late start of the same attempt is refused; the cancelled end applies.
    late = await job_store.apply_transitions([attempt_move(job, JobStatus.EXECUTING, 2, 1)])
    ended = await job_store.apply_transitions(
        [attempt_move(job, JobStatus.FAILED, 3, 1, error="cancelled", cancelled=True)]
    )

    assert (late, ended) == ([JobStatus.EXECUTING], [JobStatus.FAILED])
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.error, record.attempts, record.errors) == (
        JobStatus.FAILED,
        "cancelled",
        1,
        (),
    )


async def test_issue_8_a_cancelled_job_is_never_started_and_ends_failed_without_an_attempt(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    await job_store.apply_transitions(
        [
            attempt_move(job, JobStatus.EXECUTING, 1, 1),
            attempt_move(job, JobStatus.PENDING, 2, 1, error="boom", retry_at_s=5),
        ]
    )
    assert (await job_store.request_cancel("job-1", requested_by="t")).request is not None

    held = await job_store.apply_transitions(
        [attempt_move(job, JobStatus.VALIDATED, 3, 2), attempt_move(job, JobStatus.EXECUTING, 3, 2)]
    )
    ended = await job_store.apply_transitions(
        [attempt_move(job, JobStatus.FAILED, 4, 2, error="cancelled", cancelled=True)]
    )

    assert held == [JobStatus.PENDING, JobStatus.PENDING]
    assert ended == [JobStatus.FAILED]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.error, record.attempts, len(record.errors)) == (
        JobStatus.FAILED,
        "cancelled",
        1,
        1,
    )


async def test_issue_16_an_interrupted_attempt_is_given_back_and_runs_again_as_the_same(
    job_store: JobStore,
) -> None:
    job = spec("job-1")
    await job_store.apply_transitions(
        [move(job, JobStatus.VALIDATED, 1), move(job, JobStatus.EXECUTING, 2)]
    )
    interrupted = JobTransition(job, JobStatus.PENDING, ts(3), attempt=1, interrupted=True)

    assert await job_store.apply_transitions([interrupted]) == [JobStatus.PENDING]

    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, record.errors) == (JobStatus.PENDING, 0, ())
    assert (record.started_at, record.next_attempt_at, record.failed_attempts) == (ts(2), None, 0)
    # The redelivered attempt 1 starts again and counts once.
    assert await job_store.apply_transitions(
        [move(job, JobStatus.VALIDATED, 4), move(job, JobStatus.EXECUTING, 5)]
    ) == [JobStatus.VALIDATED, JobStatus.EXECUTING]
    assert await job_store.apply_transitions([move(job, JobStatus.COMPLETED, 6)]) == [
        JobStatus.COMPLETED
    ]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts, record.started_at) == (JobStatus.COMPLETED, 1, ts(5))


async def test_issue_16_an_interruption_of_a_job_not_running_changes_nothing(
    job_store: JobStore,
) -> None:
    done, queued = spec("job-1"), spec("job-2")
    await job_store.apply_transitions(
        [move(done, JobStatus.EXECUTING, 1), move(done, JobStatus.COMPLETED, 2)]
    )

    outcome = await job_store.apply_transitions(
        [
            JobTransition(done, JobStatus.PENDING, ts(3), interrupted=True),
            JobTransition(queued, JobStatus.PENDING, ts(3), interrupted=True),
        ]
    )

    assert outcome == [JobStatus.COMPLETED, JobStatus.PENDING]
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.COMPLETED, 1)
    assert await job_store.get_job("job-2") is None
