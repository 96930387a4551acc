"""The live counters' shape (what ``GET /stats`` answers) and the rules that fill them.

Counting rules, the same for every counters adapter (:func:`counter_move` says what one
event does):

* ``job.validated`` of round 1 counts a job into ``totalJobs`` (and its type's
  ``total``): it is emitted once per job, whatever the retries, with a deterministic
  event id. A later round's ``job.validated`` counts nothing: it is the same job.
* ``job.completed`` / ``job.failed`` count into ``completedJobs`` / ``failedJobs``, once
  per round (each round's terminal event has its own id).
* a *retry request* (a ``FAILED`` job retried, ``POST /jobs/{id}/retry``: the
  ``job.created`` starting round ``n`` > 1, with its deterministic id, see
  :func:`~actors.domain.events.is_retry_request`) counts ``failedJobs`` (and its type's
  ``failed``) down by one: the job is no longer failed. Any other ``job.created`` counts
  nothing.
* every event moves ``lastEventTime`` forward (never back).
* an event id is counted at most once, however often it is delivered.

So a retried job is always **one** job with its latest outcome: failed in round 1, then
retried and completed, it moves ``failedJobs`` -1 when its new round starts (it is in
flight again: ``inFlightJobs`` = total - completed - failed) and ``completedJobs`` +1
when the round completes; retried and failed again, ``failedJobs`` is back where it
was. The counters therefore always equal what the job store holds: ``totalJobs`` its
jobs, ``completedJobs`` / ``failedJobs`` those ``COMPLETED`` / ``FAILED`` now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.domain.events import EventType, event_round, is_retry_request

if TYPE_CHECKING:
    from collections.abc import Mapping

    from actors.domain.events import Envelope

__all__ = [
    "COUNTED_EVENT_TYPES",
    "CounterMove",
    "Stats",
    "TypeStats",
    "counter_move",
    "envelope_move",
]

COUNTED_EVENT_TYPES = frozenset(
    {EventType.VALIDATED, EventType.COMPLETED, EventType.FAILED, EventType.CREATED}
)
"""Event types that may change a counter (the others only move ``lastEventTime``)."""


@dataclass(frozen=True, slots=True)
class CounterMove:
    """What one event does to the counters: ``delta`` to ``counter`` (and its type's)."""

    counter: str
    """``total``, ``completed`` or ``failed`` (the :class:`TypeStats` field)."""
    delta: int
    """+1, or -1 for a retried failure."""


_MOVES = {
    EventType.VALIDATED: CounterMove("total", 1),
    EventType.COMPLETED: CounterMove("completed", 1),
    EventType.FAILED: CounterMove("failed", 1),
}
_RETRIED = CounterMove("failed", -1)


def counter_move(
    event_type: EventType, event_id: str, payload: Mapping[str, object]
) -> CounterMove | None:
    """What the event ``event_id`` of ``event_type`` about the job ``payload`` does to the
    counters.

    ``None``: it changes no counter (it only moves ``lastEventTime``). See the module
    docstring for the rule.
    """
    if event_type is EventType.CREATED:
        return _RETRIED if is_retry_request(event_type, event_id, payload) else None
    if event_type is EventType.VALIDATED and event_round(payload) > 1:
        return None
    return _MOVES.get(event_type)


def envelope_move(event: Envelope) -> CounterMove | None:
    """:func:`counter_move` of one envelope."""
    return counter_move(event.event_type, event.event_id, event.payload)


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

    def count(
        self,
        event_type: EventType,
        job_type: str,
        occurred_at: str,
        payload: Mapping[str, object] | None = None,
        event_id: str = "",
    ) -> None:
        """Apply one (already de-duplicated) event to the counters.

        Args:
            event_type: the event's type.
            job_type: the type of the job it is about.
            occurred_at: when it happened.
            payload: its ``job.json`` payload (its ``round`` matters); round 1 if omitted.
            event_id: its id (which tells a retry request from another ``job.created``).
        """
        if self.last_event_time is None or occurred_at > self.last_event_time:
            self.last_event_time = occurred_at
        move = counter_move(event_type, event_id, payload or {})
        if move is None:
            return
        per_type = self.by_type.setdefault(job_type, TypeStats())
        setattr(per_type, move.counter, getattr(per_type, move.counter) + move.delta)
        if move.counter == "total":
            self.total_jobs += move.delta
        elif move.counter == "completed":
            self.completed_jobs += move.delta
        else:
            self.failed_jobs += move.delta

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
