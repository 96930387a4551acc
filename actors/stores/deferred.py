"""Stores whose server may not be connected yet: each call goes to the open adapter.

A service process builds its actors and HTTP apps before its servers answer (so that
``/healthz`` can say 503 while it waits); these stand-ins are what those actors hold.
A call while the server is not connected raises :class:`~actors.errors.StoreUnavailable`
at once, which the apps answer with 503 and the pipelines treat like any store outage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from actors.errors import DependencyUnavailable, StoreUnavailable
from actors.stores._protocols import Counters, DeadLetterStore, EventStore, JobStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from contextlib import AbstractAsyncContextManager
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
    from actors.kernel.connection import Connection
    from actors.stores._protocols import AppendResult

__all__ = [
    "DeferredCounters",
    "DeferredDeadLetterStore",
    "DeferredEventStore",
    "DeferredJobStore",
]

S = TypeVar("S", JobStore, EventStore, DeadLetterStore, Counters)


class _Deferred(Generic[S]):
    def __init__(self, connection: Connection[S]) -> None:
        self._connection: Connection[S] = connection

    def _store(self) -> S:
        try:
            return self._connection.get()
        except DependencyUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None

    def is_available(self) -> bool:
        """Whether the store is connected and usable."""
        return self._connection.available()


class DeferredJobStore(_Deferred[JobStore]):
    """A :class:`JobStore` that is the connection's open job store."""

    async def apply_transitions(self, transitions: Sequence[JobTransition]) -> list[JobStatus]:
        return await self._store().apply_transitions(transitions)

    async def request_cancel(self, job_id: str, *, requested_by: str) -> CancelAnswer:
        return await self._store().request_cancel(job_id, requested_by=requested_by)

    async def cancel_requests(self, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
        return await self._store().cancel_requests(job_ids)

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._store().get_job(job_id)

    async def recent_jobs(
        self,
        *,
        limit: int,
        offset: int = 0,
        status: JobStatus | None = None,
        job_type: str | None = None,
    ) -> list[JobRecord]:
        return await self._store().recent_jobs(
            limit=limit, offset=offset, status=status, job_type=job_type
        )

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        return await self._store().claim_submissions(submissions)

    async def schedule_jobs(self, jobs: Sequence[ScheduledJob]) -> None:
        await self._store().schedule_jobs(jobs)

    async def claim_due_jobs(self, *, now: str, lease_until: str, limit: int) -> list[DueJob]:
        return await self._store().claim_due_jobs(now=now, lease_until=lease_until, limit=limit)

    async def remove_scheduled(self, job_ids: Sequence[str]) -> None:
        await self._store().remove_scheduled(job_ids)

    async def count_scheduled(self) -> int:
        return await self._store().count_scheduled()

    async def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        await self._store().settle_submissions(confirmed, released)

    async def claim_idempotency_keys(
        self, claims: Sequence[IdempotencyClaim], *, now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        return await self._store().claim_idempotency_keys(claims, now=now)

    async def settle_idempotency_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        await self._store().settle_idempotency_keys(answers)

    async def search_jobs(self, query: JobQuery) -> JobPage:
        return await self._store().search_jobs(query)

    async def prunable_jobs(
        self, *, finished_before: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        return await self._store().prunable_jobs(
            finished_before=finished_before, limit=limit, after=after
        )

    async def remove_jobs(self, job_ids: Sequence[str], *, finished_before: str) -> int:
        return await self._store().remove_jobs(job_ids, finished_before=finished_before)

    async def add_schedule(self, schedule: Schedule) -> None:
        await self._store().add_schedule(schedule)

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        return await self._store().get_schedule(schedule_id)

    async def list_schedules(self, *, limit: int) -> list[Schedule]:
        return await self._store().list_schedules(limit=limit)

    async def change_schedule(
        self, schedule_id: str, change: Callable[[Schedule], Schedule]
    ) -> Schedule | None:
        return await self._store().change_schedule(schedule_id, change)

    async def remove_schedule(self, schedule_id: str) -> bool:
        return await self._store().remove_schedule(schedule_id)

    async def fire_due_schedules(
        self, now: datetime, *, limit: int, grace_s: float
    ) -> list[Firing]:
        return await self._store().fire_due_schedules(now, limit=limit, grace_s=grace_s)

    def prune_lock(self) -> AbstractAsyncContextManager[bool]:
        """The pruner lock of the connected PostgreSQL job store (its advisory lock).

        Raises:
            StoreUnavailable: not connected, or the store has no such lock.
        """
        from actors.stores.postgres import PostgresJobStore

        store = self._store()
        if not isinstance(store, PostgresJobStore):
            raise StoreUnavailable(
                f"The job store {store!r} has no pruner lock shared between processes."
            )
        return store.prune_lock()


class DeferredEventStore(_Deferred[EventStore]):
    """An :class:`EventStore` that is the connection's open event store."""

    async def append(self, events: Sequence[Envelope]) -> AppendResult:
        return await self._store().append(events)

    async def events_for_job(self, job_id: str) -> list[Envelope]:
        return await self._store().events_for_job(job_id)

    async def recent_events(self, *, limit: int, job_id: str | None = None) -> list[Envelope]:
        return await self._store().recent_events(limit=limit, job_id=job_id)

    async def search_events(self, query: EventQuery) -> EventPage:
        return await self._store().search_events(query)

    def iter_events(self, event_types: frozenset[EventType]) -> AsyncIterator[Envelope]:
        return self._store().iter_events(event_types)

    async def count_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        return await self._store().count_events_of_jobs(job_ids)

    async def remove_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        return await self._store().remove_events_of_jobs(job_ids)


class DeferredDeadLetterStore(_Deferred[DeadLetterStore]):
    """A :class:`DeadLetterStore` that is the connection's open dead-letter store."""

    async def add(self, records: Sequence[DeadLetter]) -> AppendResult:
        return await self._store().add(records)

    async def recent(self, *, limit: int) -> list[DeadLetter]:
        return await self._store().recent(limit=limit)

    async def get(self, dead_letter_id: str) -> DeadLetter | None:
        return await self._store().get(dead_letter_id)

    async def remove(self, dead_letter_ids: Sequence[str]) -> int:
        return await self._store().remove(dead_letter_ids)

    async def count(self) -> int:
        return await self._store().count()

    async def count_older(self, *, before: str) -> int:
        return await self._store().count_older(before=before)

    async def remove_older(self, *, before: str, limit: int) -> int:
        return await self._store().remove_older(before=before, limit=limit)


class DeferredCounters(_Deferred[Counters]):
    """:class:`Counters` that are the connection's open counters."""

    async def apply(self, events: Sequence[Envelope]) -> int:
        return await self._store().apply(events)

    async def snapshot(self) -> Stats:
        return await self._store().snapshot()

    async def lost(self) -> bool:
        return await self._store().lost()

    async def rebuild(self, events: EventStore) -> None:
        await self._store().rebuild(events)
