"""The live counters' shape (what ``GET /stats`` answers) and the rules that fill them.

Counting rules, the same for every counters adapter:

* ``job.validated`` counts a job into ``totalJobs`` (and its type's ``total``): it is
  emitted once per job, whatever the retries, with a deterministic event id.
* ``job.completed`` / ``job.failed`` count into ``completedJobs`` / ``failedJobs``.
* every event moves ``lastEventTime`` forward (never back).
* an event id is counted at most once, however often it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.domain.events import EventType

__all__ = ["COUNTED_EVENT_TYPES", "Stats", "TypeStats"]

COUNTED_EVENT_TYPES = frozenset({EventType.VALIDATED, EventType.COMPLETED, EventType.FAILED})
"""Event types that change a counter (the others only move ``lastEventTime``)."""


@dataclass(slots=True)
class TypeStats:
    """Counters of one job type."""

    total: int = 0
    completed: int = 0
    failed: int = 0

    def to_json(self) -> dict[str, int]:
        """The ``byType`` entry of ``/stats``."""
        return {"total": self.total, "completed": self.completed, "failed": self.failed}


@dataclass(slots=True)
class Stats:
    """A snapshot of the counters."""

    total_jobs: int = 0
    completed_jobs: int = 0
    failed_jobs: int = 0
    last_event_time: str | None = None
    by_type: dict[str, TypeStats] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        """Jobs validated but not yet in a terminal state."""
        return max(0, self.total_jobs - self.completed_jobs - self.failed_jobs)

    def count(self, event_type: EventType, job_type: str, occurred_at: str) -> None:
        """Apply one (already de-duplicated) event to the counters."""
        if self.last_event_time is None or occurred_at > self.last_event_time:
            self.last_event_time = occurred_at
        if event_type not in COUNTED_EVENT_TYPES:
            return
        per_type = self.by_type.setdefault(job_type, TypeStats())
        if event_type is EventType.VALIDATED:
            self.total_jobs += 1
            per_type.total += 1
        elif event_type is EventType.COMPLETED:
            self.completed_jobs += 1
            per_type.completed += 1
        else:
            self.failed_jobs += 1
            per_type.failed += 1

    def to_json(self) -> dict[str, object]:
        """The ``GET /stats`` document."""
        return {
            "totalJobs": self.total_jobs,
            "completedJobs": self.completed_jobs,
            "failedJobs": self.failed_jobs,
            "inFlightJobs": self.in_flight,
            "lastEventTime": self.last_event_time,
            "byType": {name: stats.to_json() for name, stats in sorted(self.by_type.items())},
        }
