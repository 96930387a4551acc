"""The PostgreSQL job store's indexes (migration 5): transitions rewrite no index entry,
and ``recent_jobs`` still walks an index newest first and stops at its page; the search
by type + status + time range and by error text reads its index (issue 17).

The price: a status few jobs have (say ``FAILED`` among many ``COMPLETED``) has no index
of its own any more, so PostgreSQL lists it with a scan of the table and a top-N sort.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import anyio
import asyncpg
import pytest

from actors.domain.clock import format_timestamp, utc_now
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.search import JobQuery
from actors.stores._postgres_connection import connect_options
from actors.stores.postgres import (
    _READ_STATES,
    open_postgres_job_store,
    recent_jobs_query,
    search_jobs_query,
)

pytestmark = pytest.mark.integration

_DEADLINE_S = 60
_JOBS = 3000
"""Enough rows that the planner prefers an index walk to a scan and a sort."""


def _specs(count: int, *, job_type: str = "echo") -> list[JobSpec]:
    return [
        JobSpec(
            id=uuid4().hex,
            type=job_type,
            created_at=utc_now(),
            correlation_id=f"corr-{n}",
            payload={"message": "hello", "n": n},
            metadata={"source": "test"},
        )
        for n in range(count)
    ]


def _moves(specs: list[JobSpec], status: JobStatus) -> list[JobTransition]:
    at = utc_now()
    result = {"ok": True} if status is JobStatus.COMPLETED else None
    return [JobTransition(job=spec, status=status, at=at, result=result) for spec in specs]


async def _pages(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    """The heap page holding each job's current row version."""
    rows = await conn.fetch(
        "SELECT id, (ctid::text::point)[0]::bigint AS page FROM jobs WHERE id = ANY($1::text[])",
        ids,
    )
    return {row["id"]: row["page"] for row in rows}


async def test_no_index_covers_a_column_a_transition_changes(
    postgres_url: str, schema: str
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with open_postgres_job_store(postgres_url, schema=schema):
            pass
        conn = await asyncpg.connect(postgres_url, server_settings={"search_path": schema})
        try:
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = $1 AND tablename = 'jobs' ORDER BY indexname",
                schema,
            )
            options = await conn.fetchval(
                "SELECT reloptions FROM pg_class WHERE oid = 'jobs'::regclass"
            )
        finally:
            await conn.close()

    names = [row["indexname"] for row in indexes]
    assert names == [
        "jobs_by_correlation_id",
        "jobs_by_created_at",
        "jobs_by_error",
        "jobs_by_type",
        "jobs_pkey",
    ]
    changed = ("status", "updated_at", "attempts", "started_at", "finished_at", "error")
    for row in indexes:
        # The search's trigrams of the last error (migration 7): only a failing attempt
        # changes it, so only those transitions are not heap-only.
        if row["indexname"] == "jobs_by_error":
            assert row["indexdef"].endswith("WHERE (error IS NOT NULL)"), row["indexdef"]
            continue
        assert not any(column in row["indexdef"] for column in changed), row["indexdef"]
    assert options == ["fillfactor=40"]


async def test_a_batchs_transitions_keep_every_row_on_its_page(
    postgres_url: str, schema: str
) -> None:
    """A row that stays on its page, with no indexed column changed, is a HOT update:
    no index gets an entry."""
    specs = _specs(512)
    ids = [spec.id for spec in specs]
    with anyio.fail_after(_DEADLINE_S):
        async with open_postgres_job_store(postgres_url, schema=schema) as store:
            conn = await asyncpg.connect(postgres_url, server_settings={"search_path": schema})
            try:
                await store.apply_transitions(_moves(specs, JobStatus.VALIDATED))
                inserted = await _pages(conn, ids)
                await store.apply_transitions(_moves(specs, JobStatus.EXECUTING))
                await store.apply_transitions(_moves(specs, JobStatus.COMPLETED))
                finished = await _pages(conn, ids)
                statuses = await conn.fetch("SELECT DISTINCT status FROM jobs")
            finally:
                await conn.close()

    assert [row["status"] for row in statuses] == [JobStatus.COMPLETED.value]
    assert finished == inserted


@pytest.mark.parametrize(
    ("status", "job_type", "indexes"),
    [
        (None, None, {"jobs_by_created_at"}),
        (JobStatus.COMPLETED, None, {"jobs_by_created_at"}),
        (None, "rare", {"jobs_by_type"}),
        # Nearly every job is an echo: either walk is as good.
        (JobStatus.COMPLETED, "echo", {"jobs_by_type", "jobs_by_created_at"}),
    ],
)
async def test_recent_jobs_walks_an_index_newest_first_without_sorting(
    postgres_url: str,
    schema: str,
    status: JobStatus | None,
    job_type: str | None,
    indexes: set[str],
) -> None:
    specs = _specs(_JOBS)
    rare = _specs(20, job_type="rare")
    with anyio.fail_after(_DEADLINE_S):
        async with open_postgres_job_store(postgres_url, schema=schema) as store:
            await store.apply_transitions(_moves(specs + rare, JobStatus.VALIDATED))
            await store.apply_transitions(_moves(specs[: _JOBS // 2], JobStatus.COMPLETED))
            await store.apply_transitions(_moves(specs[-10:], JobStatus.FAILED))
            listed = await store.recent_jobs(limit=50, status=status, job_type=job_type)
            conn = await asyncpg.connect(postgres_url, server_settings={"search_path": schema})
            try:
                await conn.execute("ANALYZE jobs")
                query, parameters = recent_jobs_query(
                    limit=50, offset=0, status=status, job_type=job_type
                )
                plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *parameters)
            finally:
                await conn.close()

    assert listed
    top = json.loads(plan)[0]["Plan"]
    assert top["Node Type"] == "Limit"
    scan = top["Plans"][0]
    assert (scan["Node Type"], scan["Scan Direction"]) == (
        "Index Scan",
        "Forward",  # the indexes are DESC: forward is newest first
    )
    assert scan["Index Name"] in indexes


# -- the job search (issue 17, "How it is shown") -----------------------------------------

_SEARCH_JOBS = 5000
"""A few thousand jobs and ANALYZE: enough for the planner's choice to be the one it
makes at 100,000 (``scripts/search_explain``), where a Seq Scan would be the slow plan."""
_SEARCH_TYPES = [f"type-{n}" for n in range(10)]
_SEARCH_ERRORS = [
    "connection reset by peer while fetching https://example.com/{n}",
    "Timeout after 30 s",
    "KeyError: 'width' in resize step {n}",
    "upstream answered 503 Service Unavailable",
]
_SEARCH_NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _search_batches(count: int) -> list[list[JobTransition]]:
    """``scripts/search_explain``'s mix, smaller: ten types created over seven days,
    nine in ten COMPLETED, one in twenty FAILED with one of a few errors."""
    rng = random.Random(17)
    moves: list[JobTransition] = []
    for n in range(count):
        created = _SEARCH_NOW - timedelta(days=7) + timedelta(seconds=7 * 86400 * n / count)
        spec = JobSpec(
            id=str(UUID(int=rng.getrandbits(128))),
            type=rng.choice(_SEARCH_TYPES),
            created_at=format_timestamp(created),
            correlation_id=f"corr-{n}",
            payload={"url": f"https://example.com/item/{n}", "size": n % 1000},
        )
        started = format_timestamp(created + timedelta(seconds=1))
        ended = format_timestamp(created + timedelta(seconds=2))
        moves += [
            JobTransition(spec, JobStatus.VALIDATED, started),
            JobTransition(spec, JobStatus.EXECUTING, started),
        ]
        roll = rng.random()
        if roll < 0.90:
            moves.append(JobTransition(spec, JobStatus.COMPLETED, ended, result={"ok": True}))
        elif roll < 0.95:
            error = rng.choice(_SEARCH_ERRORS).format(n=n)
            moves.append(JobTransition(spec, JobStatus.FAILED, ended, error=error))
    return [moves[start : start + 3000] for start in range(0, len(moves), 3000)]


def _nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    return [plan, *(node for child in children for node in _nodes(child))]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        pytest.param(
            JobQuery(
                types=frozenset({"type-3"}),
                statuses=frozenset({JobStatus.FAILED}),
                created_after=format_timestamp(_SEARCH_NOW - timedelta(days=2)),
                created_before=format_timestamp(_SEARCH_NOW - timedelta(days=1)),
            ),
            "jobs_by_type",
            id="type+status+created-range",
        ),
        pytest.param(JobQuery(error="connection reset"), "jobs_by_error", id="error-text"),
    ],
)
async def test_search_answers_from_an_index_not_a_scan_of_the_jobs(
    postgres_url: str, schema: str, query: JobQuery, index: str
) -> None:
    """The store's own search query (``search_jobs_query``), EXPLAINed after ANALYZE on
    real PostgreSQL: its plan reads the index that serves the filter, never every job."""
    with anyio.fail_after(_DEADLINE_S):
        async with open_postgres_job_store(postgres_url, schema=schema) as store:
            for batch in _search_batches(_SEARCH_JOBS):
                await store.apply_transitions(batch)
            page = await store.search_jobs(query)
            conn = await asyncpg.connect(postgres_url, server_settings={"search_path": schema})
            try:
                await conn.execute("ANALYZE jobs")
                sql, parameters = search_jobs_query(query)
                plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *parameters)
            finally:
                await conn.close()

    assert page.items, "the data must hold matches, or the plan proves nothing"
    assert all(query.matches(record) for record in page.items)
    nodes = _nodes(json.loads(plan)[0]["Plan"])
    scans = [(node["Node Type"], node.get("Relation Name")) for node in nodes]
    assert ("Seq Scan", "jobs") not in scans, scans
    assert index in {node.get("Index Name") for node in nodes}, scans


# -- plans of a table that grows from empty (issue 15) -------------------------------------

_GROWN = 3000
"""Rows added after the statement's first runs: far more than the few it was planned at."""


def _scans(plan: object) -> set[tuple[str, str]]:
    """Every (node type, relation) pair of an ``EXPLAIN (FORMAT JSON)`` plan tree."""
    found: set[tuple[str, str]] = set()
    nodes = list(json.loads(str(plan)))
    while nodes:
        node = nodes.pop()
        plan_node = node.get("Plan", node)
        if "Relation Name" in plan_node:
            found.add((plan_node["Node Type"], plan_node["Relation Name"]))
        nodes.extend(plan_node.get("Plans", []))
    return found


async def test_a_statement_prepared_while_the_table_was_empty_still_uses_the_index(
    postgres_url: str, schema: str
) -> None:
    """The store's sessions plan every execution afresh (``plan_cache_mode``).

    A fresh system prepares its statements while ``jobs`` is empty. PostgreSQL's default
    then caches a generic plan after five runs and keeps it until the table is analyzed:
    a hash join over a scan of the whole table, built when the table had no rows, run for
    every job while the table grows to thousands (the bench saw 2 ms a call and a
    PostgreSQL core busy at 200 jobs/s). A fresh plan per run costs a fraction of a
    millisecond and looks the jobs up by primary key at any size.
    """
    with anyio.fail_after(_DEADLINE_S):
        async with open_postgres_job_store(postgres_url, schema=schema) as store:
            await store.apply_transitions(_moves(_specs(1), JobStatus.VALIDATED))
        conn = await asyncpg.connect(postgres_url, **connect_options(schema))
        try:
            mode = await conn.fetchval("SHOW plan_cache_mode")
            probe = f"ARRAY['{uuid4().hex}']"  # EXECUTE takes no bind parameters
            await conn.execute(f"PREPARE read_states (text[]) AS {_READ_STATES}")
            for _ in range(8):  # past the five runs after which a generic plan is cached
                await conn.execute(f"EXECUTE read_states({probe})")
            async with open_postgres_job_store(postgres_url, schema=schema) as store:
                await store.apply_transitions(_moves(_specs(_GROWN), JobStatus.VALIDATED))
            plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE read_states({probe})")
        finally:
            await conn.close()

    assert mode == "force_custom_plan"
    scans = _scans(plan)
    assert ("Seq Scan", "jobs") not in scans, scans
    assert {node for node, relation in scans if relation == "jobs"} <= {
        "Index Scan",
        "Index Only Scan",
        "Bitmap Heap Scan",
    }, scans
