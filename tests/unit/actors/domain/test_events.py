"""Envelopes become broker messages one way: ``Envelope.to_message`` and
``envelopes_to_message`` (one envelope, or several in one message)."""

from __future__ import annotations

import dataclasses
import json
import types
import uuid

from hypothesis import given, strategies as st

from actors.domain import events
from actors.domain.events import Envelope, EventType, Producer, envelopes_to_message
from contracts import SchemaName, dump_json, get_contracts

_PRODUCER = Producer(service="gateway", instance_id="gateway-1", version="0.1.0")


def _envelope(job_id: str, event_id: str) -> Envelope:
    return Envelope(
        event_type=EventType.CREATED,
        event_id=event_id,
        occurred_at="2026-12-03T08:00:00.000Z",
        producer=_PRODUCER,
        correlation_id="5b0f1c52-7f0e-4d1e-9a57-0b3e7c4a9d10",
        idempotency_key=job_id,
        payload={
            "id": job_id,
            "type": "echo",
            "status": "PENDING",
            "payload": {"x": 1},
            "createdAt": "2026-12-03T08:00:00.000Z",
        },
    )


def test_to_message_carries_the_envelope_keyed_by_its_event_id() -> None:
    envelope = _envelope(
        "0f6b6c1a-1111-4d1e-9a57-0b3e7c4a9d10", "1e2d3c4b-2222-4d1e-9a57-0b3e7c4a9d10"
    )

    message = envelope.to_message()

    assert message.message_id == envelope.event_id
    assert message.correlation_id == envelope.correlation_id
    document = json.loads(message.body)
    assert document == envelope.to_json()
    get_contracts().validate(SchemaName.EVENT_ENVELOPE, document)
    assert b" " not in message.body  # compact: no separators' spaces


def test_to_message_takes_another_message_id_for_a_republished_event() -> None:
    envelope = _envelope(
        "0f6b6c1a-1111-4d1e-9a57-0b3e7c4a9d10", "1e2d3c4b-2222-4d1e-9a57-0b3e7c4a9d10"
    )

    message = envelope.to_message(message_id="another")

    assert message.message_id == "another"
    assert json.loads(message.body)["eventId"] == envelope.event_id


def test_envelopes_to_message_carries_them_as_one_array() -> None:
    first = _envelope(
        "0f6b6c1a-1111-4d1e-9a57-0b3e7c4a9d10", "1e2d3c4b-2222-4d1e-9a57-0b3e7c4a9d10"
    )
    second = _envelope(
        "0f6b6c1a-3333-4d1e-9a57-0b3e7c4a9d10", "1e2d3c4b-4444-4d1e-9a57-0b3e7c4a9d10"
    )

    message = envelopes_to_message([first, second], correlation_id="c")
    other = envelopes_to_message([first, second], correlation_id="c")

    assert json.loads(message.body) == [first.to_json(), second.to_json()]
    assert message.correlation_id == "c"
    assert message.message_id != other.message_id  # a fresh id per message


def test_issue_15_the_wire_bytes_are_those_of_to_json_whatever_the_payload_mapping() -> None:
    dict_payload = _envelope(
        "0f6b6c1a-1111-4d1e-9a57-0b3e7c4a9d10", "1e2d3c4b-2222-4d1e-9a57-0b3e7c4a9d10"
    )
    proxy_payload = dataclasses.replace(
        dict_payload, payload=types.MappingProxyType(dict(dict_payload.payload))
    )

    for envelope in (dict_payload, proxy_payload):
        assert envelope.to_message().body == dump_json(envelope.to_json())
        assert envelopes_to_message([envelope, envelope]).body == dump_json(
            [envelope.to_json(), envelope.to_json()]
        )


@given(job_id=st.text(max_size=60), attempt=st.integers(1, 1000), round_=st.integers(1, 10))
def test_event_ids_are_the_uuid5_of_their_names_as_ever(
    job_id: str, attempt: int, round_: int
) -> None:
    # The fast path must give exactly uuid5's ids: a changed id re-counts redelivered jobs.
    key = job_id if round_ == 1 else f"{job_id}:round:{round_}"

    def uuid5(name: str) -> str:
        return str(uuid.uuid5(events._EVENT_NAMESPACE, name))

    assert events.lifecycle_event_id(job_id, EventType.VALIDATED, round_=round_) == uuid5(
        f"{key}:job.validated"
    )
    assert events.lifecycle_event_id(job_id, EventType.EXECUTED, attempt, round_=round_) == uuid5(
        f"{key}:job.executed:{attempt}"
    )
    assert events.lifecycle_event_id(job_id, EventType.FAILED, round_=round_) == uuid5(
        f"{key}:terminal"
    )
    assert events.attempt_failed_event_id(job_id, attempt, round_=round_) == uuid5(
        f"{key}:job.executed:{attempt}:retry"
    )
    assert events.retry_requested_event_id(job_id, round_) == uuid5(f"{job_id}:retry:{round_}")


def test_a_known_event_id_is_unchanged() -> None:
    assert events.lifecycle_event_id("job-1", EventType.COMPLETED) == str(
        uuid.uuid5(uuid.UUID("6f1c2a52-7f0e-4d1e-9a57-0b3e7c4a9d10"), "job-1:terminal")
    )
