"""The PostgreSQL job store against a real server: migrations, races, failures, and a
differential test against the SQLite store (the contract suite runs in tests/unit)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

import anyio
import asyncpg
import pytest

from actors.domain.clock import format_timestamp
from actors.domain.jobs import CancelRequest, JobSpec, JobStatus, JobTransition
from actors.errors import ConfigError, StoreUnavailable
from actors.stores.postgres import (
    MIGRATIONS,
    PostgresJobStore,
    migrate_postgres,
    open_postgres_job_store,
)
from actors.stores.sqlite import JOBS_DATABASE, open_sqlite_job_store
from tests.integration.postgres_schema import admin, drop_schema
from tests.integration.tcp_proxy import closed_port

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from actors.domain.lifecycle import LifecycleState

pytestmark = pytest.mark.integration

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_DEADLINE_S = 30
_VERSIONS = [migration.version for migration in MIGRATIONS]


def ts(seconds: float) -> str:
    """A fixed-width timestamp ``seconds`` after a fixed epoch."""
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def spec(job_id: str, *, created_s: float = 0, job_type: str = "echo", n: int = 0) -> JobSpec:
    return JobSpec(
        id=job_id,
        type=job_type,
        created_at=ts(created_s),
        correlation_id=f"corr-{job_id}-{n}",
        payload={"message": f"hello {job_id}", "n": n},
        metadata={"source": "test"},
    )


def move(
    job: JobSpec, status: JobStatus, at_s: float, *, result: object = None, error: str | None = None
) -> JobTransition:
    return JobTransition(job=job, status=status, at=ts(at_s), result=result, error=error)


@pytest.fixture
async def store(postgres_url: str, schema: str) -> AsyncIterator[PostgresJobStore]:
    async with open_postgres_job_store(postgres_url, schema=schema) as opened:
        yield opened


async def row(url: str, schema: str, job_id: str) -> dict[str, object]:
    """Every column of a job's row, and its row version (``xmin``)."""
    async with admin(url, schema) as conn:
        record = await conn.fetchrow(
            "SELECT xmin::text AS version, * FROM jobs WHERE id = $1", job_id
        )
    assert record is not None
    return dict(record)


# -- migrations ---------------------------------------------------------------------------


async def test_migrations_are_recorded_and_running_them_again_applies_nothing(
    postgres_url: str, schema: str
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        first = await migrate_postgres(postgres_url, schema=schema)
        again = await migrate_postgres(postgres_url, schema=schema)
        async with open_postgres_job_store(postgres_url, schema=schema):
            pass
        async with admin(postgres_url, schema) as conn:
            recorded = await conn.fetch(
                "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
            )

    assert (first, again) == (_VERSIONS, [])
    assert [(r["version"], r["name"]) for r in recorded] == [
        (migration.version, migration.name) for migration in MIGRATIONS
    ]
    assert all(isinstance(r["applied_at"], datetime) for r in recorded)


async def test_concurrent_migrations_take_turns(postgres_url: str, schema: str) -> None:
    results: list[list[int]] = []

    async def migrate() -> None:
        results.append(await migrate_postgres(postgres_url, schema=schema))

    with anyio.fail_after(_DEADLINE_S):
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(migrate)

    assert sorted(results) == [[], [], [], _VERSIONS]


async def test_a_schema_newer_than_the_code_is_refused(postgres_url: str, schema: str) -> None:
    await migrate_postgres(postgres_url, schema=schema)
    async with admin(postgres_url, schema) as conn:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")

    with pytest.raises(
        StoreUnavailable,
        match=(
            rf"^The PostgreSQL job store at '{postgres_url}' \(schema '{schema}'\) has schema "
            rf"version 999, newer than the {_VERSIONS[-1]} this version knows; upgrade the "
            r"observatory or use another schema\.$"
        ),
    ):
        async with open_postgres_job_store(postgres_url, schema=schema):
            pass


@pytest.mark.parametrize("name", ["", "x" * 64, "nul\x00"])
async def test_an_unusable_schema_name_is_a_config_error(postgres_url: str, name: str) -> None:
    with pytest.raises(ConfigError, match=r"^The PostgreSQL schema name .* is not usable; "):
        async with open_postgres_job_store(postgres_url, schema=name):
            pass
    with pytest.raises(ConfigError, match=r"^The PostgreSQL schema name .* is not usable; "):
        await migrate_postgres(postgres_url, schema=name)


async def test_an_existing_schema_is_used_without_the_right_to_create_schemas(
    postgres_url: str, schema: str
) -> None:
    role = f"observer_{uuid4().hex[:12]}"
    async with admin(postgres_url) as conn:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN')
        await conn.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
    url = postgres_url.replace("postgres@", f"{role}@", 1)
    try:
        async with open_postgres_job_store(url, schema=schema) as jobs:
            assert await jobs.apply_transitions([move(spec("a"), JobStatus.PENDING, 1)]) == [
                JobStatus.PENDING
            ]
    finally:
        await drop_schema(postgres_url, schema)
        async with admin(postgres_url) as conn:
            await conn.execute(f'DROP ROLE "{role}"')


# -- what a batch does --------------------------------------------------------------------

_STATUSES = list(JobStatus)
_RESULTS: list[object] = [None, {"n": 1, "items": ["a", None]}, [1, "two"], "text", 0, False, 1.5]


def _random_batches(rng: random.Random, sequences: int, rounds: int) -> list[list[JobTransition]]:
    """``rounds`` batches; in each, ``sequences`` independent jobs groups get a few moves.

    Several moves of one job per batch, timestamps out of order or equal, and specs that
    differ between transitions of one job (the first one seen creates the job).
    """
    jobs = {seq: [f"s{seq:03d}-j{k}" for k in range(rng.randint(1, 3))] for seq in range(sequences)}
    batches: list[list[JobTransition]] = []
    for _ in range(rounds):
        per_sequence: list[list[JobTransition]] = []
        for seq in range(sequences):
            moves = []
            for _ in range(rng.randint(2, 6)):
                job_id = rng.choice(jobs[seq])
                status = rng.choice(_STATUSES)
                moves.append(
                    move(
                        spec(
                            job_id,
                            created_s=rng.randint(0, 20),
                            job_type=rng.choice(["echo", "sleep"]),
                            n=rng.randint(0, 2),
                        ),
                        status,
                        rng.randint(0, 60),
                        result=rng.choice(_RESULTS),
                        error=rng.choice([None, "boom", f"error {rng.randint(0, 9)}"]),
                    )
                )
            per_sequence.append(moves)
        # Interleave the sequences at random, keeping each one's order.
        batch: list[JobTransition] = []
        while per_sequence:
            moves = rng.choice(per_sequence)
            batch.append(moves.pop(0))
            if not moves:
                per_sequence.remove(moves)
        batches.append(batch)
    return batches


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_batches_have_the_same_outcomes_and_rows_as_in_sqlite(
    store: PostgresJobStore, tmp_path: pathlib.Path, seed: int
) -> None:
    rng = random.Random(seed)
    batches = _random_batches(rng, sequences=300, rounds=4)
    job_ids = sorted({transition.job.id for batch in batches for transition in batch})

    with anyio.fail_after(_DEADLINE_S):
        async with open_sqlite_job_store(tmp_path / JOBS_DATABASE) as reference:
            for batch in batches:
                assert len(batch) >= 1000
                assert await store.apply_transitions(batch) == await reference.apply_transitions(
                    batch
                )
            for job_id in job_ids:
                assert await store.get_job(job_id) == await reference.get_job(job_id)
            for status in [None, *JobStatus]:
                for job_type in [None, "echo"]:
                    assert await store.recent_jobs(
                        limit=len(job_ids), status=status, job_type=job_type
                    ) == await reference.recent_jobs(
                        limit=len(job_ids), status=status, job_type=job_type
                    )
            assert await store.recent_jobs(limit=7, offset=30) == await reference.recent_jobs(
                limit=7, offset=30
            )


async def test_a_late_validated_after_completed_changes_nothing_in_the_row(
    store: PostgresJobStore, postgres_url: str, schema: str
) -> None:
    job = spec("job-1")
    await store.apply_transitions(
        [
            move(job, JobStatus.VALIDATED, 1),
            move(job, JobStatus.EXECUTING, 2),
            move(job, JobStatus.COMPLETED, 3, result={"echo": "hi"}),
        ]
    )
    before = await row(postgres_url, schema, "job-1")

    outcome = await store.apply_transitions(
        [move(spec("job-1", job_type="other", n=9), JobStatus.VALIDATED, 10)]
    )

    assert outcome == [JobStatus.COMPLETED]
    # Every column, and the row version: the row was not even rewritten.
    assert await row(postgres_url, schema, "job-1") == before
    assert before["status"] == "COMPLETED"


async def test_values_postgres_cannot_hold_fail_the_call_before_anything_is_stored(
    store: PostgresJobStore,
) -> None:
    good = move(spec("good"), JobStatus.PENDING, 1)
    nul_in_json = move(
        JobSpec("nul-json", "echo", ts(0), "corr", payload={"s": "a\x00b"}), JobStatus.PENDING, 1
    )
    nul_in_text = move(spec("nul-text"), JobStatus.FAILED, 1, error="bad\x00byte")
    not_a_number = move(spec("nan"), JobStatus.COMPLETED, 1, result=float("nan"))

    for bad in (nul_in_json, nul_in_text, not_a_number):
        with pytest.raises(
            ValueError,
            match=(
                r"^The PostgreSQL job store at '.+' \(schema '.+'\) cannot apply job "
                r"transitions: PostgreSQL refused a value \(.+\)\. Nothing was stored; such "
                r"values cannot be stored as they are\.$"
            ),
        ):
            await store.apply_transitions([good, bad])

    assert await store.get_job("good") is None
    assert store.is_available()


# -- concurrent writers -------------------------------------------------------------------


async def test_a_job_changed_by_another_writer_mid_batch_is_planned_again(
    store: PostgresJobStore, postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.apply_transitions(
        [move(spec("taken"), JobStatus.PENDING, 1), move(spec("overtaken"), JobStatus.PENDING, 1)]
    )
    read_statuses = store._read_statuses
    interfered = False

    async def read_then_interfere(
        conn: object, job_ids: list[str]
    ) -> tuple[dict[str, LifecycleState], dict[str, CancelRequest]]:
        # Another processor writes right after this store read the statuses.
        nonlocal interfered
        statuses = await read_statuses(conn, job_ids)  # type: ignore[arg-type]
        if not interfered:
            interfered = True
            async with open_postgres_job_store(postgres_url, schema=schema) as other:
                await other.apply_transitions(
                    [
                        move(spec("taken"), JobStatus.COMPLETED, 2, result="theirs"),
                        move(spec("new", n=7), JobStatus.VALIDATED, 2),
                        move(spec("overtaken"), JobStatus.EXECUTING, 2),
                    ]
                )
        return statuses

    monkeypatch.setattr(store, "_read_statuses", read_then_interfere)

    outcomes = await store.apply_transitions(
        [
            move(spec("taken"), JobStatus.EXECUTING, 3),
            move(spec("new", n=1), JobStatus.PENDING, 1),
            move(spec("new", n=1), JobStatus.EXECUTING, 4),
            # Planned from PENDING, both would apply; from EXECUTING only the second does
            # (though the lifecycle guard alone would let the net effect through).
            move(spec("overtaken"), JobStatus.VALIDATED, 9),
            move(spec("overtaken"), JobStatus.EXECUTING, 3),
        ]
    )

    # As if the other writer's batch came first, then this one.
    assert outcomes == [
        JobStatus.COMPLETED,
        JobStatus.VALIDATED,
        JobStatus.EXECUTING,
        JobStatus.EXECUTING,
        JobStatus.EXECUTING,
    ]
    taken, new = await store.get_job("taken"), await store.get_job("new")
    overtaken = await store.get_job("overtaken")
    assert taken is not None
    assert new is not None
    assert overtaken is not None
    assert (taken.status, taken.attempts, taken.started_at, taken.result) == (
        JobStatus.COMPLETED,
        0,
        None,
        "theirs",
    )
    assert (new.spec, new.status, new.attempts, new.started_at) == (
        spec("new", n=7),
        JobStatus.EXECUTING,
        1,
        ts(4),
    )
    assert (overtaken.attempts, overtaken.started_at, overtaken.updated_at) == (2, ts(3), ts(3))
    assert store.statistics().replanned_jobs == 3


async def test_issue_14_a_queued_jobs_cancel_request_is_adopted_by_its_first_write(
    store: PostgresJobStore, postgres_url: str, schema: str
) -> None:
    answer = await store.request_cancel("job", requested_by="t")
    async with admin(postgres_url, schema) as conn:
        kept = await conn.fetchval("SELECT count(*) FROM cancel_requests")

    outcomes = await store.apply_transitions(
        [move(spec("job"), JobStatus.VALIDATED, 1), move(spec("job"), JobStatus.EXECUTING, 1)]
    )

    async with admin(postgres_url, schema) as conn:
        left = await conn.fetchval("SELECT count(*) FROM cancel_requests")
    assert (kept, left) == (1, 0)
    assert outcomes == [JobStatus.PENDING, JobStatus.PENDING]
    assert (await row(postgres_url, schema, "job"))["cancel_requested_by"] == "t"
    assert await store.cancel_requests(["job"]) == {"job": answer.request}


async def test_issue_8_a_cancel_requested_mid_batch_keeps_the_job_from_starting(
    store: PostgresJobStore, postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.apply_transitions([move(spec("job"), JobStatus.VALIDATED, 1)])
    read_statuses = store._read_statuses
    interfered = False

    async def read_then_cancel(
        conn: object, job_ids: list[str]
    ) -> tuple[dict[str, LifecycleState], dict[str, CancelRequest]]:
        # The gateway marks the job right after this store read its state.
        nonlocal interfered
        states = await read_statuses(conn, job_ids)  # type: ignore[arg-type]
        if not interfered:
            interfered = True
            async with open_postgres_job_store(postgres_url, schema=schema) as gateway:
                marked = await gateway.request_cancel("job", requested_by="test")
                assert marked.request is not None
                assert marked.status is JobStatus.VALIDATED
        return states

    monkeypatch.setattr(store, "_read_statuses", read_then_cancel)

    outcomes = await store.apply_transitions([move(spec("job"), JobStatus.EXECUTING, 2)])

    assert outcomes == [JobStatus.VALIDATED]
    record = await store.get_job("job")
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.VALIDATED, 0)
    assert store.statistics().replanned_jobs == 1


async def test_issue_14_a_cancel_racing_a_queued_jobs_first_write_is_still_found(
    store: PostgresJobStore, postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway finds no job and keeps the request just after the processor read the
    job's state: the job is created unmarked (it runs), and the processor's cancel
    watcher, which reads the requests themselves, finds it."""
    read_statuses = store._read_statuses
    asked: list[str] = []

    async def read_then_cancel(
        conn: object, job_ids: list[str]
    ) -> tuple[dict[str, LifecycleState], dict[str, CancelRequest]]:
        found = await read_statuses(conn, job_ids)  # type: ignore[arg-type]
        if not asked:
            async with open_postgres_job_store(postgres_url, schema=schema) as gateway:
                answer = await gateway.request_cancel("job", requested_by="test")
                assert (answer.status, answer.request is not None) == (None, True)
                assert answer.request is not None
                asked.append(answer.request.requested_at)
        return found

    monkeypatch.setattr(store, "_read_statuses", read_then_cancel)

    outcomes = await store.apply_transitions(
        [move(spec("job"), JobStatus.VALIDATED, 1), move(spec("job"), JobStatus.EXECUTING, 1)]
    )

    assert outcomes == [JobStatus.VALIDATED, JobStatus.EXECUTING]
    requests = await store.cancel_requests(["job"])
    assert requests["job"].requested_at == asked[0]
    # Stored unmarked (the request came after its state was read), the request kept
    # apart: the watcher's read finds it all the same.
    record = await store.get_job("job")
    assert record is not None
    assert (record.cancel_requested_at, record.cancel_requested_by) == (None, None)


async def test_concurrent_writers_never_move_a_job_backwards_and_count_each_attempt_once(
    store: PostgresJobStore, postgres_url: str, schema: str
) -> None:
    rng = random.Random(7)
    job_ids = [f"job-{n:02d}" for n in range(40)]
    lifecycle = [JobStatus.PENDING, JobStatus.VALIDATED, JobStatus.EXECUTING]
    seen: dict[str, list[tuple[JobTransition, JobStatus]]] = {job_id: [] for job_id in job_ids}
    ranks: dict[tuple[str, str], list[int]] = {}

    async def writer(jobs: PostgresJobStore, name: str, at_s: int) -> None:
        for step in range(30):
            batch = [
                move(
                    spec(job_id),
                    rng.choice([*lifecycle, *lifecycle, JobStatus.COMPLETED, JobStatus.FAILED]),
                    at_s + step,
                    result=name,
                    error=name,
                )
                for job_id in rng.sample(job_ids, 25)
            ]
            for transition, status in zip(batch, await jobs.apply_transitions(batch), strict=True):
                seen[transition.job.id].append((transition, status))
                ranks.setdefault((name, transition.job.id), []).append(status.rank)

    with anyio.fail_after(_DEADLINE_S):
        async with (
            open_postgres_job_store(postgres_url, schema=schema) as second,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(writer, store, "first", 0)
            tg.start_soon(writer, second, "second", 1000)

    # Each writer sees every job only move forward.
    assert all(observed == sorted(observed) for observed in ranks.values())
    for job_id, outcomes in seen.items():
        record = await store.get_job(job_id)
        assert record is not None
        applied_attempts = [
            t for t, status in outcomes if t.status is JobStatus.EXECUTING and status is t.status
        ]
        assert record.attempts == len(applied_attempts)
        terminal = {status for _, status in outcomes if status.is_terminal}
        assert len(terminal) <= 1
        if terminal:
            assert {record.status} == terminal
            finishers = [t for t, status in outcomes if t.status.is_terminal and status is t.status]
            assert [t.at for t in finishers if t.at == record.finished_at]


# -- failures -----------------------------------------------------------------------------


async def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    url = f"postgresql://observer:s3cret@127.0.0.1:{closed_port()}/test"
    redacted = url.replace("s3cret", "***")

    with anyio.fail_after(_DEADLINE_S):
        with pytest.raises(StoreUnavailable) as opening:
            async with open_postgres_job_store(url):
                pass
        with pytest.raises(StoreUnavailable) as migrating:
            await migrate_postgres(url)

    assert str(opening.value).startswith(
        f"Cannot open the PostgreSQL job store at {redacted!r} (schema 'public'): "
    )
    assert str(migrating.value).startswith(
        f"Cannot migrate the PostgreSQL job store at {redacted!r} (schema 'public'): "
    )
    for raised in (opening.value, migrating.value):
        assert "s3cret" not in str(raised)
        assert isinstance(raised.__cause__, OSError)


async def _terminate(url: str, schema: str) -> list[int]:
    """Terminate the store's connections (waiting until they are gone); returns their pids."""
    async with admin(url) as conn:
        rows = await conn.fetch(
            "SELECT pid, pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name = $1",
            f"observatory-jobs/{schema}",
        )
    assert rows
    assert all(terminated for _, terminated in rows)
    return [pid for pid, _ in rows]


async def _backends(url: str, schema: str) -> set[int]:
    async with admin(url) as conn:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            f"observatory-jobs/{schema}",
        )
    return {pid for (pid,) in rows}


async def test_a_terminated_backend_does_not_poison_the_pool(
    store: PostgresJobStore, postgres_url: str, schema: str
) -> None:
    job = spec("job-1")
    await store.apply_transitions([move(job, JobStatus.PENDING, 1)])

    with anyio.fail_after(_DEADLINE_S):
        killed = await _terminate(postgres_url, schema)
        try:
            record = await store.get_job("job-1")
        except StoreUnavailable:
            assert not store.is_available()
            record = await store.get_job("job-1")

        killed += await _terminate(postgres_url, schema)
        try:
            outcome = await store.apply_transitions([move(job, JobStatus.EXECUTING, 2)])
        except StoreUnavailable:
            outcome = await store.apply_transitions([move(job, JobStatus.EXECUTING, 2)])

    assert record is not None
    assert record.status is JobStatus.PENDING
    assert outcome == [JobStatus.EXECUTING]
    assert store.is_available()
    assert (await _backends(postgres_url, schema)).isdisjoint(killed)
    executing = await store.get_job("job-1")
    assert executing is not None
    assert executing.attempts == 1


async def test_is_available_is_false_while_the_server_refuses_and_true_once_it_answers(
    postgres_url: str, schema: str
) -> None:
    role = f"observer_{uuid4().hex[:12]}"
    async with admin(postgres_url) as conn:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN')
        await conn.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
    url = postgres_url.replace("postgres@", f"{role}@", 1)
    try:
        with anyio.fail_after(_DEADLINE_S):
            async with open_postgres_job_store(url, schema=schema) as jobs:
                await jobs.apply_transitions([move(spec("job-1"), JobStatus.PENDING, 1)])
                async with admin(postgres_url) as conn:
                    await conn.execute(f'ALTER ROLE "{role}" NOLOGIN')
                await _terminate(postgres_url, schema)

                with pytest.raises(StoreUnavailable) as refused:
                    await jobs.get_job("job-1")
                unavailable = jobs.is_available()

                async with admin(postgres_url) as conn:
                    await conn.execute(f'ALTER ROLE "{role}" LOGIN')
                record = await jobs.get_job("job-1")
                available = jobs.is_available()
    finally:
        await drop_schema(postgres_url, schema)
        async with admin(postgres_url) as conn:
            await conn.execute(f'DROP ROLE "{role}"')

    assert str(refused.value).startswith(
        f"The PostgreSQL job store at {url!r} (schema {schema!r}) could not read job 'job-1': "
    )
    assert str(refused.value).endswith(
        ". Check that PostgreSQL is running and reachable; the call can be retried."
    )
    assert isinstance(refused.value.__cause__, asyncpg.PostgresError)
    assert (unavailable, available) == (False, True)
    assert record is not None
