"""The job search's ``SELECT``, written once for both SQL stores.

The two dialects differ in three places only, which :class:`SqlDialect` names: how a
parameter is written (``$1`` or ``?``), how a column is matched against several values
(``= ANY($1::text[])`` or ``IN (?, ?)``), and how text is matched case-insensitively
(``ILIKE``, or SQLite's ``LIKE`` with an explicit escape). Which index serves which
filter is told by :mod:`actors.stores._postgres_search` and
:mod:`actors.stores._sqlite_search`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from actors.domain.search import SortKey, escape_like, prefix_range

if TYPE_CHECKING:
    from actors.domain.search import JobQuery

__all__ = ["SqlDialect", "job_search_sql"]


@dataclass
class SqlDialect:
    """One query's parameters, written in the syntax of ``kind``."""

    kind: Literal["postgres", "sqlite"]
    parameters: list[object] = field(default_factory=list)

    def param(self, value: object) -> str:
        """Add ``value`` as the next parameter; returns its placeholder."""
        self.parameters.append(value)
        return f"${len(self.parameters)}" if self.kind == "postgres" else "?"

    def one_or_many(self, column: str, values: list[str]) -> str:
        """``column`` equal to one of ``values``. One value is written ``=``: an ordered
        walk of the index (``ANY``/``IN`` would read every value's range and sort)."""
        if len(values) == 1:
            return f"{column} = {self.param(values[0])}"
        if self.kind == "postgres":
            return f"{column} = ANY({self.param(values)}::text[])"
        return f"{column} IN ({', '.join(self.param(value) for value in values)})"

    def contains(self, column: str, text: str) -> str:
        """``column`` holds ``text``, ASCII letters folded (as ``JobQuery.matches``)."""
        pattern = self.param(f"%{escape_like(text)}%")
        if self.kind == "postgres":
            # ILIKE's default escape is the backslash escape_like uses.
            return f"{column} ILIKE {pattern}"
        return f"{column} LIKE {pattern} ESCAPE '\\'"


def job_search_sql(
    query: JobQuery, columns: str, dialect: SqlDialect, *, payload_text: str
) -> tuple[str, list[object]]:
    """The ``SELECT`` of ``columns`` answering ``query`` (one row more than its page), and
    its parameters; ``payload_text`` is the payload as text in the dialect."""
    sort_column = "created_at" if query.sort.key is SortKey.CREATED else "finished_at"
    conditions: list[str] = []
    if query.sort.key is SortKey.FINISHED or query.finished_after or query.finished_before:
        conditions.append("finished_at IS NOT NULL")
    if query.statuses:
        conditions.append(dialect.one_or_many("status", sorted(s.value for s in query.statuses)))
    if query.types:
        conditions.append(dialect.one_or_many("type", sorted(query.types)))
    if query.priority is not None:
        conditions.append(f"priority = {dialect.param(query.priority)}")
    for column, operator, value in (
        ("created_at", ">=", query.created_after),
        ("created_at", "<", query.created_before),
        ("finished_at", ">=", query.finished_after),
        ("finished_at", "<", query.finished_before),
    ):
        if value is not None:
            conditions.append(f"{column} {operator} {dialect.param(value)}")
    if query.correlation_id is not None:
        conditions.append(f"correlation_id = {dialect.param(query.correlation_id)}")
    if query.error is not None:
        conditions.append(f"error IS NOT NULL AND {dialect.contains('error', query.error)}")
    if query.q is not None:
        low, high = prefix_range(query.q)
        conditions.append(
            f"((id >= {dialect.param(low)} AND id < {dialect.param(high)}) "
            f"OR {dialect.contains(payload_text, query.q)})"
        )
    if query.after is not None:
        operator = "<" if query.sort.descending else ">"
        key, job_id = dialect.param(query.after.key), dialect.param(query.after.job_id)
        conditions.append(f"({sort_column}, id) {operator} ({key}, {job_id})")
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    direction = "DESC" if query.sort.descending else "ASC"
    sql = (
        f"SELECT {columns} FROM jobs {where}"
        f"ORDER BY {sort_column} {direction}, id {direction} "
        f"LIMIT {dialect.param(query.limit + 1)}"
    )
    return sql, dialect.parameters
