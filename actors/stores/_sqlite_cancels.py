"""The SQLite job store's cancel requests: the ``cancel_requests`` table and its queries.

A cancel request (``DELETE /jobs/{id}``) is kept in a table of its own, one row per job,
whether or not a processor has taken the job yet: a job still queued is not in ``jobs``,
and finds its request when it is first written (it is then created ``PENDING`` and
marked, see :mod:`actors.domain.lifecycle`); a running one is found by the processor's
cancel watcher. Which jobs accept a request is decided by
:func:`~actors.domain.lifecycle.cancel_refusal`, from the state read in the same
transaction; the statements only write.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.clock import utc_now
from actors.domain.jobs import TERMINAL_STATUSES, CancelAnswer, CancelRequest, JobStatus
from actors.domain.lifecycle import LifecycleState, cancel_refusal
from actors.stores._sqlite_database import integer, text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = [
    "CANCEL_REQUESTS_MIGRATION",
    "REQUESTED_COLUMNS",
    "cancel_requests",
    "queued_cancels",
    "request_cancel",
]

CANCEL_REQUESTS_MIGRATION = (
    """CREATE TABLE cancel_requests (
        job_id TEXT PRIMARY KEY,
        requested_at TEXT NOT NULL,
        requested_by TEXT NOT NULL
    )""",
)
"""Migration 3 of the job store."""

REQUESTED_COLUMNS = (
    "coalesce(cancel_requested_at, "
    "(SELECT requested_at FROM cancel_requests WHERE job_id = jobs.id)), "
    "(SELECT requested_by FROM cancel_requests WHERE job_id = jobs.id)"
)
"""The job's ``cancel_requested_at`` and ``cancel_requested_by``, as columns of a
``SELECT ... FROM jobs``: the request's, should the job's marker be missing."""

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

_READ_REQUESTS = (
    "SELECT job_id, requested_at, requested_by FROM cancel_requests "
    "WHERE job_id IN (SELECT value FROM json_each(?))"
)
_READ_STATE = (
    "SELECT status, failed_attempts, cancel_requested_at IS NOT NULL FROM jobs WHERE id = ?"
)
_INSERT_REQUEST = (
    "INSERT INTO cancel_requests (job_id, requested_at, requested_by) VALUES (?, ?, ?) "
    "ON CONFLICT (job_id) DO NOTHING"
)
# The marker of a stored job; the terminal guard is a safety net (the rule was applied
# to the state read in the same transaction).
_MARK_JOB = f"""
UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, ?)
WHERE id = ? AND status NOT IN ({_TERMINAL_SQL})
"""


async def _read(db: SQLiteDatabase, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
    rows = await db.fetchall(_READ_REQUESTS, (json.dumps(list(job_ids)),))
    return {
        text(job_id): CancelRequest(text(job_id), text(at), text(by)) for job_id, at, by in rows
    }


async def queued_cancels(db: SQLiteDatabase, job_ids: Sequence[str]) -> dict[str, str]:
    """When the cancel of each of ``job_ids`` (jobs not stored yet) was requested, if it
    was; call it inside the writing transaction."""
    if not job_ids:
        return {}
    return {job_id: request.requested_at for job_id, request in (await _read(db, job_ids)).items()}


async def request_cancel(db: SQLiteDatabase, job_id: str, requested_by: str) -> CancelAnswer:
    """Keep a cancel request for ``job_id`` unless it has ended; call it inside a
    writing transaction (see :meth:`~actors.stores.JobStore.request_cancel`)."""
    rows = await db.fetchall(_READ_STATE, (job_id,))
    state = (
        None
        if not rows
        else LifecycleState(JobStatus(text(rows[0][0])), integer(rows[0][1]), bool(rows[0][2]))
    )
    status = None if state is None else state.status
    if cancel_refusal(state) is not None:
        return CancelAnswer(job_id, status, None)
    now = utc_now()
    await db.execute(_INSERT_REQUEST, (job_id, now, requested_by))
    if state is not None:
        await db.execute(_MARK_JOB, (now, job_id))
    return CancelAnswer(job_id, status, (await _read(db, [job_id]))[job_id])


async def cancel_requests(db: SQLiteDatabase, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
    """The cancel requests kept for any of ``job_ids``; call it inside a transaction."""
    if not job_ids:
        return {}
    return await _read(db, job_ids)
