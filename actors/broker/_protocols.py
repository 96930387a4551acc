"""The broker interface every adapter (in-process, RabbitMQ) satisfies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

__all__ = ["Broker", "Consumer", "Delivery", "OutgoingMessage"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to publish; always persistent."""

    body: bytes
    message_id: str
    """Unique per message (the broker and consumers key on it)."""
    correlation_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    priority: int | None = None
    """0 to 9 on a queue declared with ``max_priority`` (higher is delivered first; the
    broker caps it at the queue's maximum); ``None`` counts as 0 there. Other queues keep
    arrival order whatever it says."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message handed to a consumer; settle it with ``ack`` or ``reject``."""

    body: bytes
    delivery_tag: int
    """Consumer-local tag that identifies this delivery to ``ack``/``reject``."""
    message_id: str | None = None
    correlation_id: str | None = None
    redelivered: bool = False
    """True when an earlier delivery of it was never acknowledged."""
    headers: Mapping[str, object] = field(default_factory=dict)
    """Includes ``x-death`` after dead-lettering, as RabbitMQ sets it."""
    queue: str = ""


class Consumer(Protocol):
    """A subscription to one queue with a prefetch window.

    Unsettled deliveries are redelivered to some consumer once this one is closed.
    """

    async def receive_batch(self, max_messages: int) -> list[Delivery]:
        """Wait for at least one delivery, then return up to ``max_messages`` at once.

        Never returns more than the prefetch window leaves room for.
        """
        ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge ``deliveries``: they are done and leave the queue for good."""
        ...

    async def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        """Give ``deliveries`` back: to the queue again, or (``requeue=False``) to its DLX."""
        ...


class Broker(Protocol):
    """Durable queues carrying persistent messages, with publisher confirms."""

    async def declare_topology(self) -> None:
        """Create the queues (idempotent); safe to call at every start."""
        ...

    async def publish_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Publish ``messages`` to ``queue`` and return once the broker confirmed all of them.

        Raises:
            BrokerUnavailable: the broker did not confirm every message; some may have
                been stored, so publishers rely on consumers being idempotent.
        """
        ...

    async def publish_delayed(
        self, queue: str, messages: Sequence[OutgoingMessage], *, delay_s: float
    ) -> None:
        """Publish ``messages`` so that they reach ``queue`` after about ``delay_s`` seconds.

        Returns once the broker confirmed it holds them. Until they are due they are not
        ready in ``queue`` (nor counted by :meth:`queue_depth`); they then arrive at its
        end in the order they were published. Delays are capped at the longest retry
        delay (:data:`~actors.broker.names.RETRY_DELAYS_S`).

        Raises:
            ValueError: ``delay_s`` is negative.
            BrokerUnavailable: as :meth:`publish_batch`; also when ``queue`` has no
                delayed route (on RabbitMQ only ``jobs.created`` has one).
        """
        ...

    def open_consumer(self, queue: str, *, prefetch: int) -> AbstractAsyncContextManager[Consumer]:
        """Subscribe to ``queue``; closing the context returns unsettled deliveries."""
        ...

    async def queue_depth(self, queue: str) -> int:
        """How many messages wait in ``queue`` (ready, not yet delivered)."""
        ...

    def is_available(self) -> bool:
        """Whether the broker can be used right now; services report not-ready while it is false."""
        ...
