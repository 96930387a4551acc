"""The SQLite job store's delayed jobs: migration 8 and its queries.

A delayed job (:mod:`actors.domain.scheduling`) is a ``jobs`` row, ``PENDING`` with its
``scheduled_for``, plus a ``scheduled_jobs`` row holding its ``job.created`` message until
the processor's scheduler publishes it. Both are written in one transaction; the
scheduler takes due rows with a lease (``claimed_until``) and deletes them once the
broker confirmed. SQLite serialises writers, so the lease only matters after a crash
between publish and delete: the row is taken again once the lease ran out, and the
republished message (same event id) is deduplicated by the processor.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.jobs import JobStatus
from actors.domain.scheduling import DueJob, message_of
from actors.stores._sqlite_database import dumps, optional_text, text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.scheduling import ScheduledJob
    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = [
    "SCHEDULED_JOBS_MIGRATION",
    "claim_due_jobs",
    "hasten_scheduled",
    "remove_scheduled",
    "schedule_jobs",
]

SCHEDULED_JOBS_MIGRATION = (
    "ALTER TABLE jobs ADD COLUMN scheduled_for TEXT",
    """CREATE TABLE scheduled_jobs (
        job_id TEXT PRIMARY KEY,
        due_at TEXT NOT NULL,
        claimed_until TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL,
        correlation_id TEXT,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX scheduled_jobs_by_due_at ON scheduled_jobs (due_at, job_id)",
)
"""Migration 8 of the job store: delayed jobs (the scheduled set)."""

_INSERT_JOB = """
INSERT INTO jobs (
    id, type, status, status_rank, created_at, updated_at, correlation_id,
    payload, metadata, scheduled_for, cancel_requested_at, cancel_requested_by, priority
)
SELECT :id, :type, :status, :rank, :created_at, :updated_at, :correlation_id,
    :payload, :metadata, :scheduled_for, queued.requested_at, queued.requested_by, :priority
FROM (SELECT 1) LEFT JOIN cancel_requests AS queued ON queued.job_id = :id
WHERE true
ON CONFLICT (id) DO NOTHING
"""
# A cancel kept while the job was queued makes it due at once (and is adopted below).
_INSERT_SCHEDULED = """
INSERT INTO scheduled_jobs (job_id, due_at, message_id, correlation_id, body)
SELECT :id,
    CASE WHEN EXISTS (SELECT 1 FROM cancel_requests WHERE job_id = :id)
        THEN :updated_at ELSE :scheduled_for END,
    :message_id, :message_correlation_id, :body
WHERE changes() > 0
ON CONFLICT (job_id) DO NOTHING
"""
_ADOPT_CANCEL = "DELETE FROM cancel_requests WHERE job_id = ?"
_DUE = (
    "SELECT job_id, message_id, correlation_id, body FROM scheduled_jobs "
    "WHERE due_at <= ? AND claimed_until <= ? ORDER BY due_at, job_id LIMIT ?"
)
_LEASE = (
    "UPDATE scheduled_jobs SET claimed_until = ? WHERE job_id IN (SELECT value FROM json_each(?))"
)
_REMOVE = "DELETE FROM scheduled_jobs WHERE job_id IN (SELECT value FROM json_each(?))"
_HASTEN = "UPDATE scheduled_jobs SET due_at = ?, claimed_until = '' WHERE job_id = ?"


async def schedule_jobs(db: SQLiteDatabase, jobs: Sequence[ScheduledJob]) -> None:
    """Store delayed jobs ``PENDING`` with their messages; call it inside a writing
    transaction (see :meth:`~actors.stores.JobStore.schedule_jobs`)."""
    for job in jobs:
        spec = job.spec
        row: dict[str, object] = {
            "id": spec.id,
            "type": spec.type,
            "status": JobStatus.PENDING.value,
            "rank": JobStatus.PENDING.rank,
            "created_at": spec.created_at,
            "updated_at": job.at,
            "correlation_id": spec.correlation_id,
            "payload": dumps(dict(spec.payload)),
            "metadata": dumps(dict(spec.metadata)),
            "scheduled_for": job.scheduled_for,
            "priority": spec.priority,
        }
        # changes() in the second statement is the first one's: a job stored before
        # (resubmitted) schedules nothing.
        await db.execute(_INSERT_JOB, row)
        await db.execute(
            _INSERT_SCHEDULED,
            {
                "id": spec.id,
                "updated_at": job.at,
                "scheduled_for": job.scheduled_for,
                "message_id": job.message.message_id,
                "message_correlation_id": job.message.correlation_id,
                "body": job.message.body,
            },
        )
        await db.execute(_ADOPT_CANCEL, (spec.id,))


async def claim_due_jobs(
    db: SQLiteDatabase, *, now: str, lease_until: str, limit: int
) -> list[DueJob]:
    """Take due scheduled jobs under a lease; call it inside a writing transaction."""
    rows = await db.fetchall(_DUE, (now, now, max(0, limit)))
    if not rows:
        return []
    taken = [
        DueJob(
            text(job_id),
            message_of(text(message_id), optional_text(correlation_id), _bytes(body)),
        )
        for job_id, message_id, correlation_id, body in rows
    ]
    await db.execute(_LEASE, (lease_until, json.dumps([job.job_id for job in taken])))
    return taken


async def remove_scheduled(db: SQLiteDatabase, job_ids: Sequence[str]) -> None:
    """Delete published scheduled jobs; call it inside a writing transaction."""
    if job_ids:
        await db.execute(_REMOVE, (json.dumps(list(job_ids)),))


async def hasten_scheduled(db: SQLiteDatabase, job_id: str, now: str) -> None:
    """Make a scheduled job due at once (its cancel was requested)."""
    await db.execute(_HASTEN, (now, job_id))


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    assert isinstance(value, str)
    return value.encode()
