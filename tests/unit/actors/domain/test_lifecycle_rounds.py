"""Rounds in the lifecycle rule (actors.domain.lifecycle): a FAILED job retried runs
again as a new round whose attempts count from 1; one table of stored states and
transitions of another round, then the net effect a new round writes."""

from __future__ import annotations

import pytest

from actors.domain.jobs import AttemptError, JobRecord, JobSpec, JobStatus, JobTransition
from actors.domain.lifecycle import (
    LifecycleState,
    Refusal,
    decide,
    plan_job,
    retry_refusal,
    starts_round,
)

P, V, E, C, F = (
    JobStatus.PENDING,
    JobStatus.VALIDATED,
    JobStatus.EXECUTING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
)
APPLIED = None
JOB = JobSpec(id="job-r", type="fail", created_at="t00", correlation_id="corr-r")


def transition(kind: str, *, round_: int, attempt: int = 1) -> JobTransition:
    """A transition of round ``round_``: a status, or ``retry`` (an attempt's failure)."""
    if kind == "retry":
        return JobTransition(
            JOB, P, "t10", error="boom", attempt=attempt, retry_at="t99", round=round_
        )
    status = JobStatus(kind.upper())
    return JobTransition(
        JOB,
        status,
        "t10",
        result="ok" if status is C else None,
        error="boom" if status is F else None,
        attempt=attempt,
        round=round_,
    )


# (stored status, stored round, cancel requested, transition kind, transition round,
#  expected refusal or APPLIED, status after, failed attempts after, round after)
# Every stored job has failed attempts 3 (its round ran out of attempts, or is stale).
ROUND_TABLE: list[tuple[JobStatus, int, bool, str, int, Refusal | None, JobStatus, int, int]] = [
    # -- a FAILED job: the first transition of a later round starts it, attempts afresh
    (F, 1, False, "pending", 2, APPLIED, P, 0, 2),
    (F, 1, False, "validated", 2, APPLIED, V, 0, 2),
    (F, 1, False, "executing", 2, APPLIED, E, 0, 2),
    (F, 1, False, "completed", 2, APPLIED, C, 0, 2),
    (F, 1, False, "failed", 2, APPLIED, F, 1, 2),
    (F, 1, False, "retry", 2, APPLIED, P, 1, 2),
    (F, 2, False, "validated", 3, APPLIED, V, 0, 3),
    (F, 1, False, "validated", 5, APPLIED, V, 0, 5),
    # a cancelled job (FAILED, cancel marker set) is retried too: the marker is cleared
    (F, 1, True, "validated", 2, APPLIED, V, 0, 2),
    (F, 1, True, "executing", 2, APPLIED, E, 0, 2),
    # -- a job that is not FAILED is never retried
    (C, 1, False, "validated", 2, Refusal.NOT_RETRYABLE, C, 3, 1),
    (C, 1, False, "pending", 2, Refusal.NOT_RETRYABLE, C, 3, 1),
    (P, 1, False, "validated", 2, Refusal.NOT_RETRYABLE, P, 3, 1),
    (V, 1, False, "executing", 2, Refusal.NOT_RETRYABLE, V, 3, 1),
    (E, 1, False, "completed", 2, Refusal.NOT_RETRYABLE, E, 3, 1),
    # -- a transition of an earlier round never moves the job, whatever its state
    (P, 2, False, "validated", 1, Refusal.STALE_ROUND, P, 3, 2),
    (V, 2, False, "executing", 1, Refusal.STALE_ROUND, V, 3, 2),
    (E, 2, False, "completed", 1, Refusal.STALE_ROUND, E, 3, 2),
    (E, 2, False, "failed", 1, Refusal.STALE_ROUND, E, 3, 2),
    (C, 2, False, "failed", 1, Refusal.STALE_ROUND, C, 3, 2),
    (F, 3, False, "validated", 2, Refusal.STALE_ROUND, F, 3, 3),
    (F, 2, False, "retry", 1, Refusal.STALE_ROUND, F, 3, 2),
    # -- within one round the usual rule holds: a FAILED job of round 2 is terminal, and
    # attempt 1 of round 2 already failed (failed attempts 3) is stale
    (F, 2, False, "validated", 2, Refusal.TERMINAL, F, 3, 2),
    (E, 2, False, "completed", 2, Refusal.STALE_ATTEMPT, E, 3, 2),
]


def _row_id(row: tuple[JobStatus, int, bool, str, int, Refusal | None, JobStatus, int, int]) -> str:
    status, round_, cancel, kind, to_round, *_ = row
    return f"{status.value}-r{round_}{'-cancel' if cancel else ''}-{kind}-r{to_round}"


@pytest.mark.parametrize(
    (
        "stored",
        "stored_round",
        "cancel",
        "kind",
        "to_round",
        "expected",
        "after",
        "failed",
        "round_",
    ),
    ROUND_TABLE,
    ids=[_row_id(row) for row in ROUND_TABLE],
)
def test_the_rounds_table(
    stored: JobStatus,
    stored_round: int,
    cancel: bool,
    kind: str,
    to_round: int,
    expected: Refusal | None,
    after: JobStatus,
    failed: int,
    round_: int,
) -> None:
    state = LifecycleState(stored, 3, cancel, stored_round)
    move = transition(kind, round_=to_round)

    decision = decide(state, move)
    plan = plan_job(state, [move])

    assert decision.refusal is expected
    expected_cancel = cancel if expected is not None else False
    assert decision.state == LifecycleState(after, failed, expected_cancel, round_)
    assert (plan.outcomes, plan.refusals) == ([after], [expected])
    assert (plan.effect is None) is (expected is not None)
    if plan.effect is not None:
        assert plan.effect.new_round is (to_round > stored_round)
        assert plan.effect.after.round == round_


def test_the_rounds_table_names_both_round_refusals() -> None:
    assert {row[5] for row in ROUND_TABLE} >= {Refusal.STALE_ROUND, Refusal.NOT_RETRYABLE}


def test_only_a_failed_job_may_be_retried() -> None:
    assert retry_refusal(F) is None
    assert [retry_refusal(status) for status in (P, V, E, C)] == [Refusal.NOT_RETRYABLE] * 4
    assert starts_round(LifecycleState(F, 3), transition("validated", round_=2))
    assert not starts_round(LifecycleState(F, 3, round=2), transition("validated", round_=2))
    assert not starts_round(LifecycleState(C, 0), transition("validated", round_=2))


def test_a_new_job_may_be_created_by_a_later_round() -> None:
    plan = plan_job(None, [transition("validated", round_=3)])

    assert plan.effect is not None
    assert plan.effect.after == LifecycleState(V, 0, round=3)
    assert plan.effect.applied_to(None).round == 3
    assert not plan.effect.new_round


def test_a_new_round_replaces_what_the_earlier_round_wrote() -> None:
    failed_round = JobRecord(
        spec=JOB,
        status=F,
        updated_at="t05",
        attempts=3,
        started_at="t04",
        finished_at="t05",
        error="boom 3",
        errors=(AttemptError(1, "boom", "t02"), AttemptError(3, "boom 3", "t05")),
        cancel_requested_at="t03",
    )
    start = [
        JobTransition(JOB, V, "t10", round=2),
        JobTransition(JOB, E, "t10", round=2),
    ]

    plan = plan_job(LifecycleState.of(failed_round), start)

    assert plan.outcomes == [V, E]
    assert plan.effect is not None
    assert plan.effect.new_round
    assert plan.effect.before == LifecycleState(F, 3, True, 1)
    record = plan.effect.applied_to(failed_round)
    assert (record.status, record.round, record.attempts) == (E, 2, 1)
    assert (record.errors, record.error, record.finished_at) == ((), None, None)
    assert (record.started_at, record.cancel_requested_at) == ("t10", None)
    assert record.to_json()["round"] == 2

    # The new round then goes on as any round: attempt 1 fails and is retried, attempt 2
    # completes; a late transition of round 1 never moves it.
    state = LifecycleState.of(record)
    retried = plan_job(state, [transition("retry", round_=2), transition("completed", round_=1)])
    assert retried.outcomes == [P, P]
    assert retried.refusals == [None, Refusal.STALE_ROUND]
    assert retried.effect is not None
    assert not retried.effect.new_round
    second = retried.effect.applied_to(record)
    done = plan_job(
        LifecycleState.of(second),
        [
            transition("validated", round_=2, attempt=2),
            transition("executing", round_=2, attempt=2),
            transition("completed", round_=2, attempt=2),
        ],
    )
    assert done.effect is not None
    final = done.effect.applied_to(second)
    assert (final.status, final.round, final.attempts, final.failed_attempts) == (C, 2, 2, 1)
    assert final.result == "ok"
