"""What the client's calls return: frozen dataclasses read from the API's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from actors.domain.jobs import DEFAULT_PRIORITY, MAX_PRIORITY, JobStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from observatory._errors import FieldIssue

__all__ = [
    "AttemptFailure",
    "BatchResult",
    "CancelAccepted",
    "Job",
    "JobStatus",
    "NewJob",
    "Rejected",
    "RetryAccepted",
    "Stats",
    "Submitted",
    "TypeCounts",
    "priority_fields",
    "priority_of",
    "schedule_fields",
    "text_field",
]


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to submit with :meth:`Client.submit_many`.

    Example: ``NewJob("sleep", {"seconds": 2}, metadata={"maxAttempts": 1})``.
    """

    type: str
    """The job type: 1 to 50 letters, digits, ``_`` or ``-``."""
    payload: Mapping[str, object] | None = None
    """What the handler gets (``{}`` when ``None``)."""
    job_id: str | None = None
    """A UUID to submit it under; a fresh one when ``None``."""
    metadata: Mapping[str, object] | None = None
    """E.g. ``{"maxAttempts": 5}``."""
    run_at: datetime | timedelta | None = None
    """Delay the job: a time (timezone-aware) or a wait after submission, at most 30 days
    ahead (see :meth:`Client.submit`); ``None`` runs it at once."""
    priority: int | None = None
    """0 to 9: of the jobs waiting, the higher run first; ``None`` sends none (the
    observatory takes 5)."""


def priority_fields(priority: object) -> dict[str, object]:
    """The submission's ``priority`` (none when ``None``), checked before anything is sent.

    Raises:
        ValueError: not an integer from 0 to 9.
    """
    if priority is None:
        return {}
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"priority must be an integer from 0 to {MAX_PRIORITY}, not {priority!r}.")
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(
            f"priority must be from 0 (lowest) to {MAX_PRIORITY} (highest), not {priority}."
        )
    return {"priority": priority}


def schedule_fields(run_at: datetime | timedelta | None) -> dict[str, object]:
    """The submission's ``runAt`` or ``delaySeconds`` for ``run_at`` (none when ``None``).

    Raises:
        ValueError: a time without a timezone, or a wait that is not above zero.
    """
    if run_at is None:
        return {}
    if isinstance(run_at, timedelta):
        if run_at <= timedelta(0):
            raise ValueError(f"run_at must be a wait above zero, not {run_at}.")
        return {"delaySeconds": run_at.total_seconds()}
    if run_at.tzinfo is None:
        raise ValueError(
            f"run_at {run_at.isoformat()} has no timezone; give an aware datetime, e.g. "
            "datetime.now(UTC) + timedelta(minutes=10)."
        )
    return {"runAt": run_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Submitted:
    """A job the gateway accepted and queued (the broker confirmed it)."""

    job_id: str
    """The job's id: follow it with :meth:`Client.get` or :meth:`Client.wait`."""
    event_id: str
    """The id of its ``job.created`` event."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A job of a batch the gateway refused (the others were not affected)."""

    index: int
    """Its position in what was given to :meth:`Client.submit_many`."""
    job_id: str
    """The id it was sent with."""
    error: str
    """The gateway's sentence."""
    details: tuple[FieldIssue, ...] = ()
    """The fields it refused."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What :meth:`Client.submit_many` did: one result per job, in the order given."""

    results: tuple[Submitted | Rejected, ...]
    """Each job's :class:`Submitted` or :class:`Rejected`, in order."""
    requests: int
    """How many ``POST /jobs/batch`` requests it took (at most 1,000 jobs each; one
    resent after a 429 counts again)."""

    @property
    def submitted(self) -> list[Submitted]:
        """The accepted jobs, in order."""
        return [result for result in self.results if isinstance(result, Submitted)]

    @property
    def rejected(self) -> list[Rejected]:
        """The refused jobs, in order."""
        return [result for result in self.results if isinstance(result, Rejected)]


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    """One failed attempt of a job."""

    attempt: int
    """Which attempt (1 is the first)."""
    error: str
    """Why it failed."""
    at: str
    """When (RFC 3339, UTC)."""


def text_field(doc: Mapping[str, object], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def priority_of(doc: Mapping[str, object]) -> int:
    """A job document's ``priority`` (5 when it has none)."""
    value = doc.get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_PRIORITY


@dataclass(frozen=True, slots=True)
class Job:
    """A job as the read model knows it (``GET /jobs/{id}``)."""

    id: str
    type: str
    status: JobStatus
    """``PENDING``, ``VALIDATED``, ``EXECUTING``, ``COMPLETED`` or ``FAILED``."""
    payload: Mapping[str, object]
    metadata: Mapping[str, object]
    result: object
    """What the handler returned, once ``COMPLETED``."""
    error: str | None
    """Why it failed, once ``FAILED`` (``cancelled`` for a cancelled job)."""
    attempts: int
    """Attempts started so far."""
    errors: tuple[AttemptFailure, ...]
    """Every failed attempt, oldest first."""
    created_at: str
    updated_at: str | None
    started_at: str | None
    finished_at: str | None
    next_attempt_at: str | None
    """While ``PENDING`` between attempts: when the next one is due."""
    correlation_id: str | None
    round: int = 1
    """The job's round, from 1; each retry of a ``FAILED`` job starts the next."""
    scheduled_for: str | None = None
    """A delayed job's start time (it waits ``PENDING`` until then); ``None`` for a job
    that ran as soon as it arrived."""
    priority: int = DEFAULT_PRIORITY
    """0 to 9: of the jobs waiting, the higher run first (5 for a job submitted without
    one, or read from an observatory that predates priorities)."""
    events: tuple[Mapping[str, object], ...] = field(default=(), repr=False)
    """The job's audit-trail events in timeline order, as the API returns them."""

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (``COMPLETED`` or ``FAILED``)."""
        return self.status.is_terminal

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Job:
        """Read the body of ``GET /jobs/{id}`` (fields it does not know are ignored)."""
        errors = doc.get("errors")
        events = doc.get("events")
        payload, metadata, attempts = doc.get("payload"), doc.get("metadata"), doc.get("attempts")
        return cls(
            id=str(doc["id"]),
            type=str(doc["type"]),
            status=JobStatus(str(doc["status"])),
            payload=payload if isinstance(payload, dict) else {},
            metadata=metadata if isinstance(metadata, dict) else {},
            result=doc.get("result"),
            error=text_field(doc, "error"),
            attempts=attempts if isinstance(attempts, int) else 0,
            errors=tuple(
                AttemptFailure(int(e["attempt"]), str(e["error"]), str(e["at"]))
                for e in (errors if isinstance(errors, list) else [])
                if isinstance(e, dict)
            ),
            created_at=str(doc.get("createdAt", "")),
            updated_at=text_field(doc, "updatedAt"),
            started_at=text_field(doc, "startedAt"),
            finished_at=text_field(doc, "finishedAt"),
            next_attempt_at=text_field(doc, "nextAttemptAt"),
            correlation_id=text_field(doc, "correlationId"),
            round=doc_round if isinstance(doc_round := doc.get("round"), int) else 1,
            scheduled_for=text_field(doc, "scheduledFor"),
            priority=priority_of(doc),
            events=tuple(
                e for e in (events if isinstance(events, list) else []) if isinstance(e, dict)
            ),
        )


@dataclass(frozen=True, slots=True)
class TypeCounts:
    """The counters of one job type."""

    total: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The live counters (``GET /stats``)."""

    total_jobs: int
    """Jobs validated so far."""
    completed_jobs: int
    failed_jobs: int
    in_flight_jobs: int
    """Validated but not ended yet."""
    last_event_time: str | None
    by_type: Mapping[str, TypeCounts]

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Stats:
        """Read the body of ``GET /stats``."""
        by_type = doc.get("byType")
        return cls(
            total_jobs=_int(doc.get("totalJobs")),
            completed_jobs=_int(doc.get("completedJobs")),
            failed_jobs=_int(doc.get("failedJobs")),
            in_flight_jobs=_int(doc.get("inFlightJobs")),
            last_event_time=text_field(doc, "lastEventTime"),
            by_type={
                name: TypeCounts(
                    _int(counts.get("total")),
                    _int(counts.get("completed")),
                    _int(counts.get("failed")),
                )
                for name, counts in (by_type.items() if isinstance(by_type, dict) else [])
                if isinstance(counts, dict)
            },
        )


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


@dataclass(frozen=True, slots=True)
class CancelAccepted:
    """The gateway took the cancel: the job ends ``FAILED`` (``cancelled``) shortly."""

    job_id: str
    status: str | None
    """The job's status when the cancel was taken, when the gateway said it."""
    body: Mapping[str, object] = field(default_factory=dict, repr=False)
    """The gateway's whole answer."""


@dataclass(frozen=True, slots=True)
class RetryAccepted:
    """The gateway queued a ``FAILED`` job again, under the same id, from attempt 1."""

    job_id: str
    round: int = 2
    """The round the retry runs as: pass it to ``wait(..., round=)`` to wait for its end."""
    body: Mapping[str, object] = field(default_factory=dict, repr=False)
    """The gateway's whole answer."""
