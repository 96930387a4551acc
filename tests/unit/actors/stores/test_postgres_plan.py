"""The PostgreSQL job store's write, without PostgreSQL: planned net effects laid out as the
JSON rows of its one statement (actors/stores/_postgres_plan.py)."""

from __future__ import annotations

import json
import re

from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.lifecycle import LifecycleState, plan_batch
from actors.stores._postgres_plan import WRITE_JOBS, job_writes


def spec(job_id: str) -> JobSpec:
    return JobSpec(
        id=job_id,
        type="echo",
        created_at="2026-01-01T00:00:00.000000Z",
        correlation_id=f"corr-{job_id}",
        payload={"message": "héllo", "n": [1, 2]},
        metadata={"source": "test"},
    )


def ts(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000000Z"


def columns_of_the_statement() -> list[str]:
    """The columns of ``WRITE_JOBS``'s ``json_to_recordset ... AS t (...)``, in order."""
    names = re.search(r"AS t \(([^)]*)\)", WRITE_JOBS)
    assert names is not None
    return [entry.split()[0] for entry in names.group(1).split(",")]


def test_every_key_of_a_row_is_a_column_of_the_statement() -> None:
    job = spec("new")
    plan = plan_batch(
        [
            JobTransition(job, JobStatus.PENDING, ts(1)),
            JobTransition(job, JobStatus.FAILED, ts(4), error="boom"),
        ],
        {},
    )
    stored = plan_batch(
        [
            JobTransition(
                spec("old"), JobStatus.PENDING, ts(6), error="e", attempt=1, retry_at=ts(9)
            )
        ],
        {"old": LifecycleState(JobStatus.EXECUTING, cancel_requested=True)},
    )

    writes = job_writes([*plan.effects, *stored.effects])

    assert len(columns_of_the_statement()) == 27
    assert len(writes.rows) == 2
    for row in writes.rows:
        assert set(row) <= set(columns_of_the_statement())


def test_no_effect_means_no_rows() -> None:
    writes = job_writes([])

    assert writes.ids == []
    assert writes.rows == []
    assert writes.document() == "[]"


def test_a_new_job_carries_its_spec_and_expects_no_row() -> None:
    job = spec("new")
    plan = plan_batch(
        [
            JobTransition(job, JobStatus.PENDING, ts(1)),
            JobTransition(job, JobStatus.EXECUTING, ts(3)),
            JobTransition(job, JobStatus.COMPLETED, ts(4), result={"echo": "hi", "x": None}),
        ],
        {},
    )

    writes = job_writes(plan.effects)

    assert writes.ids == ["new"]
    [row] = writes.rows
    assert "expected" not in row  # NULL: no row is expected
    assert (row["expected_failed"], row["expected_cancel"]) == (0, False)
    assert (row["type"], row["created_at"], row["correlation_id"]) == (
        "echo",
        "2026-01-01T00:00:00.000000Z",
        "corr-new",
    )
    # JSON values in the document, characters as they are.
    assert (row["payload"], row["metadata"]) == (
        {"message": "héllo", "n": [1, 2]},
        {"source": "test"},
    )
    assert '"payload":{"message":"héllo","n":[1,2]}' in writes.document()
    assert row["priority"] == 5
    assert (row["status"], row["status_rank"], row["updated_at"]) == ("COMPLETED", 3, ts(4))
    assert (row["attempts"], row["started_at"], row["finished_at"]) == (1, ts(3), ts(4))
    # The result as the standard library writes it (a NaN stays NaN: PostgreSQL refuses it).
    assert row["result"] == '{"echo":"hi","x":null}'
    for absent in ("error", "new_errors", "next_attempt_at"):
        assert absent not in row  # NULL
    assert (row["retried"], row["failed_attempts"]) == (False, 0)


def test_a_nan_in_a_result_is_sent_as_nan_for_postgresql_to_refuse() -> None:
    job = spec("nan")
    plan = plan_batch(
        [JobTransition(job, JobStatus.COMPLETED, ts(4), result={"x": float("nan")})], {}
    )

    [row] = job_writes(plan.effects).rows

    assert row["result"] == '{"x":NaN}'


def test_a_stored_job_expects_the_state_it_was_planned_from_and_carries_no_spec() -> None:
    job = spec("stored")
    stored = LifecycleState(JobStatus.EXECUTING, failed_attempts=1, cancel_requested=True)
    plan = plan_batch(
        [
            JobTransition(job, JobStatus.VALIDATED, ts(5), attempt=2),  # refused: lower rank
            JobTransition(job, JobStatus.PENDING, ts(6), error="e2", attempt=2, retry_at=ts(9)),
        ],
        {"stored": stored},
    )

    writes = job_writes(plan.effects)

    assert plan.outcomes == [JobStatus.EXECUTING, JobStatus.PENDING]
    assert writes.ids == ["stored"]
    [row] = writes.rows
    assert (row["expected"], row["expected_failed"], row["expected_cancel"]) == (
        "EXECUTING",
        1,
        True,
    )
    for name in ("type", "created_at", "correlation_id", "payload", "metadata", "priority"):
        assert writes.column(name) == [None]
    assert (row["status"], row["status_rank"], row["retried"]) == ("PENDING", 0, True)
    assert row["attempts"] == 0
    assert writes.column("started_at") == writes.column("finished_at") == [None]
    assert writes.column("result") == [None]
    assert row["new_errors"] == [{"attempt": 2, "error": "e2", "at": ts(6)}]
    assert (row["failed_attempts"], row["next_attempt_at"], row["updated_at"]) == (
        2,
        ts(9),
        ts(6),
    )
    assert json.loads(writes.document()) == writes.rows


def test_rows_come_in_job_id_order_and_unchanged_jobs_are_left_out() -> None:
    transitions = [
        JobTransition(spec("c"), JobStatus.FAILED, ts(1), error="boom"),
        JobTransition(spec("done"), JobStatus.EXECUTING, ts(1)),
        JobTransition(spec("a"), JobStatus.VALIDATED, ts(1)),
    ]
    plan = plan_batch(transitions, {"done": LifecycleState(JobStatus.COMPLETED)})

    writes = job_writes(plan.effects)

    assert writes.ids == ["a", "c"]
    assert writes.column("status") == ["VALIDATED", "FAILED"]
    assert writes.column("error") == [None, "boom"]
    assert writes.column("new_errors") == [None, [{"attempt": 1, "error": "boom", "at": ts(1)}]]
