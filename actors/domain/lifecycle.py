"""The job lifecycle rule, written once: what a transition does to a job, and the net
effect of a batch of transitions on one job.

Every job store derives its write from :func:`plan_batch` (or :func:`plan_job`): the rule
lives here, in Python; the stores' SQL keeps only a safety net against a concurrent
writer. The rule (see :class:`~actors.domain.jobs.JobTransition`), checked in this order:

=====================  ==============================================================
refusal                when
=====================  ==============================================================
``STALE_ROUND``        the transition belongs to an earlier round than the job's
``NOT_RETRYABLE``      the transition belongs to a later round, and the job is not
                       ``FAILED``: only a failed job is retried
``TERMINAL``           the job is ``COMPLETED`` or ``FAILED``: it never changes again
                       within its round
``STALE_ATTEMPT``      the transition's attempt already failed (at most the failed
                       attempts recorded): a stale delivery never moves the job
``CANCEL_REQUESTED``   the job's cancel was requested and the transition moves it into
                       ``VALIDATED`` or ``EXECUTING``
``NOT_RUNNING``        the transition is an interruption and the job is not
                       ``EXECUTING`` (or not stored at all)
``LOWER_RANK``         the transition moves it to a lower rank and is not a retry
=====================  ==============================================================

A job that does not exist yet is created by its first transition, whatever it is;
unless its cancel was requested while it was still queued (no processor had taken it:
the store keeps such a request apart, see :class:`~actors.domain.jobs.CancelRequest`).
Then it is created ``PENDING``, marked for cancelling, and its transitions are considered
from there: the rule above refuses ``VALIDATED`` and ``EXECUTING``, so it never runs, and
the processor ends it ``FAILED`` with error ``cancelled``.

**Interruptions.** A graceful stop that outlasts its grace cancels the running handlers
and writes an *interrupted* transition for each (``PENDING``,
:attr:`~actors.domain.jobs.JobTransition.interrupted`): an ``EXECUTING`` job goes back to
``PENDING`` and its attempt is given back (:attr:`JobEffect.attempts` ``-1``, no failure
recorded), so the redelivered attempt counts once in the record, in the timeline and in
the terminal event, and never against ``maxAttempts``. Like a retry it lowers the rank
(:attr:`JobEffect.retried`).

Which jobs accept a cancel request is a rule too (:func:`cancel_refusal`): every one
that has not ended, running or not, stored or still queued.

**Rounds.** ``POST /jobs/{id}/retry`` runs a ``FAILED`` job again: the gateway publishes
it as attempt 1 of round ``n + 1``, and the first transition of that round the processor
writes (``FAILED`` → ``VALIDATED``, the job being queued meanwhile) *starts the round*:
the job's attempts, failed attempts, history of errors, outcome and cancel marker start
afresh (:attr:`JobEffect.new_round`), and the rules above apply within the new round.
:func:`retry_refusal` is the gateway's side of the same rule: which jobs may be retried.

Example::

    plan = plan_job(LifecycleState(JobStatus.PENDING), transitions)
    plan.outcomes   # the job's status after each transition
    plan.effect     # what to write (None: nothing applied)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from actors.domain.jobs import (
    ADVANCING_STATUSES,
    TERMINAL_STATUSES,
    AttemptError,
    JobRecord,
    JobSpec,
    JobStatus,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from actors.domain.jobs import CancelRequest, JobTransition

__all__ = [
    "BatchPlan",
    "Decision",
    "JobEffect",
    "JobPlan",
    "LifecycleState",
    "Refusal",
    "cancel_refusal",
    "decide",
    "group_by_job",
    "plan_batch",
    "plan_job",
    "refusal",
    "retry_refusal",
    "starts_round",
]


class Refusal(enum.Enum):
    """Why a transition does not apply to a job (the job then stays as it is)."""

    TERMINAL = "terminal"
    """The job is terminal: it never changes again."""
    STALE_ATTEMPT = "stale attempt"
    """The transition belongs to an attempt that already failed."""
    CANCEL_REQUESTED = "cancel requested"
    """The job's cancel was requested: it never moves into ``VALIDATED``/``EXECUTING``."""
    LOWER_RANK = "lower rank"
    """The transition would move the job backwards, and it is not a retry."""
    STALE_ROUND = "stale round"
    """The transition belongs to an earlier round than the job's."""
    NOT_RETRYABLE = "not retryable"
    """The transition starts a new round, but the job is not ``FAILED``."""
    NOT_RUNNING = "not running"
    """The transition interrupts an attempt, but the job is not ``EXECUTING``."""


@dataclass(frozen=True, slots=True)
class LifecycleState:
    """What the lifecycle rule looks at in a stored job."""

    status: JobStatus
    failed_attempts: int = 0
    """The highest attempt recorded as failed."""
    cancel_requested: bool = False
    """Whether ``DELETE /jobs/{id}`` marked the job for cancelling."""
    round: int = 1
    """The job's round, from 1 (each retry of a ``FAILED`` job starts the next one)."""

    @classmethod
    def of(cls, record: JobRecord) -> LifecycleState:
        """The state of a stored job."""
        return cls(
            record.status,
            record.failed_attempts,
            record.cancel_requested_at is not None,
            record.round,
        )

    @classmethod
    def queued_cancel(cls) -> LifecycleState:
        """The state a job is created in when its cancel was requested while it was
        still queued: ``PENDING``, marked for cancelling."""
        return cls(JobStatus.PENDING, 0, cancel_requested=True)


def retry_refusal(status: JobStatus) -> Refusal | None:
    """Why a job in ``status`` cannot be retried (``None``: it can, being ``FAILED``)."""
    return None if status is JobStatus.FAILED else Refusal.NOT_RETRYABLE


def starts_round(state: LifecycleState, transition: JobTransition) -> bool:
    """Whether ``transition`` starts a new round of a job in ``state``."""
    return transition.round > state.round and state.status is JobStatus.FAILED


def cancel_refusal(state: LifecycleState | None) -> Refusal | None:
    """Why a cancel request for a job in ``state`` is refused, or ``None`` when it is
    accepted (``state`` ``None``: the job is not stored yet, still queued).

    A job that has not ended accepts it: waiting, it never moves into ``VALIDATED`` or
    ``EXECUTING`` again; running, its processor cancels the handler. A terminal job
    refuses it (:attr:`Refusal.TERMINAL`).
    """
    if state is not None and state.status in TERMINAL_STATUSES:
        return Refusal.TERMINAL
    return None


def refusal(state: LifecycleState, transition: JobTransition) -> Refusal | None:
    """Why ``transition`` does not apply to a job in ``state``, or ``None`` when it does."""
    if transition.round < state.round:
        return Refusal.STALE_ROUND
    if transition.round > state.round:
        return retry_refusal(state.status)
    if state.status in TERMINAL_STATUSES:
        return Refusal.TERMINAL
    if transition.attempt <= state.failed_attempts:
        return Refusal.STALE_ATTEMPT
    if transition.interrupted:
        return None if state.status is JobStatus.EXECUTING else Refusal.NOT_RUNNING
    if state.cancel_requested and transition.status in ADVANCING_STATUSES:
        return Refusal.CANCEL_REQUESTED
    if transition.status.rank < state.status.rank and not transition.is_retry:
        return Refusal.LOWER_RANK
    return None


def _after(
    state: LifecycleState | None, transition: JobTransition, failed: AttemptError | None
) -> LifecycleState:
    """The state once ``transition`` applied (``state`` ``None``: it creates the job);
    ``failed`` is the transition's :attr:`~actors.domain.jobs.JobTransition.failed_attempt`."""
    if state is None or transition.round != state.round:
        # A new job, or the first transition of a new round: everything starts afresh.
        return LifecycleState(
            transition.status, 0 if failed is None else failed.attempt, round=transition.round
        )
    if failed is None:
        return LifecycleState(
            transition.status, state.failed_attempts, state.cancel_requested, state.round
        )
    return LifecycleState(
        transition.status,
        max(state.failed_attempts, failed.attempt),
        state.cancel_requested,
        state.round,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """What one transition does to a job."""

    state: LifecycleState
    """The job's state after the transition was considered."""
    refusal: Refusal | None = None
    """Why it did not apply; ``None`` when it did."""

    @property
    def applied(self) -> bool:
        """Whether the transition moved the job (or created it)."""
        return self.refusal is None


def decide(
    state: LifecycleState | None, transition: JobTransition, *, queued_cancel: bool = False
) -> Decision:
    """Apply the lifecycle rule to one transition of a job in ``state`` (``None``: new;
    ``queued_cancel``: a new job whose cancel was requested while it was queued)."""
    if state is None and queued_cancel:
        state = LifecycleState.queued_cancel()
    if state is None and transition.interrupted:
        # Nothing stored to give the attempt back to: the job is as good as queued.
        return Decision(
            LifecycleState(JobStatus.PENDING, round=transition.round), Refusal.NOT_RUNNING
        )
    reason = None if state is None else refusal(state, transition)
    if reason is not None:
        assert state is not None
        return Decision(state, reason)
    return Decision(_after(state, transition, transition.failed_attempt))


@dataclass(frozen=True, slots=True)
class JobEffect:
    """The net effect of a job's applied transitions: what a store writes for it.

    Each field is either the new value (``status``, ``next_attempt_at``) or combined with
    the stored one the way applying the transitions one by one would: ``updated_at`` is
    the later of both, ``attempts`` is added, ``new_errors`` is appended, and the optional
    fields (``started_at``, ``finished_at``, ``result``, ``error``) replace the stored
    value only when set. Only the state it was planned from (``before``) matters, so a
    store can write it in one statement, guarded by "the job is still in ``before``".
    """

    job_id: str
    before: LifecycleState | None
    """The state it was planned from; ``None``: the job does not exist yet."""
    after: LifecycleState
    """The state once written."""
    spec: JobSpec | None
    """For a new job: the spec of its first transition, which creates it."""
    updated_at: str
    """The latest time of the applied transitions."""
    attempts: int = 0
    """Attempts started (moves into ``EXECUTING``) less attempts interrupted (given back),
    added to the stored count; negative when an interruption is all that applied."""
    started_at: str | None = None
    """When the last attempt started, if one did."""
    finished_at: str | None = None
    """When the job reached a terminal state, if it did."""
    result: object = None
    """The handler's result, if the job completed with one."""
    error: str | None = None
    """The job's error, if it ended ``FAILED`` with one."""
    new_errors: tuple[AttemptError, ...] = ()
    """Failed attempts to append to the job's history, oldest first."""
    next_attempt_at: str | None = None
    """When the next attempt is due (set by a retry, cleared by any other transition)."""
    retried: bool = False
    """Whether a retry or an interruption applied: the only ways the net effect may lower
    the job's rank."""
    new_round: bool = False
    """Whether a transition started a new round (of a ``FAILED`` job): the other fields
    then *replace* the stored ones (``attempts``, ``errors``, outcome, cancel marker)
    instead of being combined with them."""
    cancel_request: CancelRequest | None = None
    """For a new job whose cancel was requested while it was queued: that request, which
    the store writes as the job's cancel marker (and no longer keeps apart)."""

    @property
    def status(self) -> JobStatus:
        """The job's status once written."""
        return self.after.status

    @property
    def failed_attempts(self) -> int:
        """The highest failed attempt once written."""
        return self.after.failed_attempts

    def applied_to(self, record: JobRecord | None) -> JobRecord:
        """``record`` with this effect written (``record`` is ``None``: a new job).

        Raises:
            ValueError: a new job's effect applied to a stored one, or the other way round.
        """
        if record is None:
            request = self.cancel_request
            if self.spec is None:
                raise ValueError(f"Job {self.job_id!r} does not exist; its effect needs a spec.")
            return JobRecord(
                spec=self.spec,
                status=self.status,
                updated_at=self.updated_at,
                attempts=self.attempts,
                started_at=self.started_at,
                finished_at=self.finished_at,
                result=self.result,
                error=self.error,
                errors=self.new_errors,
                next_attempt_at=self.next_attempt_at,
                round=self.after.round,
                cancel_requested_at=None if request is None else request.requested_at,
                cancel_requested_by=None if request is None else request.requested_by,
            )
        if self.before is None:
            raise ValueError(f"Job {self.job_id!r} exists already; its effect creates it.")
        if self.new_round:
            return replace(
                record,
                status=self.status,
                updated_at=max(record.updated_at, self.updated_at),
                attempts=self.attempts,
                started_at=self.started_at,
                finished_at=self.finished_at,
                result=self.result,
                error=self.error,
                errors=self.new_errors,
                next_attempt_at=self.next_attempt_at,
                cancel_requested_at=None,
                cancel_requested_by=None,
                round=self.after.round,
            )
        return replace(
            record,
            status=self.status,
            updated_at=max(record.updated_at, self.updated_at),
            attempts=record.attempts + self.attempts,
            started_at=_coalesce(self.started_at, record.started_at),
            finished_at=_coalesce(self.finished_at, record.finished_at),
            result=record.result if self.result is None else self.result,
            error=_coalesce(self.error, record.error),
            errors=record.errors + self.new_errors,
            next_attempt_at=self.next_attempt_at,
        )


def _coalesce(value: str | None, stored: str | None) -> str | None:
    return stored if value is None else value


@dataclass(frozen=True, slots=True)
class JobPlan:
    """What a sequence of transitions does to one job."""

    outcomes: list[JobStatus]
    """The job's status after each transition."""
    refusals: list[Refusal | None]
    """Why each transition did not apply (``None``: it did)."""
    effect: JobEffect | None
    """What to write; ``None`` when no transition applied."""


def plan_job(
    state: LifecycleState | None,
    transitions: Sequence[JobTransition],
    *,
    queued_cancel: CancelRequest | None = None,
) -> JobPlan:
    """Apply the lifecycle rule to ``transitions`` of one job, in order, from ``state``.

    Args:
        state: The stored state; ``None`` when the job does not exist yet.
        transitions: The job's transitions, in the order they are applied.
        queued_cancel: For a job not stored yet: its cancel request, if its cancel was
            requested while it was queued.
    """
    outcomes: list[JobStatus | None] = [None] * len(transitions)
    refusals: list[Refusal | None] = [None] * len(transitions)
    effect = _plan(state, transitions, range(len(transitions)), outcomes, refusals, queued_cancel)
    return JobPlan([outcome for outcome in outcomes if outcome is not None], refusals, effect)


def _plan(
    state: LifecycleState | None,
    transitions: Sequence[JobTransition],
    positions: Sequence[int],
    outcomes: list[JobStatus | None],
    refusals: list[Refusal | None],
    queued_cancel: CancelRequest | None = None,
) -> JobEffect | None:
    """Plan the transitions at ``positions`` (one job's, in order) from ``state``.

    Fills ``outcomes`` and ``refusals`` at those positions; returns the net effect, or
    ``None`` when nothing applied. (The stores' hot path: one pass, no per-job copies.)
    ``queued_cancel``: a new job's cancel request, made while it was queued.
    """
    before = state
    first: JobTransition | None = None
    updated_at = ""
    if state is not None or not positions:
        queued_cancel = None
    elif queued_cancel is not None:
        # Created PENDING and marked, whatever its transitions come to.
        first = transitions[positions[0]]
        state = LifecycleState.queued_cancel()
        updated_at = first.at
    attempts = 0
    started_at: str | None = None
    finished_at: str | None = None
    result: object = None
    error: str | None = None
    new_errors: list[AttemptError] = []
    next_attempt_at: str | None = None
    retried = False
    new_round = False
    for position in positions:
        transition = transitions[position]
        if state is None and transition.interrupted:
            # Nothing stored to give the attempt back to: the job is as good as queued.
            refusals[position] = Refusal.NOT_RUNNING
            outcomes[position] = JobStatus.PENDING
            continue
        reason = None if state is None else refusal(state, transition)
        if reason is None:
            if state is not None and starts_round(state, transition):
                # What the earlier rounds did is replaced, not added to.
                new_round = True
                attempts, started_at, finished_at, result, error = 0, None, None, None, None
                new_errors = []
            failed = transition.failed_attempt
            if failed is not None:
                new_errors.append(failed)
            state = _after(state, transition, failed)
            if first is None:
                first = transition
            status = transition.status
            at = transition.at
            if at > updated_at:
                updated_at = at
            if transition.is_retry:
                retried = True
                next_attempt_at = transition.retry_at
            else:
                next_attempt_at = None
            if transition.interrupted:
                retried = True  # lowers the rank, as a retry does
                attempts -= 1  # the attempt is given back: it runs again, counted once
            elif status is JobStatus.EXECUTING:
                attempts += 1
                started_at = at
            elif status in TERMINAL_STATUSES:
                finished_at = at
                if transition.result is not None:
                    result = transition.result
                error = transition.error
        else:
            refusals[position] = reason
        assert state is not None  # the first transition of a new job creates it
        outcomes[position] = state.status
    if first is None or state is None:
        return None
    return JobEffect(
        job_id=first.job.id,
        before=before,
        after=state,
        spec=first.job if before is None else None,
        updated_at=updated_at,
        attempts=attempts,
        started_at=started_at,
        finished_at=finished_at,
        result=result,
        error=error,
        new_errors=tuple(new_errors),
        next_attempt_at=next_attempt_at,
        retried=retried,
        # A job created by this very batch is written whole anyway.
        new_round=new_round and before is not None,
        cancel_request=queued_cancel,
    )


def group_by_job(transitions: Sequence[JobTransition]) -> dict[str, list[int]]:
    """The positions of each job's transitions in ``transitions``, in order."""
    positions: dict[str, list[int]] = {}
    for position, transition in enumerate(transitions):
        positions.setdefault(transition.job.id, []).append(position)
    return positions


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What a batch of transitions does to the jobs planned."""

    outcomes: list[JobStatus | None]
    """For each transition of the batch, its job's status after it (``None``: its job
    was not planned)."""
    refusals: list[Refusal | None]
    """For each transition of the batch, why it did not apply (``None``: it did, or its
    job was not planned)."""
    effects: list[JobEffect]
    """What to write, one effect per job that changes, in job id order (so that writers
    lock rows in one order)."""


def plan_batch(
    transitions: Sequence[JobTransition],
    states: Mapping[str, LifecycleState],
    jobs: Mapping[str, Sequence[int]] | None = None,
    queued_cancels: Mapping[str, CancelRequest] | None = None,
) -> BatchPlan:
    """Plan ``transitions`` job by job, as if they were applied one after another.

    Args:
        transitions: The whole batch, in order.
        states: The stored state of its jobs; a job missing here does not exist yet.
        jobs: The jobs to plan, each with the positions of its transitions (see
            :func:`group_by_job`); every job of the batch when omitted.
        queued_cancels: Jobs not stored yet whose cancel was requested while they were
            queued: their requests by job id (a stored job's marker is in its state).
    """
    cancels = queued_cancels or {}
    if jobs is None:
        jobs = group_by_job(transitions)
    outcomes: list[JobStatus | None] = [None] * len(transitions)
    refusals: list[Refusal | None] = [None] * len(transitions)
    effects: list[JobEffect] = []
    for job_id in sorted(jobs):
        effect = _plan(
            states.get(job_id), transitions, jobs[job_id], outcomes, refusals, cancels.get(job_id)
        )
        if effect is not None:
            effects.append(effect)
    return BatchPlan(outcomes, refusals, effects)
