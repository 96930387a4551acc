"""Retention in the PostgreSQL job store: the statements behind its prune methods.

No index covers ``status`` or ``finished_at`` (migration 5: a transition changes them,
and an index on them would make every transition a non-HOT update). Retention needs
none: ``finished_at >= created_at`` always, so :data:`PRUNABLE_JOBS` walks
``jobs_by_created_at`` from the oldest row up to the cutoff and checks the status and
finish time on that walk; the only rows it reads and keeps are the old jobs that are not
terminal (waiting or stuck), few in a healthy system.
``tests/integration/test_prune_postgres.py`` EXPLAINs it. :data:`REMOVE_JOBS` deletes
the removed jobs' claims in the gateway's ledger (``submissions``) in the same statement,
by its primary key.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from actors.errors import StoreUnavailable
from actors.stores._ledger import forgotten_claims_before
from actors.stores._postgres_connection import (
    ASYNCPG_ERRORS,
    CLOSE_TIMEOUT_S,
    PostgresCalls,
    integer,
    reason,
    text,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

from actors.domain.jobs import TERMINAL_STATUSES

__all__ = ["PRUNABLE_JOBS", "PRUNE_LOCK", "PRUNE_UNLOCK", "REMOVE_JOBS", "PostgresPruning"]

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

PRUNABLE_JOBS = f"""
SELECT created_at, id FROM jobs
WHERE created_at < $1 AND (created_at, id) > ($2, $3)
    AND status IN ({_TERMINAL_SQL}) AND finished_at < $1
ORDER BY created_at, id LIMIT $4
"""
"""Parameters: cutoff, the previous page's last (created_at, id), the page size."""

REMOVE_JOBS = f"""
WITH removed AS (
    DELETE FROM jobs
    WHERE id = ANY($1::text[]) AND status IN ({_TERMINAL_SQL}) AND finished_at < $2
    RETURNING id
), forgotten AS (
    DELETE FROM submissions AS s USING removed
    WHERE s.job_id = removed.id AND (s.confirmed OR s.submitted_at < $3)
)
SELECT count(*) FROM removed
"""
"""Parameters: the job ids, the cutoff, the time before which an unconfirmed claim goes
(:func:`~actors.stores._ledger.forgotten_claims_before`). A job retried since it was
listed stays; the claims of the jobs deleted go with them (one statement)."""

PRUNE_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('observatory-prune:' || $1, 0))"
"""Try the session-level advisory lock of one schema's pruner (parameter: the schema)."""

PRUNE_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('observatory-prune:' || $1, 0))"
"""Release it (the session's end releases it too)."""


class PostgresPruning(PostgresCalls):
    """The job store's retention methods (see :class:`~actors.stores.JobStore`)."""

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
        return [(text(row[0]), text(row[1])) for row in rows]

    async def remove_jobs(self, job_ids: Sequence[str], *, finished_before: str) -> int:
        """Delete jobs still terminal and finished before the cutoff, and their claims in
        the gateway's ledger (one statement).

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not job_ids:
            await anyio.lowlevel.checkpoint()
            return 0
        removed = await self._call(
            "remove pruned jobs",
            lambda conn, _: conn.fetchval(
                REMOVE_JOBS,
                list(job_ids),
                finished_before,
                forgotten_claims_before(finished_before),
            ),
        )
        return integer(removed)

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
                        with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                            await conn.fetchval(PRUNE_UNLOCK, self._schema)
        except ASYNCPG_ERRORS as exc:
            raise StoreUnavailable(
                f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) "
                f"could not take the pruner lock: {reason(exc)}. Check that PostgreSQL is "
                "running and reachable; the call can be retried."
            ) from exc
