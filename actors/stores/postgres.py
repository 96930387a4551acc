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
from typing import TYPE_CHECKING, Protocol, TypeVar

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
from actors.domain.submissions import (
    IdempotencyRecord,
    StoredSubmission,
    claim_outcome,
    key_outcome,
    later,
)
from actors.errors import ConfigError, StoreUnavailable
from actors.stores._ledger import check_unique
from actors.stores._postgres_plan import WRITE_JOBS, job_writes
from actors.stores._postgres_schedules import PostgresSchedules
from actors.stores._postgres_schema import MIGRATION_LOCK, MIGRATIONS, MIGRATIONS_TABLE, Migration
from actors.stores._postgres_search import job_search_query
from actors.stores._postgres_submissions import (
    CLAIM_KEYS,
    CLAIM_SUBMISSIONS,
    READ_KEYS,
    READ_SUBMISSIONS,
    SETTLE_KEYS,
    SETTLE_SUBMISSIONS,
    STALE_S,
)
from actors.stores._prune_postgres import PRUNABLE_JOBS, PRUNE_LOCK, PRUNE_UNLOCK, REMOVE_JOBS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from actors.domain.jobs import JobTransition
    from actors.domain.search import JobPage, JobQuery
    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )

__all__ = [
    "MIGRATIONS",
    "Migration",
    "PostgresJobStore",
    "PostgresJobStoreStatistics",
    "migrate_postgres",
    "open_postgres_job_store",
    "recent_jobs_query",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_CONNECT_TIMEOUT_S = 10.0
"""How long opening one connection may take before it counts as a failure."""
_CLOSE_TIMEOUT_S = 5.0
"""Bound of the shielded graceful close of the pool; then its connections are cut."""
_STATEMENT_CACHE_SIZE = 32
"""Prepared statements kept per connection: the store's dozen statements all stay prepared."""
_ATTEMPTS = 3
"""Tries of one store call when its connection turned out dead before anything was written,
or when PostgreSQL rolled its statement back (deadlock); both are safe to retry."""
_MAX_ROUNDS = 5
"""Read-and-write rounds of one batch whose jobs keep being changed by other writers."""
_APPLICATION_NAME_PREFIX = "observatory-jobs/"
"""``application_name`` of the store's connections, followed by the schema (pg_stat_activity)."""
_PRUNE_LIMIT = 100
"""Expired idempotency keys deleted per claim call, at most (an index finds them)."""
_MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's ``NAMEDATALEN - 1``: longer schema names would be silently truncated."""


_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))


# -- what the store needs from asyncpg (it ships no type information) ---------------------


class _Row(Protocol):
    def __getitem__(self, index: int, /) -> object: ...


class _Closable(Protocol):
    async def close(self) -> None: ...

    def terminate(self) -> None: ...


class _Connection(_Closable, Protocol):
    async def fetch(self, query: str, *args: object) -> list[_Row]: ...

    async def fetchval(self, query: str, *args: object) -> object: ...

    async def execute(self, query: str, *args: object) -> str: ...

    def transaction(self) -> AbstractAsyncContextManager[object]: ...


class _Pool(_Closable, Protocol):
    def acquire(self) -> AbstractAsyncContextManager[_Connection]: ...


_ASYNCPG_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,  # includes TimeoutError (connecting) and ConnectionRefusedError
)
"""Everything asyncpg raises when the server, the network or a statement fails."""

_CONNECTION_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
"""Connection exception, insufficient resources, operator intervention, system error."""


def _refused_value(exc: BaseException) -> bool:
    """Whether ``exc`` says a value of the call cannot be stored (retrying cannot help).

    asyncpg raises a ``DataError`` that is also a ``ValueError`` when it cannot encode an
    argument; PostgreSQL answers class 22 (data exception) for, e.g., a NUL character in
    text or ``NaN`` in JSON.
    """
    if isinstance(exc, ValueError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the connection rather than of one statement."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing"; not the argument errors (ValueError).
        return not isinstance(exc, ValueError)
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _CONNECTION_SQLSTATE_CLASSES


def _reason(exc: BaseException) -> str:
    """``exc``'s message on one line (PostgreSQL's carry ``DETAIL:`` lines), for a sentence."""
    return " ".join(str(exc).split()).rstrip(". ") or type(exc).__name__


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_schema(schema: str) -> None:
    if not schema or "\x00" in schema or len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
        raise ConfigError(
            f"The PostgreSQL schema name {schema!r} is not usable; give a name of 1 to "
            f"{_MAX_IDENTIFIER_BYTES} bytes without NUL characters."
        )


def _connect_options(schema: str) -> dict[str, object]:
    """asyncpg options shared by the pool and the migration connection."""
    return {
        "timeout": _CONNECT_TIMEOUT_S,
        "statement_cache_size": _STATEMENT_CACHE_SIZE,
        # Startup parameters are the session defaults, so a pool's RESET cannot undo them.
        "server_settings": {
            "search_path": _quote_identifier(schema),
            "application_name": (_APPLICATION_NAME_PREFIX + schema)[:_MAX_IDENTIFIER_BYTES],
        },
    }


async def _keep_session(connection: object) -> None:
    """The pool's reset on release: nothing to reset.

    The store never leaves session state behind (no ``SET``, ``LISTEN``, cursors or
    session advisory locks; open transactions are rolled back by the pool anyway), so the
    default ``RESET ALL`` round trip after every call is skipped.
    """
    await anyio.lowlevel.checkpoint()


async def _migrate(conn: _Connection, schema: str, url: str) -> list[int]:
    """Create ``schema`` if needed and apply the pending migrations, in one transaction.

    Returns:
        The versions applied now (empty when the schema was up to date).

    Raises:
        StoreUnavailable: the schema is newer than this version of the code knows.
    """
    schema_sql = _quote_identifier(schema)
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute(MIGRATION_LOCK, f"task-observatory/migrations/{schema}")
        # CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema
        # exists, so a role that may only use an existing schema checks first.
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
        ):
            await conn.execute(f"CREATE SCHEMA {schema_sql}")
        await conn.execute(f"SET LOCAL search_path TO {schema_sql}")
        await conn.execute(MIGRATIONS_TABLE)
        done = {
            _integer(row[0]) for row in await conn.fetch("SELECT version FROM schema_migrations")
        }
        known = MIGRATIONS[-1].version
        if done and max(done) > known:
            raise StoreUnavailable(
                f"The PostgreSQL job store at {redact(url)!r} (schema {schema!r}) has schema "
                f"version {max(done)}, newer than the {known} this version knows; upgrade "
                "the observatory or use another schema."
            )
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration.version)
    for version in applied:
        log.info(
            "store.migrated store=jobs version=%d schema=%s url=%s", version, schema, redact(url)
        )
    return applied


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
    _check_schema(schema)
    conn: _Connection | None = None
    try:
        try:
            conn = await asyncpg.connect(url, **_connect_options(schema))
            assert conn is not None
            return await _migrate(conn, schema, url)
        except _ASYNCPG_ERRORS as exc:
            raise StoreUnavailable(
                f"Cannot migrate the PostgreSQL job store at {redact(url)!r} (schema "
                f"{schema!r}): {_reason(exc)}. Check that PostgreSQL is running, reachable "
                "and that the role may create tables in the schema."
            ) from exc
    finally:
        if conn is not None:
            await _close(conn, url)


async def _close(resource: _Closable, url: str) -> None:
    """Close a connection or pool gracefully in a bounded shield, else cut it."""
    with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True) as scope:
        try:
            await resource.close()
        except _ASYNCPG_ERRORS as exc:
            log.warning("store.close_failed url=%s error=%s", redact(url), _reason(exc))
            resource.terminate()
    if scope.cancelled_caught:
        log.warning("store.close_timed_out url=%s timeout_s=%g", redact(url), _CLOSE_TIMEOUT_S)
        resource.terminate()


# -- jobs ---------------------------------------------------------------------------------

_JOB_COLUMNS = (
    "id, type, created_at, correlation_id, payload, metadata, status, updated_at, "
    "attempts, started_at, finished_at, result, error, errors, next_attempt_at, "
    "cancel_requested_at, cancel_requested_by, round"
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


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"Expected a text column, got {type(value).__name__}.")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _integer(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"Expected an integer column, got {type(value).__name__}.")
    return value


def _job_record(row: _Row) -> JobRecord:
    result = _optional_text(row[11])
    return JobRecord(
        spec=JobSpec(
            id=_text(row[0]),
            type=_text(row[1]),
            created_at=_text(row[2]),
            correlation_id=_text(row[3]),
            payload=json.loads(_text(row[4])),
            metadata=json.loads(_text(row[5])),
        ),
        status=JobStatus(_text(row[6])),
        updated_at=_text(row[7]),
        attempts=_integer(row[8]),
        started_at=_optional_text(row[9]),
        finished_at=_optional_text(row[10]),
        result=None if result is None else json.loads(result),
        error=_optional_text(row[12]),
        errors=tuple(AttemptError.from_json(entry) for entry in json.loads(_text(row[13]))),
        next_attempt_at=_optional_text(row[14]),
        cancel_requested_at=_optional_text(row[15]),
        cancel_requested_by=_optional_text(row[16]),
        round=_integer(row[17]),
    )


def _cancel_request(row: _Row) -> CancelRequest:
    return CancelRequest(_text(row[0]), _text(row[1]), _text(row[2]))


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


class _Progress:
    """How far a store call got, to tell connection failures and safe retries apart."""

    __slots__ = ("connected", "wrote")

    def __init__(self) -> None:
        self.connected = False
        """It got a connection from the pool (any failure before is a connection failure)."""
        self.wrote = False
        """It sent a write (retrying might apply it twice)."""


class PostgresJobStore(PostgresSchedules):
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

    def __init__(self, pool: _Pool, url: str, schema: str) -> None:
        self._pool = pool
        self._url = redact(url)
        self._schema = schema
        self._available = True
        self._batches = 0
        self._transitions = 0
        self._replanned_jobs = 0
        self._retried_calls = 0

    def __repr__(self) -> str:
        return (
            f"<PostgresJobStore url={self._url!r} schema={self._schema!r} "
            f"available={self._available}>"
        )

    def is_available(self) -> bool:
        """``False`` after a failed connection, until a call succeeds again."""
        return self._available

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
    ) -> Callable[[_Connection, _Progress], Awaitable[list[str]]]:
        """One round of a batch: read, plan and write ``jobs``.

        The round returns the ids another writer changed between its read and its write.
        """

        async def read_plan_write(conn: _Connection, progress: _Progress) -> list[str]:
            stored, queued = await self._read_statuses(conn, list(jobs))
            plan = plan_batch(transitions, stored, jobs, queued)
            for position, outcome in enumerate(plan.outcomes):
                if outcome is not None:
                    outcomes[position] = outcome
            if not plan.effects:
                return []
            writes = job_writes(plan.effects)
            progress.wrote = True
            rows = await conn.fetch(WRITE_JOBS, *writes.columns())
            if len(rows) == len(writes.ids):
                return []
            written = {_text(row[0]) for row in rows}
            return [job_id for job_id in writes.ids if job_id not in written]

        return read_plan_write

    async def _read_statuses(
        self, conn: _Connection, job_ids: list[str]
    ) -> tuple[dict[str, LifecycleState], dict[str, CancelRequest]]:
        """The stored state of each of ``job_ids``, and for those not stored, the request
        kept if their cancel was requested while they were queued."""
        rows = await conn.fetch(_READ_STATES, job_ids)
        states: dict[str, LifecycleState] = {}
        queued: dict[str, CancelRequest] = {}
        for row in rows:
            if row[1] is None:
                job_id = _text(row[0])
                queued[job_id] = CancelRequest(job_id, _text(row[4]), _text(row[5]))
            else:
                states[_text(row[0])] = LifecycleState(
                    JobStatus(_text(row[1])), _integer(row[2]), bool(row[3]), _integer(row[6])
                )
        return states, queued

    async def request_cancel(self, job_id: str, *, requested_by: str) -> CancelAnswer:
        """Ask for a job to be cancelled; see :class:`~actors.stores.JobStore`.

        The job's row is locked while its state is read and marked, so a processor
        writing it meanwhile finds it changed and plans again with the marker.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """

        async def request(conn: _Connection, progress: _Progress) -> CancelAnswer:
            progress.wrote = True  # harmless to repeat: the first request is kept
            async with conn.transaction():
                rows = await conn.fetch(_LOCK_STATE, job_id)
                state = (
                    LifecycleState(
                        JobStatus(_text(rows[0][0])), _integer(rows[0][1]), bool(rows[0][2])
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

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        """Claim job ids for submissions, in one statement; see :class:`JobStore`.

        Raises:
            ValueError: a job id appears twice.
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not submissions:
            await anyio.lowlevel.checkpoint()
            return []
        check_unique([s.job_id for s in submissions], "job id")

        async def claim(conn: _Connection, progress: _Progress) -> list[SubmissionClaim]:
            progress.wrote = True
            rows = await conn.fetch(
                CLAIM_SUBMISSIONS,
                [s.job_id for s in submissions],
                [s.fingerprint for s in submissions],
                [s.event_id for s in submissions],
                [s.submitted_at for s in submissions],
            )
            inserted = {_text(row[0]) for row in rows if row[1]}
            stored = {
                _text(row[0]): StoredSubmission(_text(row[2]), _text(row[3]), bool(row[4]))
                for row in rows
                if not row[1] and row[2] is not None
            }
            raced = [s.job_id for s in submissions if s.job_id not in inserted | stored.keys()]
            if raced:
                # Committed by another gateway while the claim ran: read them now.
                for row in await conn.fetch(READ_SUBMISSIONS, raced):
                    stored[_text(row[0])] = StoredSubmission(
                        _text(row[1]), _text(row[2]), bool(row[3])
                    )
            return [
                claim_outcome(s, inserted=s.job_id in inserted, stored=stored.get(s.job_id))
                for s in submissions
            ]

        return await self._call("claim submissions", claim)

    async def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        """Confirm and release claims, in one statement; see :class:`JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not confirmed and not released:
            await anyio.lowlevel.checkpoint()
            return
        await self._call(
            "settle submissions",
            lambda conn, _: conn.execute(
                SETTLE_SUBMISSIONS,
                [s.job_id for s in confirmed],
                [s.fingerprint for s in confirmed],
                [s.event_id for s in confirmed],
                [s.submitted_at for s in confirmed],
                [s.job_id for s in released],
                [s.event_id for s in released],
            ),
        )

    async def claim_idempotency_keys(
        self, claims: Sequence[IdempotencyClaim], *, now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        """Claim idempotency keys, in one statement; see :class:`JobStore`.

        Raises:
            ValueError: a key appears twice.
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not claims:
            await anyio.lowlevel.checkpoint()
            return []
        check_unique([c.key for c in claims], "idempotency key")

        def record(row: _Row, at: int) -> IdempotencyRecord:
            status = row[at + 3]
            return IdempotencyRecord(
                _text(row[at]),
                _text(row[at + 1]),
                _text(row[at + 2]),
                None if status is None else _integer(status),
                _optional_text(row[at + 4]),
            )

        async def claim(
            conn: _Connection, progress: _Progress
        ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
            progress.wrote = True
            rows = await conn.fetch(
                CLAIM_KEYS,
                [c.key for c in claims],
                [c.fingerprint for c in claims],
                [c.claimed_at for c in claims],
                [c.expires_at for c in claims],
                now,
                later(now, -STALE_S),
                _PRUNE_LIMIT,
            )
            taken = {_text(row[0]) for row in rows if row[1]}
            stored = {
                _text(row[0]): record(row, 2) for row in rows if not row[1] and row[2] is not None
            }
            raced = [c.key for c in claims if c.key not in taken | stored.keys()]
            if raced:
                for row in await conn.fetch(READ_KEYS, raced):
                    stored[_text(row[0])] = record(row, 1)
            return [
                (
                    key_outcome(c, inserted=c.key in taken, stored=stored.get(c.key)),
                    stored.get(c.key),
                )
                for c in claims
            ]

        return await self._call("claim idempotency keys", claim)

    async def settle_idempotency_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        """Keep or release idempotency keys' answers, in one statement; see :class:`JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not answers:
            await anyio.lowlevel.checkpoint()
            return
        kept = [a for a in answers if a.status is not None]
        released = [a for a in answers if a.status is None]
        await self._call(
            "keep idempotency keys' answers",
            lambda conn, _: conn.execute(
                SETTLE_KEYS,
                [a.key for a in kept],
                [a.fingerprint for a in kept],
                [a.status for a in kept],
                [a.body for a in kept],
                [a.key for a in released],
                [a.fingerprint for a in released],
            ),
        )

    async def search_jobs(self, query: JobQuery) -> JobPage:
        """One page of the jobs matching ``query``; see :class:`~actors.stores.JobStore`
        and :mod:`actors.stores._postgres_search` for the indexes that serve each filter.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        sql, parameters = job_search_query(query, _JOB_COLUMNS)
        rows = await self._call("search jobs", lambda conn, _: conn.fetch(sql, *parameters))
        return query.page([_job_record(row) for row in rows])

    async def prunable_jobs(
        self, *, finished_before: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """Terminal jobs finished before the cutoff; see :class:`~actors.stores.JobStore`.

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}.")
        after_created, after_id = after if after is not None else ("", "")
        rows = await self._call(
            "list prunable jobs",
            lambda conn, _: conn.fetch(
                PRUNABLE_JOBS, finished_before, after_created, after_id, limit
            ),
        )
        return [(_text(row[0]), _text(row[1])) for row in rows]

    async def remove_jobs(self, job_ids: Sequence[str], *, finished_before: str) -> int:
        """Delete jobs still terminal and finished before the cutoff (one statement).

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not job_ids:
            await anyio.lowlevel.checkpoint()
            return 0
        status = await self._call(
            "remove pruned jobs",
            lambda conn, _: conn.execute(REMOVE_JOBS, list(job_ids), finished_before),
        )
        return int(status.rsplit(" ", 1)[-1])

    @asynccontextmanager
    async def prune_lock(self) -> AsyncIterator[bool]:
        """Hold this schema's pruner lock (a session-level PostgreSQL advisory lock).

        Yields whether it was taken: ``False`` when another pruner holds it. The lock is
        held by one pooled connection for the whole block and released at its end (or
        when the connection dies, so a crashed pruner never keeps it).

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        try:
            async with self._pool.acquire() as conn:
                taken = bool(await conn.fetchval(PRUNE_LOCK, self._schema))
                try:
                    yield taken
                finally:
                    if taken:
                        with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True):
                            await conn.fetchval(PRUNE_UNLOCK, self._schema)
        except _ASYNCPG_ERRORS as exc:
            raise StoreUnavailable(
                f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) "
                f"could not take the pruner lock: {_reason(exc)}. Check that PostgreSQL is "
                "running and reachable; the call can be retried."
            ) from exc

    async def _call(
        self, action: str, work: Callable[[_Connection, _Progress], Awaitable[_T]]
    ) -> _T:
        """Run ``work`` on a pooled connection, retrying when that is safe, translating errors.

        A connection found dead before ``work`` wrote anything (a server restart, a
        terminated backend) is replaced by the pool and ``work`` runs again; so is a
        statement PostgreSQL rolled back whole (a deadlock between concurrent writers).
        """
        for attempt in range(1, _ATTEMPTS + 1):
            progress = _Progress()
            try:
                async with self._pool.acquire() as conn:
                    progress.connected = True
                    result = await work(conn, progress)
            except _ASYNCPG_ERRORS as exc:
                if _refused_value(exc):
                    raise ValueError(
                        f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) "
                        f"cannot {action}: PostgreSQL refused a value ({_reason(exc)}). Nothing "
                        "was stored; such values cannot be stored as they are."
                    ) from exc
                lost = not progress.connected or _connection_lost(exc)
                if lost:
                    self._available = False
                rolled_back = isinstance(exc, asyncpg.exceptions.TransactionRollbackError)
                if attempt < _ATTEMPTS and ((lost and not progress.wrote) or rolled_back):
                    self._retried_calls += 1
                    log.info(
                        "store.retrying action=%r attempt=%d schema=%s error=%s",
                        action,
                        attempt,
                        self._schema,
                        _reason(exc),
                    )
                    continue
                raise StoreUnavailable(
                    f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) "
                    f"could not {action}: {_reason(exc)}. Check that PostgreSQL is running "
                    "and reachable; the call can be retried."
                ) from exc
            self._available = True
            return result
        raise AssertionError("unreachable")  # pragma: no cover


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
    _check_schema(schema)
    pool: _Pool | None = None
    try:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                reset=_keep_session,
                **_connect_options(schema),
            )
            assert pool is not None
            async with pool.acquire() as conn:
                await _migrate(conn, schema, url)
        except _ASYNCPG_ERRORS as exc:
            raise StoreUnavailable(
                f"Cannot open the PostgreSQL job store at {redact(url)!r} (schema "
                f"{schema!r}): {_reason(exc)}. Check that PostgreSQL is running and "
                "reachable and that the role may create tables in the schema."
            ) from exc
        yield PostgresJobStore(pool, url, schema)
    finally:
        if pool is not None:
            await _close(pool, url)
