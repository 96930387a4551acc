"""The lifecycle rule (actors.domain.lifecycle): one table of every stored status and
transition kind, then the net effect of a sequence of transitions on one job."""

from __future__ import annotations

import re

import pytest

from actors.domain.jobs import (
    AttemptError,
    CancelRequest,
    JobRecord,
    JobSpec,
    JobStatus,
    JobTransition,
)
from actors.domain.lifecycle import (
    Decision,
    JobEffect,
    LifecycleState,
    Refusal,
    cancel_refusal,
    decide,
    group_by_job,
    plan_batch,
    plan_job,
)

P, V, E, C, F = (
    JobStatus.PENDING,
    JobStatus.VALIDATED,
    JobStatus.EXECUTING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
)
TERMINAL, STALE, CANCEL, LOWER, NOT_RUNNING = (
    Refusal.TERMINAL,
    Refusal.STALE_ATTEMPT,
    Refusal.CANCEL_REQUESTED,
    Refusal.LOWER_RANK,
    Refusal.NOT_RUNNING,
)
APPLIED = None

JOB = JobSpec(id="job-1", type="echo", created_at="t00", correlation_id="corr-1")

_STORED_FAILED = 1
"""Every stored job of the table has its attempt 1 failed; transitions are of attempt 2,
or of attempt 1 in the ``stale`` variant."""


def transition(kind: str, *, attempt: int = 2) -> JobTransition:
    """A transition of one kind: a status, ``failed-cancel``, ``retry`` or ``interrupted``."""
    if kind == "interrupted":
        return JobTransition(JOB, P, "t10", attempt=attempt, interrupted=True)
    if kind == "retry":
        return JobTransition(JOB, P, "t10", error="boom", attempt=attempt, retry_at="t99")
    if kind == "failed-cancel":
        return JobTransition(JOB, F, "t10", error="cancelled", attempt=attempt, cancelled=True)
    status = JobStatus(kind.upper())
    error = "boom" if status is F else None
    return JobTransition(
        JOB, status, "t10", result="ok" if status is C else None, error=error, attempt=attempt
    )


# (stored status or None for a new job, transition kind, variant,
#  expected refusal or APPLIED, status after, failed attempts after)
# Variants: "" plain; "cancel": the job's cancel was requested; "stale": the transition is
# of attempt 1, which already failed; "cancel+stale": both.
TABLE: list[tuple[JobStatus | None, str, str, Refusal | None, JobStatus, int]] = [
    # -- a new job: created by whatever transition comes first
    (None, "pending", "", APPLIED, P, 0),
    (None, "validated", "", APPLIED, V, 0),
    (None, "executing", "", APPLIED, E, 0),
    (None, "completed", "", APPLIED, C, 0),
    (None, "failed", "", APPLIED, F, 2),
    (None, "failed-cancel", "", APPLIED, F, 0),
    (None, "retry", "", APPLIED, P, 2),
    (None, "interrupted", "", NOT_RUNNING, P, 0),  # nothing stored: as good as queued
    # -- PENDING
    (P, "pending", "", APPLIED, P, 1),
    (P, "validated", "", APPLIED, V, 1),
    (P, "executing", "", APPLIED, E, 1),
    (P, "completed", "", APPLIED, C, 1),
    (P, "failed", "", APPLIED, F, 2),
    (P, "failed-cancel", "", APPLIED, F, 1),
    (P, "retry", "", APPLIED, P, 2),
    (P, "pending", "cancel", APPLIED, P, 1),
    (P, "validated", "cancel", CANCEL, P, 1),
    (P, "executing", "cancel", CANCEL, P, 1),
    (P, "completed", "cancel", APPLIED, C, 1),
    (P, "failed", "cancel", APPLIED, F, 2),
    (P, "failed-cancel", "cancel", APPLIED, F, 1),
    (P, "retry", "cancel", APPLIED, P, 2),
    (P, "pending", "stale", STALE, P, 1),
    (P, "validated", "stale", STALE, P, 1),
    (P, "executing", "stale", STALE, P, 1),
    (P, "completed", "stale", STALE, P, 1),
    (P, "failed", "stale", STALE, P, 1),
    (P, "failed-cancel", "stale", STALE, P, 1),
    (P, "retry", "stale", STALE, P, 1),
    (P, "executing", "cancel+stale", STALE, P, 1),
    (P, "interrupted", "", NOT_RUNNING, P, 1),
    # -- VALIDATED
    (V, "pending", "", LOWER, V, 1),
    (V, "validated", "", APPLIED, V, 1),
    (V, "executing", "", APPLIED, E, 1),
    (V, "completed", "", APPLIED, C, 1),
    (V, "failed", "", APPLIED, F, 2),
    (V, "failed-cancel", "", APPLIED, F, 1),
    (V, "retry", "", APPLIED, P, 2),
    (V, "pending", "cancel", LOWER, V, 1),
    (V, "validated", "cancel", CANCEL, V, 1),
    (V, "executing", "cancel", CANCEL, V, 1),
    (V, "completed", "cancel", APPLIED, C, 1),
    (V, "failed", "cancel", APPLIED, F, 2),
    (V, "failed-cancel", "cancel", APPLIED, F, 1),
    (V, "retry", "cancel", APPLIED, P, 2),
    (V, "pending", "stale", STALE, V, 1),
    (V, "validated", "stale", STALE, V, 1),
    (V, "executing", "stale", STALE, V, 1),
    (V, "completed", "stale", STALE, V, 1),
    (V, "failed", "stale", STALE, V, 1),
    (V, "failed-cancel", "stale", STALE, V, 1),
    (V, "retry", "stale", STALE, V, 1),
    (V, "interrupted", "", NOT_RUNNING, V, 1),
    # -- EXECUTING
    (E, "pending", "", LOWER, E, 1),
    (E, "validated", "", LOWER, E, 1),
    (E, "executing", "", APPLIED, E, 1),
    (E, "completed", "", APPLIED, C, 1),
    (E, "failed", "", APPLIED, F, 2),
    (E, "failed-cancel", "", APPLIED, F, 1),
    (E, "retry", "", APPLIED, P, 2),
    (E, "pending", "cancel", LOWER, E, 1),
    (E, "validated", "cancel", CANCEL, E, 1),
    (E, "executing", "cancel", CANCEL, E, 1),
    (E, "completed", "cancel", APPLIED, C, 1),
    (E, "failed", "cancel", APPLIED, F, 2),
    (E, "failed-cancel", "cancel", APPLIED, F, 1),
    (E, "retry", "cancel", APPLIED, P, 2),
    (E, "pending", "stale", STALE, E, 1),
    (E, "validated", "stale", STALE, E, 1),
    (E, "executing", "stale", STALE, E, 1),
    (E, "completed", "stale", STALE, E, 1),
    (E, "failed", "stale", STALE, E, 1),
    (E, "failed-cancel", "stale", STALE, E, 1),
    (E, "retry", "stale", STALE, E, 1),
    (E, "interrupted", "", APPLIED, P, 1),
    (E, "interrupted", "cancel", APPLIED, P, 1),
    (E, "interrupted", "stale", STALE, E, 1),
    # -- COMPLETED: never changes, whatever comes
    (C, "pending", "", TERMINAL, C, 1),
    (C, "validated", "", TERMINAL, C, 1),
    (C, "executing", "", TERMINAL, C, 1),
    (C, "completed", "", TERMINAL, C, 1),
    (C, "failed", "", TERMINAL, C, 1),
    (C, "failed-cancel", "", TERMINAL, C, 1),
    (C, "retry", "", TERMINAL, C, 1),
    (C, "executing", "cancel", TERMINAL, C, 1),
    (C, "retry", "stale", TERMINAL, C, 1),
    (C, "interrupted", "", TERMINAL, C, 1),
    # -- FAILED: never changes, whatever comes
    (F, "pending", "", TERMINAL, F, 1),
    (F, "validated", "", TERMINAL, F, 1),
    (F, "executing", "", TERMINAL, F, 1),
    (F, "completed", "", TERMINAL, F, 1),
    (F, "failed", "", TERMINAL, F, 1),
    (F, "failed-cancel", "", TERMINAL, F, 1),
    (F, "retry", "", TERMINAL, F, 1),
    (F, "validated", "cancel", TERMINAL, F, 1),
    (F, "failed", "stale", TERMINAL, F, 1),
    (F, "interrupted", "", TERMINAL, F, 1),
]


def _row_id(row: tuple[JobStatus | None, str, str, Refusal | None, JobStatus, int]) -> str:
    stored, kind, variant, *_ = row
    return "-".join(filter(None, ["new" if stored is None else stored.value, kind, variant]))


@pytest.mark.parametrize(
    ("stored", "kind", "variant", "expected", "status_after", "failed_after"),
    TABLE,
    ids=[_row_id(row) for row in TABLE],
)
def test_the_lifecycle_table(
    stored: JobStatus | None,
    kind: str,
    variant: str,
    expected: Refusal | None,
    status_after: JobStatus,
    failed_after: int,
) -> None:
    cancel_requested = "cancel" in variant
    state = None if stored is None else LifecycleState(stored, _STORED_FAILED, cancel_requested)
    move = transition(kind, attempt=1 if "stale" in variant else 2)

    decision = decide(state, move)
    plan = plan_job(state, [move])

    assert decision.refusal is expected
    assert decision.applied is (expected is None)
    assert decision.state == LifecycleState(status_after, failed_after, cancel_requested)
    # One transition planned alone says the same, and writes only when it applied.
    assert (plan.outcomes, plan.refusals) == ([status_after], [expected])
    assert (plan.effect is None) is (expected is not None)
    if expected is not None and state is not None:
        assert decision.state is state  # refused: the job stays exactly as it is


def test_the_table_covers_every_stored_status_and_transition_kind() -> None:
    kinds = {
        "pending",
        "validated",
        "executing",
        "completed",
        "failed",
        "failed-cancel",
        "retry",
        "interrupted",
    }
    plain = {(stored, kind) for stored, kind, variant, *_ in TABLE if not variant}

    assert plain == {(stored, kind) for stored in [None, *JobStatus] for kind in kinds}
    # The refusals about rounds have their own table (test_lifecycle_rounds.py).
    rounds = {Refusal.STALE_ROUND, Refusal.NOT_RETRYABLE}
    assert {refusal for *_, refusal, _, _ in TABLE} == {None, *Refusal} - rounds


# -- issue 14: a new job whose cancel was requested while it was still queued -------------
# (transition kind, expected refusal or APPLIED, status after, failed attempts after): the
# job is created PENDING and marked, then the transition is considered from there.
REQUEST = CancelRequest("job-1", "t05", "token:abc")

QUEUED_CANCEL: list[tuple[str, Refusal | None, JobStatus, int]] = [
    ("pending", APPLIED, P, 0),
    ("validated", CANCEL, P, 0),
    ("executing", CANCEL, P, 0),
    ("completed", APPLIED, C, 0),
    ("failed", APPLIED, F, 2),
    ("failed-cancel", APPLIED, F, 0),
    ("retry", APPLIED, P, 2),
]


@pytest.mark.parametrize(
    ("kind", "expected", "status_after", "failed_after"),
    QUEUED_CANCEL,
    ids=[row[0] for row in QUEUED_CANCEL],
)
def test_issue_14_the_table_of_a_job_cancelled_while_queued(
    kind: str, expected: Refusal | None, status_after: JobStatus, failed_after: int
) -> None:
    move = transition(kind)

    decision = decide(None, move, queued_cancel=True)
    plan = plan_job(None, [move], queued_cancel=REQUEST)

    assert decision.refusal is expected
    assert decision.state == LifecycleState(status_after, failed_after, cancel_requested=True)
    assert (plan.outcomes, plan.refusals) == ([status_after], [expected])
    # Whatever the transition came to, the job is created, carrying its request's time.
    assert plan.effect is not None
    assert (plan.effect.before, plan.effect.spec) == (None, JOB)
    assert plan.effect.cancel_request == REQUEST
    record = plan.effect.applied_to(None)
    assert (record.status, record.cancel_requested_at, record.cancel_requested_by) == (
        status_after,
        "t05",
        "token:abc",
    )
    assert LifecycleState.of(record) == decision.state


def test_issue_14_the_queued_cancel_table_covers_every_transition_kind() -> None:
    kinds = {"pending", "validated", "executing", "completed", "failed", "failed-cancel", "retry"}

    assert {kind for kind, *_ in QUEUED_CANCEL} == kinds


def test_issue_14_a_queued_cancel_is_ignored_for_a_stored_job_and_a_batch_without_one() -> None:
    stored = LifecycleState(V, 0)
    other = JobSpec(id="job-2", type="echo", created_at="t00", correlation_id="corr-2")
    batch = [
        JobTransition(JOB, E, "t10"),
        JobTransition(other, V, "t10"),
        JobTransition(other, E, "t10"),
    ]

    plan = plan_batch(
        batch,
        {"job-1": stored},
        queued_cancels={
            "job-1": CancelRequest("job-1", "t01", "x"),
            "job-2": CancelRequest("job-2", "t02", "y"),
        },
    )

    # job-1 is stored (its own marker decides: none); job-2 was queued and cancelled.
    assert plan.outcomes == [E, P, P]
    assert plan.refusals == [None, CANCEL, CANCEL]
    assert [(e.job_id, e.status, e.cancel_request) for e in plan.effects] == [
        ("job-1", E, None),
        ("job-2", P, CancelRequest("job-2", "t02", "y")),
    ]
    assert plan_batch(batch, {}).outcomes == [E, V, E]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, APPLIED),
        (LifecycleState(P), APPLIED),
        (LifecycleState(V), APPLIED),
        (LifecycleState(E), APPLIED),
        (LifecycleState(E, 1, cancel_requested=True), APPLIED),
        (LifecycleState(C), TERMINAL),
        (LifecycleState(F), TERMINAL),
    ],
    ids=["queued", "pending", "validated", "executing", "executing-marked", "completed", "failed"],
)
def test_issue_14_every_job_that_has_not_ended_accepts_a_cancel(
    state: LifecycleState | None, expected: Refusal | None
) -> None:
    assert cancel_refusal(state) is expected


def test_a_refused_decision_keeps_the_state_and_names_the_reason() -> None:
    state = LifecycleState(E, 0, cancel_requested=False)

    assert decide(state, transition("validated")) == Decision(state, Refusal.LOWER_RANK)
    assert Refusal.LOWER_RANK.value == "lower rank"
    assert [reason.value for reason in Refusal] == [
        "terminal",
        "stale attempt",
        "cancel requested",
        "lower rank",
        "stale round",
        "not retryable",
        "not running",
    ]


def test_the_state_of_a_stored_record() -> None:
    record = JobRecord(
        spec=JOB,
        status=P,
        updated_at="t05",
        errors=(AttemptError(1, "a", "t01"), AttemptError(3, "b", "t03")),
        cancel_requested_at="t04",
    )

    assert LifecycleState.of(record) == LifecycleState(P, 3, cancel_requested=True)
    assert LifecycleState.of(JobRecord(JOB, V, "t05")) == LifecycleState(V, 0, False)


# -- the net effect of a sequence on one job ------------------------------------------------


def at(status: JobStatus, time: str, **fields: object) -> JobTransition:
    return JobTransition(JOB, status, time, **fields)  # type: ignore[arg-type]


def test_a_whole_lifecycle_of_a_new_job_is_one_insert() -> None:
    plan = plan_job(
        None,
        [at(P, "t01"), at(V, "t02"), at(E, "t03"), at(C, "t05", result={"echo": "hi"})],
    )

    assert plan.outcomes == [P, V, E, C]
    assert plan.refusals == [None, None, None, None]
    assert plan.effect == JobEffect(
        job_id="job-1",
        before=None,
        after=LifecycleState(C),
        spec=JOB,
        updated_at="t05",
        attempts=1,
        started_at="t03",
        finished_at="t05",
        result={"echo": "hi"},
    )


def test_a_new_job_is_created_from_the_spec_of_its_first_transition() -> None:
    other = JobSpec(id="job-1", type="sleep", created_at="t09", correlation_id="corr-2")

    plan = plan_job(None, [at(V, "t02"), JobTransition(other, E, "t03")])

    assert plan.effect is not None
    assert plan.effect.spec == JOB
    assert plan.outcomes == [V, E]


def test_a_stored_job_s_effect_carries_no_spec_and_the_state_it_was_planned_from() -> None:
    stored = LifecycleState(V, 0, cancel_requested=False)

    plan = plan_job(stored, [at(E, "t03")])

    assert plan.effect is not None
    assert (plan.effect.spec, plan.effect.before, plan.effect.after) == (
        None,
        stored,
        LifecycleState(E),
    )
    assert (plan.effect.attempts, plan.effect.started_at, plan.effect.status) == (1, "t03", E)


def test_refused_transitions_leave_no_trace_in_the_effect() -> None:
    plan = plan_job(
        LifecycleState(E),
        [at(V, "t09"), at(C, "t04", result=[1]), at(F, "t08", error="late"), at(E, "t09")],
    )

    assert plan.outcomes == [E, C, C, C]
    assert plan.refusals == [Refusal.LOWER_RANK, None, Refusal.TERMINAL, Refusal.TERMINAL]
    assert plan.effect is not None
    assert (plan.effect.updated_at, plan.effect.finished_at, plan.effect.result) == (
        "t04",
        "t04",
        [1],
    )
    assert (plan.effect.attempts, plan.effect.error, plan.effect.new_errors) == (0, None, ())


def test_nothing_applied_means_nothing_to_write() -> None:
    plan = plan_job(LifecycleState(C), [at(E, "t01"), at(F, "t02", error="x")])

    assert plan.effect is None
    assert plan.outcomes == [C, C]
    assert plan.refusals == [Refusal.TERMINAL, Refusal.TERMINAL]


def test_updated_at_is_the_latest_applied_time_whatever_the_order() -> None:
    plan = plan_job(None, [at(P, "t07"), at(V, "t02"), at(E, "t05")])

    assert plan.effect is not None
    assert (plan.effect.updated_at, plan.effect.started_at) == ("t07", "t05")


def test_a_retry_and_the_next_attempt_in_one_batch() -> None:
    plan = plan_job(
        LifecycleState(E),
        [
            at(P, "t02", error="e1", attempt=1, retry_at="t09"),
            at(E, "t03", attempt=1),  # stale: attempt 1 failed just before
            at(V, "t10", attempt=2),
            at(E, "t11", attempt=2),
            at(P, "t12", error="e2", attempt=2, retry_at="t20"),
        ],
    )

    assert plan.outcomes == [P, P, V, E, P]
    assert plan.refusals == [None, Refusal.STALE_ATTEMPT, None, None, None]
    assert plan.effect is not None
    assert plan.effect.new_errors == (AttemptError(1, "e1", "t02"), AttemptError(2, "e2", "t12"))
    assert (plan.effect.retried, plan.effect.next_attempt_at, plan.effect.attempts) == (
        True,
        "t20",
        1,
    )
    assert (plan.effect.after, plan.effect.error) == (LifecycleState(P, 2), None)


def test_any_transition_after_a_retry_clears_next_attempt_at() -> None:
    plan = plan_job(
        LifecycleState(E), [at(P, "t02", error="e1", retry_at="t09"), at(V, "t10", attempt=2)]
    )

    assert plan.effect is not None
    assert (plan.effect.next_attempt_at, plan.effect.retried) == (None, True)


def test_a_cancel_ends_the_job_failed_without_recording_an_attempt() -> None:
    plan = plan_job(
        LifecycleState(P, 1, cancel_requested=True),
        [at(E, "t03", attempt=2), at(F, "t04", error="cancelled", attempt=2, cancelled=True)],
    )

    assert plan.outcomes == [P, F]
    assert plan.refusals == [Refusal.CANCEL_REQUESTED, None]
    assert plan.effect is not None
    assert (plan.effect.error, plan.effect.new_errors, plan.effect.attempts) == (
        "cancelled",
        (),
        0,
    )
    assert plan.effect.after == LifecycleState(F, 1, cancel_requested=True)


def test_a_failure_records_its_error_both_as_the_job_s_and_in_the_history() -> None:
    plan = plan_job(LifecycleState(E, 1), [at(F, "t04", error="e2", attempt=2)])

    assert plan.effect is not None
    assert (plan.effect.error, plan.effect.new_errors, plan.effect.finished_at) == (
        "e2",
        (AttemptError(2, "e2", "t04"),),
        "t04",
    )


# -- an effect written onto a record -----------------------------------------------------


def test_an_effect_creates_a_new_record() -> None:
    plan = plan_job(None, [at(E, "t03"), at(P, "t04", error="boom", retry_at="t09")])
    assert plan.effect is not None

    record = plan.effect.applied_to(None)

    assert record == JobRecord(
        spec=JOB,
        status=P,
        updated_at="t04",
        attempts=1,
        started_at="t03",
        errors=(AttemptError(1, "boom", "t04"),),
        next_attempt_at="t09",
    )


def test_an_effect_combines_with_the_stored_record() -> None:
    stored = JobRecord(
        spec=JOB,
        status=P,
        updated_at="t20",
        attempts=1,
        started_at="t03",
        errors=(AttemptError(1, "e1", "t04"),),
        next_attempt_at="t09",
        cancel_requested_at="t05",
    )
    plan = plan_job(
        LifecycleState.of(stored), [at(F, "t10", error="cancelled", attempt=2, cancelled=True)]
    )
    assert plan.effect is not None

    record = plan.effect.applied_to(stored)

    assert record == JobRecord(
        spec=JOB,
        status=F,
        updated_at="t20",  # the later of stored and applied
        attempts=1,
        started_at="t03",
        finished_at="t10",
        error="cancelled",
        errors=(AttemptError(1, "e1", "t04"),),
        next_attempt_at=None,
        cancel_requested_at="t05",
    )


def test_an_effect_refuses_a_record_it_was_not_planned_for() -> None:
    new = plan_job(None, [at(P, "t01")]).effect
    stored = plan_job(LifecycleState(P), [at(V, "t02")]).effect
    assert new is not None
    assert stored is not None

    with pytest.raises(ValueError, match=r"^Job 'job-1' exists already; its effect creates it\.$"):
        new.applied_to(JobRecord(JOB, P, "t01"))
    with pytest.raises(
        ValueError, match=re.escape("Job 'job-1' does not exist; its effect needs a spec.")
    ):
        stored.applied_to(None)


# -- a batch of several jobs ----------------------------------------------------------------


def spec_of(job_id: str) -> JobSpec:
    return JobSpec(id=job_id, type="echo", created_at="t00", correlation_id=f"corr-{job_id}")


def test_a_batch_is_planned_job_by_job_in_job_id_order() -> None:
    b, a, c = spec_of("b"), spec_of("a"), spec_of("c")
    batch = [
        JobTransition(b, E, "t01"),
        JobTransition(a, P, "t01"),
        JobTransition(b, V, "t02"),
        JobTransition(c, E, "t03"),
        JobTransition(a, V, "t02"),
    ]

    plan = plan_batch(batch, {"b": LifecycleState(P), "c": LifecycleState(C)})

    assert group_by_job(batch) == {"b": [0, 2], "a": [1, 4], "c": [3]}
    assert plan.outcomes == [E, P, E, C, V]
    assert [(effect.job_id, effect.status) for effect in plan.effects] == [("a", V), ("b", E)]


def test_a_batch_plans_only_the_jobs_asked_for() -> None:
    a, b = spec_of("a"), spec_of("b")
    batch = [JobTransition(a, P, "t01"), JobTransition(b, P, "t01"), JobTransition(a, V, "t02")]

    plan = plan_batch(batch, {}, {"a": [0, 2]})

    assert plan.outcomes == [P, None, V]
    assert [effect.job_id for effect in plan.effects] == ["a"]


# -- issue 16: an attempt interrupted by a graceful stop is given back ---------------------


def test_issue_16_an_interruption_gives_the_attempt_back() -> None:
    running = JobRecord(JOB, E, "t05", attempts=2, started_at="t05")
    state = LifecycleState(E, 1)
    interrupted = JobTransition(JOB, P, "t10", attempt=2, interrupted=True)

    effect = plan_job(state, [interrupted]).effect

    assert effect is not None
    assert (effect.attempts, effect.retried, effect.new_errors) == (-1, True, ())
    assert effect.next_attempt_at is None
    record = effect.applied_to(running)
    assert (record.status, record.attempts, record.errors) == (P, 1, ())
    assert record.started_at == "t05"


def test_issue_16_an_interrupted_last_attempt_runs_again_and_counts_once() -> None:
    """maxAttempts=1: started, interrupted, started again as attempt 1, completed."""
    first = plan_job(None, [JobTransition(JOB, V, "t01"), JobTransition(JOB, E, "t02")]).effect
    assert first is not None
    stored = first.applied_to(None)
    assert stored.attempts == 1
    for moves in (
        [JobTransition(JOB, P, "t03", attempt=1, interrupted=True)],
        [JobTransition(JOB, V, "t04"), JobTransition(JOB, E, "t05")],
        [JobTransition(JOB, C, "t06", result="ok")],
    ):
        plan = plan_job(LifecycleState.of(stored), moves)
        assert plan.refusals == [None] * len(moves)
        assert plan.effect is not None
        stored = plan.effect.applied_to(stored)
    assert (stored.status, stored.attempts, stored.errors) == (C, 1, ())
