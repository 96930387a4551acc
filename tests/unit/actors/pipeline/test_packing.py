"""Packing envelopes into JSON-array messages (``POST /jobs/batch``'s publish)."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, strategies as st

from actors.broker import Delivery, OutgoingMessage
from actors.domain.events import EventType
from actors.pipeline.admission import Admitted, admit
from actors.pipeline.packing import MAX_ENVELOPES_PER_MESSAGE, MAX_MESSAGE_BYTES, pack_envelopes


def _message(index: int, padding: int = 0) -> OutgoingMessage:
    body = json.dumps({"n": index, "pad": "x" * padding}, separators=(",", ":")).encode()
    return OutgoingMessage(body=body, message_id=str(uuid.uuid4()), correlation_id=f"c{index}")


@given(
    sizes=st.lists(st.integers(0, 300), max_size=120),
    max_envelopes=st.integers(1, 60),
    max_bytes=st.integers(50, 2000),
)
def test_packs_keep_every_envelope_in_order_within_the_limits(
    sizes: list[int], max_envelopes: int, max_bytes: int
) -> None:
    messages = [_message(i, size) for i, size in enumerate(sizes)]
    packed = pack_envelopes(messages, max_envelopes=max_envelopes, max_bytes=max_bytes)
    unpacked: list[object] = []
    for message in packed:
        document = json.loads(message.body)
        items = document if isinstance(document, list) else [document]
        unpacked.extend(items)
        assert len(items) <= max_envelopes
        # Only an envelope alone may exceed the byte limit.
        assert len(message.body) <= max_bytes or not isinstance(document, list)
    assert unpacked == [json.loads(m.body) for m in messages]
    if not messages:
        assert packed == []


def test_a_pack_of_one_is_the_message_itself_and_a_pack_of_several_a_new_array() -> None:
    one = _message(0)
    assert pack_envelopes([one]) == [one]
    several = [_message(i) for i in range(3)]
    [packed] = pack_envelopes(several)
    assert packed.body == b"[" + b",".join(m.body for m in several) + b"]"
    assert packed.message_id not in {m.message_id for m in several}
    assert packed.correlation_id == "c0"


def test_the_default_limits_split_a_thousand_jobs_into_packs_of_fifty() -> None:
    packed = pack_envelopes([_message(i) for i in range(1000)])
    assert [len(json.loads(m.body)) for m in packed] == [MAX_ENVELOPES_PER_MESSAGE] * 20
    big = [_message(i, 50_000) for i in range(5)]
    sizes = [len(m.body) for m in pack_envelopes(big)]
    assert all(size <= MAX_MESSAGE_BYTES for size in sizes)
    assert len(sizes) == 3  # two 50 kB envelopes fit in 120 KiB, three do not


def test_admission_reads_a_packed_message_envelope_by_envelope() -> None:
    from tests.unit.actors.processor.test_processor_packed import _created

    created = [_created(str(uuid.uuid4()), "echo") for _ in range(3)]
    [packed] = pack_envelopes(created)
    delivery = Delivery(body=packed.body, delivery_tag=1, message_id=packed.message_id)
    results = admit(delivery, frozenset({EventType.CREATED}))
    assert [type(r) for r in results] == [Admitted] * 3
    assert [r.envelope.event_id for r in results if isinstance(r, Admitted)] == [
        m.message_id for m in created
    ]
