"""Delayed jobs at the gateway: ``runAt`` and ``delaySeconds`` on ``POST /jobs`` and
``POST /jobs/batch``.

A job due later than its submission is not published: once its id is claimed it is kept
in the job store's scheduled set (:meth:`~actors.stores.JobStore.schedule_jobs`),
``PENDING`` with its ``scheduledFor``, and the processors' scheduler publishes its
``job.created`` envelope, unchanged, when it is due (:mod:`actors.processor.scheduler`).
The gateway answers 202 once the store has it, as it answers once the broker confirmed a
job that runs at once. A ``runAt`` in the past runs the job at once, as a job without
one (no ``scheduledFor``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors.domain.scheduling import SCHEDULED_FOR, ScheduledJob, scheduled_for
from actors.errors import StoreUnavailable
from actors.observability.logs import bind

if TYPE_CHECKING:
    from actors.domain.events import Envelope
    from actors.errors import ValidationIssue
    from actors.stores import JobStore

__all__ = ["Scheduling", "schedule_issues"]

log = logging.getLogger(__name__)


def schedule_issues(submission: dict[str, object], now: str) -> list[ValidationIssue]:
    """What is wrong with a valid submission's ``runAt`` or ``delaySeconds`` (both given,
    out of range), each at its field."""
    return scheduled_for(submission, now)[1]


class Scheduling:
    """Keeps the delayed jobs of a request in the job store."""

    def __init__(self, jobs: JobStore | None) -> None:
        self._jobs = jobs

    @staticmethod
    def delayed(envelope: Envelope, now: str) -> ScheduledJob | None:
        """The scheduled set's entry for ``envelope``'s job, or ``None``: it runs now."""
        job = envelope.payload
        due = job.get(SCHEDULED_FOR)
        if not isinstance(due, str) or due <= now:
            return None
        return ScheduledJob(
            spec=envelope.job_spec(), scheduled_for=due, at=now, message=envelope.to_message()
        )

    async def keep(self, jobs: list[ScheduledJob]) -> str | None:
        """Store ``jobs`` in the scheduled set; the reason when that failed."""
        if not jobs:
            return None
        if self._jobs is None:
            return "this gateway has no job store to keep delayed jobs in"
        try:
            await self._jobs.schedule_jobs(jobs)
        except StoreUnavailable as exc:
            log.warning("jobs.schedule_failed jobs=%d error=%s", len(jobs), exc)
            return str(exc)
        for job in jobs:
            with bind(job_id=job.spec.id):  # a batch's jobs each have their own
                log.info("job.scheduled scheduled_for=%s", job.scheduled_for)
        return None
