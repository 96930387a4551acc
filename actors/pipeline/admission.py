"""Admitting broker messages: decode, validate against the contracts, or dead-letter.

Consumers validate what they receive, per envelope: one message may carry one envelope
(a JSON object) or several (a JSON array). Each envelope is checked against
``event-envelope.json``, its event type against what the queue accepts, and its payload
against ``job.json``; anything else becomes a :class:`~actors.domain.dead_letters.DeadLetter`
carrying every error with its JSON path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_DEAD_LETTER
from actors.domain.clock import utc_now
from actors.domain.dead_letters import DeadLetter, dead_letter_id
from actors.domain.events import Envelope, EventType
from actors.errors import InvalidMessage, ValidationIssue
from actors.pipeline.publisher import PublishRequest
from actors.pipeline.settlement import Settlement
from contracts import MAX_JSON_DEPTH, SchemaName, dump_json, get_contracts, parse_json

if TYPE_CHECKING:
    from prometheus_client import Counter

    from actors.broker import Delivery
    from actors.pipeline.ingress import IngressBatch
    from actors.pipeline.publisher import Publisher

__all__ = [
    "Admitted",
    "AdmittedDelivery",
    "Rejected",
    "admit",
    "admit_batch",
    "dead_letter_request",
]

MAX_ENVELOPES_PER_MESSAGE = 10_000
"""A message with more envelopes than this is dead-lettered whole."""
MAX_MESSAGE_DEPTH = MAX_JSON_DEPTH + 10
"""Deepest nesting a message may have: a job the gateway took (``MAX_JSON_DEPTH``) sits
in an envelope, and envelopes in an array."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Admitted:
    """An envelope that passed every check."""

    envelope: Envelope
    index: int
    """Position in its message."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message, or one envelope of it, that broke a contract."""

    reason: str
    issues: list[ValidationIssue]
    body: bytes
    """The offending bytes: the whole message, or the one envelope re-encoded."""
    index: int


def admit(delivery: Delivery, accepted_types: frozenset[EventType]) -> list[Admitted | Rejected]:
    """Decode and validate every envelope of ``delivery``.

    Returns:
        One entry per envelope, in message order; a message that is not JSON, or not an
        object or array, yields a single :class:`Rejected`.
    """
    try:
        document = parse_json(delivery.body, max_depth=MAX_MESSAGE_DEPTH)
    except InvalidMessage as exc:
        return [Rejected(str(exc), exc.issues, delivery.body, 0)]
    if isinstance(document, list):
        if not document:
            issue = ValidationIssue("", "The message is an empty array; expected envelopes.")
            return [Rejected("The message carries no envelope.", [issue], delivery.body, 0)]
        if len(document) > MAX_ENVELOPES_PER_MESSAGE:
            issue = ValidationIssue(
                "",
                f"The message carries {len(document)} envelopes; at most "
                f"{MAX_ENVELOPES_PER_MESSAGE} are accepted.",
            )
            return [Rejected("The message carries too many envelopes.", [issue], delivery.body, 0)]
        return [
            _admit_one(item, index, accepted_types, _encode(item))
            for index, item in enumerate(document)
        ]
    return [_admit_one(document, 0, accepted_types, delivery.body)]


def _encode(document: object) -> bytes:
    return dump_json(document)


def _admit_one(
    document: object, index: int, accepted_types: frozenset[EventType], body: bytes
) -> Admitted | Rejected:
    contracts = get_contracts()
    issues = contracts.issues(SchemaName.EVENT_ENVELOPE, document)
    if issues:
        return Rejected(
            f"The envelope does not match the event-envelope contract: {len(issues)} problem(s).",
            issues,
            body,
            index,
        )
    assert isinstance(document, dict)
    event_type = EventType(document["eventType"])
    if event_type not in accepted_types:
        expected = ", ".join(sorted(t.value for t in accepted_types))
        issue = ValidationIssue(
            "/eventType",
            f"Event type {event_type.value!r} is not accepted here; expected {expected}.",
        )
        return Rejected(f"Unexpected event type {event_type.value!r}.", [issue], body, index)
    payload_schema = (
        SchemaName.BULK_ACTION if event_type is EventType.BULK_ACTION else SchemaName.JOB
    )
    payload_issues = [
        ValidationIssue("/payload" + issue.path, issue.message)
        for issue in contracts.issues(payload_schema, document["payload"])
    ]
    if payload_issues:
        return Rejected(
            f"The envelope's payload does not match the {payload_schema.value} contract: "
            f"{len(payload_issues)} problem(s).",
            payload_issues,
            body,
            index,
        )
    return Admitted(Envelope.from_json(document), index)


def dead_letter_request(
    delivery: Delivery,
    rejected: Rejected,
    *,
    service: str,
    version: str,
    settlement: Settlement | None,
) -> PublishRequest:
    """A request publishing ``rejected`` as a dead-letter record, settling its piece after."""
    record = DeadLetter(
        dead_letter_id=dead_letter_id(
            delivery.queue, delivery.message_id, delivery.body, rejected.index
        ),
        queue=delivery.queue,
        reason=rejected.reason,
        errors=rejected.issues,
        body=rejected.body,
        occurred_at=utc_now(),
        service=service,
        version=version,
        message_id=delivery.message_id,
        correlation_id=delivery.correlation_id,
    )
    message = OutgoingMessage(
        body=dump_json(record.to_json()),
        message_id=record.dead_letter_id,
        correlation_id=delivery.correlation_id,
    )
    settlements = [] if settlement is None else [settlement]
    return PublishRequest(JOBS_DEAD_LETTER, [message], settlements)


@dataclass(frozen=True, slots=True)
class AdmittedDelivery:
    """A valid envelope of a batch, with the piece of its delivery it settles."""

    envelope: Envelope
    settlement: Settlement
    delivery: Delivery


async def admit_batch(
    batch: IngressBatch,
    accepted: frozenset[EventType],
    *,
    publisher: Publisher,
    service: str,
    version: str,
    rejected: Counter,
) -> list[AdmittedDelivery]:
    """Admit every envelope of ``batch``; dead-letter (and count in ``rejected``) the rest.

    Each delivery is settled in as many pieces as it carries envelopes: a dead letter's
    piece once its record is published, a valid envelope's by whoever handles it.
    """
    admitted: list[AdmittedDelivery] = []
    for delivery in batch.deliveries:
        results = admit(delivery, accepted)
        settlement = Settlement(batch.consumer, delivery, parts=len(results))
        for result in results:
            if isinstance(result, Admitted):
                admitted.append(AdmittedDelivery(result.envelope, settlement, delivery))
                continue
            rejected.inc()
            log.warning(
                "message.dead_lettered queue=%s message_id=%s reason=%s",
                delivery.queue,
                delivery.message_id,
                result.reason,
            )
            await publisher.send(
                dead_letter_request(
                    delivery, result, service=service, version=version, settlement=settlement
                )
            )
    return admitted
