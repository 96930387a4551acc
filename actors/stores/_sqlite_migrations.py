"""The job store's SQLite schema: its migrations, oldest first.

Migration ``n`` is ``JOB_SCHEMA.migrations[n - 1]``; the numbers match those of the
PostgreSQL job store (:data:`actors.stores._postgres_schema.MIGRATIONS`), a migration
that only one of them needs being empty in the other.
"""

from __future__ import annotations

from actors.stores._sqlite_cancels import CANCEL_REQUESTS_MIGRATION
from actors.stores._sqlite_database import Schema
from actors.stores._sqlite_scheduled import SCHEDULED_JOBS_MIGRATION
from actors.stores._sqlite_schedules import SCHEDULES_MIGRATION
from actors.stores._sqlite_search import SEARCH_INDEXES_MIGRATION
from actors.stores._sqlite_submissions import LEDGER_MIGRATION

__all__ = ["JOB_SCHEMA"]

JOB_SCHEMA = Schema(
    store="jobs",
    description="job store",
    migrations=(
        (
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                status_rank INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                correlation_id TEXT NOT NULL,
                payload TEXT NOT NULL,
                metadata TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                started_at TEXT,
                finished_at TEXT,
                result TEXT,
                error TEXT
            )""",
            "CREATE INDEX jobs_by_created_at ON jobs (created_at, id)",
            "CREATE INDEX jobs_by_status ON jobs (status, created_at, id)",
            "CREATE INDEX jobs_by_type ON jobs (type, created_at, id)",
        ),
        (
            # Retries and cancel: the history of failed attempts (a JSON array of
            # {attempt, error, at}), the highest failed attempt (the guard against stale
            # deliveries), when the next attempt is due, and the cancel marker.
            "ALTER TABLE jobs ADD COLUMN errors TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE jobs ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN next_attempt_at TEXT",
            "ALTER TABLE jobs ADD COLUMN cancel_requested_at TEXT",
        ),
        (
            # Retry of a FAILED job: the round the job's attempts belong to (each retry
            # starts the next one).
            "ALTER TABLE jobs ADD COLUMN round INTEGER NOT NULL DEFAULT 1",
        ),
        # Cancel requests, kept for queued jobs too (actors/stores/_sqlite_cancels.py).
        CANCEL_REQUESTS_MIGRATION,
        # PostgreSQL's migration 5 drops an index so that transitions are HOT updates, a
        # PostgreSQL matter; empty here so that both stores number their migrations alike.
        (),
        # The gateway's ledger of submissions and idempotency keys
        # (actors/stores/_sqlite_submissions.py).
        LEDGER_MIGRATION,
        # The job search's indexes (actors/stores/_sqlite_search.py).
        SEARCH_INDEXES_MIGRATION,
        # Delayed jobs (actors/stores/_sqlite_scheduled.py).
        SCHEDULED_JOBS_MIGRATION,
        # Recurring schedules (actors/stores/_sqlite_schedules.py).
        SCHEDULES_MIGRATION,
        # A job's priority (0 to 9, fixed at submission); jobs stored before keep the
        # default their submissions had. Not indexed, as in PostgreSQL's migration 10.
        (
            "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 5 "
            "CHECK (priority BETWEEN 0 AND 9)",
        ),
    ),
)
"""The job store's schema (``jobs.sqlite3``)."""
