"""Which index SQLite uses for each filter of the job search (``EXPLAIN QUERY PLAN``), as
``actors/stores/_sqlite_search.py`` documents it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.search import JobCursor, JobQuery, JobSort, SortKey
from actors.stores._sqlite_search import job_search_sql
from actors.stores.sqlite import open_sqlite_job_store

if TYPE_CHECKING:
    from pathlib import Path

_STATUS = frozenset({JobStatus.FAILED})


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (JobQuery(), "jobs_by_created_at"),
        (JobQuery(created_after="2026-01-01T00:00:00.000000Z"), "jobs_by_created_at"),
        (JobQuery(statuses=_STATUS), "jobs_by_status"),
        (JobQuery(types=frozenset({"resize"})), "jobs_by_type"),
        (JobQuery(correlation_id="corr-1"), "jobs_by_correlation_id"),
        (JobQuery(sort=JobSort(SortKey.FINISHED)), "jobs_by_finished_at"),
        (
            JobQuery(sort=JobSort(SortKey.FINISHED), finished_after="2026-01-01T00:00:00.000000Z"),
            "jobs_by_finished_at",
        ),
        (JobQuery(error="timeout"), "jobs_with_error"),
        (
            JobQuery(
                statuses=_STATUS,
                after=JobCursor(JobSort(), "2026-01-01T00:00:00.000000Z", "job-1"),
            ),
            "jobs_by_status",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_each_filter_is_served_by_its_index(
    tmp_path: Path, query: JobQuery, index: str
) -> None:
    path = tmp_path / "jobs.sqlite3"
    async with open_sqlite_job_store(path) as store:
        created_at = format_timestamp(datetime(2026, 1, 1, tzinfo=UTC))
        spec = JobSpec("job-1", "echo", created_at, "corr-1", {})
        await store.apply_transitions([JobTransition(spec, JobStatus.PENDING, spec.created_at)])
    sql, parameters = job_search_sql(query, "id")
    with sqlite3.connect(path) as conn:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", parameters))
    assert f"INDEX {index}" in plan, plan
