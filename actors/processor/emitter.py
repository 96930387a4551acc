"""The lifecycle events the processor emits about a job, each with its deterministic id.

Event ids are derived from the job id (:func:`~actors.domain.events.lifecycle_event_id`),
so however often an event is emitted again (a redelivery, a replay of a finished job's
lifecycle) the metrics engine stores and counts it once.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from actors.domain.clock import parse_timestamp
from actors.domain.events import (
    Envelope,
    EventType,
    Producer,
    attempt_failed_event_id,
    interrupted_event_id,
    lifecycle_event_id,
)
from actors.domain.jobs import CANCELLED, JobRecord, JobSpec, JobStatus
from actors.observability.tracing import PREVIOUS_ATTEMPT_HEADER

if TYPE_CHECKING:
    from actors.broker import OutgoingMessage
    from actors.config.settings import Settings
    from actors.processor.messages import AdmittedJob, Interrupted, RetryScheduled

__all__ = [
    "LifecycleEmitter",
    "job_document",
    "next_attempt_message",
    "round_field",
    "seconds_since",
    "seconds_until",
]

SERVICE = "processor"


def seconds_since(timestamp: str) -> float:
    """Seconds from ``timestamp`` (RFC 3339) to now; 0 for a time in the future."""
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def seconds_until(timestamp: str) -> float:
    """Seconds from now to ``timestamp`` (RFC 3339); 0 for a time in the past."""
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        return 0.0
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def job_document(spec: JobSpec, status: JobStatus, at: str, **extra: object) -> dict[str, object]:
    """The ``job.json`` document an event about ``spec`` carries, in ``status`` at ``at``."""
    doc: dict[str, object] = {
        "id": spec.id,
        "type": spec.type,
        "status": status.value,
        "createdAt": spec.created_at,
        "updatedAt": at,
        "payload": dict(spec.payload),
        "metadata": dict(spec.metadata),
    }
    doc.update(extra)
    return doc


def round_field(round_: int) -> dict[str, object]:
    """The ``round`` field of an event's payload: only from round 2 on (round 1's
    events are as they were before rounds existed)."""
    return {"round": round_} if round_ > 1 else {}


class LifecycleEmitter:
    """Builds this processor's lifecycle envelopes."""

    def __init__(self, settings: Settings) -> None:
        self.producer = Producer(SERVICE, f"{SERVICE}-{settings.instance_id}", settings.version)

    def event(
        self,
        job: AdmittedJob,
        event_type: EventType,
        at: str,
        payload: dict[str, object],
        *,
        round_: int | None = None,
    ) -> Envelope:
        """An event about ``job`` (of its attempt, and of its round unless ``round_``)."""
        round_ = job.round if round_ is None else round_
        event_id = lifecycle_event_id(job.spec.id, event_type, job.attempt, round_=round_)
        return Envelope(
            event_type=event_type,
            event_id=event_id,
            occurred_at=at,
            producer=self.producer,
            correlation_id=job.spec.correlation_id,
            idempotency_key=f"{job.spec.id}:{event_type.value}",
            payload=payload,
        )

    def terminal(self, job: AdmittedJob, record: JobRecord) -> Envelope:
        """The terminal event of ``record`` (same id however often it is emitted)."""
        at = record.finished_at or record.updated_at
        event_type = EventType.for_status(record.status)
        extra: dict[str, object] = {}
        if record.status is JobStatus.FAILED and record.error == CANCELLED:
            # The cancel on the timeline: why it ended, and who asked for it when.
            extra["reason"] = CANCELLED
            if record.cancel_requested_at is not None:
                extra["cancelRequestedAt"] = record.cancel_requested_at
            if record.cancel_requested_by is not None:
                extra["cancelRequestedBy"] = record.cancel_requested_by
        payload = job_document(
            record.spec,
            record.status,
            at,
            attempts=record.attempts,
            result=record.result,
            error=record.error,
            **extra,
            **round_field(record.round),
        )
        return self.event(job, event_type, at, payload, round_=record.round)

    def replay(self, job: AdmittedJob, record: JobRecord) -> list[Envelope]:
        """Every lifecycle event of the terminal ``record`` after ``job.created``, with
        the ids they were first emitted with: validated, each attempt's start (and, for an
        attempt that was retried, its failure), then the terminal event.

        Of a job in a later round, each earlier round's ``job.validated`` and ``job.failed``
        come first (an earlier round ended FAILED, or it would not have been retried):
        should a crash have lost them, the trail and the counters get them back; the
        store no longer holds their details, so they carry only the round."""
        spec = record.spec
        round_ = record.round
        in_round = round_field(round_)
        started = record.started_at or record.updated_at
        ends = {entry.attempt: entry for entry in record.errors}
        events = [
            self._envelope(
                spec,
                event_type,
                lifecycle_event_id(spec.id, event_type, round_=earlier),
                spec.created_at,
                job_document(spec, status, spec.created_at, **round_field(earlier)),
            )
            for earlier in range(1, round_)
            for event_type, status in (
                (EventType.VALIDATED, JobStatus.VALIDATED),
                (EventType.FAILED, JobStatus.FAILED),
            )
        ]
        events += [
            self._envelope(
                spec,
                EventType.VALIDATED,
                lifecycle_event_id(spec.id, EventType.VALIDATED, round_=round_),
                started,
                job_document(spec, JobStatus.VALIDATED, started, **in_round),
            )
        ]
        for attempt in range(1, record.attempts + 1):
            previous = ends.get(attempt - 1)
            at = previous.at if previous is not None else started
            events.append(
                self._envelope(
                    spec,
                    EventType.EXECUTED,
                    lifecycle_event_id(spec.id, EventType.EXECUTED, attempt, round_=round_),
                    at,
                    job_document(spec, JobStatus.EXECUTING, at, attempt=attempt, **in_round),
                )
            )
            failed = ends.get(attempt)
            if failed is not None and attempt < record.attempts:
                events.append(
                    self._envelope(
                        spec,
                        EventType.EXECUTED,
                        attempt_failed_event_id(spec.id, attempt, round_=round_),
                        failed.at,
                        job_document(
                            spec,
                            JobStatus.PENDING,
                            failed.at,
                            attempt=attempt,
                            error=failed.error,
                            willRetry=True,
                            **in_round,
                        ),
                    )
                )
        events.append(self.terminal(job, record))
        return events

    def _envelope(
        self,
        spec: JobSpec,
        event_type: EventType,
        event_id: str,
        at: str,
        payload: dict[str, object],
    ) -> Envelope:
        return Envelope(
            event_type=event_type,
            event_id=event_id,
            occurred_at=at,
            producer=self.producer,
            correlation_id=spec.correlation_id,
            idempotency_key=f"{spec.id}:{event_type.value}",
            payload=payload,
        )

    def attempt_failed(self, finished: RetryScheduled) -> Envelope:
        """The ``job.executed`` event telling that an attempt failed and will be retried."""
        job = finished.job
        payload = job_document(
            job.spec,
            JobStatus.PENDING,
            finished.at,
            attempt=job.attempt,
            maxAttempts=finished.max_attempts,
            error=finished.error,
            willRetry=True,
            nextAttemptAt=finished.retry_at,
            **round_field(job.round),
        )
        return Envelope(
            event_type=EventType.EXECUTED,
            event_id=attempt_failed_event_id(job.spec.id, job.attempt, round_=job.round),
            occurred_at=finished.at,
            producer=self.producer,
            correlation_id=job.spec.correlation_id,
            idempotency_key=f"{job.spec.id}:{EventType.EXECUTED.value}",
            payload=payload,
        )

    def interrupted(self, outcome: Interrupted) -> Envelope:
        """The ``job.executed`` event telling that a graceful stop interrupted the attempt
        and gave it back: the job is ``PENDING`` and runs the same attempt again."""
        job = outcome.job
        payload = job_document(
            job.spec,
            JobStatus.PENDING,
            outcome.at,
            attempt=job.attempt,
            interrupted=True,
            **round_field(job.round),
        )
        return Envelope(
            event_type=EventType.EXECUTED,
            event_id=interrupted_event_id(job.spec.id, job.attempt, outcome.at, round_=job.round),
            occurred_at=outcome.at,
            producer=self.producer,
            correlation_id=job.spec.correlation_id,
            idempotency_key=f"{job.spec.id}:{EventType.EXECUTED.value}",
            payload=payload,
        )


def next_attempt_message(
    job: AdmittedJob, attempt: int, *, previous: str | None = None
) -> OutgoingMessage:
    """The job's ``job.created`` envelope again, as attempt ``attempt`` (same event id).

    Args:
        previous: the ``traceparent`` of the attempt that failed, carried in the
            :data:`~actors.observability.tracing.PREVIOUS_ATTEMPT_HEADER` header.
    """
    envelope = dataclasses.replace(job.created, payload={**job.created.payload, "attempt": attempt})
    message = envelope.to_message(message_id=str(uuid.uuid4()))
    if previous is None:
        return message
    return dataclasses.replace(message, headers={PREVIOUS_ATTEMPT_HEADER: previous})
