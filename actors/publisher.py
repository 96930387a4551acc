"""The publisher actor: publishes with pipelined confirms, then settles and answers.

Every service that emits messages sends :class:`PublishRequest`s to its publisher. The
publisher takes whatever its mailbox holds (up to ``max_batch`` requests), publishes them
per queue with one confirm window, and only after the broker confirmed them all:
acknowledges the deliveries the requests settle, and wakes the requesters waiting on
``done``.

Error handling: when the broker does not confirm, every waiting requester is woken with
``error`` set and the actor crashes, so its supervisor restarts the pipeline and the
unacknowledged deliveries are redelivered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.errors import BrokerUnavailable
from actors.kernel import Actor
from actors.settlement import Settlement, settle

if TYPE_CHECKING:
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


class Publisher(Actor[PublishRequest]):
    """Publishes requests in batches with confirms; settles and answers after the confirm."""

    def __init__(
        self,
        broker: Broker,
        *,
        name: str = "publisher",
        mailbox_size: int = 256,
        max_batch: int = 256,
    ) -> None:
        super().__init__(name, mailbox_size=mailbox_size, max_batch=max_batch)
        self._broker = broker
        self.published = 0
        """Messages confirmed so far."""

    async def handle_batch(self, messages: list[PublishRequest]) -> None:
        by_queue: dict[str, list[OutgoingMessage]] = {}
        for request in messages:
            by_queue.setdefault(request.queue, []).extend(request.messages)
        try:
            for queue, outgoing in by_queue.items():
                await self._broker.publish_batch(queue, outgoing)
        except BrokerUnavailable as exc:
            for request in messages:
                request.error = exc
                if request.done is not None:
                    request.done.set()
            raise
        self.published += sum(len(outgoing) for outgoing in by_queue.values())
        await settle(s for request in messages for s in request.settlements)
        for request in messages:
            if request.done is not None:
                request.done.set()
