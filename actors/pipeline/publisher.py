"""The publisher actor: publishes with pipelined confirms, then settles and answers.

Every service that emits messages sends :class:`PublishRequest`s to its publisher. The
publisher takes whatever its mailbox holds (up to ``max_batch`` requests), publishes them
per queue with one confirm window (the messages of *packable* requests packed together,
several envelopes per broker message), and only after the broker confirmed them all:
acknowledges the deliveries the requests settle, and wakes the requesters waiting on
``done``.

Error handling: with ``retry=True`` (pipelines) a publish the broker did not confirm is
published again, with backoff, until it is — consumers are idempotent, so a duplicate is
harmless and nothing is lost. With ``retry=False`` (the gateway, whose clients wait) every
requester is woken at once with ``error`` set and answers 503.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.errors import BrokerUnavailable
from actors.kernel import Actor
from actors.pipeline.outage import retry_while_unavailable
from actors.pipeline.packing import pack_envelopes
from actors.pipeline.settlement import Settlement, settle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import anyio

    from actors.broker import Broker, OutgoingMessage

__all__ = ["PublishRequest", "Publisher"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class PublishRequest:
    """Messages to publish to one queue, and what to do once they are confirmed."""

    queue: str
    messages: list[OutgoingMessage]
    settlements: list[Settlement] = field(default_factory=list)
    """Pieces of deliveries finished by this publish (acked when complete)."""
    done: anyio.Event | None = None
    """Set once confirmed (or failed); for requesters that wait."""
    error: BrokerUnavailable | None = None
    """Why the publish failed, when ``done`` is set and it did."""
    delay_s: float = 0.0
    """Above 0: the messages reach ``queue`` only after this long (a retry's backoff)."""
    packable: bool = False
    """Each message is one JSON envelope its consumer admits: the publisher may pack it
    with the packable messages of other requests to the same queue into one broker message
    (:func:`~actors.pipeline.packing.pack_envelopes`). Never set for anything else (an
    array already, a probe's malformed body)."""


class Publisher(Actor[PublishRequest]):
    """Publishes requests in batches with confirms; settles and answers after the confirm."""

    def __init__(
        self,
        broker: Broker,
        *,
        name: str = "publisher",
        mailbox_size: int = 256,
        max_batch: int = 256,
        retry: bool = True,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(name, mailbox_size=mailbox_size, max_batch=max_batch)
        self._broker = broker
        self._retry = retry
        self._wait_ready = wait_ready
        self.published = 0
        """Messages confirmed so far."""

    async def on_start(self) -> None:
        """Wait for the broker before taking requests (a service starting during an outage)."""
        if self._wait_ready is not None:
            await self._wait_ready()

    async def _publish(self, queue: str, delay_s: float, outgoing: list[OutgoingMessage]) -> None:
        async def publish() -> None:
            if delay_s > 0:
                await self._broker.publish_delayed(queue, outgoing, delay_s=delay_s)
            else:
                await self._broker.publish_batch(queue, outgoing)

        if not self._retry:
            await publish()
            return
        await retry_while_unavailable(publish, what=f"broker (publish to {queue})")

    async def handle_batch(self, messages: list[PublishRequest]) -> None:
        # In request order: a request's settlements are acked only after every request
        # before it in the batch was confirmed too (a retry before the events that settle).
        by_queue: dict[tuple[str, float], list[OutgoingMessage]] = {}
        packable: dict[tuple[str, float], list[OutgoingMessage]] = {}
        for request in messages:
            key = (request.queue, request.delay_s)
            if request.packable:
                packable.setdefault(key, []).extend(request.messages)
            else:
                by_queue.setdefault(key, []).extend(request.messages)
        # Requests arriving together (the gateway's single submissions) share messages:
        # the broker's and the consumer's per-message costs are paid once per pack.
        for key, single in packable.items():
            by_queue.setdefault(key, []).extend(pack_envelopes(single))
        try:
            for (queue, delay_s), outgoing in by_queue.items():
                await self._publish(queue, delay_s, outgoing)
        except BrokerUnavailable as exc:
            for request in messages:
                request.error = exc
                if request.done is not None:
                    request.done.set()
            return
        self.published += sum(len(outgoing) for outgoing in by_queue.values())
        await settle(s for request in messages for s in request.settlements)
        for request in messages:
            if request.done is not None:
                request.done.set()
