"""Retention in the embedded SQLite stores: the statements behind the prune methods.

Kept apart from :mod:`actors.stores.sqlite` so that the stores' own modules only gain a
few delegating lines. Every call is one short transaction: the pruner deletes in batches
(:mod:`actors.retention`), so writers wait at most one batch.

Which rows go (see :class:`~actors.stores.JobStore`): a job that is terminal and finished
before the cutoff. ``finished_at >= created_at`` always, so the walk is on
``jobs_by_created_at`` up to the cutoff and checks the status and finish time row by row.
A job's claim in the gateway's ledger (``submissions``, migration 6) goes with the job, in
the same transaction (:func:`~actors.stores._ledger.forgotten_claims_before`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.jobs import TERMINAL_STATUSES
from actors.stores._ledger import forgotten_claims_before
from actors.stores._sqlite_database import dumps, integer, text, validate_page

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = [
    "count_events_of_jobs",
    "count_older_dead_letters",
    "prunable_jobs",
    "remove_events_of_jobs",
    "remove_jobs",
    "remove_older_dead_letters",
]

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

_PRUNABLE_JOBS = f"""
SELECT created_at, id FROM jobs
WHERE created_at < :cutoff AND (created_at, id) > (:after_created, :after_id)
    AND status IN ({_TERMINAL_SQL}) AND finished_at < :cutoff
ORDER BY created_at, id LIMIT :limit
"""

_PRUNABLE_OF_IDS = f"""
SELECT id FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids))
    AND status IN ({_TERMINAL_SQL}) AND finished_at < :cutoff
"""

_REMOVE_JOBS = f"DELETE FROM jobs WHERE id IN ({_PRUNABLE_OF_IDS})"

# Before the jobs (the same transaction): the claims of exactly the jobs that go.
_REMOVE_CLAIMS = f"""
DELETE FROM submissions
WHERE job_id IN ({_PRUNABLE_OF_IDS})
    AND (confirmed = 1 OR submitted_at < :unconfirmed_before)
"""


async def prunable_jobs(
    db: SQLiteDatabase, finished_before: str, limit: int, after: tuple[str, str] | None
) -> list[tuple[str, str]]:
    """See :meth:`actors.stores.JobStore.prunable_jobs`."""
    validate_page(limit)
    after_created, after_id = after if after is not None else ("", "")
    with db.failures("list prunable jobs"):
        async with db.reading():
            rows = await db.fetchall(
                _PRUNABLE_JOBS,
                {
                    "cutoff": finished_before,
                    "after_created": after_created,
                    "after_id": after_id,
                    "limit": limit,
                },
            )
    return [(text(created_at), text(job_id)) for created_at, job_id in rows]


async def remove_jobs(db: SQLiteDatabase, job_ids: Sequence[str], finished_before: str) -> int:
    """See :meth:`actors.stores.JobStore.remove_jobs`."""
    if not job_ids:
        await anyio.lowlevel.checkpoint()
        return 0
    with db.failures("remove pruned jobs"):
        async with db.transaction():
            ids = dumps(list(job_ids))
            await db.execute(
                _REMOVE_CLAIMS,
                {
                    "ids": ids,
                    "cutoff": finished_before,
                    "unconfirmed_before": forgotten_claims_before(finished_before),
                },
            )
            return await db.execute(_REMOVE_JOBS, {"ids": ids, "cutoff": finished_before})


async def count_events_of_jobs(db: SQLiteDatabase, job_ids: Sequence[str]) -> int:
    """See :meth:`actors.stores.EventStore.count_events_of_jobs`."""
    if not job_ids:
        await anyio.lowlevel.checkpoint()
        return 0
    with db.failures("count the events of jobs"):
        async with db.reading():
            rows = await db.fetchall(
                "SELECT count(*) FROM events WHERE job_id IN (SELECT value FROM json_each(?))",
                (dumps(list(job_ids)),),
            )
    return integer(rows[0][0])


async def remove_events_of_jobs(db: SQLiteDatabase, job_ids: Sequence[str]) -> int:
    """See :meth:`actors.stores.EventStore.remove_events_of_jobs`."""
    if not job_ids:
        await anyio.lowlevel.checkpoint()
        return 0
    with db.failures("remove the events of pruned jobs"):
        async with db.transaction():
            return await db.execute(
                "DELETE FROM events WHERE job_id IN (SELECT value FROM json_each(?))",
                (dumps(list(job_ids)),),
            )


async def count_older_dead_letters(db: SQLiteDatabase, before: str) -> int:
    """See :meth:`actors.stores.DeadLetterStore.count_older`."""
    with db.failures("count old dead letters"):
        async with db.reading():
            rows = await db.fetchall(
                "SELECT count(*) FROM dead_letters WHERE occurred_at < ?", (before,)
            )
    return integer(rows[0][0])


async def remove_older_dead_letters(db: SQLiteDatabase, before: str, limit: int) -> int:
    """See :meth:`actors.stores.DeadLetterStore.remove_older`."""
    validate_page(limit)
    with db.failures("remove old dead letters"):
        async with db.transaction():
            return await db.execute(
                "DELETE FROM dead_letters WHERE seq IN (SELECT seq FROM dead_letters "
                "WHERE occurred_at < ? ORDER BY occurred_at, seq LIMIT ?)",
                (before, limit),
            )
