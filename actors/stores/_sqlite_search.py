"""Searching the SQLite stores: the job search's indexes (a migration) and the queries.

Which filters an index serves (``EXPLAIN QUERY PLAN`` in
``tests/unit/actors/stores/test_sqlite_search_plans.py``):

- no filter, ``createdAfter``/``createdBefore``, sort ``created``: ``jobs_by_created_at``;
- ``status`` (one): ``jobs_by_status``; ``type`` (one): ``jobs_by_type``; several of
  either: the same index, one range per value, then a sort of what matched;
- ``correlationId``: ``jobs_by_correlation_id``;
- sort ``finished`` (with ``finishedAfter``/``finishedBefore`` as its range):
  ``jobs_by_finished_at`` (partial: only jobs that ended); under sort ``created`` the
  finish bounds are checked on the walk of ``jobs_by_created_at``;
- ``error``: a scan of ``jobs_with_error`` (partial: only jobs with an error), each
  error matched with ``LIKE``; no index serves a substring;
- ``q``: the job id prefix is a range of the primary key; the payload text is matched
  with ``LIKE`` row by row.

SQLite rewrites an index entry only when a column it holds changes, so these indexes
cost a transition only when it sets ``finished_at`` or ``error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.stores._sql_search import SqlDialect, job_search_sql as shared_job_search_sql

if TYPE_CHECKING:
    from actors.domain.search import EventCursor, EventQuery, JobQuery

__all__ = ["SEARCH_INDEXES_MIGRATION", "event_search_sql", "job_search_sql"]

SEARCH_INDEXES_MIGRATION: tuple[str, ...] = (
    "CREATE INDEX jobs_by_correlation_id ON jobs (correlation_id, created_at, id)",
    "CREATE INDEX jobs_by_finished_at ON jobs (finished_at, id) WHERE finished_at IS NOT NULL",
    "CREATE INDEX jobs_with_error ON jobs (created_at, id) WHERE error IS NOT NULL",
)
"""The job store's migration adding the search's indexes (see the module's docstring)."""


def job_search_sql(query: JobQuery, columns: str) -> tuple[str, list[object]]:
    """The ``SELECT`` of ``columns`` answering ``query`` (one row more than its page)."""
    return shared_job_search_sql(query, columns, SqlDialect("sqlite"), payload_text="payload")


def event_search_sql(query: EventQuery) -> tuple[str, list[object]]:
    """The ``SELECT seq, envelope`` answering ``query`` (one row more than its page)."""
    sql = SqlDialect("sqlite")
    conditions: list[str] = []
    if query.job_id is not None:
        conditions.append(f"job_id = {sql.param(query.job_id)}")
    if query.types:
        conditions.append(sql.one_or_many("event_type", sorted(t.value for t in query.types)))
    if query.since is not None:
        conditions.append(f"occurred_at >= {sql.param(query.since)}")
    if query.until is not None:
        conditions.append(f"occurred_at < {sql.param(query.until)}")
    if query.after is not None:
        occurred_at, seq = sql.param(query.after.occurred_at), sql.param(_seq(query.after))
        conditions.append(f"(occurred_at, seq) < ({occurred_at}, {seq})")
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    return (
        f"SELECT seq, occurred_at, envelope FROM events {where}"
        f"ORDER BY occurred_at DESC, seq DESC LIMIT {sql.param(query.limit + 1)}",
        sql.parameters,
    )


def _seq(cursor: EventCursor) -> int:
    try:
        return int(cursor.position)
    except ValueError:
        raise ValueError("The cursor is not one this event store gave out.") from None
