"""Lifecycle events in the canonical envelope (``event-envelope.json``).

Event ids are what makes delivery idempotent downstream, so every event the processor
emits has an id derived from the job id (:func:`lifecycle_event_id`): a redelivered job
re-emits the *same* ids, and the metrics engine stores and counts each only once.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actors.broker import OutgoingMessage
from actors.domain.jobs import JobSpec, JobStatus, job_priority
from contracts import dump_json

__all__ = [
    "CONTRACT_VERSION",
    "MAX_ROUND",
    "Envelope",
    "EventType",
    "Producer",
    "attempt_failed_event_id",
    "envelopes_to_message",
    "event_round",
    "interrupted_event_id",
    "is_retry_request",
    "lifecycle_event_id",
    "retry_requested_event_id",
]

CONTRACT_VERSION = "1.0.0"
"""``contractVersion`` written into every envelope we produce."""

# Fixed namespace for uuid5 event ids; changing it would re-count every redelivered job.
_EVENT_NAMESPACE = uuid.UUID("6f1c2a52-7f0e-4d1e-9a57-0b3e7c4a9d10")
_NAMESPACE_BYTES = _EVENT_NAMESPACE.bytes


def _name_id(name: str) -> str:
    """``str(uuid.uuid5(_EVENT_NAMESPACE, name))``, without the ``UUID`` object: three of
    these per job are on the processor's hot path, and this is about three times faster."""
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class EventType(enum.StrEnum):
    """The event types of the contract: a job's lifecycle (``job.*``, payload a
    ``job.json`` document) and an operator's bulk action (``jobs.bulk-action``)."""

    CREATED = "job.created"
    """The gateway accepted the job (status PENDING); also, with ``payload.round`` above
    1 and ``payload.retry``, that someone asked for the ``FAILED`` job to run again
    (``POST /jobs/{id}/retry``): the *retry request* starting that round, with its
    deterministic id (:func:`retry_requested_event_id`). The contract has no retry event
    type, and a retry is the job submitted again."""
    VALIDATED = "job.validated"
    """A processor validated the job (status VALIDATED)."""
    EXECUTED = "job.executed"
    """A processor started the job's handler (status EXECUTING); also, once per failed
    attempt that will be retried, that the attempt ended (status PENDING, with ``error``,
    ``willRetry: true`` and ``nextAttemptAt``): the contract has no retry event type,
    and ``job.failed`` is terminal and counted; and, for an attempt a graceful stop
    interrupted, that it was given back (status PENDING, ``interrupted: true``): it runs
    again after the restart as the same attempt. None of these is counted."""
    COMPLETED = "job.completed"
    """The handler returned (status COMPLETED)."""
    FAILED = "job.failed"
    """The handler raised or timed out (status FAILED)."""
    BULK_ACTION = "jobs.bulk-action"
    """An operator's bulk action on the gateway (``POST /jobs/cancel``, ``/jobs/retry``,
    ``/dead-letters/requeue`` by filter): its payload is a ``bulk-action.json`` document
    (who, the filter, the counts) whose ``id`` is the action's own, so the event is that
    action's timeline of one. It moves no counter and no job."""

    @property
    def order(self) -> int:
        """Position in a job's timeline, used to order events with equal timestamps."""
        return _ORDER[self]

    @classmethod
    def for_status(cls, status: JobStatus) -> EventType:
        """The event that announces a move into ``status``."""
        return _BY_STATUS[status]


_ORDER = {
    EventType.CREATED: 0,
    EventType.VALIDATED: 1,
    EventType.EXECUTED: 2,
    EventType.COMPLETED: 3,
    EventType.FAILED: 3,
    EventType.BULK_ACTION: 0,
}
_BY_STATUS = {
    JobStatus.PENDING: EventType.CREATED,
    JobStatus.VALIDATED: EventType.VALIDATED,
    JobStatus.EXECUTING: EventType.EXECUTED,
    JobStatus.COMPLETED: EventType.COMPLETED,
    JobStatus.FAILED: EventType.FAILED,
}


def _round_key(job_id: str, round_: int) -> str:
    """What event names of round ``round_`` start with (round 1: the job id, as ever)."""
    return job_id if round_ == 1 else f"{job_id}:round:{round_}"


def lifecycle_event_id(
    job_id: str, event_type: EventType, attempt: int = 1, *, round_: int = 1
) -> str:
    """Return the deterministic event id of a processor-emitted lifecycle event.

    ``job.validated`` happens once per round and the terminal event once per round (both
    terminal types share one id, so a round can never be counted as both);
    ``job.executed`` happens once per attempt. Round 1's ids are those of every version
    before rounds existed; a later round's ids include the round, so they never collide
    with an earlier round's.
    """
    key = _round_key(job_id, round_)
    if event_type is EventType.EXECUTED:
        name = f"{key}:{event_type.value}:{attempt}"
    elif event_type in (EventType.COMPLETED, EventType.FAILED):
        name = f"{key}:terminal"
    else:
        name = f"{key}:{event_type.value}"
    return _name_id(name)


def attempt_failed_event_id(job_id: str, attempt: int, *, round_: int = 1) -> str:
    """The deterministic id of the ``job.executed`` event saying attempt ``attempt`` failed
    and will be retried (distinct from the id of the event saying it started)."""
    key = _round_key(job_id, round_)
    return _name_id(f"{key}:{EventType.EXECUTED.value}:{attempt}:retry")


def interrupted_event_id(job_id: str, attempt: int, at: str, *, round_: int = 1) -> str:
    """The deterministic id of the ``job.executed`` event saying attempt ``attempt`` was
    interrupted at ``at`` by a graceful stop (one attempt may be interrupted by more than
    one stop, each its own event; one stop's event is stored once however often it is
    published)."""
    key = _round_key(job_id, round_)
    name = f"{key}:{EventType.EXECUTED.value}:{attempt}:interrupted:{at}"
    return str(uuid.uuid5(_EVENT_NAMESPACE, name))


def retry_requested_event_id(job_id: str, round_: int) -> str:
    """The deterministic id of the retry request starting round ``round_`` (a
    ``job.created`` envelope; two requests racing to start the same round are one event,
    counted once)."""
    return _name_id(f"{job_id}:retry:{round_}")


def is_retry_request(event_type: EventType, event_id: str, payload: Mapping[str, object]) -> bool:
    """Whether an event is the retry request of a round: a ``job.created`` of round 2 or
    later with that round's deterministic id (a client's own ``round`` field is not one)."""
    if event_type is not EventType.CREATED:
        return False
    round_ = event_round(payload)
    return round_ > 1 and event_id == retry_requested_event_id(str(payload.get("id", "")), round_)


MAX_ROUND = 1_000_000
"""The highest round a job may reach (a ``round`` above it is not one: read as 1)."""


def event_round(payload: Mapping[str, object]) -> int:
    """The round an event's ``job.json`` payload belongs to (``round``; 1 when absent or
    not an integer from 2 to :data:`MAX_ROUND`)."""
    value = payload.get("round", 1)
    if isinstance(value, int) and not isinstance(value, bool) and 1 < value <= MAX_ROUND:
        return value
    return 1


@dataclass(frozen=True, slots=True)
class Producer:
    """Who emitted an event."""

    service: str
    instance_id: str
    version: str

    def to_json(self) -> dict[str, str]:
        """The envelope's ``producer`` object."""
        return {"service": self.service, "instanceId": self.instance_id, "version": self.version}


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event in the canonical envelope; ``payload`` is a ``job.json`` document."""

    event_type: EventType
    event_id: str
    occurred_at: str
    producer: Producer
    correlation_id: str
    idempotency_key: str
    payload: Mapping[str, object]
    contract_version: str = CONTRACT_VERSION

    @property
    def job_id(self) -> str:
        """Id of the job the event is about (``payload.id``)."""
        return str(self.payload.get("id", ""))

    @property
    def job_type(self) -> str:
        """Type of the job the event is about (``payload.type``)."""
        return str(self.payload.get("type", ""))

    def to_json(self) -> dict[str, object]:
        """The envelope as the JSON object the contract describes."""
        return {
            "contractVersion": self.contract_version,
            "eventType": self.event_type.value,
            "eventId": self.event_id,
            "occurredAt": self.occurred_at,
            "producer": self.producer.to_json(),
            "correlationId": self.correlation_id,
            "idempotencyKey": self.idempotency_key,
            "payload": dict(self.payload),
        }

    def _wire_doc(self) -> dict[str, object]:
        """:meth:`to_json` for serializing at once: the payload not copied when it is a
        dict already (nothing holds on to this document, so nothing can change it)."""
        payload = self.payload
        producer = self.producer
        return {
            "contractVersion": self.contract_version,
            "eventType": self.event_type._value_,
            "eventId": self.event_id,
            "occurredAt": self.occurred_at,
            "producer": {
                "service": producer.service,
                "instanceId": producer.instance_id,
                "version": producer.version,
            },
            "correlationId": self.correlation_id,
            "idempotencyKey": self.idempotency_key,
            "payload": payload if type(payload) is dict else dict(payload),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Envelope:
        """Build an envelope from a document already valid against the envelope schema."""
        producer = doc["producer"]
        payload = doc["payload"]
        assert isinstance(producer, Mapping)
        assert isinstance(payload, Mapping)
        return cls(
            event_type=EventType(str(doc["eventType"])),
            event_id=str(doc["eventId"]),
            occurred_at=str(doc["occurredAt"]),
            producer=Producer(
                service=str(producer["service"]),
                instance_id=str(producer["instanceId"]),
                version=str(producer["version"]),
            ),
            correlation_id=str(doc["correlationId"]),
            idempotency_key=str(doc["idempotencyKey"]),
            payload=dict(payload),
            contract_version=str(doc["contractVersion"]),
        )

    @classmethod
    def job_created(
        cls, job: Mapping[str, object], *, producer: Producer, correlation_id: str, at: str
    ) -> Envelope:
        """The ``job.created`` envelope announcing the submitted ``job`` (a ``job.json``
        document), with a fresh event id; its idempotency key is the job id."""
        return cls(
            event_type=EventType.CREATED,
            event_id=str(uuid.uuid4()),
            occurred_at=at,
            producer=producer,
            correlation_id=correlation_id,
            idempotency_key=str(job["id"]),
            payload=dict(job),
        )

    @classmethod
    def bulk_action(
        cls,
        action: Mapping[str, object],
        *,
        producer: Producer,
        correlation_id: str,
        at: str,
    ) -> Envelope:
        """The ``jobs.bulk-action`` event recording ``action`` (a ``bulk-action.json``
        document); its event id and idempotency key are the action's ``id``."""
        action_id = str(action["id"])
        return cls(
            event_type=EventType.BULK_ACTION,
            event_id=action_id,
            occurred_at=at,
            producer=producer,
            correlation_id=correlation_id,
            idempotency_key=action_id,
            payload=dict(action),
        )

    def job_spec(self) -> JobSpec:
        """The job a valid ``job.created`` envelope describes (its payload a ``job.json``
        document): one reading for every place that takes a job off such an envelope."""
        job = self.payload
        payload, metadata = job.get("payload") or {}, job.get("metadata") or {}
        assert isinstance(payload, dict)
        assert isinstance(metadata, dict)
        return JobSpec(
            id=self.job_id,
            type=self.job_type,
            created_at=str(job["createdAt"]),
            correlation_id=self.correlation_id,
            payload=payload,
            metadata=metadata,
            priority=job_priority(job),
        )

    def to_message(self, *, message_id: str | None = None) -> OutgoingMessage:
        """This envelope as the broker message that carries it (compact JSON, orjson).

        Args:
            message_id: the broker message id; the event id unless given (a retry
                republishes the same event under a fresh message id).
        """
        return OutgoingMessage(
            body=dump_json(self._wire_doc()),
            message_id=self.event_id if message_id is None else message_id,
            correlation_id=self.correlation_id,
            # A job.created is queued by its job's priority (any other event carries none).
            priority=job_priority(self.payload) if self.event_type is EventType.CREATED else None,
        )


def envelopes_to_message(
    envelopes: Sequence[Envelope], *, correlation_id: str | None = None
) -> OutgoingMessage:
    """One broker message carrying ``envelopes`` as a JSON array, with a fresh message id.

    Consumers accept one envelope or an array of them per message; batching lifecycle
    events this way costs one publish (and one confirm) for many events.
    """
    body = dump_json([envelope._wire_doc() for envelope in envelopes])
    return OutgoingMessage(body=body, message_id=str(uuid.uuid4()), correlation_id=correlation_id)
