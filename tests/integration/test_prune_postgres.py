"""Retention on the real PostgreSQL job store (issue 17, item 4): the pass walks an index,
deletes in batches until done, and the advisory lock keeps a second pruner out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING
from uuid import uuid4

import anyio
import asyncpg
import pymongo
import pytest

from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.retention import PrunedStore, prune_once
from actors.stores._prune_postgres import PRUNABLE_JOBS
from actors.stores.postgres import open_postgres_job_store
from actors.stores.sqlite import (
    EVENTS_DATABASE,
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
)

if TYPE_CHECKING:
    import pathlib

pytestmark = pytest.mark.integration

_DEADLINE_S = 60


def _jobs(count: int) -> list[JobTransition]:
    moves: list[JobTransition] = []
    for n in range(count):
        spec = JobSpec(id=f"job-{n:05}", type="echo", created_at=utc_now(), correlation_id="c")
        at = utc_now()
        moves += [
            JobTransition(job=spec, status=JobStatus.EXECUTING, at=at),
            JobTransition(job=spec, status=JobStatus.COMPLETED, at=at, result={"n": n}),
        ]
    return moves


async def test_the_prunable_jobs_query_walks_the_created_at_index(
    postgres_url: str, schema: str
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with open_postgres_job_store(postgres_url, schema=schema) as store:
            await store.apply_transitions(_jobs(3000))
        conn = await asyncpg.connect(postgres_url, server_settings={"search_path": schema})
        try:
            await conn.execute("ANALYZE jobs")
            plan = await conn.fetchval(
                f"EXPLAIN (FORMAT JSON) {PRUNABLE_JOBS}", "2026-01-01T00:00:00.000000Z", "", "", 500
            )
        finally:
            await conn.close()

    assert "jobs_by_created_at" in json.dumps(json.loads(plan)), plan


async def test_a_pass_deletes_in_batches_until_done_and_a_dry_run_deletes_nothing(
    postgres_url: str, schema: str, tmp_path: pathlib.Path
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with (
            open_postgres_job_store(postgres_url, schema=schema) as jobs,
            open_sqlite_event_store(tmp_path / EVENTS_DATABASE) as events,
            open_sqlite_dead_letter_store(tmp_path / "dl.sqlite3") as dead_letters,
        ):
            await jobs.apply_transitions(_jobs(25))
            running = JobSpec(id="running", type="echo", created_at=utc_now(), correlation_id="c")
            await jobs.apply_transitions(
                [JobTransition(job=running, status=JobStatus.EXECUTING, at=utc_now())]
            )
            cutoff = utc_now()
            batches: list[int] = []

            dry = await prune_once(
                jobs, events, dead_letters, cutoff=cutoff, dry_run=True, batch_size=10
            )
            assert dry.rows[PrunedStore.JOBS] == 25
            assert len(await jobs.recent_jobs(limit=100)) == 26

            report = await prune_once(
                jobs,
                events,
                dead_letters,
                cutoff=cutoff,
                batch_size=10,
                on_batch=lambda r: batches.append(r.rows[PrunedStore.JOBS]),
            )

            assert report.rows[PrunedStore.JOBS] == 25
            assert batches == [10, 20, 25]
            assert [job.spec.id for job in await jobs.recent_jobs(limit=100)] == ["running"]


async def test_the_advisory_lock_lets_one_pruner_in_at_a_time(
    postgres_url: str, schema: str
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with (
            open_postgres_job_store(postgres_url, schema=schema) as first,
            open_postgres_job_store(postgres_url, schema=schema) as second,
            open_postgres_job_store(postgres_url, schema=f"{schema}_other") as elsewhere,
        ):
            try:
                held = anyio.Event()
                release = anyio.Event()
                seen: list[bool] = []

                async def hold() -> None:
                    async with first.prune_lock() as taken:
                        seen.append(taken)
                        held.set()
                        await release.wait()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(hold)
                    await held.wait()
                    async with second.prune_lock() as taken:
                        seen.append(taken)
                    async with elsewhere.prune_lock() as taken:
                        seen.append(taken)  # another schema has a lock of its own
                    release.set()
                async with second.prune_lock() as taken:
                    seen.append(taken)  # released at the end of the first block

                assert seen == [True, False, True, True]
            finally:
                conn = await asyncpg.connect(postgres_url)
                try:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_other" CASCADE')
                finally:
                    await conn.close()


def _prune_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "prune", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


async def test_observatory_prune_on_the_servers_dry_run_then_delete_and_the_lock(
    postgres_url: str, mongo_url: str
) -> None:
    namespace = f"prune_{uuid4().hex[:10]}"
    settings = Settings.from_env(namespace=namespace)
    env = {"POSTGRES_URL": postgres_url, "MONGO_URL": mongo_url}
    try:
        with anyio.fail_after(_DEADLINE_S):
            async with open_postgres_job_store(
                postgres_url, schema=settings.postgres_schema
            ) as store:
                await store.apply_transitions(_jobs(7))
                await anyio.sleep(0.01)  # the cutoff "0s ago" is after every finish

                dry = await anyio.to_thread.run_sync(
                    lambda: _prune_cli(
                        env, "--older-than", "0s", "--dry-run", "--namespace", namespace
                    )
                )
                assert dry.returncode == 0, dry.stderr
                assert "Would delete:" in dry.stdout
                assert "  job store         7 jobs" in dry.stdout
                assert len(await store.recent_jobs(limit=100)) == 7

                async with store.prune_lock() as taken:
                    assert taken
                    held = await anyio.to_thread.run_sync(
                        lambda: _prune_cli(env, "--older-than", "0s", "--namespace", namespace)
                    )
                assert held.returncode == 1
                assert "another pruner is running on these stores" in held.stderr
                assert len(await store.recent_jobs(limit=100)) == 7

                done = await anyio.to_thread.run_sync(
                    lambda: _prune_cli(env, "--older-than", "0s", "--namespace", namespace)
                )
                assert done.returncode == 0, done.stderr
                assert "Deleted:" in done.stdout
                assert "  job store         7 jobs" in done.stdout
                assert await store.recent_jobs(limit=100) == []
    finally:
        with anyio.fail_after(10, shield=True):
            conn = await asyncpg.connect(postgres_url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres_schema}" CASCADE')
            finally:
                await conn.close()
            client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(
                mongo_url
            )
            try:
                await client.drop_database(settings.mongo_database)
            finally:
                await client.close()
