"""The PostgreSQL job store's schema: its versioned migrations, and :func:`migrate`.

Published migrations are never edited; a change is a new migration at the end, applied
by :func:`~actors.stores.postgres.migrate_postgres` (and when the store opens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.config.urls import redact
from actors.domain.jobs import JobStatus
from actors.errors import StoreUnavailable
from actors.stores._postgres_connection import integer, quote_identifier
from actors.stores._postgres_scheduled import SCHEDULED_JOBS_SQL
from actors.stores._postgres_schedules import SCHEDULES_MIGRATION_SQL
from actors.stores._postgres_search import SEARCH_INDEXES_SQL
from actors.stores._postgres_submissions import LEDGER_MIGRATION_SQL

if TYPE_CHECKING:
    from actors.stores._postgres_connection import Connection

__all__ = ["MIGRATIONS", "MIGRATIONS_TABLE", "MIGRATION_LOCK", "Migration", "migrate"]

log = logging.getLogger("actors.stores.postgres")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the job store's schema.

    Published migrations are never edited; a change is a new migration at the end.
    """

    version: int
    """Position in :data:`MIGRATIONS`, from 1; the key in ``schema_migrations``."""
    name: str
    """What it does, recorded next to its version."""
    sql: str
    """The script, run in the migrating transaction (statements separated by ``;``)."""


_STATUSES_SQL = ", ".join(f"'{status.value}'" for status in JobStatus)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="create jobs",
        # COLLATE "C" on the id and the timestamps: byte order, whatever the database's
        # locale, so ordering (and greatest()) matches the SQLite store and time order.
        sql=f"""
        CREATE TABLE jobs (
            id text COLLATE "C" PRIMARY KEY,
            type text NOT NULL,
            status text NOT NULL CHECK (status IN ({_STATUSES_SQL})),
            status_rank smallint NOT NULL,
            created_at text COLLATE "C" NOT NULL,
            updated_at text COLLATE "C" NOT NULL,
            correlation_id text NOT NULL,
            payload jsonb NOT NULL,
            metadata jsonb NOT NULL,
            attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            started_at text COLLATE "C",
            finished_at text COLLATE "C",
            result jsonb,
            error text
        );
        CREATE INDEX jobs_by_created_at ON jobs (created_at DESC, id DESC);
        CREATE INDEX jobs_by_status ON jobs (status, created_at DESC, id DESC);
        CREATE INDEX jobs_by_type ON jobs (type, created_at DESC, id DESC);
        """,
    ),
    Migration(
        version=2,
        name="retries and cancel",
        # The history of failed attempts ({attempt, error, at} objects), the highest
        # failed attempt (the guard against stale deliveries), when the next attempt is
        # due, and the cancel marker written by the gateway.
        sql="""
        ALTER TABLE jobs
            ADD COLUMN errors jsonb NOT NULL DEFAULT '[]',
            ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
            ADD COLUMN next_attempt_at text COLLATE "C",
            ADD COLUMN cancel_requested_at text COLLATE "C";
        """,
    ),
    Migration(
        version=3,
        name="retry rounds",
        # Retry of a FAILED job: the round the job's attempts belong to (each retry
        # starts the next one).
        sql="""
        ALTER TABLE jobs ADD COLUMN round integer NOT NULL DEFAULT 1 CHECK (round >= 1);
        """,
    ),
    Migration(
        version=4,
        name="cancel requests",
        # The cancel requests of jobs still queued (not in jobs yet), until the job's
        # first write adopts its request as its marker; and who asked, next to the marker.
        sql="""
        CREATE TABLE cancel_requests (
            job_id text COLLATE "C" PRIMARY KEY,
            requested_at text COLLATE "C" NOT NULL,
            requested_by text NOT NULL
        );
        ALTER TABLE jobs ADD COLUMN cancel_requested_by text;
        """,
    ),
    Migration(
        version=5,
        name="transitions without index writes",
        # Every status change rewrote jobs_by_status, and since status was indexed no
        # update could be HOT: each transition also added an entry to the primary key and
        # to the created_at and type indexes. Without it no index covers a column a
        # transition changes, so a transition is a heap-only update. A batch updates every
        # row of a page in one statement, so the page must hold a new version of each:
        # fillfactor 40 leaves that room (at 80 only a quarter of the updates were HOT,
        # at 50 seven in eight; at 40 all, and the table is smaller than at 80, as no
        # row moves to a new page).
        # A partial index on a status would block HOT updates too (predicate columns
        # count as indexed). Listing by status walks jobs_by_created_at newest first and
        # stops at the page's last row (tests/integration/test_postgres_job_store.py
        # EXPLAINs every recent_jobs query).
        sql="""
        DROP INDEX IF EXISTS jobs_by_status;
        ALTER TABLE jobs SET (fillfactor = 40);
        """,
    ),
    Migration(
        version=6,
        name="submissions ledger",
        # The gateway's claims of job ids (a resubmitted id is answered as the first time,
        # or refused when its type, payload or metadata differ) and the answers kept for
        # Idempotency-Key requests: actors/stores/_postgres_submissions.py.
        sql=LEDGER_MIGRATION_SQL,
    ),
    # The job search's indexes: on columns a transition never changes, and the last
    # error's trigrams (actors/stores/_postgres_search.py says which filter each serves).
    Migration(version=7, name="search indexes", sql=SEARCH_INDEXES_SQL),
    # Delayed jobs: the scheduled set (actors/stores/_postgres_scheduled.py).
    Migration(version=8, name="scheduled jobs", sql=SCHEDULED_JOBS_SQL),
    # Recurring schedules (actors/stores/_postgres_schedules.py).
    Migration(version=9, name="schedules", sql=SCHEDULES_MIGRATION_SQL),
    Migration(
        version=10,
        name="job priorities",
        # A job's priority (0 to 9, fixed at submission); jobs stored before keep the
        # default their submissions had. Not indexed: it never changes, but a filter on
        # ten values is served as well by the walk of jobs_by_created_at, each row checked.
        sql="""
        ALTER TABLE jobs ADD COLUMN priority smallint NOT NULL DEFAULT 5
            CHECK (priority BETWEEN 0 AND 9);
        """,
    ),
)
"""The job store's schema, oldest first; version ``n`` is ``MIGRATIONS[n - 1]``."""

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

# Taken before anything else while migrating, so two processes starting at once migrate
# one after the other; the key is derived in SQL from the schema's name.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


async def migrate(conn: Connection, schema: str, url: str) -> list[int]:
    """Create ``schema`` if needed and apply the pending migrations, in one transaction.

    Returns:
        The versions applied now (empty when the schema was up to date).

    Raises:
        StoreUnavailable: the schema is newer than this version of the code knows.
    """
    schema_sql = quote_identifier(schema)
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
            integer(row[0]) for row in await conn.fetch("SELECT version FROM schema_migrations")
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
