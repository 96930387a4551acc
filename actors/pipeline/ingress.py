"""The ingress actor: takes batches of deliveries off one queue and hands them on.

It owns the broker consumer. On a graceful stop it stops taking new deliveries but keeps
the consumer open until every delivery it handed on has been settled downstream (its
siblings are stopped after it), so nothing is redelivered needlessly; the supervisor
cancels it after its ``shutdown_s`` if that never happens, and the broker then
redelivers whatever was not acknowledged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from actors.errors import BrokerUnavailable
from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskStatus

    from actors.broker import Broker, Consumer, Delivery

__all__ = ["BrokerIngress", "Downstream", "IngressBatch", "TrackedConsumer"]

log = logging.getLogger(__name__)


class TrackedConsumer:
    """A consumer that counts the deliveries not yet settled, so its owner can wait for them."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self.outstanding = 0
        self._settled = anyio.Event()
        self._settled.set()

    async def receive_batch(self, max_messages: int) -> list[Delivery]:
        batch = await self._consumer.receive_batch(max_messages)
        if batch:
            self.outstanding += len(batch)
            self._settled = anyio.Event()
        return batch

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge; deliveries of a channel lost meanwhile count as settled.

        The broker redelivers those by itself, and every consumer is idempotent, so the
        work done for them is repeated, never lost.
        """
        try:
            await self._consumer.ack(deliveries)
        except BrokerUnavailable as exc:
            log.warning("delivery.ack_failed count=%d error=%s", len(deliveries), exc)
        finally:
            self._account(len(deliveries))

    async def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        """Reject; a lost channel returns the deliveries to the queue by itself."""
        try:
            await self._consumer.reject(deliveries, requeue=requeue)
        except BrokerUnavailable as exc:
            log.warning("delivery.reject_failed count=%d error=%s", len(deliveries), exc)
        finally:
            self._account(len(deliveries))

    def _account(self, count: int) -> None:
        self.outstanding -= count
        if self.outstanding <= 0:
            self.outstanding = 0
            self._settled.set()

    async def wait_settled(self) -> None:
        """Wait until every delivery received so far is acked or rejected."""
        await self._settled.wait()


@dataclass(frozen=True, slots=True)
class IngressBatch:
    """Deliveries taken off a queue together, and the consumer that settles them."""

    consumer: Consumer
    deliveries: list[Delivery]


class Downstream(Protocol):
    """What ingress feeds: an actor that takes :class:`IngressBatch` messages (among others)."""

    async def send(self, message: IngressBatch, /) -> None:
        """Put ``message`` in the mailbox, waiting while it is full."""
        ...


class BrokerIngress:
    """Source actor: consumes ``queue`` with a prefetch window and feeds ``downstream``."""

    def __init__(
        self,
        broker: Broker,
        queue: str,
        downstream: Downstream,
        *,
        prefetch: int,
        name: str = "ingress",
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._broker = broker
        self._queue = queue
        self._downstream = downstream
        self._prefetch = prefetch
        self._wait_ready = wait_ready
        self._state = ActorState.STOPPED
        self._stop = anyio.Event()
        self._receive_scope: anyio.CancelScope | None = None
        self._consumer: TrackedConsumer | None = None
        self.received = 0
        """Deliveries taken so far."""

    def __repr__(self) -> str:
        return f"<BrokerIngress {self.name} queue={self._queue} received={self.received}>"

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Consume until asked to stop, then wait for what is in flight to settle."""
        self._state = ActorState.STARTING
        self._stop = anyio.Event()
        if self._wait_ready is not None:
            # A restart during an outage waits here instead of crashing again.
            await self._wait_ready()
        try:
            async with self._broker.open_consumer(self._queue, prefetch=self._prefetch) as raw:
                consumer = self._consumer = TrackedConsumer(raw)
                self._state = ActorState.RUNNING
                task_status.started()
                while not self._stop.is_set():
                    with anyio.CancelScope() as scope:
                        self._receive_scope = scope
                        if self._stop.is_set():
                            break
                        batch = await consumer.receive_batch(self._prefetch)
                        self.received += len(batch)
                    self._receive_scope = None
                    if scope.cancelled_caught:
                        break
                    if batch:
                        await self._downstream.send(IngressBatch(consumer, batch))
                self._state = ActorState.STOPPING
                await consumer.wait_settled()
        finally:
            self._consumer = None
            self._state = ActorState.STOPPED

    def request_stop(self) -> None:
        """Stop taking deliveries; ``run`` returns once those in flight are settled."""
        self._stop.set()
        if self._receive_scope is not None:
            self._receive_scope.cancel()

    def in_flight(self) -> int:
        """Deliveries handed on and not yet settled."""
        return 0 if self._consumer is None else self._consumer.outstanding

    def health(self) -> list[ActorHealth]:
        """One entry: this ingress, with its in-flight deliveries as its depth."""
        return [
            ActorHealth(
                path=self.name,
                state=self._state,
                restarts=0,
                mailbox_depth=self.in_flight(),
                mailbox_size=self._prefetch,
            )
        ]
