"""Acknowledging a broker delivery once all the work carved out of it is done.

One delivery may carry several envelopes; each becomes its own piece of work (a job to
run, a dead letter to publish, events to store). A :class:`Settlement` counts those
pieces down and the delivery is acknowledged when the last one is done, never before:
that is what makes a crash anywhere in between redeliver the message instead of losing it.
A piece that could not be done here (a job a graceful stop interrupted) marks its
settlement ``requeue``: the delivery is then rejected back to the queue instead, once its
other pieces are done, so it is delivered again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from actors.broker import Consumer, Delivery

__all__ = ["Settlement", "settle"]


class Settlement:
    """One delivery and the count of unfinished pieces of work carved out of it."""

    __slots__ = ("consumer", "delivery", "remaining", "requeue")

    def __init__(self, consumer: Consumer, delivery: Delivery, parts: int = 1) -> None:
        self.consumer = consumer
        self.delivery = delivery
        self.remaining = parts
        self.requeue = False
        """Return the delivery to the queue instead of acknowledging it (a piece of it
        was interrupted by a graceful stop and must run again)."""

    def __repr__(self) -> str:
        return f"<Settlement tag={self.delivery.delivery_tag} remaining={self.remaining}>"


async def settle(done: Iterable[Settlement]) -> int:
    """Mark one piece of each settlement in ``done`` finished; ack the deliveries now complete
    (those marked ``requeue`` are rejected back to the queue instead).

    Deliveries are acknowledged with one call per consumer.

    Returns:
        How many deliveries were acknowledged (or requeued).
    """
    ready: dict[int, tuple[Consumer, list[Delivery]]] = {}
    requeue: dict[int, tuple[Consumer, list[Delivery]]] = {}
    for settlement in done:
        settlement.remaining -= 1
        if settlement.remaining == 0:
            target = requeue if settlement.requeue else ready
            key = id(settlement.consumer)
            if key not in target:
                target[key] = (settlement.consumer, [])
            target[key][1].append(settlement.delivery)
    acked = 0
    for consumer, deliveries in ready.values():
        await consumer.ack(deliveries)
        acked += len(deliveries)
    for consumer, deliveries in requeue.values():
        await consumer.reject(deliveries, requeue=True)
        acked += len(deliveries)
    return acked
