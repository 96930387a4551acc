"""The store interfaces every adapter (embedded SQLite / in-process, and real) satisfies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from datetime import datetime

    from actors.domain.dead_letters import DeadLetter
    from actors.domain.events import Envelope, EventType
    from actors.domain.jobs import (
        CancelAnswer,
        CancelRequest,
        JobRecord,
        JobStatus,
        JobTransition,
    )
    from actors.domain.schedules import Firing, Schedule
    from actors.domain.scheduling import DueJob, ScheduledJob
    from actors.domain.search import EventPage, EventQuery, JobPage, JobQuery
    from actors.domain.stats import Stats
    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        IdempotencyRecord,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )

__all__ = [
    "AppendResult",
    "Counters",
    "DeadLetterStore",
    "EventStore",
    "JobStore",
    "ScheduleStore",
]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an idempotent append did."""

    stored: int
    """Records that were new and are now stored."""
    duplicates: int
    """Records that were already stored (same id) and were skipped."""
    new_ids: frozenset[str] | None = field(default=None, compare=False)
    """The ids of the records stored by this call, when the store tells them."""


class ScheduleStore(Protocol):
    """Recurring schedules (:mod:`actors.domain.schedules`), kept by the job store."""

    async def add_schedule(self, schedule: Schedule) -> None:
        """Keep a new schedule.

        Raises:
            ValueError: a schedule with its id exists.
        """
        ...

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule with ``schedule_id``, or ``None``."""
        ...

    async def list_schedules(self, *, limit: int) -> list[Schedule]:
        """Up to ``limit`` schedules, by name then id."""
        ...

    async def change_schedule(
        self, schedule_id: str, change: Callable[[Schedule], Schedule]
    ) -> Schedule | None:
        """Replace the schedule with ``change(schedule)``, read and written in one
        transaction (no scheduler pass writes it in between); ``None`` when there is no
        such schedule."""
        ...

    async def remove_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule; whether it existed."""
        ...

    async def fire_due_schedules(
        self, now: datetime, *, limit: int, grace_s: float
    ) -> list[Firing]:
        """Take up to ``limit`` enabled schedules whose next run is at or before ``now``
        and, in the same transaction, store what :func:`~actors.domain.schedules.plan_firing`
        makes of each (its next run after ``now``). A schedule another caller is taking
        at the same time is left to it (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so each
        occurrence is handed to one caller only."""
        ...


class JobStore(ScheduleStore, Protocol):
    """Job state, one row per job."""

    def is_available(self) -> bool:
        """Whether the store can be used right now; services report not-ready while false."""
        ...

    async def apply_transitions(self, transitions: Sequence[JobTransition]) -> list[JobStatus]:
        """Apply ``transitions`` in order, in one round trip, idempotently.

        A missing job is created; a terminal job never changes; a job never moves to a
        lower rank (a late ``VALIDATED`` after ``EXECUTING`` is ignored) but through a
        retry; ``EXECUTING`` counts an attempt; the attempt and cancel rules of
        :class:`~actors.domain.jobs.JobTransition` hold. Every store plans its write with
        :func:`~actors.domain.lifecycle.plan_batch`, the one place these rules live.

        Returns:
            For each transition, the job's status after it was considered: equal to the
            transition's status when it applied, the stored status when it did not.
        """
        ...

    async def request_cancel(self, job_id: str, *, requested_by: str) -> CancelAnswer:
        """Ask for job ``job_id`` to be cancelled, unless it has ended.

        The request (a :class:`~actors.domain.jobs.CancelRequest`, the first one when
        asked again) is kept durably: a stored job's as its cancel marker
        (``cancel_requested_at``, ``cancel_requested_by``); a job no processor has taken
        yet (still queued) has it kept apart until its first write adopts it as its
        marker. No job state is written: the processor, the only writer of job states, ends the job ``FAILED``
        (error ``cancelled``): a waiting or queued one when it next takes it (the stores
        never validate or start it, see :mod:`actors.domain.lifecycle`), a running one
        once its cancel watcher finds the request (:meth:`cancel_requests`). Which jobs
        accept it is :func:`~actors.domain.lifecycle.cancel_refusal`. A delayed job
        waiting to be due (:meth:`schedule_jobs`) becomes due at once, so the processor
        ends it cancelled without waiting for its time.

        Returns:
            The job's stored status (``None``: not stored yet) and the request kept, or
            no request when the job has ended.
        """
        ...

    async def cancel_requests(self, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
        """The cancel requests of any of ``job_ids`` (the jobs a processor runs), by job
        id: their markers, and requests still kept apart (a job whose first write raced
        with its request)."""
        ...

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job with ``job_id``, or ``None``."""
        ...

    async def recent_jobs(
        self,
        *,
        limit: int,
        offset: int = 0,
        status: JobStatus | None = None,
        job_type: str | None = None,
    ) -> list[JobRecord]:
        """Jobs newest first (by creation time), optionally filtered."""
        ...

    # -- the gateway's ledger (migration 6, :mod:`actors.domain.submissions`) ----------

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        """Claim each submission's job id, in one round trip, unless it was claimed before.

        A job id not claimed yet is claimed (unconfirmed) by its submission; for one
        claimed before, the answer compares the stored claim with the submission
        (:func:`~actors.domain.submissions.claim_outcome`): a duplicate, a pending claim
        or a conflict, with the claim's event id.

        Returns:
            One claim per submission, in order.

        Raises:
            ValueError: a job id appears twice in ``submissions``.
        """
        ...

    async def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        """Mark the claims of ``confirmed`` (their publish was confirmed) as confirmed,
        claiming them if a release came first, and drop the unconfirmed claims of
        ``released`` (their publish failed), in one round trip. A claim is only changed
        by the submission holding it (same event id). The two lists name distinct ids."""
        ...

    async def claim_idempotency_keys(
        self, claims: Sequence[IdempotencyClaim], *, now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        """Claim each ``Idempotency-Key`` unless a live claim holds it, in one round trip.

        A key whose record expired (``expires_at`` at or before ``now``), or whose request
        never answered for :data:`~actors.domain.submissions.IDEMPOTENCY_STALE_S`, is
        claimed again. Expired keys are pruned a few at a time by these calls.

        Returns:
            Per claim, in order: what it came to and the record that decided it (the
            stored answer to replay), ``None`` when claimed now.

        Raises:
            ValueError: a key appears twice in ``claims``.
        """
        ...

    async def settle_idempotency_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        """Keep each answer for its claimed key, or (status ``None``) release the claim so
        the request can run again; only the claim with the same fingerprint, still
        unanswered, is changed. One round trip."""
        ...

    async def search_jobs(self, query: JobQuery) -> JobPage:
        """One page of the jobs matching ``query``, in its order, cut by keyset.

        The page holds at most ``query.limit`` jobs; its ``next`` (when more match) is
        the position the next page starts strictly after. What matches is
        :meth:`~actors.domain.search.JobQuery.matches`, the same in every store.
        """
        ...

    async def prunable_jobs(
        self, *, finished_before: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """Terminal jobs that finished before ``finished_before`` (retention).

        Oldest created first; a job being retried (a new round) is not terminal and
        never listed. ``after`` is the last pair of the previous page (keyset paging).

        Returns:
            Up to ``limit`` pairs ``(created_at, job_id)``.
        """
        ...

    async def remove_jobs(self, job_ids: Sequence[str], *, finished_before: str) -> int:
        """Delete those of ``job_ids`` that are still terminal and finished before
        ``finished_before`` (a job retried meanwhile stays); returns how many went.

        Their claims in the gateway's ledger (:meth:`claim_submissions`) go with them, in
        the same transaction: confirmed ones, and unconfirmed ones older than
        :func:`~actors.stores._ledger.forgotten_claims_before` (a publish still under
        way keeps its claim). A pruned job id submitted again is then a new job.
        """
        ...

    async def schedule_jobs(self, jobs: Sequence[ScheduledJob]) -> None:
        """Keep delayed jobs until they are due, in one transaction (delayed jobs,
        :mod:`actors.domain.scheduling`).

        Each job is stored ``PENDING`` with its ``scheduledFor`` (so ``get_job`` and the
        search show it) and its message kept for :meth:`claim_due_jobs`. A job id stored
        before is left as it is (a resubmission schedules nothing twice). A cancel request
        kept for the id while it was queued is adopted: the job is stored marked and due
        at once, so the processor ends it cancelled without running it.
        """
        ...

    async def claim_due_jobs(self, *, now: str, lease_until: str, limit: int) -> list[DueJob]:
        """Take up to ``limit`` scheduled jobs due at ``now``, earliest first, for
        publishing.

        A job taken is not handed out again before ``lease_until`` (another caller, or
        this one after a crash, takes it then): several processors may call this at
        once, each getting other jobs (PostgreSQL: ``FOR UPDATE SKIP LOCKED``). Call
        :meth:`remove_scheduled` once the messages are confirmed.
        """
        ...

    async def remove_scheduled(self, job_ids: Sequence[str]) -> None:
        """Forget the scheduled jobs of ``job_ids``: their messages were published."""
        ...

    async def count_scheduled(self) -> int:
        """How many delayed jobs wait in the scheduled set (due or not, not yet published)."""
        ...


class EventStore(Protocol):
    """The audit trail: every lifecycle event exactly once."""

    def is_available(self) -> bool:
        """Whether the store can be used right now; services report not-ready while false."""
        ...

    async def append(self, events: Sequence[Envelope]) -> AppendResult:
        """Store ``events`` in one round trip; an already stored ``eventId`` is skipped."""
        ...

    async def events_for_job(self, job_id: str) -> list[Envelope]:
        """A job's events in timeline order (time, then lifecycle order)."""
        ...

    async def recent_events(self, *, limit: int, job_id: str | None = None) -> list[Envelope]:
        """Events newest first, optionally of one job."""
        ...

    async def search_events(self, query: EventQuery) -> EventPage:
        """One page of the events matching ``query``, newest first (time, then arrival),
        cut by keyset (:class:`~actors.domain.search.EventCursor`)."""
        ...

    def iter_events(self, event_types: frozenset[EventType]) -> AsyncIterator[Envelope]:
        """Every stored event of ``event_types``, oldest first (for rebuilding counters)."""
        ...

    async def count_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        """How many events the jobs ``job_ids`` have (a retention dry run)."""
        ...

    async def remove_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete every event of the jobs ``job_ids`` (retention); returns how many went."""
        ...


class DeadLetterStore(Protocol):
    """Dead letters kept for inspection and requeue."""

    def is_available(self) -> bool:
        """Whether the store can be used right now; services report not-ready while false."""
        ...

    async def add(self, records: Sequence[DeadLetter]) -> AppendResult:
        """Store ``records``; an already stored ``dead_letter_id`` is skipped."""
        ...

    async def recent(self, *, limit: int) -> list[DeadLetter]:
        """Dead letters newest first."""
        ...

    async def get(self, dead_letter_id: str) -> DeadLetter | None:
        """One dead letter, or ``None``."""
        ...

    async def remove(self, dead_letter_ids: Sequence[str]) -> int:
        """Delete dead letters (after a requeue); returns how many existed."""
        ...

    async def count(self) -> int:
        """How many dead letters are kept."""
        ...

    async def count_older(self, *, before: str) -> int:
        """How many dead letters were dead-lettered before ``before`` (a dry run)."""
        ...

    async def remove_older(self, *, before: str, limit: int) -> int:
        """Delete up to ``limit`` of the oldest dead letters dead-lettered before
        ``before`` (retention); returns how many went."""
        ...


class Counters(Protocol):
    """Live counters following the rules in :mod:`actors.domain.stats`."""

    def is_available(self) -> bool:
        """Whether the store can be used right now; services report not-ready while false."""
        ...

    async def apply(self, events: Sequence[Envelope]) -> int:
        """Count ``events`` in one round trip, each ``eventId`` at most once ever.

        Returns:
            How many events were new to the counters.

        Raises:
            CountersLost: the counters were lost; :meth:`rebuild` them first.
        """
        ...

    async def snapshot(self) -> Stats:
        """The counters now."""
        ...

    async def lost(self) -> bool:
        """Whether the counters were lost and must be rebuilt before counting again."""
        ...

    async def rebuild(self, events: EventStore) -> None:
        """Replace the counters with the replay of every event in ``events``."""
        ...
