"""Retention in the store contracts (issue 17, item 4): every job store (memory, SQLite,
PostgreSQL), event store (SQLite, MongoDB) and dead-letter store (SQLite, MongoDB) lists
and deletes only what is old enough, and a job that is not terminal is never pruned; a
pruned job's claim in the gateway's ledger goes with it (a resubmission is a new job)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.dead_letters import DeadLetter, dead_letter_id
from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.submissions import (
    IDEMPOTENCY_STALE_S,
    ClaimOutcome,
    Fingerprint,
    Submission,
)
from actors.errors import ValidationIssue

if TYPE_CHECKING:
    from actors.stores import DeadLetterStore, EventStore, JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")
P, V, E, C, F = (
    JobStatus.PENDING,
    JobStatus.VALIDATED,
    JobStatus.EXECUTING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
)


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def spec(job_id: str, created_s: float) -> JobSpec:
    return JobSpec(id=job_id, type="echo", created_at=ts(created_s), correlation_id="c")


def step(
    job: JobSpec, status: JobStatus, at_s: float, *, round_: int = 1, error: str | None = None
) -> JobTransition:
    return JobTransition(job=job, status=status, at=ts(at_s), error=error, round=round_)


async def _finished(store: JobStore, job_id: str, created_s: float, status: JobStatus) -> None:
    job = spec(job_id, created_s)
    await store.apply_transitions(
        [
            step(job, V, created_s),
            step(job, E, created_s),
            step(job, status, created_s + 5, error="boom" if status is F else None),
        ]
    )


async def test_only_terminal_jobs_finished_before_the_cutoff_are_listed(
    job_store: JobStore,
) -> None:
    await _finished(job_store, "done-old", 1, C)  # finished at 6
    await _finished(job_store, "failed-old", 2, F)  # finished at 7
    await _finished(job_store, "done-late", 8, C)  # created before, finished at 13
    await _finished(job_store, "done-new", 20, C)
    await job_store.apply_transitions([step(spec("waiting-old", 0), P, 0)])
    await job_store.apply_transitions([step(spec("running-old", 0), E, 0)])

    listed = await job_store.prunable_jobs(finished_before=ts(10), limit=10)

    assert listed == [(ts(1), "done-old"), (ts(2), "failed-old")]


async def test_prunable_jobs_page_by_keyset_oldest_first(job_store: JobStore) -> None:
    for n in range(5):
        await _finished(job_store, f"job-{n}", n, C)

    first = await job_store.prunable_jobs(finished_before=ts(100), limit=2)
    second = await job_store.prunable_jobs(finished_before=ts(100), limit=2, after=first[-1])
    third = await job_store.prunable_jobs(finished_before=ts(100), limit=2, after=second[-1])

    assert [job_id for _, job_id in first + second + third] == [f"job-{n}" for n in range(5)]


async def test_remove_jobs_deletes_only_jobs_still_prunable(job_store: JobStore) -> None:
    await _finished(job_store, "done-old", 1, C)
    await _finished(job_store, "done-new", 20, C)
    await job_store.apply_transitions([step(spec("running-old", 0), E, 0)])

    removed = await job_store.remove_jobs(
        ["done-old", "done-new", "running-old", "missing"], finished_before=ts(10)
    )

    assert removed == 1
    assert await job_store.get_job("done-old") is None
    assert await job_store.get_job("done-new") is not None
    assert await job_store.get_job("running-old") is not None
    assert await job_store.remove_jobs([], finished_before=ts(10)) == 0


def claim(job_id: str, submitted_s: float, event_id: str = "event-1") -> Submission:
    fingerprint = Fingerprint.of({"type": "echo", "payload": {}, "metadata": {}}).encode()
    return Submission(job_id, fingerprint, event_id, ts(submitted_s))


async def test_remove_jobs_forgets_the_ledger_claims_of_the_jobs_it_removes(
    job_store: JobStore,
) -> None:
    cutoff_s = 1000.0
    confirmed = [claim(job_id, 0) for job_id in ("done-old", "done-new", "running-old")]
    await job_store.claim_submissions(confirmed)
    await job_store.settle_submissions(confirmed, [])
    # Unconfirmed (a gateway stopped before its confirm): one long ago, and one whose
    # publish may still be under way (within IDEMPOTENCY_STALE_S of the cutoff).
    await job_store.claim_submissions(
        [claim("failed-old", 0), claim("done-racing", cutoff_s - IDEMPOTENCY_STALE_S / 2)]
    )
    await _finished(job_store, "done-old", 1, C)
    await _finished(job_store, "failed-old", 2, F)
    await _finished(job_store, "done-racing", 3, C)
    await _finished(job_store, "done-new", cutoff_s + 1, C)
    await job_store.apply_transitions([step(spec("running-old", 0), E, 0)])

    removed = await job_store.remove_jobs(
        ["done-old", "failed-old", "done-racing", "done-new", "running-old"],
        finished_before=ts(cutoff_s),
    )

    assert removed == 3
    again = await job_store.claim_submissions(
        [
            claim(job_id, cutoff_s + 10, event_id="event-2")
            for job_id in ("done-old", "failed-old", "done-racing", "done-new", "running-old")
        ]
    )
    assert {c.submission.job_id: (c.outcome, c.event_id) for c in again} == {
        # Pruned with its job: the id is free again, a new job under a new event id.
        "done-old": (ClaimOutcome.NEW, "event-2"),
        "failed-old": (ClaimOutcome.NEW, "event-2"),
        # Its job went, but the claim may be a publish still under way: kept.
        "done-racing": (ClaimOutcome.PENDING, "event-1"),
        # Jobs not removed keep their claims.
        "done-new": (ClaimOutcome.DUPLICATE, "event-1"),
        "running-old": (ClaimOutcome.DUPLICATE, "event-1"),
    }


async def test_a_pruned_job_id_submitted_again_is_stored_as_a_new_job(
    job_store: JobStore,
) -> None:
    first = claim("job-1", 0)
    await job_store.claim_submissions([first])
    await job_store.settle_submissions([first], [])
    await _finished(job_store, "job-1", 1, F)
    assert await job_store.remove_jobs(["job-1"], finished_before=ts(10)) == 1

    [again] = await job_store.claim_submissions([claim("job-1", 20, event_id="event-2")])
    await job_store.apply_transitions([step(spec("job-1", 20), P, 20)])

    assert (again.outcome, again.event_id) == (ClaimOutcome.NEW, "event-2")
    record = await job_store.get_job("job-1")
    assert record is not None
    assert (record.status, record.spec.created_at, record.attempts) == (P, ts(20), 0)


async def test_a_job_being_retried_is_not_terminal_and_never_pruned(job_store: JobStore) -> None:
    await _finished(job_store, "retried", 1, F)
    listed = await job_store.prunable_jobs(finished_before=ts(100), limit=10)
    assert listed == [(ts(1), "retried")]
    # A retry starts round 2 after the job was listed: it is no longer terminal.
    job = spec("retried", 1)
    await job_store.apply_transitions([step(job, V, 50, round_=2)])

    assert await job_store.prunable_jobs(finished_before=ts(100), limit=10) == []
    assert await job_store.remove_jobs(["retried"], finished_before=ts(100)) == 0
    record = await job_store.get_job("retried")
    assert record is not None
    assert (record.status, record.round) == (V, 2)


async def test_prunable_jobs_refuses_a_negative_limit(job_store: JobStore) -> None:
    with pytest.raises(ValueError, match=r"^limit must not be negative, not -1\.$"):
        await job_store.prunable_jobs(finished_before=ts(1), limit=-1)


def event(job_id: str, event_type: EventType, at_s: float) -> Envelope:
    return Envelope(
        event_type=event_type,
        event_id=lifecycle_event_id(job_id, event_type, 1),
        occurred_at=ts(at_s),
        producer=_PRODUCER,
        correlation_id="c",
        idempotency_key=job_id,
        payload={"id": job_id, "type": "echo"},
    )


async def test_events_of_jobs_are_counted_and_removed_and_no_others(
    event_store: EventStore,
) -> None:
    lifecycle = (EventType.CREATED, EventType.VALIDATED, EventType.COMPLETED)
    await event_store.append(
        [event(job_id, kind, n) for n, job_id in enumerate(("a", "b", "c")) for kind in lifecycle]
    )

    assert await event_store.count_events_of_jobs(["a", "b", "missing"]) == 6
    assert await event_store.count_events_of_jobs([]) == 0
    assert await event_store.remove_events_of_jobs(["a", "b"]) == 6

    assert await event_store.events_for_job("a") == []
    assert len(await event_store.events_for_job("c")) == 3
    assert await event_store.count_events_of_jobs(["a", "b"]) == 0
    assert await event_store.remove_events_of_jobs([]) == 0


def dead_letter(name: str, at_s: float) -> DeadLetter:
    body = name.encode()
    return DeadLetter(
        dead_letter_id=dead_letter_id("jobs.created", name, body),
        queue="jobs.created",
        reason="Not a valid envelope.",
        errors=[ValidationIssue("", "'eventId' is a required property.")],
        body=body,
        occurred_at=ts(at_s),
        service="processor",
        version="0.1.0",
        message_id=name,
    )


async def test_old_dead_letters_are_counted_and_removed_in_batches_oldest_first(
    dead_letter_store: DeadLetterStore,
) -> None:
    await dead_letter_store.add([dead_letter(f"dl-{n}", n) for n in range(5)])

    assert await dead_letter_store.count_older(before=ts(3)) == 3
    assert await dead_letter_store.remove_older(before=ts(3), limit=2) == 2
    assert await dead_letter_store.get(dead_letter("dl-0", 0).dead_letter_id) is None
    assert await dead_letter_store.get(dead_letter("dl-2", 2).dead_letter_id) is not None
    assert await dead_letter_store.remove_older(before=ts(3), limit=2) == 1
    assert await dead_letter_store.remove_older(before=ts(3), limit=2) == 0
    assert await dead_letter_store.count() == 2
    assert await dead_letter_store.count_older(before=ts(3)) == 0
