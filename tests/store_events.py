"""Events the store tests count and store: fixed-width timestamps after a fixed epoch, and
a processor's lifecycle envelope of one job.

Imported as ``tests.store_events``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.domain.clock import format_timestamp
from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id

__all__ = ["EPOCH", "PRODUCER", "event", "ts"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""The time ``ts(0)`` stands for."""

PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")
"""The producer of every :func:`event`."""


def ts(seconds: float) -> str:
    """A fixed-width timestamp ``seconds`` after :data:`EPOCH`."""
    return format_timestamp(EPOCH + timedelta(seconds=seconds))


def event(job_id: str, event_type: EventType, at_s: float, *, job_type: str = "echo") -> Envelope:
    """The ``event_type`` event of job ``job_id`` (first attempt), at ``ts(at_s)``."""
    return Envelope(
        event_type=event_type,
        event_id=lifecycle_event_id(job_id, event_type),
        occurred_at=ts(at_s),
        producer=PRODUCER,
        correlation_id=f"corr-{job_id}",
        idempotency_key=job_id,
        payload={"id": job_id, "type": job_type},
    )
