"""The SQLite job store's cancel requests: migration 4 and its queries.

A cancel request (``DELETE /jobs/{id}``) for a **stored** job is its marker, two columns
of its row (``cancel_requested_at``, ``cancel_requested_by``). A job still **queued** is
not in ``jobs`` yet: its request waits in the ``cancel_requests`` table until the job's
first write *adopts* it (the job is then created ``PENDING`` and marked, see
:mod:`actors.domain.lifecycle`, and the row is deleted in the same transaction). Which
jobs accept a request is :func:`~actors.domain.lifecycle.cancel_refusal`, applied to the
state read in the same transaction; the statements only write.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.clock import utc_now
from actors.domain.jobs import TERMINAL_STATUSES, CancelAnswer, CancelRequest, JobStatus
from actors.domain.lifecycle import LifecycleState, cancel_refusal
from actors.stores._sqlite_database import integer, optional_text, text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = [
    "CANCEL_REQUESTS_MIGRATION",
    "adopt_cancels",
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
    "ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT",
)
"""Migration 4 of the job store: queued jobs' requests, and who asked for a stored one."""

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

_READ_QUEUED = (
    "SELECT job_id, requested_at, requested_by FROM cancel_requests "
    "WHERE job_id IN (SELECT value FROM json_each(?))"
)
_READ_MARKED = (
    "SELECT id, cancel_requested_at, cancel_requested_by FROM jobs "
    "WHERE id IN (SELECT value FROM json_each(?)) AND cancel_requested_at IS NOT NULL"
)
_READ_STATE = (
    "SELECT status, failed_attempts, cancel_requested_at IS NOT NULL FROM jobs WHERE id = ?"
)
_INSERT_QUEUED = (
    "INSERT INTO cancel_requests (job_id, requested_at, requested_by) VALUES (?, ?, ?) "
    "ON CONFLICT (job_id) DO NOTHING"
)
_ADOPT = "DELETE FROM cancel_requests WHERE job_id IN (SELECT value FROM json_each(?))"
# The first request is kept; the terminal guard is a safety net (the rule was applied to
# the state read in the same transaction).
_MARK_JOB = f"""
UPDATE jobs SET cancel_requested_at = ?, cancel_requested_by = ?
WHERE id = ? AND cancel_requested_at IS NULL AND status NOT IN ({_TERMINAL_SQL})
"""


def _requests(rows: list[tuple[object, ...]]) -> dict[str, CancelRequest]:
    return {
        text(job_id): CancelRequest(text(job_id), text(at), optional_text(by) or "unknown")
        for job_id, at, by in rows
    }


async def queued_cancels(db: SQLiteDatabase, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
    """The requests kept for ``job_ids`` (jobs not stored yet) while they were queued;
    call it inside the writing transaction."""
    if not job_ids:
        return {}
    return _requests(await db.fetchall(_READ_QUEUED, (json.dumps(list(job_ids)),)))


async def adopt_cancels(db: SQLiteDatabase, job_ids: Sequence[str]) -> None:
    """Forget the queued requests of ``job_ids``, now stored with them; call it in the
    transaction that stored them."""
    if job_ids:
        await db.execute(_ADOPT, (json.dumps(list(job_ids)),))


async def request_cancel(db: SQLiteDatabase, job_id: str, requested_by: str) -> CancelAnswer:
    """Keep a cancel request for ``job_id`` unless it has ended; call it inside a
    writing transaction (see :meth:`~actors.stores.JobStore.request_cancel`)."""
    rows = await db.fetchall(_READ_STATE, (job_id,))
    state = (
        None
        if not rows
        else LifecycleState(JobStatus(text(rows[0][0])), integer(rows[0][1]), bool(rows[0][2]))
    )
    if cancel_refusal(state) is not None:
        assert state is not None
        return CancelAnswer(job_id, state.status, None)
    ids = json.dumps([job_id])
    if state is None:
        await db.execute(_INSERT_QUEUED, (job_id, utc_now(), requested_by))
        return CancelAnswer(
            job_id, None, _requests(await db.fetchall(_READ_QUEUED, (ids,)))[job_id]
        )
    await db.execute(_MARK_JOB, (utc_now(), requested_by, job_id))
    marked = _requests(await db.fetchall(_READ_MARKED, (ids,)))
    return CancelAnswer(job_id, state.status, marked[job_id])


async def cancel_requests(db: SQLiteDatabase, job_ids: Sequence[str]) -> dict[str, CancelRequest]:
    """The cancel requests of ``job_ids``: stored jobs' markers, and requests still kept
    apart (a job's first write that raced with its request; in SQLite, whose writes are
    serialised, only a job not stored yet); call it inside a transaction."""
    if not job_ids:
        return {}
    ids = (json.dumps(list(job_ids)),)
    found = _requests(await db.fetchall(_READ_QUEUED, ids))
    found.update(_requests(await db.fetchall(_READ_MARKED, ids)))
    return found
