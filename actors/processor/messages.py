"""What the processor's actors tell each other: one message type per outcome, no flags.

==================  =====================  ===============================================
message             from → to              means
==================  =====================  ===============================================
``StartJobs``       validator → executor   these jobs are stored ``EXECUTING``: run them
``Finished``        executor → persister   an attempt ended the job: ``COMPLETED``, or
                                           ``FAILED`` on its last attempt
``RetryScheduled``  executor → persister   an attempt failed; the job gets another one
``Interrupted``     executor → persister   a graceful stop cancelled the attempt after
                                           its grace: back to ``PENDING``, the attempt
                                           given back, the delivery requeued
``Released``        persister → validator  these jobs' outcomes are stored: they leave the
                                           validator's in-flight registry
``RateTick``        validator → itself     a held rate-limited job's token may be due
==================  =====================  ===============================================

A running job whose cancel was requested (the cancel watcher tells the executor, which
cancels its handler) ends as a ``Finished`` ``FAILED`` carrying the request.

When the validator records the start of a job, the store answers one of three things,
each its own type: the job started (it goes to the executor in ``StartJobs``), it is
``AlreadyTerminal`` (a redelivery or a resubmitted id: its stored lifecycle is emitted
again), or it is ``Held`` (a cancel was requested, or this attempt already failed); a
held job whose cancel was requested ends as ``Cancelled``.

Every message is immutable: an actor never changes what another one holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.domain.events import event_round
from actors.domain.jobs import (
    CANCELLED,
    CancelRequest,
    JobSpec,
    JobStatus,
    JobTransition,
)

if TYPE_CHECKING:
    from actors.domain.events import Envelope
    from actors.pipeline.settlement import Settlement

__all__ = [
    "AdmittedJob",
    "AlreadyTerminal",
    "Cancelled",
    "Finished",
    "Held",
    "Interrupted",
    "Outcome",
    "RateTick",
    "Released",
    "RetryScheduled",
    "StartJobs",
]


@dataclass(frozen=True, slots=True)
class AdmittedJob:
    """A valid job taken off the broker, and the piece of its delivery it settles."""

    spec: JobSpec
    created: Envelope
    """The ``job.created`` envelope the delivery carried."""
    settlement: Settlement
    attempt: int = 1
    """Which attempt this delivery is (``payload.attempt`` of its envelope, from 1)."""
    redelivered: bool = False
    """The broker delivered this message before and it was not acknowledged."""
    round: int = 1
    """Which round of the job this delivery is (``payload.round``, from 1): a retried
    ``FAILED`` job runs again from attempt 1 of the next round."""
    previous_attempt: str | None = None
    """The ``traceparent`` of the attempt before this one (a retry's delivery, with
    tracing on): this attempt's span links to it."""

    @classmethod
    def from_envelope(
        cls,
        envelope: Envelope,
        settlement: Settlement,
        *,
        redelivered: bool,
        previous_attempt: str | None = None,
    ) -> AdmittedJob:
        """The job a valid ``job.created`` envelope describes."""
        payload = envelope.payload
        attempt = payload.get("attempt", 1)
        return cls(
            spec=envelope.job_spec(),
            created=envelope,
            settlement=settlement,
            attempt=attempt if isinstance(attempt, int) and attempt > 0 else 1,
            redelivered=redelivered,
            round=event_round(payload),
            previous_attempt=previous_attempt,
        )


# -- validator → executor -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartJobs:
    """Jobs stored ``EXECUTING`` (with their start events published): run each."""

    jobs: tuple[AdmittedJob, ...]


# -- executor → persister -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    """An attempt ended the job: its handler returned, or its last attempt failed."""

    job: AdmittedJob
    status: JobStatus
    """``COMPLETED`` or ``FAILED``."""
    at: str
    result: object = None
    """The handler's JSON result, for ``COMPLETED``."""
    error: str | None = None
    """Why the last attempt failed, for ``FAILED``."""
    cancel: CancelRequest | None = None
    """Set when the attempt was cancelled (``DELETE /jobs/{id}``): the job ends ``FAILED``
    with error ``cancelled``, not as an attempt's failure."""

    def transition(self) -> JobTransition:
        """The store transition recording this outcome."""
        return JobTransition(
            self.job.spec,
            self.status,
            self.at,
            result=self.result,
            error=CANCELLED if self.cancel is not None else self.error,
            attempt=self.job.attempt,
            round=self.job.round,
            cancelled=self.cancel is not None,
        )


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """An attempt failed and is not the job's last: it waits ``delay_s`` for the next."""

    job: AdmittedJob
    at: str
    """When the attempt ended."""
    error: str
    retry_at: str
    """When the next attempt is due, RFC 3339 UTC."""
    delay_s: float
    max_attempts: int
    """How many attempts the job gets (told in its ``job.executed`` retry event)."""
    traceparent: str | None = None
    """The failed attempt's span (with tracing on): the next attempt links to it."""

    def transition(self) -> JobTransition:
        """The store transition recording the retry (back to ``PENDING``)."""
        return JobTransition(
            self.job.spec,
            JobStatus.PENDING,
            self.at,
            error=self.error,
            attempt=self.job.attempt,
            retry_at=self.retry_at,
            round=self.job.round,
        )


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A graceful stop cancelled the attempt once its grace was over (or before it began).

    The job goes back to ``PENDING`` with the attempt given back (it does not count
    against ``maxAttempts``), and its delivery returns to the queue, so the same attempt
    runs again after the restart.
    """

    job: AdmittedJob
    at: str
    """When it was interrupted, RFC 3339 UTC."""
    ran_s: float
    """How long its handler had run (0: it had not started)."""

    def transition(self) -> JobTransition:
        """The store transition giving the attempt back (back to ``PENDING``)."""
        return JobTransition(
            self.job.spec,
            JobStatus.PENDING,
            self.at,
            attempt=self.job.attempt,
            round=self.job.round,
            interrupted=True,
        )


Outcome = Finished | RetryScheduled | Interrupted
"""What the executor reports about one attempt."""


# -- persister → validator ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Released:
    """The outcomes of these jobs are stored: another delivery of one of them now finds
    its stored state instead of parking on the running job."""

    job_ids: tuple[str, ...]


# -- what the store answers when the validator records a start ----------------------------


@dataclass(frozen=True, slots=True)
class AlreadyTerminal:
    """The job was finished before (a redelivery, or a resubmitted id): never run again."""

    job: AdmittedJob
    status: JobStatus


@dataclass(frozen=True, slots=True)
class Held:
    """The store refused to validate or start the job: a cancel was requested, or this
    attempt already failed (a stale delivery)."""

    job: AdmittedJob


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A held job whose cancel was requested: it ends ``FAILED`` with error ``cancelled``."""

    job: AdmittedJob
    at: str
    attempts: int
    """The attempts stored so far (a cancelled job keeps its count)."""
    failed_attempts: int
    request: CancelRequest | None = None
    """The cancel request, as the store keeps it."""

    def transition(self) -> JobTransition:
        """The store transition ending the job (not an attempt's failure)."""
        return JobTransition(
            self.job.spec,
            JobStatus.FAILED,
            self.at,
            error=CANCELLED,
            attempt=self.failed_attempts + 1,
            cancelled=True,
            round=self.job.round,
        )


@dataclass(frozen=True, slots=True)
class RateTick:
    """The validator to itself: a held rate-limited job's token may be due; ask again."""
