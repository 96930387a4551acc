"""In-process stores: counters, rebuilt from the event store when the embedded observatory
starts, and a job store (for tests and tools that need no file)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.clock import utc_now
from actors.domain.events import EventType
from actors.domain.jobs import (
    TERMINAL_STATUSES,
    CancelAnswer,
    CancelRequest,
    JobRecord,
    JobSpec,
    JobStatus,
)
from actors.domain.lifecycle import LifecycleState, cancel_refusal, plan_batch
from actors.domain.scheduling import DueJob
from actors.domain.stats import Stats, envelope_move
from actors.stores._memory_schedules import MemorySchedules
from actors.stores._memory_submissions import MemoryLedger

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.broker import OutgoingMessage
    from actors.domain.events import Envelope
    from actors.domain.jobs import JobTransition
    from actors.domain.lifecycle import JobEffect
    from actors.domain.scheduling import ScheduledJob
    from actors.domain.search import JobPage, JobQuery
    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        IdempotencyRecord,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )
    from actors.stores._protocols import EventStore

__all__ = ["MemoryCounters", "MemoryJobStore", "rebuild_counters"]

_REPLAY_BATCH_SIZE = 500
"""Events applied per step while rebuilding."""


class MemoryCounters:
    """A :class:`~actors.stores.Counters` kept in memory, following :mod:`actors.domain.stats`.

    Every event moves ``lastEventTime``; events that move a counter (:func:`~actors.domain.stats.counter_move`) are
    counted once per ``eventId`` (the ids counted are remembered for the process's life,
    one per job for each counted type). Nothing survives a restart: :meth:`rebuild`
    replays the event store, which holds every event exactly once.
    """

    def __init__(self, *, remember_ids: bool = True) -> None:
        self._stats = Stats()
        self._counted_ids: set[str] = set()
        self.remember_ids = remember_ids
        """``False``: every event applied is counted, the caller having left out those
        counted before (the embedded observatory counts what its event store newly
        stored), so memory does not grow with every job ever run."""

    def __repr__(self) -> str:
        stats = self._stats
        return (
            f"<MemoryCounters total={stats.total_jobs} completed={stats.completed_jobs} "
            f"failed={stats.failed_jobs} last_event_time={stats.last_event_time!r}>"
        )

    def is_available(self) -> bool:
        """Always: the counters live in this process."""
        return True

    async def apply(self, events: Sequence[Envelope]) -> int:
        """Count ``events``; an ``eventId`` already counted is skipped.

        Returns:
            How many events changed a counter (new events of a counted type). Events of
            other types only move ``lastEventTime`` and are not included.
        """
        await anyio.lowlevel.checkpoint()
        return self._apply(events)

    async def snapshot(self) -> Stats:
        """A copy of the counters now; later events do not change it."""
        await anyio.lowlevel.checkpoint()
        return copy.deepcopy(self._stats)

    def counted_ids(self) -> frozenset[str]:
        """The ids of the events counted so far (what a copy elsewhere must remember)."""
        return frozenset(self._counted_ids)

    async def lost(self) -> bool:
        """Never: they live and die with this process."""
        await anyio.lowlevel.checkpoint()
        return False

    async def rebuild(self, events: EventStore) -> None:
        """Replace the counters with the result of replaying every event in ``events``.

        Call it at start, before live events are applied: events applied while it runs
        are discarded with the old state.

        Raises:
            StoreUnavailable: the event store cannot be read; the counters are unchanged.
        """
        rebuilt = MemoryCounters(remember_ids=self.remember_ids)
        batch: list[Envelope] = []
        async for event in events.iter_events(frozenset(EventType)):
            batch.append(event)
            if len(batch) >= _REPLAY_BATCH_SIZE:
                rebuilt._apply(batch)
                batch.clear()
        rebuilt._apply(batch)
        self._stats, self._counted_ids = rebuilt._stats, rebuilt._counted_ids

    def _apply(self, events: Sequence[Envelope]) -> int:
        new = 0
        for event in events:
            if envelope_move(event) is not None:
                if self.remember_ids:
                    if event.event_id in self._counted_ids:
                        continue
                    self._counted_ids.add(event.event_id)
                new += 1
            self._stats.count(
                event.event_type, event.job_type, event.occurred_at, event.payload, event.event_id
            )
        return new


async def rebuild_counters(events: EventStore) -> MemoryCounters:
    """Return new :class:`MemoryCounters` holding every event of ``events`` counted.

    Raises:
        StoreUnavailable: the event store cannot be read.
    """
    counters = MemoryCounters()
    await counters.rebuild(events)
    return counters


def _json_copy(value: object) -> object:
    """``value`` as a store keeps it: through JSON, as the SQL stores write it."""
    return json.loads(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _stored_spec(spec: JobSpec) -> JobSpec:
    """``spec`` with its JSON values copied."""
    return JobSpec(
        id=spec.id,
        type=spec.type,
        created_at=spec.created_at,
        correlation_id=spec.correlation_id,
        payload=_mapping(_json_copy(dict(spec.payload))),
        metadata=_mapping(_json_copy(dict(spec.metadata))),
        priority=spec.priority,
    )


def _stored(effect: JobEffect) -> JobEffect:
    """``effect`` with its JSON values copied, so callers' objects are never shared."""
    spec = effect.spec
    if spec is not None:
        spec = _stored_spec(spec)
    result = None if effect.result is None else _json_copy(effect.result)
    return replace(effect, spec=spec, result=result)


def _mapping(value: object) -> dict[str, object]:
    assert isinstance(value, dict)  # a dict survives a JSON round trip as one
    return value


def _request(record: JobRecord) -> CancelRequest:
    """The cancel request a stored job carries (its marker must be set)."""
    assert record.cancel_requested_at is not None
    return CancelRequest(
        record.id, record.cancel_requested_at, record.cancel_requested_by or "unknown"
    )


class MemoryJobStore(MemorySchedules):
    """A :class:`~actors.stores.JobStore` kept in memory, one record per job.

    It plans every batch with :func:`~actors.domain.lifecycle.plan_batch`, like the SQL
    stores, and keeps JSON values (payload, metadata, result) as those stores would: a
    copy through JSON. Nothing survives the process; calls are atomic (they never await
    halfway through a change).
    """

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, JobRecord] = {}
        self._cancels: dict[str, CancelRequest] = {}
        self._ledger = MemoryLedger()
        self._scheduled: dict[str, _Waiting] = {}
        """Delayed jobs not published yet, by job id."""

    def __repr__(self) -> str:
        return f"<MemoryJobStore jobs={len(self._jobs)}>"

    def is_available(self) -> bool:
        """Always: the jobs live in this process."""
        return True

    async def apply_transitions(self, transitions: Sequence[JobTransition]) -> list[JobStatus]:
        """Apply ``transitions`` in order, all or nothing; see :class:`~actors.stores.JobStore`.

        Raises:
            TypeError: a value JSON cannot hold; nothing was applied.
        """
        await anyio.lowlevel.checkpoint()
        states = {
            job_id: LifecycleState.of(record)
            for transition in transitions
            if (record := self._jobs.get(job_id := transition.job.id)) is not None
        }
        queued = {
            job_id: request
            for transition in transitions
            if (job_id := transition.job.id) not in states
            and (request := self._cancels.get(job_id)) is not None
        }
        plan = plan_batch(transitions, states, queued_cancels=queued)
        # Copied first: a value JSON cannot hold fails the call before anything changes.
        effects = [_stored(effect) for effect in plan.effects]
        for effect in effects:
            self._jobs[effect.job_id] = effect.applied_to(self._jobs.get(effect.job_id))
            if effect.cancel_request is not None:
                # Adopted: the stored job carries the request from now on.
                del self._cancels[effect.job_id]
        return [status for status in plan.outcomes if status is not None]

    async def request_cancel(self, job_id: str, *, requested_by: str) -> CancelAnswer:
        """Ask for a job to be cancelled; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        record = self._jobs.get(job_id)
        state = None if record is None else LifecycleState.of(record)
        if cancel_refusal(state) is not None:
            assert record is not None
            return CancelAnswer(job_id, record.status, None)
        if record is None:
            request = self._cancels.setdefault(
                job_id, CancelRequest(job_id, utc_now(), requested_by)
            )
            return CancelAnswer(job_id, None, request)
        if record.cancel_requested_at is None:
            record = self._jobs[job_id] = replace(
                record, cancel_requested_at=utc_now(), cancel_requested_by=requested_by
            )
        if (waiting := self._scheduled.get(job_id)) is not None:
            # Due at once: the processor ends it cancelled rather than at its time.
            self._scheduled[job_id] = replace(waiting, due_at=utc_now(), lease="")
        return CancelAnswer(job_id, record.status, _request(record))

    async def cancel_requests(self, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
        """The cancel requests kept for any of ``job_ids``."""
        await anyio.lowlevel.checkpoint()
        found: dict[str, CancelRequest] = {}
        for job_id in job_ids:
            record = self._jobs.get(job_id)
            if record is not None and record.cancel_requested_at is not None:
                found[job_id] = _request(record)
            elif job_id in self._cancels:
                found[job_id] = self._cancels[job_id]
        return found

    async def get_job(self, job_id: str) -> JobRecord | None:
        """A copy of the job with ``job_id``, or ``None``."""
        await anyio.lowlevel.checkpoint()
        record = self._jobs.get(job_id)
        return None if record is None else copy.deepcopy(record)

    async def recent_jobs(
        self,
        *,
        limit: int,
        offset: int = 0,
        status: JobStatus | None = None,
        job_type: str | None = None,
    ) -> list[JobRecord]:
        """Jobs newest first (by ``created_at``, then id), optionally filtered.

        Raises:
            ValueError: ``limit`` or ``offset`` is negative.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}.")
        if offset < 0:
            raise ValueError(f"offset must not be negative, not {offset}.")
        await anyio.lowlevel.checkpoint()
        matching = [
            record
            for record in self._jobs.values()
            if (status is None or record.status is status)
            and (job_type is None or record.spec.type == job_type)
        ]
        matching.sort(key=lambda record: (record.spec.created_at, record.spec.id), reverse=True)
        return copy.deepcopy(matching[offset : offset + limit])

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        """Claim job ids for submissions; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        return self._ledger.claim_submissions(submissions)

    async def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        """Confirm and release claims; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        self._ledger.settle_submissions(confirmed, released)

    async def claim_idempotency_keys(
        self, claims: Sequence[IdempotencyClaim], *, now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        """Claim idempotency keys; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        return self._ledger.claim_keys(claims, now)

    async def settle_idempotency_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        """Keep or release idempotency keys' answers; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        self._ledger.settle_keys(answers)

    async def search_jobs(self, query: JobQuery) -> JobPage:
        """One page of the jobs matching ``query`` (a scan of every job: the reference
        the SQL stores are tested against); see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        matching = query.order([record for record in self._jobs.values() if query.matches(record)])
        page = query.page(matching[: query.limit + 1])
        return replace(page, items=copy.deepcopy(page.items))

    async def prunable_jobs(
        self, *, finished_before: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """Terminal jobs finished before the cutoff; see :class:`JobStore` (retention).

        Raises:
            ValueError: ``limit`` is negative.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}.")
        await anyio.lowlevel.checkpoint()
        keys = sorted(
            (record.spec.created_at, record.spec.id)
            for record in self._jobs.values()
            if _prunable(record, finished_before)
        )
        return [key for key in keys if after is None or key > after][:limit]

    async def remove_jobs(self, job_ids: Sequence[str], *, finished_before: str) -> int:
        """Delete jobs still terminal and finished before the cutoff, and their claims in
        the gateway's ledger; see :class:`JobStore`."""
        await anyio.lowlevel.checkpoint()
        removed = 0
        for job_id in dict.fromkeys(job_ids):
            record = self._jobs.get(job_id)
            if record is not None and _prunable(record, finished_before):
                del self._jobs[job_id]
                removed += 1
                # Its claim goes with it: a resubmission of the id is a new job then.
                self._ledger.forget_claims([job_id], finished_before)
        return removed

    async def schedule_jobs(self, jobs: Sequence[ScheduledJob]) -> None:
        """Keep delayed jobs until due; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        for job in jobs:
            spec = job.spec
            if spec.id in self._jobs:
                continue
            request = self._cancels.pop(spec.id, None)
            stored = _stored_spec(spec)
            self._jobs[spec.id] = JobRecord(
                spec=stored,
                status=JobStatus.PENDING,
                updated_at=job.at,
                scheduled_for=job.scheduled_for,
                cancel_requested_at=None if request is None else request.requested_at,
                cancel_requested_by=None if request is None else request.requested_by,
            )
            due = job.scheduled_for if request is None else job.at
            self._scheduled[spec.id] = _Waiting(due, "", job.message)

    async def claim_due_jobs(self, *, now: str, lease_until: str, limit: int) -> list[DueJob]:
        """Take scheduled jobs that are due; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        due = sorted(
            (waiting.due_at, job_id)
            for job_id, waiting in self._scheduled.items()
            if waiting.due_at <= now and waiting.lease <= now
        )[: max(0, limit)]
        taken: list[DueJob] = []
        for _, job_id in due:
            waiting = self._scheduled[job_id] = replace(self._scheduled[job_id], lease=lease_until)
            taken.append(DueJob(job_id, waiting.message))
        return taken

    async def remove_scheduled(self, job_ids: Sequence[str]) -> None:
        """Forget published scheduled jobs; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        for job_id in job_ids:
            self._scheduled.pop(job_id, None)

    async def count_scheduled(self) -> int:
        """How many delayed jobs wait; see :class:`~actors.stores.JobStore`."""
        await anyio.lowlevel.checkpoint()
        return len(self._scheduled)


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A delayed job in :class:`MemoryJobStore`'s scheduled set."""

    due_at: str
    lease: str
    """Taken until then (``""``: free)."""
    message: OutgoingMessage


def _prunable(record: JobRecord, finished_before: str) -> bool:
    """Whether retention may delete ``record``: terminal and finished before the cutoff."""
    return (
        record.status in TERMINAL_STATUSES
        and record.finished_at is not None
        and record.finished_at < finished_before
    )
