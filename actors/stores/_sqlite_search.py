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

from actors.domain.search import EventCursor, SortKey, escape_like, prefix_range

if TYPE_CHECKING:
    from actors.domain.search import EventQuery, JobQuery

__all__ = ["SEARCH_INDEXES_MIGRATION", "event_search_sql", "job_search_sql"]

SEARCH_INDEXES_MIGRATION: tuple[str, ...] = (
    "CREATE INDEX jobs_by_correlation_id ON jobs (correlation_id, created_at, id)",
    "CREATE INDEX jobs_by_finished_at ON jobs (finished_at, id) WHERE finished_at IS NOT NULL",
    "CREATE INDEX jobs_with_error ON jobs (created_at, id) WHERE error IS NOT NULL",
)
"""The job store's migration adding the search's indexes (see the module's docstring)."""


def _one_or_many(column: str, values: list[str], parameters: list[object]) -> str:
    parameters.extend(values)
    if len(values) == 1:
        return f"{column} = ?"
    return f"{column} IN ({', '.join('?' * len(values))})"


def job_search_sql(query: JobQuery, columns: str) -> tuple[str, list[object]]:
    """The ``SELECT`` of ``columns`` answering ``query`` (one row more than its page)."""
    sort_column = "created_at" if query.sort.key is SortKey.CREATED else "finished_at"
    conditions: list[str] = []
    parameters: list[object] = []
    if query.sort.key is SortKey.FINISHED or query.finished_after or query.finished_before:
        conditions.append("finished_at IS NOT NULL")
    if query.statuses:
        conditions.append(
            _one_or_many("status", sorted(s.value for s in query.statuses), parameters)
        )
    if query.types:
        conditions.append(_one_or_many("type", sorted(query.types), parameters))
    for column, operator, value in (
        ("created_at", ">=", query.created_after),
        ("created_at", "<", query.created_before),
        ("finished_at", ">=", query.finished_after),
        ("finished_at", "<", query.finished_before),
    ):
        if value is not None:
            conditions.append(f"{column} {operator} ?")
            parameters.append(value)
    if query.correlation_id is not None:
        conditions.append("correlation_id = ?")
        parameters.append(query.correlation_id)
    if query.error is not None:
        # LIKE folds ASCII letters, as JobQuery.matches does.
        conditions.append("error IS NOT NULL AND error LIKE ? ESCAPE '\\'")
        parameters.append(f"%{escape_like(query.error)}%")
    if query.q is not None:
        low, high = prefix_range(query.q)
        conditions.append("((id >= ? AND id < ?) OR payload LIKE ? ESCAPE '\\')")
        parameters.extend([low, high, f"%{escape_like(query.q)}%"])
    if query.after is not None:
        operator = "<" if query.sort.descending else ">"
        conditions.append(f"({sort_column}, id) {operator} (?, ?)")
        parameters.extend([query.after.key, query.after.job_id])
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    direction = "DESC" if query.sort.descending else "ASC"
    sql = (
        f"SELECT {columns} FROM jobs {where}"
        f"ORDER BY {sort_column} {direction}, id {direction} LIMIT ?"
    )
    return sql, [*parameters, query.limit + 1]


def event_search_sql(query: EventQuery) -> tuple[str, list[object]]:
    """The ``SELECT seq, envelope`` answering ``query`` (one row more than its page)."""
    conditions: list[str] = []
    parameters: list[object] = []
    if query.job_id is not None:
        conditions.append("job_id = ?")
        parameters.append(query.job_id)
    if query.types:
        conditions.append(
            _one_or_many("event_type", sorted(t.value for t in query.types), parameters)
        )
    if query.since is not None:
        conditions.append("occurred_at >= ?")
        parameters.append(query.since)
    if query.until is not None:
        conditions.append("occurred_at < ?")
        parameters.append(query.until)
    if query.after is not None:
        conditions.append("(occurred_at, seq) < (?, ?)")
        parameters.extend([query.after.occurred_at, _seq(query.after)])
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    sql = (
        f"SELECT seq, occurred_at, envelope FROM events {where}"
        "ORDER BY occurred_at DESC, seq DESC LIMIT ?"
    )
    return sql, [*parameters, query.limit + 1]


def _seq(cursor: EventCursor) -> int:
    try:
        return int(cursor.position)
    except ValueError:
        raise ValueError("The cursor is not one this event store gave out.") from None
