"""The RabbitMQ consumer: one queue, one channel, a prefetch window (aio-pika).

RabbitMQ pushes up to ``prefetch`` deliveries into the consumer's buffer;
:meth:`AmqpConsumer.receive_batch` hands them out under delivery tags of the broker's
own (RabbitMQ's restart on every reconnect), and :meth:`~AmqpConsumer.ack` /
:meth:`~AmqpConsumer.reject` settle them. The consumer sees its broker only through
:class:`ConsumerHost`, the narrow interface :class:`~actors.broker.amqp.AmqpBroker`
offers its consumers.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.lowlevel
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelInvalidStateError

from actors.broker._protocols import Delivery
from actors.broker._unsettled import take_unsettled
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import aiormq.abc
    from aio_pika.abc import (
        AbstractChannel,
        AbstractRobustChannel,
        AbstractRobustConnection,
        AbstractRobustQueue,
    )
    from pamqp.common import FieldValue

__all__ = ["CLOSE_TIMEOUT_S", "FAILURES", "AmqpConsumer", "ConsumerHost"]

# The adapter's log lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("actors.broker.amqp")

CLOSE_TIMEOUT_S = 5.0
"""Bound of each shielded closing await (channel, connection)."""

FAILURES: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)
"""What aio-pika and aiormq raise when the broker or the network fails an operation
(AMQP errors, socket errors, closed channels, timeouts); translated to BrokerUnavailable."""


class ConsumerHost(Protocol):
    """What a consumer needs from its broker, and nothing more."""

    @property
    def url(self) -> str:
        """The broker's URL with its password redacted (for errors and logs)."""
        ...

    def require_connection(self, action: str) -> AbstractRobustConnection:
        """The open connection.

        Raises:
            BrokerUnavailable: the broker is not open; ``action`` names what failed.
        """
        ...

    def next_delivery_tag(self) -> int:
        """A delivery tag unique across the broker (never one of another consumer)."""
        ...

    def delivery_headers(self, headers: Mapping[str, FieldValue]) -> dict[str, object]:
        """A delivery's AMQP headers as plain Python, queue names without the namespace."""
        ...

    def record_settled(self, *, acked: int = 0, rejected: int = 0) -> None:
        """Count deliveries the consumer settled, for the broker's statistics."""
        ...


class AmqpConsumer:
    """A subscription to one RabbitMQ queue; see :class:`~actors.broker.Consumer`.

    Created by :meth:`~actors.broker.amqp.AmqpBroker.open_consumer`, which starts and closes it. It owns a channel whose
    prefetch is the window; RabbitMQ pushes deliveries into a buffer of that size (the
    prefetch guarantees it never overflows) and :meth:`receive_batch` takes from it.

    After a reconnect the channel is re-opened and the subscription restored by aio-pika;
    deliveries received before the loss can then no longer be settled (RabbitMQ has
    requeued them), so :meth:`ack` and :meth:`reject` raise for them.
    """

    def __init__(self, broker: ConsumerHost, queue: str, prefetch: int) -> None:
        self._broker = broker
        self._queue = queue
        self._prefetch = prefetch
        # Sized by the prefetch: RabbitMQ never has more than that many unsettled
        # deliveries on the channel, so the callback's send_nowait cannot block.
        self._send, self._receive = anyio.create_memory_object_stream[AbstractIncomingMessage](
            prefetch
        )
        self._arrived = anyio.Event()
        # Our delivery tag -> the message; insertion order is hand-out order.
        self._unsettled: dict[int, AbstractIncomingMessage] = {}
        self._channel: AbstractRobustChannel | None = None
        self._amqp_queue: AbstractRobustQueue | None = None
        self._consumer_tag: str | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<AmqpConsumer queue={self._queue!r} {state} prefetch={self._prefetch} "
            f"buffered={self.buffered} unsettled={len(self._unsettled)}>"
        )

    @property
    def queue(self) -> str:
        """Name of the queue it consumes (without the broker's namespace)."""
        return self._queue

    @property
    def prefetch(self) -> int:
        """Most unsettled deliveries RabbitMQ sends it at once (``basic.qos``)."""
        return self._prefetch

    @property
    def unsettled(self) -> int:
        """Deliveries handed out by :meth:`receive_batch`, neither acked nor rejected."""
        return len(self._unsettled)

    @property
    def buffered(self) -> int:
        """Deliveries RabbitMQ pushed that :meth:`receive_batch` has not handed out yet."""
        return self._receive.statistics().current_buffer_used

    async def receive_batch(self, max_messages: int) -> list[Delivery]:
        """Wait for a delivery, then take up to ``max_messages`` of those already here.

        Args:
            max_messages: the most deliveries to return; at least 1.

        Returns:
            Between 1 and ``max_messages`` deliveries, in the order RabbitMQ sent them;
            never more than the prefetch window leaves room for.

        Raises:
            ValueError: ``max_messages`` is below 1.
            BrokerUnavailable: the consumer or the broker is closed.

        Cancellation:
            Safe: a cancelled call takes nothing; the deliveries stay buffered.
        """
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, not {max_messages}.")
        await anyio.lowlevel.checkpoint_if_cancelled()
        while True:
            self._check_open("receive from")
            messages = self._take(max_messages)
            if messages:
                deliveries = [self._hand_out(message) for message in messages]
                # Not cancellable, so the deliveries taken above always reach the caller.
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return deliveries
            # Woken by a delivery, a lost channel or a close; then re-check.
            await self._arrived.wait()

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge ``deliveries``; RabbitMQ removes them from the queue for good.

        When they are exactly the oldest unsettled deliveries (the usual batch), a single
        ``basic.ack`` with ``multiple`` settles them all; otherwise each is acked. Acks
        are not confirmed by RabbitMQ, so this waits only until they are written.

        Raises:
            BrokerUnavailable: a delivery tag is not outstanding on this consumer
                (already settled, or delivered by another consumer), and nothing was
                settled then; or the channel was closed since they were delivered, so
                RabbitMQ will redeliver them (the others in the call were acked).
        """
        oldest_first = self._are_oldest(deliveries)
        messages = self._settle(deliveries, "ack")
        live, stale = _split_stale(messages)
        try:
            if live and oldest_first and len({id(channel) for _, channel in live}) == 1:
                last, channel = live[-1]
                await channel.basic_ack(_amqp_tag(last), multiple=len(live) > 1)
            else:
                for index, (message, channel) in enumerate(live):
                    # Only the last one waits until written: the writer keeps the order.
                    await channel.basic_ack(_amqp_tag(message), wait=index == len(live) - 1)
        except FAILURES as exc:
            raise self._lost_channel_error("ack", len(live), len(messages)) from exc
        self._broker.record_settled(acked=len(live))
        if stale:
            raise self._lost_channel_error("ack", stale, len(messages))
        if not messages:
            await anyio.lowlevel.checkpoint()

    async def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        """Give ``deliveries`` back to RabbitMQ, one ``basic.reject`` each, in order.

        Args:
            deliveries: deliveries of this consumer, not settled yet.
            requeue: ``True`` to put them back in the queue (RabbitMQ delivers them
                again, flagged ``redelivered``); ``False`` to dead-letter them (the
                queue's ``x-dead-letter-*`` arguments route them, with an ``x-death``
                header; a queue without them drops them).

        Raises:
            BrokerUnavailable: a delivery tag is not outstanding on this consumer, and
                nothing was settled then; or the channel was closed since they were
                delivered, so RabbitMQ will redeliver them.
        """
        messages = self._settle(deliveries, "reject")
        live, stale = _split_stale(messages)
        try:
            for index, (message, channel) in enumerate(live):
                await channel.basic_reject(
                    _amqp_tag(message), requeue=requeue, wait=index == len(live) - 1
                )
        except FAILURES as exc:
            raise self._lost_channel_error("reject", len(live), len(messages)) from exc
        self._broker.record_settled(rejected=len(live))
        if stale:
            raise self._lost_channel_error("reject", stale, len(messages))
        if not messages:
            await anyio.lowlevel.checkpoint()

    # -- internals -------------------------------------------------------------------------

    async def start(self, connection: AbstractRobustConnection, amqp_name: str) -> None:
        """Open the channel, set the prefetch and subscribe (robustly: restored on reconnect)."""
        channel = connection.channel(publisher_confirms=False)
        self._channel = channel
        await channel.initialize()
        await channel.set_qos(prefetch_count=self._prefetch)
        # Declared (passively) on this robust channel, so aio-pika restores the
        # subscription after a reconnect.
        self._amqp_queue = await channel.declare_queue(amqp_name, passive=True)
        channel.close_callbacks.add(self._on_channel_closed)
        self._consumer_tag = await self._amqp_queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika's consumer callback: buffer the delivery for ``receive_batch``."""
        if self._closed:
            return  # The channel is closing; RabbitMQ requeues the message.
        try:
            self._send.send_nowait(message)
        except anyio.WouldBlock:
            # Deliveries of a channel lost before a reconnect may still fill the buffer.
            self._discard_stale()
            try:
                self._send.send_nowait(message)
            except anyio.WouldBlock:
                raise RuntimeError(
                    f"Bug: RabbitMQ sent more than prefetch={self._prefetch} unsettled "
                    f"deliveries to this consumer of queue {self._queue!r}; the delivery "
                    "stays unacknowledged until the consumer closes."
                ) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        self._wake()

    def _on_channel_closed(self, _: AbstractChannel | None, __: BaseException | None) -> None:
        """Drop the buffered deliveries of a lost channel: RabbitMQ requeues them."""
        self._discard_stale()
        self._wake()

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = anyio.Event()

    def _discard_stale(self) -> None:
        """Remove buffered deliveries whose channel is closed, keeping the others in order."""
        if self._closed:
            return
        kept: list[AbstractIncomingMessage] = []
        while True:
            try:
                message = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            if not _is_stale(message):
                kept.append(message)
        for message in kept:
            self._send.send_nowait(message)

    def _take(self, max_messages: int) -> list[AbstractIncomingMessage]:
        messages: list[AbstractIncomingMessage] = []
        while len(messages) < max_messages:
            try:
                message = self._receive.receive_nowait()
            except anyio.WouldBlock:
                break
            # A delivery of a lost channel cannot be settled; RabbitMQ redelivers it.
            if not _is_stale(message):
                messages.append(message)
        return messages

    def _hand_out(self, message: AbstractIncomingMessage) -> Delivery:
        tag = self._broker.next_delivery_tag()
        self._unsettled[tag] = message
        return Delivery(
            body=message.body,
            delivery_tag=tag,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            redelivered=bool(message.redelivered),
            headers=self._broker.delivery_headers(message.headers),
            queue=self._queue,
        )

    def _are_oldest(self, deliveries: Sequence[Delivery]) -> bool:
        """Whether ``deliveries`` are exactly the oldest unsettled deliveries."""
        tags = sorted(delivery.delivery_tag for delivery in deliveries)
        return tags == list(itertools.islice(self._unsettled, len(tags)))

    def _settle(self, deliveries: Sequence[Delivery], verb: str) -> list[AbstractIncomingMessage]:
        """Remove ``deliveries`` from the unsettled set, all or none; in delivery order."""
        self._check_open(verb)
        return take_unsettled(self._unsettled, deliveries, verb=verb, queue=self._queue)

    def _lost_channel_error(self, verb: str, count: int, total: int) -> BrokerUnavailable:
        return BrokerUnavailable(
            f"Cannot {verb} {count} of {total} deliveries of queue {self._queue!r} on "
            f"RabbitMQ at {self._broker.url}: the channel was closed; the broker will "
            "redeliver these messages."
        )

    def _log_close_failure(self, exc: BaseException) -> None:
        # Harmless: a closed channel or connection requeues the deliveries all the same.
        log.warning(
            "broker.consumer_close_failed queue=%s url=%s error=%r",
            self._queue,
            self._broker.url,
            exc,
        )

    def _check_open(self, verb: str) -> None:
        if self._closed:
            raise BrokerUnavailable(
                f"Cannot {verb} this consumer of queue {self._queue!r}: it is closed; "
                "open a new one with open_consumer()."
            )
        self._broker.require_connection(f"{verb} queue {self._queue!r}")

    async def close(self) -> None:
        """Cancel the subscription and close the channel; RabbitMQ requeues the unsettled.

        Requeued deliveries keep their place in the queue and come back flagged
        ``redelivered``. Runs in a bounded shield, so it completes on cancellation too.
        """
        if self._closed:
            return
        self._closed = True
        self._wake()  # A receive_batch waiting in another task fails.
        channel, amqp_queue, consumer_tag = self._channel, self._amqp_queue, self._consumer_tag
        with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True) as scope:
            try:
                if channel is not None and not channel.is_closed and amqp_queue and consumer_tag:
                    await amqp_queue.cancel(consumer_tag)
            except FAILURES as exc:
                self._log_close_failure(exc)
            try:
                # Also when the channel is closed already: closing it on purpose stops
                # aio-pika from restoring it.
                if channel is not None:
                    await channel.close()
            except FAILURES as exc:
                self._log_close_failure(exc)
        if scope.cancelled_caught:
            log.warning(
                "broker.consumer_close_timeout queue=%s url=%s timeout_s=%s",
                self._queue,
                self._broker.url,
                CLOSE_TIMEOUT_S,
            )
        self._unsettled.clear()
        self._send.close()
        self._receive.close()


def _amqp_tag(message: AbstractIncomingMessage) -> int:
    tag = message.delivery_tag
    # Only no_ack deliveries lack a tag, and the consumers always acknowledge.
    assert tag is not None, "a delivery of an acknowledging consumer has a delivery tag"
    return tag


def _is_stale(message: AbstractIncomingMessage) -> bool:
    """Whether the channel that delivered ``message`` is closed (it can no longer be settled)."""
    try:
        return message.channel.is_closed
    except ChannelInvalidStateError:
        return True


def _split_stale(
    messages: Sequence[AbstractIncomingMessage],
) -> tuple[list[tuple[AbstractIncomingMessage, aiormq.abc.AbstractChannel]], int]:
    """Pair each live message with its channel; count the stale ones."""
    live: list[tuple[AbstractIncomingMessage, aiormq.abc.AbstractChannel]] = []
    stale = 0
    for message in messages:
        if _is_stale(message):
            stale += 1
        else:
            live.append((message, message.channel))
    return live, stale
