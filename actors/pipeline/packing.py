"""Packing several envelopes into one broker message, as a JSON array.

Every consumer admits one envelope or an array of them per message
(:mod:`~actors.pipeline.admission`), and settles the message once every envelope of it is
done (:mod:`~actors.pipeline.settlement`). A producer with many envelopes at once (the
gateway's ``POST /jobs/batch``) publishes them packed: the broker and the consumer pay
their per-message costs (frames, delivery, settlement) once per message, not per job.

Why these limits:

* :data:`MAX_ENVELOPES_PER_MESSAGE` (50): the per-message cost of a consumer is then a
  small share of its per-job cost (the relay ceiling, about two thousand messages a second
  on a small machine, becomes some 100,000 jobs a second), while what one message holds
  stays small: a processor holds at most ``prefetch`` (256) messages, so at most 12,800
  jobs, and a redelivery after a crash re-examines at most 50 jobs per message.
* :data:`MAX_MESSAGE_BYTES` (120 KiB): a message fits in one AMQP body frame (RabbitMQ's
  default ``frame_max`` is 131,072 bytes), far below any broker's message size limit. A
  single envelope larger than that (a job may be up to ``max_body_bytes``) travels alone.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from actors.broker import OutgoingMessage

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MAX_ENVELOPES_PER_MESSAGE", "MAX_MESSAGE_BYTES", "pack_envelopes"]

MAX_ENVELOPES_PER_MESSAGE = 50
"""Most envelopes packed into one message."""
MAX_MESSAGE_BYTES = 120 * 1024
"""Most bytes of a packed message (one envelope alone may exceed it)."""


def pack_envelopes(
    messages: Sequence[OutgoingMessage],
    *,
    max_envelopes: int = MAX_ENVELOPES_PER_MESSAGE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> list[OutgoingMessage]:
    """Pack single-envelope ``messages`` (each body one JSON envelope) into JSON arrays.

    Order is kept, within and across the packed messages, except that messages of several
    ``priority`` values are grouped, highest first (stable: arrival order within each), as
    a pack has one priority, that of all its envelopes. A pack of one is the message
    unchanged (its id is its event id, as for ``POST /jobs``); a pack of several gets a
    fresh message id and the correlation id of its first message. The bodies are joined
    as they are: no envelope is decoded or encoded again.

    Returns:
        As few messages as the limits allow (none for no messages).
    """
    if len({message.priority for message in messages}) > 1:
        messages = sorted(messages, key=lambda message: -(message.priority or 0))
    packed: list[OutgoingMessage] = []
    chunk: list[OutgoingMessage] = []
    size = 0
    for message in messages:
        extra = len(message.body) + 1  # its bytes and a comma (or a bracket)
        if chunk and (
            len(chunk) >= max_envelopes
            or size + extra + 1 > max_bytes
            # A pack is queued by one priority: jobs of another start a new pack.
            or message.priority != chunk[0].priority
        ):
            packed.append(_pack(chunk))
            chunk, size = [], 0
        chunk.append(message)
        size += extra
    if chunk:
        packed.append(_pack(chunk))
    return packed


def _pack(chunk: list[OutgoingMessage]) -> OutgoingMessage:
    if len(chunk) == 1:
        return chunk[0]
    return OutgoingMessage(
        body=b"[" + b",".join(message.body for message in chunk) + b"]",
        message_id=str(uuid.uuid4()),
        correlation_id=chunk[0].correlation_id,
        priority=chunk[0].priority,
    )
