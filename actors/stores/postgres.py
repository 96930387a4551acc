"""The PostgreSQL job store: one row per job, behind an asyncpg pool, with versioned migrations.

The store keeps the same rules as the embedded SQLite store (see
:class:`~actors.stores.JobStore`): a missing job is created, a terminal job never changes,
a job never moves to a lower rank, and ``EXECUTING`` counts an attempt.

Example::

    async with open_postgres_job_store(url, schema="observatory") as jobs:
        statuses = await jobs.apply_transitions(transitions)

How a batch is applied (the processor's hot path), in two round trips and without holding
row locks between them:

1. read the stored status of every job of the batch (and, for a job not stored yet, its
   cancel request if it was cancelled while queued);
2. work out in Python, transition by transition, what each one does, and collapse each
   job's transitions into their net effect (:func:`~actors.domain.lifecycle.plan_batch`,
   the one lifecycle rule);
3. write every net effect in *one* statement (an ``UPDATE`` and an ``INSERT`` fed from
   arrays, see :mod:`actors.stores._postgres_plan`). Each row is written only if its
   state is still the one read in step 1, and only if the lifecycle guard allows it, so
   a concurrent writer can never be overwritten or moved backwards. A job another writer changed in between is read and applied again
   (step 1), so the outcomes are always those of applying the transitions one after
   another.

Timestamps are kept as the fixed-width RFC 3339 text the rest of the system uses (see
:mod:`actors.domain.clock`), in the ``"C"`` collation: they round-trip exactly, and text order is
time order.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import asyncpg

from actors.config.urls import redact
from actors.domain.clock import utc_now
from actors.domain.jobs import (
    TERMINAL_STATUSES,
    AttemptError,
    CancelAnswer,
    CancelRequest,
    JobRecord,
    JobSpec,
    JobStatus,
)
from actors.domain.lifecycle import LifecycleState, cancel_refusal, group_by_job, plan_batch
from actors.errors import StoreUnavailable
from actors.stores._postgres_connection import (
    ASYNCPG_ERRORS,
    Connection,
    Pool,
    Progress,
    Row,
    check_schema,
    close_resource,
    connect_options,
    integer,
    keep_session,
    optional_text,
    reason,
    text,
)
from actors.stores._postgres_plan import WRITE_JOBS, job_writes
from actors.stores._postgres_scheduled import HASTEN_SCHEDULED, PostgresScheduling
from actors.stores._postgres_schedules import PostgresSchedules
from actors.stores._postgres_schema import MIGRATIONS, Migration, migrate
from actors.stores._postgres_search import job_search_query
from actors.stores._postgres_submissions import PostgresLedger
from actors.stores._prune_postgres import PostgresPruning

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    from actors.domain.jobs import JobTransition
    from actors.domain.search import JobPage, JobQuery

__all__ = [
    "MIGRATIONS",
    "Migration",
    "PostgresJobStore",
    "PostgresJobStoreStatistics",
    "migrate_postgres",
    "open_postgres_job_store",
    "recent_jobs_query",
    "search_jobs_query",
]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
"""Bound of the shielded graceful close of the pool; then its connections are cut."""
_MAX_ROUNDS = 5
"""Read-and-write rounds of one batch whose jobs keep being changed by other writers."""


_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))


# -- what the store needs from asyncpg (it ships no type information) ---------------------


async def migrate_postgres(url: str, *, schema: str = "public") -> list[int]:
    """Bring the job store's schema in the database at ``url`` up to date.

    Safe to run from several processes at once: they take turns (an advisory lock), and
    whoever comes second finds nothing left to do. :func:`open_postgres_job_store` runs
    this too; ``observatory migrate`` runs it on its own.

    Args:
        url: ``postgresql://`` URL of the database.
        schema: The schema holding the tables; created if missing.

    Returns:
        The versions applied by this call, in order (empty when up to date).

    Raises:
        ConfigError: ``schema`` is not a usable name.
        StoreUnavailable: PostgreSQL cannot be reached, refused the migration, or holds a
            newer schema than this version knows.
    """
    check_schema(schema)
    conn: Connection | None = None
    try:
        try:
            conn = await asyncpg.connect(url, **connect_options(schema))
            assert conn is not None
            return await migrate(conn, schema, url)
        except ASYNCPG_ERRORS as exc:
            raise StoreUnavailable(
                f"Cannot migrate the PostgreSQL job store at {redact(url)!r} (schema "
                f"{schema!r}): {reason(exc)}. Check that PostgreSQL is running, reachable "
                "and that the role may create tables in the schema."
            ) from exc
    finally:
        if conn is not None:
            await close_resource(conn, url)


# -- jobs ---------------------------------------------------------------------------------

_JOB_COLUMNS = (
    "id, type, created_at, correlation_id, payload, metadata, status, updated_at, "
    "attempts, started_at, finished_at, result, error, errors, next_attempt_at, "
    "cancel_requested_at, cancel_requested_by, round, scheduled_for, priority"
)

# The stored state of each job of a batch, and for a job not stored yet the time of its
# cancel request, if it was cancelled while queued: one row per job found, one query.
_READ_STATES = """
SELECT ids.id, jobs.status, jobs.failed_attempts, jobs.cancel_requested_at IS NOT NULL,
    cancel_requests.requested_at, cancel_requests.requested_by, jobs.round
FROM unnest($1::text[]) AS ids (id)
LEFT JOIN jobs ON jobs.id = ids.id
LEFT JOIN cancel_requests ON jobs.id IS NULL AND cancel_requests.job_id = ids.id
WHERE jobs.id IS NOT NULL OR cancel_requests.job_id IS NOT NULL
"""

# Cancel requests (migration 4): a stored job's is its marker (cancel_requested_at and
# _by); a queued job's waits in cancel_requests until its first write adopts it. Which
# jobs accept one is actors.domain.lifecycle.cancel_refusal, applied to the job's state
# read (and locked) in the same transaction; the terminal guard below is a safety net.
_READ_QUEUED = (
    "SELECT job_id, requested_at, requested_by FROM cancel_requests WHERE job_id = ANY($1::text[])"
)
# Both kinds: the queued ones also cover a job whose first write raced with its request
# (the gateway found no job; the processor created it without the uncommitted request).
_READ_CANCELS = f"""
{_READ_QUEUED}
UNION ALL
SELECT id, cancel_requested_at, coalesce(cancel_requested_by, 'unknown') FROM jobs
WHERE id = ANY($1::text[]) AND cancel_requested_at IS NOT NULL
"""
_LOCK_STATE = (
    "SELECT status, failed_attempts, cancel_requested_at IS NOT NULL "
    "FROM jobs WHERE id = $1 FOR UPDATE"
)
_INSERT_QUEUED = (
    "INSERT INTO cancel_requests (job_id, requested_at, requested_by) VALUES ($1, $2, $3) "
    "ON CONFLICT (job_id) DO NOTHING"
)
_MARK_JOB = f"""
UPDATE jobs SET cancel_requested_at = $2, cancel_requested_by = $3
WHERE id = $1 AND cancel_requested_at IS NULL AND status NOT IN ({_TERMINAL_SQL})
"""
_READ_MARK = (
    "SELECT id, cancel_requested_at, coalesce(cancel_requested_by, 'unknown') FROM jobs "
    "WHERE id = $1"
)


def recent_jobs_query(
    *, limit: int, offset: int, status: JobStatus | None, job_type: str | None
) -> tuple[str, list[object]]:
    """The query of :meth:`PostgresJobStore.recent_jobs` and its parameters.

    Newest first, it walks ``jobs_by_created_at`` (or ``jobs_by_type`` for a type) and
    stops once the page is full; no index covers ``status`` (migration 5), so a status
    filter is checked row by row on that walk.
    """
    conditions: list[str] = []
    parameters: list[object] = []
    if status is not None:
        parameters.append(status.value)
        conditions.append(f"status = ${len(parameters)}")
    if job_type is not None:
        parameters.append(job_type)
        conditions.append(f"type = ${len(parameters)}")
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    query = (
        f"SELECT {_JOB_COLUMNS} FROM jobs {where}ORDER BY created_at DESC, id DESC "
        f"LIMIT ${len(parameters) + 1} OFFSET ${len(parameters) + 2}"
    )
    return query, [*parameters, limit, offset]


def search_jobs_query(query: JobQuery) -> tuple[str, list[object]]:
    """The query of :meth:`PostgresJobStore.search_jobs` and its parameters (what
    ``scripts/search_explain`` and ``tests/integration/test_postgres_indexes.py`` EXPLAIN;
    :mod:`actors.stores._postgres_search` says which index serves which filter)."""
    return job_search_query(query, _JOB_COLUMNS)


def _job_record(row: Row) -> JobRecord:
    result = optional_text(row[11])
    return JobRecord(
        spec=JobSpec(
            id=text(row[0]),
            type=text(row[1]),
            created_at=text(row[2]),
            correlation_id=text(row[3]),
            payload=json.loads(text(row[4])),
            metadata=json.loads(text(row[5])),
            priority=integer(row[19]),
        ),
        status=JobStatus(text(row[6])),
        updated_at=text(row[7]),
        attempts=integer(row[8]),
        started_at=optional_text(row[9]),
        finished_at=optional_text(row[10]),
        result=None if result is None else json.loads(result),
        error=optional_text(row[12]),
        errors=tuple(AttemptError.from_json(entry) for entry in json.loads(text(row[13]))),
        next_attempt_at=optional_text(row[14]),
        cancel_requested_at=optional_text(row[15]),
        cancel_requested_by=optional_text(row[16]),
        round=integer(row[17]),
        scheduled_for=optional_text(row[18]),
    )


def _cancel_request(row: Row) -> CancelRequest:
    return CancelRequest(text(row[0]), text(row[1]), text(row[2]))


@dataclass(frozen=True, slots=True)
class PostgresJobStoreStatistics:
    """Counters of a :class:`PostgresJobStore`, for debugging."""

    batches: int
    """Non-empty calls of ``apply_transitions`` that succeeded."""
    transitions: int
    """Transitions those calls applied or found already applied."""
    replanned_jobs: int
    """Jobs planned again because another writer changed them during a call."""
    retried_calls: int
    """Calls retried after a dead connection or a rolled-back statement."""


class PostgresJobStore(PostgresLedger, PostgresPruning, PostgresSchedules, PostgresScheduling):
    """A :class:`~actors.stores.JobStore` in PostgreSQL (one row per job).

    Opened and closed by :func:`open_postgres_job_store`. Calls may run concurrently;
    each takes a connection from the pool for its duration.

    Error handling:
        Every failure of the server or the network is raised as ``StoreUnavailable``
        (retryable). A call whose connection turns out to be dead before it wrote
        anything is retried on a fresh connection first, so a restarted server or a
        terminated backend costs at most the call that was in flight. A value PostgreSQL
        cannot store (a NUL character, ``NaN`` in JSON) raises ``ValueError``: retrying
        cannot help.
    """

    def __init__(self, pool: Pool, url: str, schema: str) -> None:
        super().__init__(pool, url, schema)
        self._batches = 0
        self._transitions = 0
        self._replanned_jobs = 0

    def __repr__(self) -> str:
        return (
            f"<PostgresJobStore url={self._url!r} schema={self._schema!r} "
            f"available={self._available}>"
        )

    def statistics(self) -> PostgresJobStoreStatistics:
        """The store's counters so far."""
        return PostgresJobStoreStatistics(
            batches=self._batches,
            transitions=self._transitions,
            replanned_jobs=self._replanned_jobs,
            retried_calls=self._retried_calls,
        )

    async def apply_transitions(self, transitions: Sequence[JobTransition]) -> list[JobStatus]:
        """Apply ``transitions`` in order, in two round trips; see :class:`JobStore`.

        Returns:
            For each transition, the job's status right after it was considered, as if
            the transitions had been applied one after another.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed; nothing was applied,
                except when the connection broke while the write was in flight (then it
                may have been applied whole), or when other writers kept changing the
                same jobs (then the jobs they did not touch were applied).
            ValueError: a value of the batch cannot be stored; nothing was applied.

        Cancellation:
            Cancelled before its write was sent, nothing was applied; cancelled while the
            write is in flight, it was applied whole or not at all.
        """
        if not transitions:
            await anyio.lowlevel.checkpoint()
            return []
        pending = group_by_job(transitions)
        outcomes: list[JobStatus | None] = [None] * len(transitions)
        for _round in range(_MAX_ROUNDS):
            lost = await self._call(
                "apply job transitions", self._round(transitions, pending, outcomes)
            )
            if not lost:
                break
            self._replanned_jobs += len(lost)
            log.info("store.replanned jobs=%d schema=%s", len(lost), self._schema)
            pending = {job_id: pending[job_id] for job_id in lost}
        else:
            raise StoreUnavailable(
                f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) could "
                f"not apply job transitions: other writers changed {len(pending)} of its jobs "
                f"in each of {_MAX_ROUNDS} attempts; the others were applied. Retry the call."
            )
        self._batches += 1
        self._transitions += len(transitions)
        return [status for status in outcomes if status is not None]

    def _round(
        self,
        transitions: Sequence[JobTransition],
        jobs: Mapping[str, list[int]],
        outcomes: list[JobStatus | None],
    ) -> Callable[[Connection, Progress], Awaitable[list[str]]]:
        """One round of a batch: read, plan and write ``jobs``.

        The round returns the ids another writer changed between its read and its write.
        """

        async def read_plan_write(conn: Connection, progress: Progress) -> list[str]:
            stored, queued = await self._read_statuses(conn, list(jobs))
            plan = plan_batch(transitions, stored, jobs, queued)
            for position, outcome in enumerate(plan.outcomes):
                if outcome is not None:
                    outcomes[position] = outcome
            if not plan.effects:
                return []
            writes = job_writes(plan.effects)
            progress.wrote = True
            rows = await conn.fetch(WRITE_JOBS, writes.document())
            if len(rows) == len(writes.ids):
                return []
            written = {text(row[0]) for row in rows}
            return [job_id for job_id in writes.ids if job_id not in written]

        return read_plan_write

    async def _read_statuses(
        self, conn: Connection, job_ids: list[str]
    ) -> tuple[dict[str, LifecycleState], dict[str, CancelRequest]]:
        """The stored state of each of ``job_ids``, and for those not stored, the request
        kept if their cancel was requested while they were queued."""
        rows = await conn.fetch(_READ_STATES, job_ids)
        states: dict[str, LifecycleState] = {}
        queued: dict[str, CancelRequest] = {}
        for row in rows:
            if row[1] is None:
                job_id = text(row[0])
                queued[job_id] = CancelRequest(job_id, text(row[4]), text(row[5]))
            else:
                states[text(row[0])] = LifecycleState(
                    JobStatus(text(row[1])), integer(row[2]), bool(row[3]), integer(row[6])
                )
        return states, queued

    async def request_cancel(self, job_id: str, *, requested_by: str) -> CancelAnswer:
        """Ask for a job to be cancelled; see :class:`~actors.stores.JobStore`.

        The job's row is locked while its state is read and marked, so a processor
        writing it meanwhile finds it changed and plans again with the marker.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """

        async def request(conn: Connection, progress: Progress) -> CancelAnswer:
            progress.wrote = True  # harmless to repeat: the first request is kept
            async with conn.transaction():
                rows = await conn.fetch(_LOCK_STATE, job_id)
                state = (
                    LifecycleState(
                        JobStatus(text(rows[0][0])), integer(rows[0][1]), bool(rows[0][2])
                    )
                    if rows
                    else None
                )
                status = None if state is None else state.status
                if cancel_refusal(state) is not None:
                    return CancelAnswer(job_id, status, None)
                if state is None:
                    await conn.execute(_INSERT_QUEUED, job_id, utc_now(), requested_by)
                    found = await conn.fetch(_READ_QUEUED, [job_id])
                else:
                    await conn.execute(_MARK_JOB, job_id, utc_now(), requested_by)
                    await conn.execute(HASTEN_SCHEDULED, job_id, utc_now())
                    found = await conn.fetch(_READ_MARK, job_id)
                return CancelAnswer(job_id, status, _cancel_request(found[0]))

        return await self._call(f"request the cancel of job {job_id!r}", request)

    async def cancel_requests(self, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
        """The cancel requests kept for any of ``job_ids``; see :class:`~actors.stores.JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not job_ids:
            await anyio.lowlevel.checkpoint()
            return {}
        rows = await self._call(
            "read cancel requests", lambda conn, _: conn.fetch(_READ_CANCELS, list(job_ids))
        )
        # A job's marker (listed last) wins over a request a race left kept apart.
        return {request.job_id: request for request in map(_cancel_request, rows)}

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job with ``job_id``, or ``None``.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        rows = await self._call(
            f"read job {job_id!r}",
            lambda conn, _: conn.fetch(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = $1", job_id),
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
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}.")
        if offset < 0:
            raise ValueError(f"offset must not be negative, not {offset}.")
        query, parameters = recent_jobs_query(
            limit=limit, offset=offset, status=status, job_type=job_type
        )
        rows = await self._call("list recent jobs", lambda conn, _: conn.fetch(query, *parameters))
        return [_job_record(row) for row in rows]

    async def search_jobs(self, query: JobQuery) -> JobPage:
        """One page of the jobs matching ``query``; see :class:`~actors.stores.JobStore`
        and :mod:`actors.stores._postgres_search` for the indexes that serve each filter.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        sql, parameters = search_jobs_query(query)
        rows = await self._call("search jobs", lambda conn, _: conn.fetch(sql, *parameters))
        return query.page([_job_record(row) for row in rows])


@asynccontextmanager
async def open_postgres_job_store(
    url: str, *, schema: str = "public", min_size: int = 1, max_size: int = 4
) -> AsyncIterator[PostgresJobStore]:
    """Open the job store in the PostgreSQL database at ``url``, migrating it as needed.

    Args:
        url: ``postgresql://`` URL of the database.
        schema: The schema holding the tables (``search_path`` of every connection);
            created if missing, so tests can isolate themselves in a throwaway schema.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most (concurrent calls beyond wait).

    Resource handling:
        The pool is closed when the context exits (gracefully, within a bounded shield;
        then its connections are cut). Broken connections are replaced by the pool.

    Raises:
        ConfigError: ``schema`` is not a usable name.
        StoreUnavailable: PostgreSQL cannot be reached, or the schema cannot be migrated.
    """
    check_schema(schema)
    pool: Pool | None = None
    try:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                reset=keep_session,
                **connect_options(schema),
            )
            assert pool is not None
            async with pool.acquire() as conn:
                await migrate(conn, schema, url)
        except ASYNCPG_ERRORS as exc:
            raise StoreUnavailable(
                f"Cannot open the PostgreSQL job store at {redact(url)!r} (schema "
                f"{schema!r}): {reason(exc)}. Check that PostgreSQL is running and "
                "reachable and that the role may create tables in the schema."
            ) from exc
        yield PostgresJobStore(pool, url, schema)
    finally:
        if pool is not None:
            await close_resource(pool, url)
