"""Jobs: their lifecycle states and the records the job store keeps about them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "TERMINAL_STATUSES",
    "JobRecord",
    "JobSpec",
    "JobStatus",
    "JobTransition",
]


class JobStatus(enum.StrEnum):
    """A job's lifecycle state; the contract's names (``job.json``)."""

    PENDING = "PENDING"
    """Accepted by the gateway, waiting in the broker."""
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


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
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


@dataclass(frozen=True, slots=True)
class JobTransition:
    """A request to move ``job`` into ``status`` at time ``at``.

    Stores apply transitions idempotently: a job that does not exist yet is created from
    ``job``; a terminal job never changes; a job never moves to a lower rank.
    Moving into ``EXECUTING`` counts one attempt.
    """

    job: JobSpec
    status: JobStatus
    at: str
    """When the transition happened, RFC 3339 UTC."""
    result: object = None
    """Handler's JSON result, for ``COMPLETED``."""
    error: str | None = None
    """Why it failed, for ``FAILED``."""


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

    @property
    def id(self) -> str:
        """The job's id."""
        return self.spec.id

    def to_summary(self) -> dict[str, object]:
        """The short form listed by ``GET /jobs/recent``."""
        return {
            "id": self.spec.id,
            "type": self.spec.type,
            "status": self.status.value,
            "createdAt": self.spec.created_at,
            "updatedAt": self.updated_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }

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
        }
        return doc
