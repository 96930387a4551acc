"""What only the SQLite stores do: files, migrations, transactions and translated errors."""

from __future__ import annotations

import contextlib
import math
import sqlite3
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.errors import StoreUnavailable
from actors.stores import sqlite as sqlite_stores
from actors.stores.sqlite import (
    JOB_SCHEMA,
    JOBS_DATABASE,
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)

if TYPE_CHECKING:
    import pathlib


def pending(job_id: str) -> JobTransition:
    job = JobSpec(
        id=job_id, type="echo", created_at="2026-01-01T00:00:00.000000Z", correlation_id="c"
    )
    return JobTransition(job=job, status=JobStatus.PENDING, at="2026-01-01T00:00:01.000000Z")


def query(path: pathlib.Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [tuple(row) for row in conn.execute(sql)]


def execute(path: pathlib.Path, sql: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql)


async def test_migrations_are_applied_once_and_recorded(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data" / JOBS_DATABASE
    async with open_sqlite_job_store(path):
        pass
    async with open_sqlite_job_store(path):
        pass

    rows = await anyio.to_thread.run_sync(
        query, path, "SELECT store, version FROM schema_migrations"
    )
    journal = await anyio.to_thread.run_sync(query, path, "PRAGMA journal_mode")

    assert rows == [("jobs", version) for version in range(1, len(JOB_SCHEMA.migrations) + 1)]
    assert journal == [("wal",)]


async def test_stores_may_share_one_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared.sqlite3"

    async with (
        open_sqlite_event_store(path) as events,
        open_sqlite_dead_letter_store(path) as dead_letters,
    ):
        assert await events.recent_events(limit=1) == []
        assert await dead_letters.count() == 0

    rows = await anyio.to_thread.run_sync(
        query, path, "SELECT store, version FROM schema_migrations ORDER BY store"
    )
    assert rows == [("dead_letters", 1), ("events", 1)]


async def test_a_file_with_a_newer_schema_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / JOBS_DATABASE
    async with open_sqlite_job_store(path):
        pass
    await anyio.to_thread.run_sync(
        execute, path, "INSERT INTO schema_migrations VALUES ('jobs', 99, 'later')"
    )

    with pytest.raises(
        StoreUnavailable,
        match=rf"^The SQLite job store at '{path}' has schema version 99, newer than the "
        rf"{len(JOB_SCHEMA.migrations)} this version knows; upgrade the observatory or use another data directory\.$",
    ):
        async with open_sqlite_job_store(path):
            pass


async def test_an_unopenable_file_raises_store_unavailable_from_the_sqlite_error(
    tmp_path: pathlib.Path,
) -> None:
    with pytest.raises(
        StoreUnavailable, match=rf"^Cannot open the SQLite job store at '{tmp_path}': "
    ) as caught:
        async with open_sqlite_job_store(tmp_path):
            pass

    assert isinstance(caught.value.__cause__, sqlite3.Error)


async def test_a_closed_store_raises_store_unavailable(tmp_path: pathlib.Path) -> None:
    path = tmp_path / JOBS_DATABASE
    async with open_sqlite_job_store(path) as store:
        pass

    with pytest.raises(
        StoreUnavailable, match=rf"^The SQLite job store at '{path}' is closed; open it again\.$"
    ):
        await store.get_job("job-1")


async def test_a_failed_write_is_rolled_back_and_translated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / JOBS_DATABASE
    async with open_sqlite_job_store(path) as store:
        await anyio.to_thread.run_sync(
            execute,
            path,
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON jobs WHEN new.id = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison refused'); END",
        )

        with pytest.raises(
            StoreUnavailable,
            match=rf"^The SQLite job store at '{path}' could not apply job transitions: "
            r"poison refused\. Check that",
        ) as caught:
            await store.apply_transitions([pending("fine"), pending("poison")])

        assert isinstance(caught.value.__cause__, sqlite3.Error)
        assert await store.get_job("fine") is None
        assert await store.apply_transitions([pending("fine")]) == [JobStatus.PENDING]


@pytest.mark.parametrize("checkpoints_before_cancel", range(12))
async def test_a_cancelled_write_is_all_or_nothing_and_the_store_stays_usable(
    tmp_path: pathlib.Path, checkpoints_before_cancel: int
) -> None:
    async with open_sqlite_job_store(tmp_path / JOBS_DATABASE) as store:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.apply_transitions, [pending("a"), pending("b")])
            for _ in range(checkpoints_before_cancel):
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()

        stored = [await store.get_job(job_id) is not None for job_id in ("a", "b")]
        assert stored in ([True, True], [False, False])
        assert await store.apply_transitions([pending("c")]) == [JobStatus.PENDING]


async def test_an_append_names_the_events_it_stored(tmp_path: pathlib.Path) -> None:
    from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
    from actors.stores.sqlite import open_sqlite_event_store

    def event(job_id: str) -> Envelope:
        return Envelope(
            event_type=EventType.VALIDATED,
            event_id=lifecycle_event_id(job_id, EventType.VALIDATED),
            occurred_at="2026-01-01T00:00:00.000000Z",
            producer=Producer("processor", "p-1", "0"),
            correlation_id="c",
            idempotency_key=job_id,
            payload={"id": job_id, "type": "echo"},
        )

    async with open_sqlite_event_store(tmp_path / "e.sqlite3") as store:
        first = await store.append([event("a"), event("b")])
        assert first.new_ids == frozenset(lifecycle_event_id(j, EventType.VALIDATED) for j in "ab")
        again = await store.append([event("b"), event("c"), event("c")])
        assert again.new_ids == frozenset({lifecycle_event_id("c", EventType.VALIDATED)})
        assert (again.stored, again.duplicates) == (1, 2)


async def test_a_plan_from_a_state_that_is_not_the_stored_one_writes_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The safety net under the planner: a job is written only if it is still in the
    # state the batch was planned from. Here the read lies (every job PENDING, nothing
    # failed, no cancel), as a planner bug or a foreign writer would.
    path = tmp_path / JOBS_DATABASE
    async with open_sqlite_job_store(path) as store:
        running = JobTransition(
            pending("running").job, JobStatus.EXECUTING, "2026-01-01T00:00:02.000000Z"
        )
        await store.apply_transitions([running])
        monkeypatch.setattr(
            sqlite_stores,
            "_READ_STATES",
            "SELECT id, 'PENDING', 0, 0, errors, round FROM jobs "
            "WHERE id IN (SELECT value FROM json_each(?))",
        )

        with pytest.raises(
            StoreUnavailable,
            match=rf"^The SQLite job store at '{path}' could not apply job transitions: 1 of "
            r"its jobs were not in the state read in the same transaction; nothing was "
            r"applied\. Check that no other program writes the file, and retry the call\.$",
        ):
            await store.apply_transitions(
                [pending("fresh"), JobTransition(running.job, JobStatus.VALIDATED, running.at)]
            )

        record = await store.get_job("running")
        assert await store.get_job("fresh") is None
        assert record is not None
        assert (record.status, record.attempts) == (JobStatus.EXECUTING, 1)


async def test_issue_14_a_queued_jobs_cancel_request_is_adopted_by_its_first_write(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / JOBS_DATABASE
    job = JobSpec("job-1", "echo", "2026-01-01T00:00:00.000000Z", "corr-1")
    async with open_sqlite_job_store(path) as store:
        await store.request_cancel("job-1", requested_by="t")
        kept = await anyio.to_thread.run_sync(query, path, "SELECT job_id FROM cancel_requests")
        await store.apply_transitions([JobTransition(job, JobStatus.VALIDATED, job.created_at)])
    left = await anyio.to_thread.run_sync(query, path, "SELECT job_id FROM cancel_requests")
    marked = await anyio.to_thread.run_sync(
        query, path, "SELECT status, cancel_requested_by FROM jobs"
    )

    assert (kept, left, marked) == ([("job-1",)], [], [("PENDING", "t")])


async def test_a_nan_result_is_kept_as_nan_while_payloads_are_written_compactly(
    tmp_path: pathlib.Path,
) -> None:
    # Payloads and events are written by orjson; a handler's result by the standard
    # library's encoder, which keeps a NaN (orjson would write null).
    job = JobSpec(
        id="nan",
        type="echo",
        created_at="2026-01-01T00:00:00.000000Z",
        correlation_id="c",
        payload={"text": "héllo", "n": [1, 2.5]},
    )
    done = JobTransition(job, JobStatus.COMPLETED, "2026-01-01T00:00:02.000000Z", result=math.nan)
    async with open_sqlite_job_store(tmp_path / JOBS_DATABASE) as store:
        await store.apply_transitions([done])
        record = await store.get_job("nan")

    assert record is not None
    assert isinstance(record.result, float)
    assert math.isnan(record.result)
    assert query(tmp_path / JOBS_DATABASE, "SELECT payload, result FROM jobs") == [
        ('{"text":"héllo","n":[1,2.5]}', "NaN")
    ]
