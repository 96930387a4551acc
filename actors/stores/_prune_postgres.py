"""Retention in the PostgreSQL job store: the statements behind its prune methods.

No index covers ``status`` or ``finished_at`` (migration 5: a transition changes them,
and an index on them would make every transition a non-HOT update). Retention needs
none: ``finished_at >= created_at`` always, so :data:`PRUNABLE_JOBS` walks
``jobs_by_created_at`` from the oldest row up to the cutoff and checks the status and
finish time on that walk; the only rows it reads and keeps are the old jobs that are not
terminal (waiting or stuck), few in a healthy system.
``tests/integration/test_prune_postgres.py`` EXPLAINs it.
"""

from __future__ import annotations

from actors.domain.jobs import TERMINAL_STATUSES

__all__ = ["PRUNABLE_JOBS", "PRUNE_LOCK", "PRUNE_UNLOCK", "REMOVE_JOBS"]

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

PRUNABLE_JOBS = f"""
SELECT created_at, id FROM jobs
WHERE created_at < $1 AND (created_at, id) > ($2, $3)
    AND status IN ({_TERMINAL_SQL}) AND finished_at < $1
ORDER BY created_at, id LIMIT $4
"""
"""Parameters: cutoff, the previous page's last (created_at, id), the page size."""

REMOVE_JOBS = f"""
DELETE FROM jobs
WHERE id = ANY($1::text[]) AND status IN ({_TERMINAL_SQL}) AND finished_at < $2
"""
"""Parameters: the job ids, the cutoff. A job retried since it was listed stays."""

PRUNE_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('observatory-prune:' || $1, 0))"
"""Try the session-level advisory lock of one schema's pruner (parameter: the schema)."""

PRUNE_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('observatory-prune:' || $1, 0))"
"""Release it (the session's end releases it too)."""
