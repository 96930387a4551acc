"""The PostgreSQL job store's write, without PostgreSQL: planned net effects laid out as the
column arrays of its one statement (actors/stores/_postgres_plan.py)."""

from __future__ import annotations

import json
import re

from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.lifecycle import LifecycleState, plan_batch
from actors.stores._postgres_plan import WRITE_JOBS, JobWrites, job_writes


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


def column(writes: JobWrites, name: str) -> list[object]:
    """One array of the statement, by its name in ``WRITE_JOBS``'s ``unnest ... AS t``."""
    names = re.search(r"AS t \(([^)]*)\)", WRITE_JOBS)
    assert names is not None
    order = [name.strip() for name in names.group(1).split(",")]
    return list(writes.columns()[order.index(name)])


def test_the_arrays_match_the_statement_s_parameters_one_to_one() -> None:
    parameters = re.findall(r"\$(\d+)::(\w+)\[\]", WRITE_JOBS)
    names = re.search(r"AS t \(([^)]*)\)", WRITE_JOBS)
    assert names is not None

    assert [int(number) for number, _ in parameters] == list(range(1, 28))
    assert len(names.group(1).split(",")) == len(parameters) == len(JobWrites().columns())


def test_no_effect_means_empty_arrays() -> None:
    writes = job_writes([])

    assert writes.ids == []
    assert all(list(array) == [] for array in writes.columns())


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
    assert (writes.expected, writes.expected_failed, writes.expected_cancel) == (
        [None],
        [0],
        [False],
    )
    assert (writes.types, writes.created_at, writes.correlation_ids) == (
        ["echo"],
        ["2026-01-01T00:00:00.000000Z"],
        ["corr-new"],
    )
    # Compact JSON, characters as they are (the SQLite store writes the same text).
    assert writes.payloads == ['{"message":"héllo","n":[1,2]}']
    assert writes.metadata == ['{"source":"test"}']
    assert writes.priorities == [5]
    assert (writes.statuses, writes.ranks, writes.updated_at) == (["COMPLETED"], [3], [ts(4)])
    assert (writes.attempts, writes.started_at, writes.finished_at) == ([1], [ts(3)], [ts(4)])
    assert (writes.results, writes.errors) == (['{"echo":"hi","x":null}'], [None])
    assert (writes.retried, writes.new_errors, writes.failed_attempts) == ([False], ["[]"], [0])
    assert writes.next_attempt_at == [None]


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
    assert (writes.ids, writes.expected, writes.expected_failed, writes.expected_cancel) == (
        ["stored"],
        ["EXECUTING"],
        [1],
        [True],
    )
    for name in ("type", "created_at", "correlation_id", "payload", "metadata", "priority"):
        assert column(writes, name) == [None]
    assert (writes.statuses, writes.ranks, writes.retried) == (["PENDING"], [0], [True])
    assert (writes.attempts, writes.started_at, writes.finished_at, writes.results) == (
        [0],
        [None],
        [None],
        [None],
    )
    assert json.loads(writes.new_errors[0]) == [{"attempt": 2, "error": "e2", "at": ts(6)}]
    assert (writes.failed_attempts, writes.next_attempt_at, writes.updated_at) == (
        [2],
        [ts(9)],
        [ts(6)],
    )


def test_rows_come_in_job_id_order_and_unchanged_jobs_are_left_out() -> None:
    transitions = [
        JobTransition(spec("c"), JobStatus.FAILED, ts(1), error="boom"),
        JobTransition(spec("done"), JobStatus.EXECUTING, ts(1)),
        JobTransition(spec("a"), JobStatus.VALIDATED, ts(1)),
    ]
    plan = plan_batch(transitions, {"done": LifecycleState(JobStatus.COMPLETED)})

    writes = job_writes(plan.effects)

    assert writes.ids == ["a", "c"]
    assert (writes.statuses, writes.errors) == (["VALIDATED", "FAILED"], [None, "boom"])
    assert [json.loads(entries) for entries in writes.new_errors] == [
        [],
        [{"attempt": 1, "error": "boom", "at": ts(1)}],
    ]
    assert all(len(array) == 2 for array in writes.columns())
