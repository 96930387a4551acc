"""The RabbitMQ broker: durable queues, persistent messages and publisher confirms (aio-pika).

How the adapter maps the :class:`~actors.broker.Broker` interface onto RabbitMQ:

* **One robust connection.** aio-pika's robust connection reconnects by itself after a
  loss, re-declares the queues and re-subscribes the consumers. While it is away
  :meth:`AmqpBroker.is_available` is false; one WARNING line marks each loss and each
  recovery.
* **Channels by role.** One publisher channel with publisher confirms, on which every
  publish is ``mandatory`` (a publish to a queue that does not exist comes back as
  returned instead of vanishing); one topology channel the queues are declared on (aio-pika
  re-declares them from it after a reconnect); one channel per consumer, whose
  ``basic.qos`` prefetch is the consumer's window; and a plain inspection channel for
  passive declares (depth, existence), because a failed one (404) closes its channel.
* **A namespace** prefixed to every queue name, so several observatories, or tests, share
  one RabbitMQ. Callers never see it: deliveries and their ``x-death`` entries name
  queues without it.
* **Dead-lettering and retries without plugins.** ``jobs.created`` and ``jobs.completed``
  dead-letter through the default exchange into ``jobs.dead-letter``; each retry queue
  (``jobs.retry.5s``, ...) holds messages for its ``x-message-ttl`` and then
  dead-letters them back into ``jobs.created``.

Where RabbitMQ's semantics differ from the in-process broker's
(:mod:`actors.broker.memory`), and the contract suite marks it:

* RabbitMQ *pushes* up to ``prefetch`` messages to a consumer before the application asks
  for them. Those wait in the consumer's buffer and count as unacknowledged, not ready,
  so :meth:`AmqpBroker.queue_depth` does not count them, and a message rejected with
  ``requeue=True`` is delivered again *after* the ones already buffered.

Delivery tags: RabbitMQ's tags are per channel and restart on every reconnect, so the
deliveries carry tags of our own, unique across the broker, mapped to the AMQP ones.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aio_pika
import anyio
import anyio.lowlevel
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    PublishError,
)
from yarl import URL

from actors.broker._protocols import Delivery
from actors.broker.names import (
    JOBS_COMPLETED,
    JOBS_CREATED,
    JOBS_DEAD_LETTER,
    RETRY_DELAYS_S,
    retry_bucket,
    retry_queue,
)
from actors.config.urls import redact
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    import aiormq.abc
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractRobustChannel,
        AbstractRobustConnection,
        AbstractRobustQueue,
    )
    from pamqp.common import FieldValue

    from actors.broker._protocols import OutgoingMessage

__all__ = ["AmqpBroker", "AmqpBrokerStatistics", "AmqpConsumer", "open_amqp_broker"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 5.0
"""Bound of each shielded closing await (channel, connection)."""

_FAILURES: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)
"""What aio-pika and aiormq raise when the broker or the network fails an operation
(AMQP errors, socket errors, closed channels, timeouts); translated to BrokerUnavailable."""

_DEATH_QUEUE_HEADERS = ("x-first-death-queue", "x-last-death-queue")
"""Headers RabbitMQ sets to the (namespaced) name of the queue a message died in."""


class _State(enum.Enum):
    """Lifecycle of an :class:`AmqpBroker`."""

    NEW = "new"
    """Not entered yet, or its last entry failed before connecting."""
    OPEN = "open"
    """Entered and connected (the connection may be away and reconnecting)."""
    CLOSED = "closed"
    """Left; it can be entered again, which connects anew."""


@dataclass(frozen=True, slots=True)
class AmqpBrokerStatistics:
    """Counters of an :class:`AmqpBroker` since it was created, for debugging and metrics."""

    published: int
    """Messages handed to RabbitMQ by ``publish_batch``."""
    confirmed: int
    """Of those, the ones RabbitMQ confirmed (stored in their queue)."""
    acked: int
    """Deliveries acknowledged by consumers."""
    rejected: int
    """Deliveries rejected by consumers, requeued or not."""
    reconnects: int
    """Times the connection was lost and restored."""


class AmqpConsumer:
    """A subscription to one RabbitMQ queue; see :class:`~actors.broker.Consumer`.

    Created by :meth:`AmqpBroker.open_consumer`, which closes it. It owns a channel whose
    prefetch is the window; RabbitMQ pushes deliveries into a buffer of that size (the
    prefetch guarantees it never overflows) and :meth:`receive_batch` takes from it.

    After a reconnect the channel is re-opened and the subscription restored by aio-pika;
    deliveries received before the loss can then no longer be settled (RabbitMQ has
    requeued them), so :meth:`ack` and :meth:`reject` raise for them.
    """

    def __init__(self, broker: AmqpBroker, queue: str, prefetch: int) -> None:
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
        except _FAILURES as exc:
            raise self._lost_channel_error("ack", len(live), len(messages)) from exc
        self._broker._acked += len(live)
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
        except _FAILURES as exc:
            raise self._lost_channel_error("reject", len(live), len(messages)) from exc
        self._broker._rejected += len(live)
        if stale:
            raise self._lost_channel_error("reject", stale, len(messages))
        if not messages:
            await anyio.lowlevel.checkpoint()

    # -- internals -------------------------------------------------------------------------

    async def _start(self, connection: AbstractRobustConnection, amqp_name: str) -> None:
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
        tag = self._broker._next_delivery_tag()
        self._unsettled[tag] = message
        return Delivery(
            body=message.body,
            delivery_tag=tag,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            redelivered=bool(message.redelivered),
            headers=self._broker._plain_headers(message.headers),
            queue=self._queue,
        )

    def _are_oldest(self, deliveries: Sequence[Delivery]) -> bool:
        """Whether ``deliveries`` are exactly the oldest unsettled deliveries."""
        tags = sorted(delivery.delivery_tag for delivery in deliveries)
        return tags == list(itertools.islice(self._unsettled, len(tags)))

    def _settle(self, deliveries: Sequence[Delivery], verb: str) -> list[AbstractIncomingMessage]:
        """Remove ``deliveries`` from the unsettled set, all or none; in delivery order."""
        self._check_open(verb)
        tags = [delivery.delivery_tag for delivery in deliveries]
        seen: set[int] = set()
        for tag in tags:
            if tag not in self._unsettled or tag in seen:
                raise BrokerUnavailable(
                    f"Cannot {verb}: delivery tag {tag} is not outstanding on this consumer "
                    f"of queue {self._queue!r}; it was settled already or delivered to "
                    "another consumer. Nothing in this call was settled."
                )
            seen.add(tag)
        return [self._unsettled.pop(tag) for tag in sorted(tags)]

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
        self._broker._require_connection(f"{verb} queue {self._queue!r}")

    async def _close(self) -> None:
        """Cancel the subscription and close the channel; RabbitMQ requeues the unsettled.

        Requeued deliveries keep their place in the queue and come back flagged
        ``redelivered``. Runs in a bounded shield, so it completes on cancellation too.
        """
        if self._closed:
            return
        self._closed = True
        self._wake()  # A receive_batch waiting in another task fails.
        channel, amqp_queue, consumer_tag = self._channel, self._amqp_queue, self._consumer_tag
        with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True) as scope:
            try:
                if channel is not None and not channel.is_closed and amqp_queue and consumer_tag:
                    await amqp_queue.cancel(consumer_tag)
            except _FAILURES as exc:
                self._log_close_failure(exc)
            try:
                # Also when the channel is closed already: closing it on purpose stops
                # aio-pika from restoring it.
                if channel is not None:
                    await channel.close()
            except _FAILURES as exc:
                self._log_close_failure(exc)
        if scope.cancelled_caught:
            log.warning(
                "broker.consumer_close_timeout queue=%s url=%s timeout_s=%s",
                self._queue,
                self._broker.url,
                _CLOSE_TIMEOUT_S,
            )
        self._unsettled.clear()
        self._send.close()
        self._receive.close()


class AmqpBroker(anyio.AsyncContextManagerMixin):
    """A :class:`~actors.broker.Broker` on RabbitMQ; enter it to connect.

    Resource handling:
        Entering connects (robustly) and opens the publisher and topology channels;
        leaving closes the connection, and with it every channel, in a bounded shield.
        RabbitMQ then requeues the deliveries of consumers still open. A broker that was
        left, or whose entry failed, can be entered again (it connects anew), so a
        supervisor may retry it.

    Error handling:
        Every failure of RabbitMQ or the network surfaces as
        :class:`~actors.errors.BrokerUnavailable`, chained to aio-pika's exception and
        naming the queue and the redacted URL. Nothing is retried here; while the robust
        connection is away, calls fail fast and :meth:`is_available` is false.

    Args:
        url: ``amqp://user:password@host:port/vhost``; aio-pika's connection options
            may ride in the query, e.g. ``?reconnect_interval=1`` (seconds, default 5).
        namespace: prefixed to every queue name on RabbitMQ (``"test-1a2b."`` makes
            ``jobs.created`` the RabbitMQ queue ``test-1a2b.jobs.created``).
        connection_name: shown by RabbitMQ (``rabbitmqctl list_connections``, the
            management UI).
        publish_timeout_s: how long each publish may wait for its confirm.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "",
        connection_name: str = "observatory",
        publish_timeout_s: float = 10.0,
    ) -> None:
        if publish_timeout_s <= 0:
            raise ValueError(f"publish_timeout_s must be positive, not {publish_timeout_s}.")
        self._url = url
        self._redacted_url = redact(url)
        self._namespace = namespace
        self._connection_name = connection_name
        self._publish_timeout_s = publish_timeout_s
        self._state = _State.NEW
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._topology: AbstractRobustChannel | None = None
        self._inspector: aiormq.abc.AbstractChannel | None = None
        self._inspector_lock: anyio.Lock | None = None
        self._declared: dict[str, None] = {}  # an ordered set of queue names
        self._tags = itertools.count(1)
        self._available = False
        self._availability_changed: anyio.Event | None = None
        self._published = 0
        self._confirmed = 0
        self._acked = 0
        self._rejected = 0
        self._reconnects = 0

    def __repr__(self) -> str:
        return (
            f"<AmqpBroker {self._state.value} url={self._redacted_url} "
            f"namespace={self._namespace!r} available={self.is_available()} "
            f"published={self._published} confirmed={self._confirmed}>"
        )

    @property
    def url(self) -> str:
        """The broker's URL with its password redacted."""
        return self._redacted_url

    @property
    def namespace(self) -> str:
        """The prefix of every queue name on RabbitMQ."""
        return self._namespace

    @property
    def declared_queues(self) -> tuple[str, ...]:
        """Queues declared through this broker, in order (without the namespace)."""
        return tuple(self._declared)

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[AmqpBroker]:
        await self._connect()
        try:
            yield self
        finally:
            await self._disconnect()

    # -- the Broker interface --------------------------------------------------------------

    async def declare_topology(self) -> None:
        """Declare the observatory's durable queues (idempotent).

        ``jobs.dead-letter``; ``jobs.created`` and ``jobs.completed``, both dead-lettering
        into it; one retry queue per :data:`~actors.broker.names.RETRY_DELAYS_S` delay,
        holding messages that long and then dead-lettering them into ``jobs.created``.

        Raises:
            BrokerUnavailable: RabbitMQ cannot be reached, or a queue exists with other
                arguments.
        """
        await self.declare_queue(JOBS_DEAD_LETTER)
        await self.declare_queue(JOBS_CREATED, dead_letter_to=JOBS_DEAD_LETTER)
        await self.declare_queue(JOBS_COMPLETED, dead_letter_to=JOBS_DEAD_LETTER)
        for delay_s in RETRY_DELAYS_S:
            await self.declare_queue(
                retry_queue(delay_s), dead_letter_to=JOBS_CREATED, ttl_ms=delay_s * 1000
            )

    async def declare_queue(
        self, name: str, *, dead_letter_to: str | None = None, ttl_ms: int | None = None
    ) -> None:
        """Declare durable queue ``name`` (idempotent when declared again alike).

        Args:
            name: the queue's name (the namespace is prefixed).
            dead_letter_to: the queue that receives its messages rejected without
                requeue, or expired; it must be declared first. ``None`` drops them.
            ttl_ms: how long a message may wait in it (``x-message-ttl``) before it is
                dead-lettered; ``None`` for no limit.

        Raises:
            ValueError: ``ttl_ms`` is negative.
            BrokerUnavailable: the queue exists with other arguments (RabbitMQ refuses
                with ``PRECONDITION_FAILED``), ``dead_letter_to`` is not declared, or
                RabbitMQ cannot be reached.
        """
        if ttl_ms is not None and ttl_ms < 0:
            raise ValueError(f"ttl_ms must not be negative, not {ttl_ms}.")
        topology = self._require(self._topology, f"declare queue {name!r}")
        arguments: dict[str, FieldValue] = {}
        if dead_letter_to is not None:
            await self._inspect(
                dead_letter_to,
                f"declare queue {name!r} dead-lettering into {dead_letter_to!r}",
                missing=f"declare {dead_letter_to!r} first",
            )
            # The default exchange routes by queue name: no exchange to declare.
            arguments["x-dead-letter-exchange"] = ""
            arguments["x-dead-letter-routing-key"] = self._amqp_name(dead_letter_to)
        if ttl_ms is not None:
            arguments["x-message-ttl"] = ttl_ms
        try:
            await topology.declare_queue(
                self._amqp_name(name), durable=True, arguments=arguments or None
            )
        except ChannelPreconditionFailed as exc:
            raise BrokerUnavailable(
                f"Cannot declare queue {name!r} with dead_letter_to={dead_letter_to!r}, "
                f"ttl_ms={ttl_ms!r} on RabbitMQ at {self.url}: it exists with other "
                "arguments; delete it or declare it as it is."
            ) from exc
        except _FAILURES as exc:
            raise BrokerUnavailable(
                f"Cannot declare queue {name!r} on RabbitMQ at {self.url}: {exc}"
            ) from exc
        self._declared[name] = None

    async def delete_queue(self, name: str) -> None:
        """Delete queue ``name`` and its messages (no error when it does not exist).

        Raises:
            BrokerUnavailable: RabbitMQ cannot be reached.
        """
        topology = self._require(self._topology, f"delete queue {name!r}")
        try:
            await topology.queue_delete(self._amqp_name(name))
        except _FAILURES as exc:
            raise BrokerUnavailable(
                f"Cannot delete queue {name!r} on RabbitMQ at {self.url}: {exc}"
            ) from exc
        self._declared.pop(name, None)

    async def publish_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Publish ``messages`` to ``queue``, persistent, and wait for every confirm.

        The publishes are pipelined: all are written, then the confirms are awaited
        together, so a batch costs about one round trip, not one per message. Each
        publish waits at most ``publish_timeout_s`` for its confirm.

        Raises:
            BrokerUnavailable: ``queue`` does not exist (RabbitMQ returned the messages
                as unroutable), or a message was not confirmed in time, or RabbitMQ
                cannot be reached. Some messages may have been stored; publishers rely
                on consumers being idempotent.

        Cancellation:
            Cancelling abandons the confirms still awaited; those messages may or may
            not have been stored.
        """
        await self._publish(queue, messages, None)

    async def publish_delayed(
        self, queue: str, messages: Sequence[OutgoingMessage], *, delay_s: float
    ) -> None:
        """Park ``messages`` in the retry queue for ``delay_s``; RabbitMQ then moves them to ``queue``.

        The retry queue is the shortest of ``jobs.retry.{1,5,30}s`` that holds a message
        at least ``delay_s`` (:func:`~actors.broker.names.retry_bucket`); each message
        expires after ``delay_s`` (capped by the queue's TTL) and is dead-lettered into
        ``jobs.created`` with an ``x-death`` entry (reason ``expired``).

        Raises:
            ValueError: ``delay_s`` is negative.
            BrokerUnavailable: ``queue`` is not ``jobs.created`` (the only queue the retry
                queues lead to), or as :meth:`publish_batch`.
        """
        if delay_s < 0:
            raise ValueError(f"delay_s must not be negative, not {delay_s}.")
        if queue != JOBS_CREATED:
            raise BrokerUnavailable(
                f"Cannot publish to queue {queue!r} with a delay: on RabbitMQ only "
                f"{JOBS_CREATED!r} has retry queues leading to it."
            )
        bucket = retry_bucket(delay_s)
        await self._publish(retry_queue(bucket), messages, min(float(delay_s), float(bucket)))

    async def _publish(
        self, queue: str, messages: Sequence[OutgoingMessage], expiration_s: float | None
    ) -> None:
        publisher = self._require(self._publisher, f"publish to queue {queue!r}")
        if not self._available:
            raise BrokerUnavailable(
                f"Cannot publish to queue {queue!r}: the connection to RabbitMQ at {self.url} "
                "is lost and reconnecting; nothing was published."
            )
        if not messages:
            await anyio.lowlevel.checkpoint()
            return
        exchange = publisher.default_exchange
        routing_key = self._amqp_name(queue)
        self._published += len(messages)
        # asyncio.gather, not a task group: every publish runs to its own timeout and
        # each outcome is collected, so one failure neither cancels the others nor
        # leaves them running; cancelling this call cancels them all.
        results = await asyncio.gather(
            *(
                exchange.publish(
                    _amqp_message(message, expiration_s),
                    routing_key,
                    mandatory=True,
                    timeout=self._publish_timeout_s,
                )
                for message in messages
            ),
            return_exceptions=True,
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        self._confirmed += len(messages) - len(failures)
        if failures:
            raise self._publish_error(queue, len(messages), failures) from failures[0]

    @asynccontextmanager
    async def open_consumer(self, queue: str, *, prefetch: int) -> AsyncIterator[AmqpConsumer]:
        """Subscribe to ``queue`` on a channel of its own with a prefetch of ``prefetch``.

        Resource handling:
            Leaving the context, normally or by an exception or cancellation, cancels
            the subscription and closes the channel (in a bounded shield); RabbitMQ
            requeues every unsettled delivery, in its old place, flagged redelivered.

        Raises:
            ValueError: ``prefetch`` is below 1.
            BrokerUnavailable: ``queue`` is not declared, or RabbitMQ cannot be reached.
        """
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}.")
        connection = self._require_connection(f"consume from queue {queue!r}")
        await self._inspect(queue, f"consume from queue {queue!r}")
        consumer = AmqpConsumer(self, queue, prefetch)
        try:
            try:
                await consumer._start(connection, self._amqp_name(queue))
            except _FAILURES as exc:
                raise BrokerUnavailable(
                    f"Cannot consume from queue {queue!r} on RabbitMQ at {self.url}: {exc}"
                ) from exc
            yield consumer
        finally:
            await consumer._close()

    async def queue_depth(self, queue: str) -> int:
        """How many messages are ready in ``queue``, as RabbitMQ counts them now.

        Deliveries a consumer holds, including those RabbitMQ pushed into its prefetch
        buffer and not handed out yet, are unacknowledged, not ready: not counted.

        Raises:
            BrokerUnavailable: ``queue`` is not declared, or RabbitMQ cannot be reached.
        """
        # A passive declare on the plain inspection channel: aio-pika's robust channels
        # answer a passive re-declare from a cached object with stale counts.
        declared = await self._inspect(queue, f"measure queue {queue!r}")
        return declared.message_count or 0

    def is_available(self) -> bool:
        """Whether the broker can be used right now; false while it reconnects or is closed."""
        return (
            self._state is _State.OPEN
            and self._available
            and self._connection is not None
            and not self._connection.is_closed
        )

    async def wait_available(self) -> None:
        """Wait until :meth:`is_available` is true (the robust connection is back).

        Raises:
            BrokerUnavailable: the broker is not open (never entered, or left).
        """
        while not self.is_available():
            self._require_connection("wait for")
            await self._availability_event().wait()

    async def wait_unavailable(self) -> None:
        """Wait until :meth:`is_available` is false (the connection was lost or closed)."""
        while self.is_available():
            await self._availability_event().wait()

    def statistics(self) -> AmqpBrokerStatistics:
        """A frozen record of the broker's counters."""
        return AmqpBrokerStatistics(
            published=self._published,
            confirmed=self._confirmed,
            acked=self._acked,
            rejected=self._rejected,
            reconnects=self._reconnects,
        )

    # -- connection lifecycle --------------------------------------------------------------

    async def _connect(self) -> None:
        if self._state is _State.OPEN:
            raise RuntimeError(f"{self!r} is already open.")
        self._inspector_lock = anyio.Lock()
        # What aio_pika.connect_robust() does, by hand: it returns no connection when
        # cancelled or failed, and that connection's reconnect task would live on.
        connection = aio_pika.RobustConnection(
            URL(self._url), client_properties={"connection_name": self._connection_name}
        )
        try:
            await connection.connect()
            publisher = connection.channel(publisher_confirms=True, on_return_raises=True)
            await publisher.initialize()
            topology = connection.channel(publisher_confirms=False)
            await topology.initialize()
        except BaseException as exc:
            await _close_quietly(connection, self._redacted_url)
            if isinstance(exc, Exception):
                raise BrokerUnavailable(
                    f"Cannot connect to RabbitMQ at {self.url}: {exc!r}; is it running and "
                    "are the credentials right?"
                ) from exc
            raise
        self._connection = connection
        self._publisher = publisher
        self._topology = topology
        self._inspector = None
        self._state = _State.OPEN
        self._set_available(True)
        connection.close_callbacks.add(self._on_connection_closed)
        connection.reconnect_callbacks.add(self._on_reconnected)
        log.info(
            "broker.connected url=%s namespace=%s connection_name=%s",
            self.url,
            self._namespace,
            self._connection_name,
        )

    async def _disconnect(self) -> None:
        connection = self._connection
        self._state = _State.CLOSED
        self._available = False
        self._notify_availability()  # even when it was away: wait_available() fails now
        self._connection = self._publisher = self._topology = None
        self._inspector = None
        if connection is not None:
            await _close_quietly(connection, self._redacted_url)
            log.info("broker.closed url=%s", self.url)

    def _on_connection_closed(
        self, _: AbstractConnection | None, exc: BaseException | None
    ) -> None:
        if self._state is not _State.OPEN:
            return  # We closed it.
        if self._available:
            log.warning("broker.connection_lost url=%s error=%r; reconnecting", self.url, exc)
        self._set_available(False)

    def _on_reconnected(self, _: AbstractRobustConnection | None) -> None:
        if self._state is not _State.OPEN:
            return
        self._reconnects += 1
        log.warning("broker.reconnected url=%s reconnects=%d", self.url, self._reconnects)
        self._set_available(True)

    def _set_available(self, available: bool) -> None:
        if available != self._available:
            self._available = available
            self._notify_availability()

    def _notify_availability(self) -> None:
        """Wake every ``wait_available``/``wait_unavailable``; they re-check."""
        if self._availability_changed is not None:
            self._availability_changed.set()
            self._availability_changed = None

    def _availability_event(self) -> anyio.Event:
        # Created lazily: anyio.Event() needs a running event loop, __init__ does not.
        if self._availability_changed is None:
            self._availability_changed = anyio.Event()
        return self._availability_changed

    # -- helpers shared with AmqpConsumer --------------------------------------------------

    def _amqp_name(self, queue: str) -> str:
        return f"{self._namespace}{queue}"

    def _local_name(self, amqp_name: str) -> str:
        if self._namespace and amqp_name.startswith(self._namespace):
            return amqp_name[len(self._namespace) :]
        return amqp_name

    def _next_delivery_tag(self) -> int:
        # Unique across the broker, so a tag of another consumer is never mistaken for ours.
        return next(self._tags)

    def _require_connection(self, action: str) -> AbstractRobustConnection:
        if self._state is not _State.OPEN or self._connection is None:
            raise BrokerUnavailable(
                f"Cannot {action}: the RabbitMQ broker at {self.url} is not open; enter it "
                "with 'async with open_amqp_broker(...)' first."
            )
        return self._connection

    def _require(self, channel: AbstractRobustChannel | None, action: str) -> AbstractRobustChannel:
        self._require_connection(action)
        assert channel is not None
        return channel

    async def _inspect(
        self, queue: str, action: str, *, missing: str | None = None
    ) -> aiormq.spec.Queue.DeclareOk:
        """Passively declare ``queue``: whether it exists, and its ready count."""
        channel = await self._inspection_channel(action)
        try:
            return await channel.queue_declare(self._amqp_name(queue), passive=True)
        except ChannelNotFoundEntity as exc:
            raise BrokerUnavailable(
                f"Cannot {action}: "
                f"{missing or 'it is not declared; call declare_topology() (or declare_queue()) first'}."
            ) from exc
        except _FAILURES as exc:
            raise BrokerUnavailable(f"Cannot {action} on RabbitMQ at {self.url}: {exc}") from exc

    async def _inspection_channel(self, action: str) -> aiormq.abc.AbstractChannel:
        """The plain channel of passive declares, (re)opened when a 404 or a loss closed it."""
        connection = self._require_connection(action)
        assert self._inspector_lock is not None
        async with self._inspector_lock:
            if self._inspector is None or self._inspector.is_closed:
                transport = connection.transport
                if transport is None:
                    raise BrokerUnavailable(
                        f"Cannot {action}: the connection to RabbitMQ at {self.url} is "
                        "lost; it is reconnecting."
                    )
                try:
                    self._inspector = await transport.connection.channel(publisher_confirms=False)
                except _FAILURES as exc:
                    raise BrokerUnavailable(
                        f"Cannot {action} on RabbitMQ at {self.url}: {exc}"
                    ) from exc
            return self._inspector

    def _plain_headers(self, headers: Mapping[str, FieldValue]) -> dict[str, object]:
        """AMQP header values as plain Python, queue names in ``x-death`` without namespace."""
        plain = {str(key): _plain(value) for key, value in headers.items()}
        deaths = plain.get("x-death")
        if isinstance(deaths, list):
            for death in deaths:
                if not isinstance(death, dict):
                    continue
                if isinstance(queue := death.get("queue"), str):
                    death["queue"] = self._local_name(queue)
                if isinstance(keys := death.get("routing-keys"), list):
                    death["routing-keys"] = [
                        self._local_name(key) if isinstance(key, str) else key for key in keys
                    ]
        for header in _DEATH_QUEUE_HEADERS:
            if isinstance(queue := plain.get(header), str):
                plain[header] = self._local_name(queue)
        return plain

    def _publish_error(
        self, queue: str, total: int, failures: Sequence[BaseException]
    ) -> BrokerUnavailable:
        returned = sum(isinstance(failure, PublishError) for failure in failures)
        if returned:
            return BrokerUnavailable(
                f"Cannot publish to queue {queue!r} on RabbitMQ at {self.url}: it does not "
                f"exist (RabbitMQ returned {returned} of {total} messages as unroutable); "
                "declare it first (declare_topology() or declare_queue())."
            )
        kinds = ", ".join(
            f"{count} x {kind}"
            for kind, count in Counter(type(failure).__name__ for failure in failures).items()
        )
        return BrokerUnavailable(
            f"RabbitMQ at {self.url} did not confirm {len(failures)} of {total} messages "
            f"published to queue {queue!r} ({kinds}); some may have been stored, so "
            "publishing again may duplicate them."
        )


def open_amqp_broker(
    url: str,
    *,
    namespace: str = "",
    connection_name: str = "observatory",
    publish_timeout_s: float = 10.0,
) -> AmqpBroker:
    """Return an :class:`AmqpBroker` to enter with ``async with``; entering connects.

    Example::

        async with open_amqp_broker(settings.rabbitmq_url) as broker:
            await broker.declare_topology()
            ...

    Args:
        url: the RabbitMQ URL (its password is redacted in logs and errors).
        namespace: prefixed to every queue name on RabbitMQ; ``""`` for none.
        connection_name: the name RabbitMQ shows for the connection.
        publish_timeout_s: how long each publish may wait for its confirm.
    """
    return AmqpBroker(
        url,
        namespace=namespace,
        connection_name=connection_name,
        publish_timeout_s=publish_timeout_s,
    )


def _amqp_message(message: OutgoingMessage, expiration_s: float | None) -> aio_pika.Message:
    headers: dict[str, FieldValue] = dict(message.headers)
    return aio_pika.Message(
        body=message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        headers=headers,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        # Per-message TTL (milliseconds on the wire); 0 would mean "now or never".
        expiration=None if expiration_s is None else max(0.001, expiration_s),
    )


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


def _plain(value: object) -> object:
    """An AMQP field value as plain Python: str for strings, lists and str-keyed dicts.

    pamqp decodes long strings to ``str`` unless they are not UTF-8 (then ``bytes``, kept);
    byte arrays arrive as ``bytearray`` and become ``bytes``.
    """
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


async def _close_quietly(connection: AbstractRobustConnection, url: str) -> None:
    """Close ``connection`` in a bounded shield, logging rather than raising a failure."""
    with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True) as scope:
        try:
            await connection.close()
        except _FAILURES as exc:
            log.warning("broker.close_failed url=%s error=%r", url, exc)
    if scope.cancelled_caught:
        log.warning("broker.close_timeout url=%s timeout_s=%s", url, _CLOSE_TIMEOUT_S)
