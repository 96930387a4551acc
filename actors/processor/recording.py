"""From stored outcomes to what the processor publishes: events, retries, settlements.

Both actors that store outcomes use it, each with a :class:`Recorder` of its own: the
persister for attempts (finished, retry scheduled), the validator for the jobs the store
refused to start (cancelled, already terminal, a stale attempt). What one batch
publishes is gathered in an :class:`Outbox` and sent once its store writes are done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.domain.events import EventType, envelopes_to_message
from actors.domain.jobs import JobRecord, JobStatus
from actors.pipeline.outage import retry_while_unavailable
from actors.pipeline.publisher import PublishRequest
from actors.processor.emitter import (
    job_document,
    next_attempt_message,
    round_field,
    seconds_since,
)
from actors.processor.messages import Cancelled, Finished, Interrupted, RetryScheduled
from actors.processor.series import LabelChildren

if TYPE_CHECKING:
    from actors.domain.events import Envelope
    from actors.observability.prometheus import ProcessorMetrics
    from actors.pipeline.publisher import Publisher
    from actors.pipeline.settlement import Settlement
    from actors.processor.emitter import LifecycleEmitter
    from actors.processor.messages import AdmittedJob
    from actors.stores import JobStore

__all__ = ["Outbox", "Recorder"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outbox:
    """What a batch publishes once its store writes are done.

    Retries go first; then the lifecycle events, as one message, with the deliveries
    they settle: the publisher acknowledges nothing before every earlier request is
    confirmed, so a delivery is acknowledged only once its retry is safe with the broker.
    """

    events: list[Envelope] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    retries: list[PublishRequest] = field(default_factory=list)

    def settle(self, job: AdmittedJob, *, submission: bool) -> None:
        """Settle ``job``'s delivery piece; ``submission``: its ``job.created`` goes to the
        trail too (a resubmission is a fact for the audit trail; stored once)."""
        if submission:
            self.events.append(job.created)
        self.settlements.append(job.settlement)

    def retry(
        self, job: AdmittedJob, attempt: int, delay_s: float, *, previous: str | None = None
    ) -> None:
        """Publish ``job`` again as attempt ``attempt`` after ``delay_s``; ``previous``:
        the failed attempt's ``traceparent``, linked from the next one."""
        message = next_attempt_message(job, attempt, previous=previous)
        self.retries.append(PublishRequest(JOBS_CREATED, [message], delay_s=delay_s))

    async def flush(self, publisher: Publisher) -> None:
        """Hand everything to the publisher (retries first) and empty the outbox."""
        for request in self.retries:
            await publisher.send(request)
        if self.events or self.settlements:
            messages = [envelopes_to_message(self.events)] if self.events else []
            await publisher.send(PublishRequest(JOBS_COMPLETED, messages, self.settlements))
        self.events, self.settlements, self.retries = [], [], []


class Recorder:
    """Turns outcomes, once stored, into events, metrics and retries in an outbox.

    Each actor owns one; its counters count what that actor recorded.
    """

    def __init__(
        self, store: JobStore, emitter: LifecycleEmitter, metrics: ProcessorMetrics
    ) -> None:
        self._store = store
        self._emitter = emitter
        self._metrics = metrics
        self._retried = LabelChildren(metrics.retried)
        self._processed = LabelChildren(metrics.processed)
        self._completed = LabelChildren(metrics.completed)
        self._failed = LabelChildren(metrics.failed)
        self._end_to_end = LabelChildren(metrics.end_to_end_seconds)
        self.completed = 0
        """Jobs recorded COMPLETED here."""
        self.failed = 0
        """Jobs recorded FAILED here (cancels included)."""
        self.retried = 0
        """Failed attempts recorded as retries here."""

    async def stored(
        self,
        outcome: Finished | RetryScheduled | Interrupted | Cancelled,
        status: JobStatus,
        outbox: Outbox,
    ) -> None:
        """Record ``outcome``, which the store answered with ``status``, and settle it."""
        job = outcome.job
        job_type = self._metrics.job_type(job.spec.type)
        if isinstance(outcome, Interrupted) and status is JobStatus.PENDING:
            # Given back: told on the timeline, and the delivery returns to the queue.
            outbox.events.append(self._emitter.interrupted(outcome))
            job.settlement.requeue = True
            outbox.settle(job, submission=False)
        elif isinstance(outcome, RetryScheduled) and status is JobStatus.PENDING:
            # Stored as a retry (or found stored so by an earlier try of this batch).
            self.retried += 1
            self._retried(job_type).inc()
            outbox.events.append(self._emitter.attempt_failed(outcome))
            outbox.retry(job, job.attempt + 1, outcome.delay_s, previous=outcome.traceparent)
            outbox.settle(job, submission=False)
        elif isinstance(outcome, Finished | Cancelled) and status is _asked(outcome):
            self._processed(job_type).inc()
            if status is JobStatus.COMPLETED:
                self.completed += 1
                self._completed(job_type).inc()
            else:
                self.failed += 1
                self._failed(job_type).inc()
            self._end_to_end(job_type).observe(seconds_since(job.created.occurred_at))
            if isinstance(outcome, Cancelled):
                # A job cancelled before its first attempt was never announced: its
                # submission and validation (same ids as ever, so stored and counted
                # once) keep the timeline whole and totalJobs >= failedJobs.
                outbox.events.append(job.created)
                outbox.events.append(
                    self._emitter.event(
                        job,
                        EventType.VALIDATED,
                        outcome.at,
                        job_document(
                            job.spec, JobStatus.VALIDATED, outcome.at, **round_field(job.round)
                        ),
                    )
                )
            outbox.events.append(self._emitter.terminal(job, _record(outcome, status)))
            outbox.settle(job, submission=False)
        else:
            # Another writer got there first: tell what the store holds.
            await self.replay(job, outbox)

    async def replay(self, job: AdmittedJob, outbox: Outbox) -> None:
        """Emit ``job``'s submission and its whole stored lifecycle again, and settle it.

        Each event keeps its id (stored and counted once): a processor that died after
        storing an outcome but before publishing its events has them published now.
        """
        record = await retry_while_unavailable(
            lambda: self._store.get_job(job.spec.id), what="job store (read)"
        )
        if record is None or job.round <= record.round:
            # Never the retry request of a round the store did not start (a retry of a
            # job that was not FAILED): it would count the job as no longer failed.
            outbox.events.append(job.created)
        if record is not None and record.status.is_terminal:
            outbox.events.extend(self._emitter.replay(job, record))
        outbox.settlements.append(job.settlement)


def _asked(outcome: Finished | Cancelled) -> JobStatus:
    return outcome.status if isinstance(outcome, Finished) else JobStatus.FAILED


def _record(outcome: Finished | Cancelled, status: JobStatus) -> JobRecord:
    """The terminal record ``outcome`` stored (what its terminal event tells)."""
    request = outcome.cancel if isinstance(outcome, Finished) else outcome.request
    return JobRecord(
        spec=outcome.job.spec,
        status=status,
        updated_at=outcome.at,
        attempts=(
            outcome.job.attempt
            if isinstance(outcome, Finished)
            else outcome.attempts or outcome.job.attempt
        ),
        finished_at=outcome.at,
        result=outcome.result if isinstance(outcome, Finished) else None,
        error=outcome.transition().error,
        round=outcome.job.round,
        cancel_requested_at=None if request is None else request.requested_at,
        cancel_requested_by=None if request is None else request.requested_by,
    )
