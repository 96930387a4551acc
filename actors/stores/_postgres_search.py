"""Searching the PostgreSQL job store: the search's indexes (a migration) and its query.

The indexes keep transitions cheap (migration 5: a transition should be a heap-only
update, which it is only when no indexed column changes). So nothing indexes ``status``
(it changes at every transition; even a partial index's predicate counts) nor
``finished_at`` (it changes once, at the end; indexing it would make every terminal
transition write an entry in every index of the table). What is indexed either never
changes after the job is created, or changes only when an attempt fails:

- ``jobs_by_created_at`` (migration 1): no filter, ``createdAfter``/``createdBefore``,
  sort ``created``, and ``status`` (walked newest first, each row checked, stopping at
  the page's end);
- ``jobs_by_type`` (migration 1): ``type`` with a time range and ``status``, the same
  walk within the type;
- ``jobs_by_correlation_id``: ``correlationId``;
- ``jobs_by_error``: a trigram GIN index (``pg_trgm``) of the last error, partial (only
  jobs with an error): ``error`` (a substring, ``ILIKE``). A failing attempt writes the
  error, so those transitions are not heap-only; successful ones are;
- ``q``: its id half is a range of the primary key; its payload half is checked row by
  row on the walk of ``jobs_by_created_at`` (a trigram index of the payload's text was
  tried and left out: it cost a fifth of the store's insert rate, measured with
  ``apply_transitions`` batches, for a filter no hot path needs);
- sort ``finished`` and ``finishedAfter``/``finishedBefore``: no index (see above); a
  scan of the table with a top-N sort (``scripts/search_explain`` shows the plans).

Without ``pg_trgm`` (the extension is not installed on the server, or the role may not
create it), the migration creates ``jobs_by_error`` as a partial B-tree of the jobs with
an error instead (logged as a NOTICE): the search still works, scanning those jobs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.stores._sql_search import SqlDialect, job_search_sql

if TYPE_CHECKING:
    from actors.domain.search import JobQuery

__all__ = ["SEARCH_INDEXES_SQL", "job_search_query"]

# The extension goes to public when there is one (so that dropping an application schema,
# as the tests do, never drops the extension other schemas' indexes use), else to the
# migrating schema; the operator class is then named with the schema the extension is in.
SEARCH_INDEXES_SQL = """
CREATE INDEX jobs_by_correlation_id ON jobs (correlation_id, created_at DESC, id DESC);
DO $search$
DECLARE
    trgm_schema text;
BEGIN
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
                CREATE EXTENSION pg_trgm SCHEMA public;
            ELSE
                CREATE EXTENSION pg_trgm;
            END IF;
        END IF;
        SELECT n.nspname INTO trgm_schema FROM pg_extension e
            JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
        EXECUTE format(
            'CREATE INDEX jobs_by_error ON jobs USING gin (error %I.gin_trgm_ops) '
            'WHERE error IS NOT NULL', trgm_schema);
    EXCEPTION WHEN undefined_file OR insufficient_privilege OR feature_not_supported THEN
        RAISE NOTICE 'pg_trgm is not available (%); error text is searched by a scan', SQLERRM;
        CREATE INDEX jobs_by_error ON jobs (created_at DESC, id DESC) WHERE error IS NOT NULL;
    END;
END
$search$;
"""
"""The job store's migration adding the search's indexes (see the module's docstring)."""


def job_search_query(query: JobQuery, columns: str) -> tuple[str, list[object]]:
    """The ``SELECT`` of ``columns`` answering ``query`` (one row more than its page),
    and its parameters."""
    return job_search_sql(query, columns, SqlDialect("postgres"), payload_text="payload::text")
