"""The PostgreSQL job store's delayed jobs: migration 8 and its statements.

A delayed job (:mod:`actors.domain.scheduling`) is a ``jobs`` row, ``PENDING`` with its
``scheduled_for``, plus a ``scheduled_jobs`` row holding its ``job.created`` message
until a processor's scheduler publishes it; one statement writes both.

**Taking due jobs.** Every processor runs a scheduler; each call takes the due rows no
one holds, ``FOR UPDATE SKIP LOCKED`` (a row another call is taking is skipped, not
waited for), and leases them (``claimed_until``) in the same statement, so the
transaction is as short as one statement and no lock is held while the broker confirms.
The scheduler deletes the rows once the broker confirmed their messages; a scheduler that
died in between leaves them leased, and another takes them when the lease ran out (the
message, with the same event id, is then deduplicated by the processor). No leader is
elected: the lease is the only coordination, so several processors share the work and
any one of them alone does all of it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.jobs import JobStatus
from actors.domain.scheduling import DueJob, message_of
from actors.stores._postgres_connection import PostgresCalls

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.scheduling import ScheduledJob

__all__ = [
    "CLAIM_DUE_JOBS",
    "HASTEN_SCHEDULED",
    "REMOVE_SCHEDULED",
    "SCHEDULED_JOBS_SQL",
    "SCHEDULE_JOBS",
    "PostgresScheduling",
    "due_jobs",
    "schedule_columns",
]

SCHEDULED_JOBS_SQL = """
ALTER TABLE jobs ADD COLUMN scheduled_for text COLLATE "C";
CREATE TABLE scheduled_jobs (
    job_id text COLLATE "C" PRIMARY KEY,
    due_at text COLLATE "C" NOT NULL,
    claimed_until text COLLATE "C" NOT NULL DEFAULT '',
    message_id text NOT NULL,
    correlation_id text,
    body bytea NOT NULL
);
CREATE INDEX scheduled_jobs_by_due_at ON scheduled_jobs (due_at, job_id);
"""
"""Migration 8: the scheduled set, and the job's start time on its row."""

# One statement: the new jobs' rows (a job stored before is left alone: a resubmission
# schedules nothing twice), a cancel kept while the job was queued adopted as its marker
# (and the job due at once), and the scheduled rows of the jobs actually inserted.
SCHEDULE_JOBS = f"""
WITH input AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::smallint[]
    ) AS t (id, type, created_at, updated_at, correlation_id, payload, metadata,
            scheduled_for, message_id, message_correlation_id, body, priority)
),
queued AS (
    DELETE FROM cancel_requests WHERE job_id IN (SELECT id FROM input)
    RETURNING job_id, requested_at, requested_by
),
inserted AS (
    INSERT INTO jobs (
        id, type, status, status_rank, created_at, updated_at, correlation_id,
        payload, metadata, scheduled_for, cancel_requested_at, cancel_requested_by, priority
    )
    SELECT input.id, input.type, '{JobStatus.PENDING.value}', {JobStatus.PENDING.rank},
        input.created_at, input.updated_at, input.correlation_id, input.payload::jsonb,
        input.metadata::jsonb, input.scheduled_for, queued.requested_at, queued.requested_by,
        input.priority
    FROM input LEFT JOIN queued ON queued.job_id = input.id
    ON CONFLICT (id) DO NOTHING
    RETURNING id, cancel_requested_at
)
INSERT INTO scheduled_jobs (job_id, due_at, message_id, correlation_id, body)
SELECT input.id,
    CASE WHEN inserted.cancel_requested_at IS NULL THEN input.scheduled_for
        ELSE input.updated_at END,
    input.message_id, input.message_correlation_id, input.body
FROM input JOIN inserted ON inserted.id = input.id
ON CONFLICT (job_id) DO NOTHING
"""

CLAIM_DUE_JOBS = """
UPDATE scheduled_jobs SET claimed_until = $2
WHERE job_id IN (
    SELECT job_id FROM scheduled_jobs
    WHERE due_at <= $1 AND claimed_until <= $1
    ORDER BY due_at, job_id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING job_id, message_id, correlation_id, body, due_at
"""
"""Take and lease the due jobs nobody holds: ``$1`` now, ``$2`` the lease's end,
``$3`` the limit."""

REMOVE_SCHEDULED = "DELETE FROM scheduled_jobs WHERE job_id = ANY($1::text[])"

HASTEN_SCHEDULED = "UPDATE scheduled_jobs SET due_at = $2, claimed_until = '' WHERE job_id = $1"
"""A job whose cancel was accepted is due at once, so it ends cancelled at once."""


def schedule_columns(jobs: Sequence[ScheduledJob]) -> list[list[object]]:
    """The twelve arrays :data:`SCHEDULE_JOBS` takes, one element per job."""

    def dumps(value: object) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    return [
        [job.spec.id for job in jobs],
        [job.spec.type for job in jobs],
        [job.spec.created_at for job in jobs],
        [job.at for job in jobs],
        [job.spec.correlation_id for job in jobs],
        [dumps(dict(job.spec.payload)) for job in jobs],
        [dumps(dict(job.spec.metadata)) for job in jobs],
        [job.scheduled_for for job in jobs],
        [job.message.message_id for job in jobs],
        [job.message.correlation_id for job in jobs],
        [job.message.body for job in jobs],
        [job.spec.priority for job in jobs],
    ]


def due_jobs(rows: Sequence[Sequence[object]]) -> list[DueJob]:
    """The jobs :data:`CLAIM_DUE_JOBS` took, earliest due first."""
    ordered = sorted(rows, key=lambda row: (str(row[4]), str(row[0])))
    taken: list[DueJob] = []
    for job_id, message_id, correlation_id, body, _ in ordered:
        assert isinstance(job_id, str)
        assert isinstance(message_id, str)
        assert correlation_id is None or isinstance(correlation_id, str)
        assert isinstance(body, bytes)
        taken.append(DueJob(job_id, message_of(message_id, correlation_id, body)))
    return taken


class PostgresScheduling(PostgresCalls):
    """The job store's scheduled set (see :class:`~actors.stores.JobStore`)."""

    async def schedule_jobs(self, jobs: Sequence[ScheduledJob]) -> None:
        """Keep delayed jobs until due, in one statement; see :class:`~actors.stores.JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not jobs:
            await anyio.lowlevel.checkpoint()
            return
        columns = schedule_columns(jobs)
        await self._call("schedule jobs", lambda conn, _: conn.execute(SCHEDULE_JOBS, *columns))

    async def claim_due_jobs(self, *, now: str, lease_until: str, limit: int) -> list[DueJob]:
        """Take due scheduled jobs, ``FOR UPDATE SKIP LOCKED``; see :class:`JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        rows = await self._call(
            "take due scheduled jobs",
            lambda conn, _: conn.fetch(CLAIM_DUE_JOBS, now, lease_until, max(0, limit)),
        )
        return due_jobs([(row[0], row[1], row[2], row[3], row[4]) for row in rows])

    async def remove_scheduled(self, job_ids: Sequence[str]) -> None:
        """Forget published scheduled jobs; see :class:`~actors.stores.JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not job_ids:
            await anyio.lowlevel.checkpoint()
            return
        await self._call(
            "remove published scheduled jobs",
            lambda conn, _: conn.execute(REMOVE_SCHEDULED, list(job_ids)),
        )

    async def count_scheduled(self) -> int:
        """How many delayed jobs wait; see :class:`~actors.stores.JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        count = await self._call(
            "count scheduled jobs",
            lambda conn, _: conn.fetchval("SELECT count(*) FROM scheduled_jobs"),
        )
        assert isinstance(count, int)
        return count
