"""The embedded stores: jobs, events and dead letters, each in its own SQLite file.

Every store call is one transaction with one commit, and batches go through
``executemany``, so the stores keep up with thousands of transitions per second. Files
use WAL mode; schemas are versioned in ``schema_migrations``.

Example::

    async with (
        open_sqlite_job_store(data_dir / JOBS_DATABASE) as jobs,
        open_sqlite_event_store(data_dir / EVENTS_DATABASE) as events,
        open_sqlite_dead_letter_store(data_dir / DEAD_LETTERS_DATABASE) as dead_letters,
    ):
        ...
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.clock import utc_now
from actors.domain.events import Envelope, EventType
from actors.domain.jobs import (
    TERMINAL_STATUSES,
    AttemptError,
    JobRecord,
    JobSpec,
    JobStatus,
)
from actors.domain.lifecycle import LifecycleState, group_by_job, plan_batch
from actors.domain.search import EventCursor, EventPage
from actors.errors import StoreUnavailable
from actors.stores import _prune_sqlite, _sqlite_scheduled as _scheduled
from actors.stores._protocols import AppendResult
from actors.stores._sqlite_cancels import (
    adopt_cancels,
    cancel_requests,
    queued_cancels,
    request_cancel,
)
from actors.stores._sqlite_database import (
    Schema,
    dumps as _dumps,
    dumps_result as _dumps_result,
    integer,
    open_database,
    optional_text,
    text,
    validate_page as _validate_page,
)
from actors.stores._sqlite_dead_letters import (
    DEAD_LETTER_SCHEMA,
    SQLiteDeadLetterStore,
    open_sqlite_dead_letter_store,
)
from actors.stores._sqlite_migrations import JOB_SCHEMA as JOB_SCHEMA
from actors.stores._sqlite_rounds import START_ROUND
from actors.stores._sqlite_schedules import SQLiteSchedules
from actors.stores._sqlite_search import event_search_sql, job_search_sql
from actors.stores._sqlite_submissions import (
    claim_keys,
    claim_submissions,
    settle_keys,
    settle_submissions,
)

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Sequence

    from actors.domain.jobs import CancelAnswer, CancelRequest, JobTransition
    from actors.domain.lifecycle import JobEffect
    from actors.domain.scheduling import DueJob, ScheduledJob
    from actors.domain.search import EventQuery, JobPage, JobQuery
    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        IdempotencyRecord,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )
    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = [
    "DEAD_LETTERS_DATABASE",
    "DEAD_LETTER_SCHEMA",
    "EVENTS_DATABASE",
    "JOBS_DATABASE",
    "SQLiteDeadLetterStore",
    "SQLiteEventStore",
    "SQLiteJobStore",
    "open_sqlite_dead_letter_store",
    "open_sqlite_event_store",
    "open_sqlite_job_store",
]

JOBS_DATABASE = "jobs.sqlite3"
"""File name of the job store in the embedded observatory's data directory."""
EVENTS_DATABASE = "events.sqlite3"
"""File name of the event store in the data directory."""
DEAD_LETTERS_DATABASE = "dead-letters.sqlite3"
"""File name of the dead-letter store in the data directory."""

_ITER_PAGE_SIZE = 500
"""Events read per query by :meth:`SQLiteEventStore.iter_events`."""


# -- jobs ---------------------------------------------------------------------------------

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

# The rule of what a batch does lives in actors.domain.lifecycle; the batch is planned from
# the states read in the same write transaction, so nothing changes them in between. The
# statements keep a safety net nonetheless: a row is written only if its state is still
# the one the batch was planned from (a new job: if it still does not exist), and only
# within the lifecycle guard (a terminal job never changes; a job never moves to a lower
# rank but through a retry).
_INSERT_JOB = """
INSERT INTO jobs (
    id, type, status, status_rank, created_at, updated_at, correlation_id,
    payload, metadata, attempts, started_at, finished_at, result, error,
    errors, failed_attempts, next_attempt_at, round, cancel_requested_at, cancel_requested_by,
    priority
) VALUES (
    :id, :type, :status, :rank, :created_at, :updated_at, :correlation_id,
    :payload, :metadata, :attempts, :started_at, :finished_at, :result, :error,
    :errors, :failed_attempts, :next_attempt_at, :round, :cancel_requested_at,
    :cancel_requested_by, :priority
)
ON CONFLICT (id) DO NOTHING
"""

_UPDATE_JOB = f"""
UPDATE jobs SET
    status = :status,
    status_rank = :rank,
    updated_at = max(updated_at, :updated_at),
    attempts = attempts + :attempts,
    started_at = coalesce(:started_at, started_at),
    finished_at = coalesce(:finished_at, finished_at),
    result = coalesce(:result, result),
    error = coalesce(:error, error),
    errors = coalesce(:errors, errors),
    failed_attempts = max(failed_attempts, :failed_attempts),
    next_attempt_at = :next_attempt_at
WHERE id = :id
    AND status = :expected
    AND failed_attempts = :expected_failed
    AND (cancel_requested_at IS NOT NULL) = :expected_cancel
    AND status NOT IN ({_TERMINAL_SQL})
    AND (:rank >= status_rank OR :retried)
    AND round = :round
"""

_READ_STATES = (
    "SELECT id, status, failed_attempts, cancel_requested_at IS NOT NULL, errors, round "
    "FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
)

_JOB_COLUMNS = (
    "id, type, created_at, correlation_id, payload, metadata, status, updated_at, "
    "attempts, started_at, finished_at, result, error, errors, next_attempt_at, "
    "cancel_requested_at, round, cancel_requested_by, scheduled_for, priority"
)


def _effect_row(effect: JobEffect, stored_errors: str) -> dict[str, object]:
    """The parameters of :data:`_INSERT_JOB` (a new job) or :data:`_UPDATE_JOB` for one
    planned effect; ``stored_errors`` is the stored job's history (``[]`` for a new job)."""
    status, before = effect.status, effect.before
    new_errors = [entry.to_json() for entry in effect.new_errors]
    row: dict[str, object] = {
        "id": effect.job_id,
        "status": status.value,
        "rank": status.rank,
        "updated_at": effect.updated_at,
        "attempts": effect.attempts,
        "started_at": effect.started_at,
        "finished_at": effect.finished_at,
        "result": None if effect.result is None else _dumps_result(effect.result),
        "error": effect.error,
        "failed_attempts": effect.failed_attempts,
        "next_attempt_at": effect.next_attempt_at,
        "round": effect.after.round,
    }
    if before is None:
        request = effect.cancel_request
        spec = effect.spec
        assert spec is not None  # a new job's effect carries its spec
        row.update(
            type=spec.type,
            created_at=spec.created_at,
            correlation_id=spec.correlation_id,
            payload=_dumps(dict(spec.payload)),
            metadata=_dumps(dict(spec.metadata)),
            priority=spec.priority,
            errors=_dumps(new_errors),
            cancel_requested_at=None if request is None else request.requested_at,
            cancel_requested_by=None if request is None else request.requested_by,
        )
    else:
        # The whole history, appended to in Python: the stored one was read in the same
        # transaction (SQLite's JSON functions append one entry at a time).
        errors: str | None
        if effect.new_round:
            errors = _dumps(new_errors)
            row.update(expected_round=before.round)
        else:
            errors = _dumps(json.loads(stored_errors) + new_errors) if new_errors else None
            row.update(retried=int(effect.retried))
        row.update(
            errors=errors,
            expected=before.status.value,
            expected_failed=before.failed_attempts,
            expected_cancel=int(before.cancel_requested),
        )
    return row


def _job_record(row: tuple[object, ...]) -> JobRecord:
    (
        job_id,
        job_type,
        created_at,
        correlation_id,
        payload,
        metadata,
        status,
        updated_at,
        attempts,
        started_at,
        finished_at,
        result,
        error,
        errors,
        next_attempt_at,
        cancel_requested_at,
        round_,
        cancel_requested_by,
        scheduled_for,
        priority,
    ) = row
    result_text = optional_text(result)
    return JobRecord(
        spec=JobSpec(
            id=text(job_id),
            type=text(job_type),
            created_at=text(created_at),
            correlation_id=text(correlation_id),
            payload=json.loads(text(payload)),
            metadata=json.loads(text(metadata)),
            priority=integer(priority),
        ),
        status=JobStatus(text(status)),
        updated_at=text(updated_at),
        attempts=integer(attempts),
        started_at=optional_text(started_at),
        finished_at=optional_text(finished_at),
        result=None if result_text is None else json.loads(result_text),
        error=optional_text(error),
        errors=tuple(AttemptError.from_json(entry) for entry in json.loads(text(errors))),
        next_attempt_at=optional_text(next_attempt_at),
        cancel_requested_at=optional_text(cancel_requested_at),
        round=integer(round_),
        cancel_requested_by=optional_text(cancel_requested_by),
        scheduled_for=optional_text(scheduled_for),
    )


class SQLiteJobStore(SQLiteSchedules):
    """A :class:`~actors.stores.JobStore` in one SQLite file (one row per job).

    Opened and closed by :func:`open_sqlite_job_store`.
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def is_available(self) -> bool:
        """Whether the store is open (a local file is there as long as it is)."""
        return self._db.is_open

    def __repr__(self) -> str:
        return f"<SQLiteJobStore path={str(self._db.path)!r}>"

    async def apply_transitions(self, transitions: Sequence[JobTransition]) -> list[JobStatus]:
        """Apply ``transitions`` in order, in one transaction; see :class:`JobStore`.

        Returns:
            For each transition, the job's status right after it was considered.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was applied.
        """
        if not transitions:
            await anyio.lowlevel.checkpoint()
            return []
        jobs = group_by_job(transitions)
        with self._db.failures("apply job transitions"):
            async with self._db.transaction():
                rows = await self._db.fetchall(_READ_STATES, (_dumps(list(jobs)),))
                states: dict[str, LifecycleState] = {}
                errors: dict[str, str] = {}
                for job_id, status, failed, cancel, history, round_ in rows:
                    states[text(job_id)] = LifecycleState(
                        JobStatus(text(status)), integer(failed), bool(cancel), integer(round_)
                    )
                    errors[text(job_id)] = text(history)
                queued = await queued_cancels(
                    self._db, [job_id for job_id in jobs if job_id not in states]
                )
                plan = plan_batch(transitions, states, jobs, queued)
                # Serialised here, inside the transaction: a value JSON cannot hold fails
                # the call, and the rollback leaves everything as it was.
                inserts = [
                    _effect_row(effect, "[]") for effect in plan.effects if effect.before is None
                ]
                updates = [
                    _effect_row(effect, errors[effect.job_id])
                    for effect in plan.effects
                    if effect.before is not None and not effect.new_round
                ]
                rounds = [_effect_row(effect, "[]") for effect in plan.effects if effect.new_round]
                written = 0
                if inserts:
                    written += await self._db.executemany(_INSERT_JOB, inserts)
                if updates:
                    written += await self._db.executemany(_UPDATE_JOB, updates)
                if rounds:
                    written += await self._db.executemany(START_ROUND, rounds)
                await adopt_cancels(
                    self._db, [e.job_id for e in plan.effects if e.cancel_request is not None]
                )
                if written != len(plan.effects):
                    # Raised inside the transaction: it is rolled back, nothing is applied.
                    raise StoreUnavailable(
                        f"The SQLite job store at {str(self._db.path)!r} could not apply job "
                        f"transitions: {len(plan.effects) - written} of its jobs were not in "
                        "the state read in the same transaction; nothing was applied. Check "
                        "that no other program writes the file, and retry the call."
                    )
        return [status for status in plan.outcomes if status is not None]

    async def request_cancel(self, job_id: str, *, requested_by: str) -> CancelAnswer:
        """Ask for a job to be cancelled; see :class:`JobStore`.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was kept.
        """
        with self._db.failures(f"request the cancel of job {job_id!r}"):
            async with self._db.transaction():
                answer = await request_cancel(self._db, job_id, requested_by)
                if answer.request is not None:
                    await _scheduled.hasten_scheduled(self._db, job_id, utc_now())
                return answer

    async def cancel_requests(self, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
        """The cancel requests kept for any of ``job_ids``; see :class:`JobStore`.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures("read cancel requests"):
            async with self._db.reading():
                return await cancel_requests(self._db, job_ids)

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job with ``job_id``, or ``None``.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures(f"read job {job_id!r}"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
                )
        return _job_record(rows[0]) if rows else None

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
            StoreUnavailable: the file cannot be read.
        """
        _validate_page(limit, offset)
        conditions: list[str] = []
        parameters: list[object] = []
        if status is not None:
            conditions.append("status = ?")
            parameters.append(status.value)
        if job_type is not None:
            conditions.append("type = ?")
            parameters.append(job_type)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._db.failures("list recent jobs"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    f"SELECT {_JOB_COLUMNS} FROM jobs {where} "
                    "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                    (*parameters, limit, offset),
                )
        return [_job_record(row) for row in rows]

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        """Claim job ids for submissions, in one transaction; see :class:`JobStore`.

        Raises:
            ValueError: a job id appears twice.
            StoreUnavailable: the file cannot be written; nothing was claimed.
        """
        if not submissions:
            await anyio.lowlevel.checkpoint()
            return []
        with self._db.failures("claim submissions"):
            async with self._db.transaction():
                return await claim_submissions(self._db, submissions)

    async def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        """Confirm and release claims, in one transaction; see :class:`JobStore`.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was changed.
        """
        if not confirmed and not released:
            await anyio.lowlevel.checkpoint()
            return
        with self._db.failures("settle submissions"):
            async with self._db.transaction():
                await settle_submissions(self._db, confirmed, released)

    async def claim_idempotency_keys(
        self, claims: Sequence[IdempotencyClaim], *, now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        """Claim idempotency keys, in one transaction; see :class:`JobStore`.

        Raises:
            ValueError: a key appears twice.
            StoreUnavailable: the file cannot be written; nothing was claimed.
        """
        if not claims:
            await anyio.lowlevel.checkpoint()
            return []
        with self._db.failures("claim idempotency keys"):
            async with self._db.transaction():
                return await claim_keys(self._db, claims, now)

    async def settle_idempotency_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        """Keep or release idempotency keys' answers, in one transaction; see :class:`JobStore`.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was changed.
        """
        if not answers:
            await anyio.lowlevel.checkpoint()
            return
        with self._db.failures("keep idempotency keys' answers"):
            async with self._db.transaction():
                await settle_keys(self._db, answers)

    async def search_jobs(self, query: JobQuery) -> JobPage:
        """One page of the jobs matching ``query``; see :class:`~actors.stores.JobStore`
        and :mod:`actors.stores._sqlite_search` for the indexes that serve each filter.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        sql, parameters = job_search_sql(query, _JOB_COLUMNS)
        with self._db.failures("search jobs"):
            async with self._db.reading():
                rows = await self._db.fetchall(sql, parameters)
        return query.page([_job_record(row) for row in rows])

    async def prunable_jobs(
        self, *, finished_before: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """Terminal jobs finished before the cutoff; see :class:`JobStore` (retention).

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: the file cannot be read.
        """
        return await _prune_sqlite.prunable_jobs(self._db, finished_before, limit, after)

    async def remove_jobs(self, job_ids: Sequence[str], *, finished_before: str) -> int:
        """Delete jobs still terminal and finished before the cutoff; see :class:`JobStore`.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was removed.
        """
        return await _prune_sqlite.remove_jobs(self._db, job_ids, finished_before)

    async def schedule_jobs(self, jobs: Sequence[ScheduledJob]) -> None:
        """Keep delayed jobs until due; see :class:`JobStore` (:mod:`._sqlite_scheduled`)."""
        with self._db.failures("schedule jobs"):
            async with self._db.transaction():
                await _scheduled.schedule_jobs(self._db, jobs)

    async def claim_due_jobs(self, *, now: str, lease_until: str, limit: int) -> list[DueJob]:
        """Take scheduled jobs that are due; see :class:`JobStore`."""
        with self._db.failures("take due scheduled jobs"):
            async with self._db.transaction():
                return await _scheduled.claim_due_jobs(
                    self._db, now=now, lease_until=lease_until, limit=limit
                )

    async def remove_scheduled(self, job_ids: Sequence[str]) -> None:
        """Forget published scheduled jobs; see :class:`JobStore`."""
        with self._db.failures("remove published scheduled jobs"):
            async with self._db.transaction():
                await _scheduled.remove_scheduled(self._db, job_ids)

    async def count_scheduled(self) -> int:
        """How many delayed jobs wait; see :class:`JobStore`."""
        with self._db.failures("count scheduled jobs"):
            [(count,)] = await self._db.fetchall("SELECT count(*) FROM scheduled_jobs")
        assert isinstance(count, int)
        return count


@asynccontextmanager
async def open_sqlite_job_store(path: pathlib.Path) -> AsyncIterator[SQLiteJobStore]:
    """Open the job store in the SQLite file ``path``, creating and migrating it as needed.

    Raises:
        StoreUnavailable: the file cannot be opened or migrated.
    """
    async with open_database(path, JOB_SCHEMA) as db:
        yield SQLiteJobStore(db)


# -- events -------------------------------------------------------------------------------

EVENT_SCHEMA = Schema(
    store="events",
    description="event store",
    migrations=(
        (
            # seq is the arrival order (iter_events' order and the tie-breaker); SQLite's
            # AUTOINCREMENT needs it to be the primary key, so event_id is UNIQUE instead.
            """CREATE TABLE events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL UNIQUE,
                job_id TEXT NOT NULL,
                job_type TEXT NOT NULL,
                event_type TEXT NOT NULL,
                event_order INTEGER NOT NULL,
                occurred_at TEXT NOT NULL,
                envelope TEXT NOT NULL
            )""",
            "CREATE INDEX events_by_job ON events (job_id, occurred_at, event_order, seq)",
            "CREATE INDEX events_by_time ON events (occurred_at, seq)",
            "CREATE INDEX events_by_type ON events (event_type, seq)",
        ),
    ),
)


_EVENT_COLUMNS = "event_id, job_id, job_type, event_type, event_order, occurred_at, envelope"


def _envelope(value: object) -> Envelope:
    return Envelope.from_json(json.loads(text(value)))


class SQLiteEventStore:
    """An :class:`~actors.stores.EventStore` in one SQLite file: the audit trail.

    Opened and closed by :func:`open_sqlite_event_store`.
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def is_available(self) -> bool:
        """Whether the store is open (a local file is there as long as it is)."""
        return self._db.is_open

    def __repr__(self) -> str:
        return f"<SQLiteEventStore path={str(self._db.path)!r}>"

    async def append(self, events: Sequence[Envelope]) -> AppendResult:
        """Store the events whose ``eventId`` is new, in one transaction.

        Returns:
            How many were stored, and how many were skipped as already stored (including
            repeats inside ``events``; the first occurrence is the one kept).

        Raises:
            StoreUnavailable: the file cannot be written; nothing was stored.
        """
        if not events:
            await anyio.lowlevel.checkpoint()
            return AppendResult(stored=0, duplicates=0)
        # Serialised before the transaction: a value JSON cannot hold fails the call early.
        # Keyed by id in arrival order; the first of repeated ids is the one kept.
        inserts: dict[str, tuple[object, ...]] = {}
        for event in events:
            if event.event_id not in inserts:
                inserts[event.event_id] = (
                    event.event_id,
                    event.job_id,
                    event.job_type,
                    event.event_type.value,
                    event.event_type.order,
                    event.occurred_at,
                    _dumps(event.to_json()),
                )
        with self._db.failures("append events"):
            async with self._db.transaction():
                stored = await self._db.insert_new("events", "event_id", _EVENT_COLUMNS, inserts)
        return AppendResult(
            stored=len(stored),
            duplicates=len(events) - len(stored),
            new_ids=frozenset(stored),
        )

    async def events_for_job(self, job_id: str) -> list[Envelope]:
        """A job's events by time, then lifecycle order, then arrival.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures(f"read the events of job {job_id!r}"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    "SELECT envelope FROM events WHERE job_id = ? "
                    "ORDER BY occurred_at, event_order, seq",
                    (job_id,),
                )
        return [_envelope(envelope) for (envelope,) in rows]

    async def recent_events(self, *, limit: int, job_id: str | None = None) -> list[Envelope]:
        """Events newest first (by time, then arrival), optionally of one job.

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: the file cannot be read.
        """
        _validate_page(limit)
        where, parameters = ("WHERE job_id = ?", (job_id,)) if job_id is not None else ("", ())
        with self._db.failures("list recent events"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    f"SELECT envelope FROM events {where} "
                    "ORDER BY occurred_at DESC, seq DESC LIMIT ?",
                    (*parameters, limit),
                )
        return [_envelope(envelope) for (envelope,) in rows]

    async def search_events(self, query: EventQuery) -> EventPage:
        """One page of the events matching ``query``, newest first (time, then arrival).

        It walks ``events_by_time`` (or ``events_by_job`` for one job) newest first.

        Raises:
            ValueError: the query's cursor is not one of this store (not an arrival
                number).
            StoreUnavailable: the file cannot be read.
        """
        sql, parameters = event_search_sql(query)
        with self._db.failures("search events"):
            async with self._db.reading():
                rows = await self._db.fetchall(sql, parameters)
        items = [_envelope(envelope) for _, _, envelope in rows[: query.limit]]
        following = None
        if len(rows) > query.limit:
            seq, occurred_at, _ = rows[query.limit - 1]
            following = EventCursor(text(occurred_at), str(integer(seq)))
        return EventPage(items, following)

    async def iter_events(self, event_types: frozenset[EventType]) -> AsyncIterator[Envelope]:
        """Every stored event of ``event_types`` in arrival order, read page by page.

        Events appended while iterating are included when they arrive before the
        iteration reaches the end.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        types = _dumps(sorted(event_type.value for event_type in event_types))
        after = 0
        while event_types:
            with self._db.failures("read events"):
                async with self._db.reading():
                    rows = await self._db.fetchall(
                        "SELECT seq, envelope FROM events WHERE seq > ? "
                        "AND event_type IN (SELECT value FROM json_each(?)) "
                        "ORDER BY seq LIMIT ?",
                        (after, types, _ITER_PAGE_SIZE),
                    )
            # Yield outside the lock and the error translation: the consumer's own code
            # runs between items.
            for _, envelope in rows:
                yield _envelope(envelope)
            if len(rows) < _ITER_PAGE_SIZE:
                return
            after = integer(rows[-1][0])

    async def count_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        """How many events the jobs have; see :class:`EventStore` (retention).

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        return await _prune_sqlite.count_events_of_jobs(self._db, job_ids)

    async def remove_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete every event of the jobs; see :class:`EventStore` (retention).

        Raises:
            StoreUnavailable: the file cannot be written; nothing was removed.
        """
        return await _prune_sqlite.remove_events_of_jobs(self._db, job_ids)


@asynccontextmanager
async def open_sqlite_event_store(path: pathlib.Path) -> AsyncIterator[SQLiteEventStore]:
    """Open the event store in the SQLite file ``path``, creating and migrating it as needed.

    Raises:
        StoreUnavailable: the file cannot be opened or migrated.
    """
    async with open_database(path, EVENT_SCHEMA) as db:
        yield SQLiteEventStore(db)
