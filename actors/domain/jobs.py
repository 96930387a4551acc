"""Jobs: their lifecycle states and the records the job store keeps about them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.broker.names import JOBS_CREATED_MAX_PRIORITY
from actors.domain.clock import parse_timestamp
from actors.observability.tracing import trace_id_of

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ADVANCING_STATUSES",
    "CANCELLED",
    "DEFAULT_PRIORITY",
    "MAX_PRIORITY",
    "TERMINAL_STATUSES",
    "AttemptError",
    "CancelAnswer",
    "CancelRequest",
    "JobRecord",
    "JobSpec",
    "JobStatus",
    "JobTransition",
    "job_priority",
]


class JobStatus(enum.StrEnum):
    """A job's lifecycle state; the contract's names (``job.json``)."""

    PENDING = "PENDING"
    """Accepted by the gateway, waiting in the broker; also between two attempts, while a
    retry waits out its backoff (then ``nextAttemptAt`` says until when)."""
    VALIDATED = "VALIDATED"
    """Taken by a processor and found valid against the contracts."""
    EXECUTING = "EXECUTING"
    """Its handler is running."""
    COMPLETED = "COMPLETED"
    """Its handler returned; terminal."""
    FAILED = "FAILED"
    """Its handler raised or timed out; terminal."""

    @property
    def is_terminal(self) -> bool:
        """Whether no transition may ever leave this state."""
        return self in TERMINAL_STATUSES

    @property
    def rank(self) -> int:
        """Position in the lifecycle; a job never moves to a lower rank."""
        return _RANKS[self]


CANCELLED = "cancelled"
"""The ``error`` of a job that was cancelled (``DELETE /jobs/{id}``) before it completed."""

DEFAULT_PRIORITY = 5
"""A job's ``priority`` when its submission gives none."""
MAX_PRIORITY = JOBS_CREATED_MAX_PRIORITY
"""The highest ``priority`` (the lowest is 0): the ``x-max-priority`` of ``jobs.created``."""


def job_priority(document: Mapping[str, object]) -> int:
    """The ``priority`` of a job document (0 to 9; the default for none or a bad value)."""
    value = document.get("priority", DEFAULT_PRIORITY)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
        return DEFAULT_PRIORITY
    return value


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
ADVANCING_STATUSES = frozenset({JobStatus.VALIDATED, JobStatus.EXECUTING})
"""States a job whose cancel was requested never moves into."""
_RANKS = {
    JobStatus.PENDING: 0,
    JobStatus.VALIDATED: 1,
    JobStatus.EXECUTING: 2,
    JobStatus.COMPLETED: 3,
    JobStatus.FAILED: 3,
}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job is: the fields fixed at submission, never changed afterwards."""

    id: str
    """UUID of the job (the idempotency key of its submission)."""
    type: str
    """Handler name, e.g. ``echo``."""
    created_at: str
    """Submission time, RFC 3339 UTC."""
    correlation_id: str
    """Correlation id of the request that submitted it."""
    payload: Mapping[str, object] = field(default_factory=dict)
    """Input of the handler."""
    metadata: Mapping[str, object] = field(default_factory=dict)
    """Free-form labels from the client."""
    priority: int = DEFAULT_PRIORITY
    """0 to 9: of the jobs waiting, the higher run first (arrival order within one)."""


@dataclass(frozen=True, slots=True)
class AttemptError:
    """Why one attempt of a job failed: an entry of the job's history."""

    attempt: int
    """The attempt's number, from 1."""
    error: str
    at: str
    """When the attempt ended, RFC 3339 UTC."""

    def to_json(self) -> dict[str, object]:
        """The ``errors`` entry of a job document."""
        return {"attempt": self.attempt, "error": self.error, "at": self.at}

    @classmethod
    def from_json(cls, doc: object) -> AttemptError:
        """Read an entry written by :meth:`to_json` (as the stores keep it).

        Raises:
            ValueError: ``doc`` is not such an entry.
        """
        if not isinstance(doc, dict):
            raise ValueError(f"An attempt error is an object, not {type(doc).__name__}.")
        attempt, error, at = doc.get("attempt"), doc.get("error"), doc.get("at")
        if not isinstance(attempt, int) or not isinstance(error, str) or not isinstance(at, str):
            raise ValueError(f"Malformed attempt error entry: {str(doc)[:80]}.")
        return cls(attempt, error, at)


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """A request to cancel a job (``DELETE /jobs/{id}``), kept by the job store.

    It is kept whether or not a processor has taken the job yet: one still queued finds
    it when it is taken (and ends ``FAILED`` without running), a running one is
    cancelled by its processor's cancel watcher.
    """

    job_id: str
    requested_at: str
    """When the first request arrived, RFC 3339 UTC (asking again keeps it)."""
    requested_by: str
    """Who asked: ``token:<hash>`` (a hash of the caller's API token, never the token) or
    ``address:<ip>`` when the gateway has no tokens."""


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """What :meth:`~actors.stores.JobStore.request_cancel` did."""

    job_id: str
    status: JobStatus | None
    """The job's stored status; ``None``: no processor has taken it yet (it is queued, or
    no such job was ever submitted)."""
    request: CancelRequest | None
    """The request kept (the first one, when asked again); ``None``: refused, the job has
    ended (``status`` says how)."""


@dataclass(frozen=True, slots=True)
class JobTransition:
    """A request to move ``job`` into ``status`` at time ``at``.

    Stores apply transitions idempotently: a job that does not exist yet is created from
    ``job``; a terminal job never changes; a job never moves to a lower rank, except
    through a *retry* (below). Moving into ``EXECUTING`` counts one attempt.

    Attempt rules, the same in every store:

    * a transition of an attempt that already failed (``attempt`` at most the number of
      failed attempts recorded) is ignored: a stale delivery never moves the job;
    * a job whose cancel was requested never moves into ``VALIDATED`` or ``EXECUTING``
      again (the processor then ends it ``FAILED`` with :data:`CANCELLED`);
    * a **retry** (``status`` ``PENDING`` with ``retry_at``) moves a job that is not
      terminal back to ``PENDING``, records ``error`` as attempt ``attempt``'s failure and
      sets ``nextAttemptAt``;
    * a ``FAILED`` transition records ``error`` as the attempt's failure too, unless it is
      a cancel (``cancelled``);
    * a transition of a later ``round`` than the stored one starts that round, but only
      for a ``FAILED`` job: its attempts, history of errors, outcome and cancel marker
      start afresh; a transition of an earlier round is ignored;
    * an **interruption** (``status`` ``PENDING`` with ``interrupted``: a graceful stop
      cancelled the handler after its grace) moves an ``EXECUTING`` job back to
      ``PENDING`` and gives its attempt back (the attempt count goes down by one, no
      failure is recorded), so the same attempt runs again after the redelivery and
      never counts against ``maxAttempts``; it applies to an ``EXECUTING`` job only.

    :mod:`actors.domain.lifecycle` holds these rules as code; every store plans its
    writes with it.
    """

    job: JobSpec
    status: JobStatus
    at: str
    """When the transition happened, RFC 3339 UTC."""
    result: object = None
    """Handler's JSON result, for ``COMPLETED``."""
    error: str | None = None
    """Why it failed, for ``FAILED`` (and for a retry: why the attempt failed)."""
    attempt: int = 1
    """The attempt this transition belongs to, from 1."""
    retry_at: str | None = None
    """Set for a retry: when the next attempt is due, RFC 3339 UTC."""
    cancelled: bool = False
    """A ``FAILED`` transition that ends a cancelled job (not an attempt's failure)."""
    round: int = 1
    """The round this transition belongs to, from 1: ``POST /jobs/{id}/retry`` runs a
    ``FAILED`` job again as a new round, whose attempts count from 1 again."""
    interrupted: bool = False
    """A ``PENDING`` transition giving back an attempt that a graceful stop interrupted."""

    @property
    def is_retry(self) -> bool:
        """Whether this moves the job back to ``PENDING`` for another attempt."""
        return self.status is JobStatus.PENDING and self.retry_at is not None

    @property
    def failed_attempt(self) -> AttemptError | None:
        """The history entry this transition records, if any."""
        if self.error is None or self.cancelled:
            return None
        if self.is_retry or self.status is JobStatus.FAILED:
            return AttemptError(self.attempt, self.error, self.at)
        return None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What the job store knows about one job."""

    spec: JobSpec
    status: JobStatus
    updated_at: str
    attempts: int = 0
    """How many times its handler was started."""
    started_at: str | None = None
    """When its handler last started."""
    finished_at: str | None = None
    """When it reached a terminal state."""
    result: object = None
    error: str | None = None
    errors: tuple[AttemptError, ...] = ()
    """Every failed attempt, oldest first: the job's history of errors."""
    next_attempt_at: str | None = None
    """While ``PENDING`` between attempts: when the next attempt is due."""
    cancel_requested_at: str | None = None
    """When ``DELETE /jobs/{id}`` asked for the job to be cancelled."""
    round: int = 1
    """The job's round, from 1; each ``POST /jobs/{id}/retry`` of a ``FAILED`` job starts
    the next one (attempts, errors and outcome are those of the current round)."""
    cancel_requested_by: str | None = None
    """Who asked for it (:attr:`CancelRequest.requested_by`)."""
    scheduled_for: str | None = None
    """A delayed job's start time (``runAt`` or ``delaySeconds`` at submission); it
    waits ``PENDING`` until then (:mod:`actors.domain.scheduling`)."""

    @property
    def failed_attempts(self) -> int:
        """How many attempts failed (the highest attempt number in :attr:`errors`)."""
        return max((entry.attempt for entry in self.errors), default=0)

    @property
    def id(self) -> str:
        """The job's id."""
        return self.spec.id

    @property
    def duration_ms(self) -> int | None:
        """How long the job's round took, every attempt and the backoffs between them
        included, in whole milliseconds; ``None`` until it finished (issue 16, item 11).

        The store keeps only the *last* attempt's start, so: one attempt (or none, a job
        cancelled while queued) counts from that start (or the job's creation); several
        attempts of the first round count from the job's creation; several of a later
        round from its first failed attempt (no earlier time of that round is kept).
        """
        if self.finished_at is None:
            return None
        if self.attempts <= 1:
            start = self.started_at or self.spec.created_at
        elif self.round == 1 or not self.errors:
            start = self.spec.created_at
        else:
            start = self.errors[0].at
        try:
            elapsed = parse_timestamp(self.finished_at) - parse_timestamp(start)
        except ValueError:
            return None
        return max(0, round(elapsed.total_seconds() * 1000))

    def to_summary(self) -> dict[str, object]:
        """The short form listed by ``GET /jobs/recent`` (``scheduledFor`` only for a
        delayed job; ``priority`` always, 5 for a job submitted without one)."""
        summary: dict[str, object] = {
            "id": self.spec.id,
            "type": self.spec.type,
            "status": self.status.value,
            "createdAt": self.spec.created_at,
            "updatedAt": self.updated_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "durationMs": self.duration_ms,
            "priority": self.spec.priority,
        }
        if self.scheduled_for is not None:
            summary["scheduledFor"] = self.scheduled_for
        return summary

    def to_json(self) -> dict[str, object]:
        """The whole record as a ``job.json`` document with its outcome fields."""
        doc: dict[str, object] = {
            **self.to_summary(),
            "payload": dict(self.spec.payload),
            "metadata": dict(self.spec.metadata),
            "correlationId": self.spec.correlation_id,
            "attempts": self.attempts,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "result": self.result,
            "error": self.error,
            "errors": [entry.to_json() for entry in self.errors],
            "nextAttemptAt": self.next_attempt_at,
            "cancelRequestedAt": self.cancel_requested_at,
            "round": self.round,
        }
        if self.cancel_requested_by is not None:
            doc["cancelRequestedBy"] = self.cancel_requested_by
        if (trace_id := trace_id_of(self.spec.metadata)) is not None:
            doc["traceId"] = trace_id
        return doc
