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
from aio_pika.exceptions import (
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    PublishError,
)
from yarl import URL

from actors.broker._amqp_consumer import CLOSE_TIMEOUT_S, FAILURES, AmqpConsumer
from actors.broker.names import (
    JOBS_COMPLETED,
    JOBS_CREATED,
    JOBS_CREATED_MAX_PRIORITY,
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
        AbstractConnection,
        AbstractRobustChannel,
        AbstractRobustConnection,
    )
    from pamqp.common import FieldValue

    from actors.broker._protocols import OutgoingMessage

__all__ = ["AmqpBroker", "AmqpBrokerStatistics", "AmqpConsumer", "open_amqp_broker"]

log = logging.getLogger(__name__)

_DEATH_QUEUE_HEADERS = ("x-first-death-queue", "x-last-death-queue")
"""Headers RabbitMQ sets to the (namespaced) name of the queue a message died in."""


class _QueueArgumentsDiffer(BrokerUnavailable):
    """A queue exists with other arguments (RabbitMQ's ``PRECONDITION_FAILED``)."""


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

        ``jobs.dead-letter``; ``jobs.created`` (a priority queue, see
        :data:`~actors.broker.names.JOBS_CREATED_MAX_PRIORITY`) and ``jobs.completed``,
        both dead-lettering into it; one retry queue per :data:`~actors.broker.names.RETRY_DELAYS_S` delay,
        holding messages that long and then dead-lettering them into ``jobs.created``.

        Raises:
            BrokerUnavailable: RabbitMQ cannot be reached, or a queue exists with other
                arguments.
        """
        await self.declare_queue(JOBS_DEAD_LETTER)
        await self._declare_jobs_created()
        await self.declare_queue(JOBS_COMPLETED, dead_letter_to=JOBS_DEAD_LETTER)
        for delay_s in RETRY_DELAYS_S:
            await self.declare_queue(
                retry_queue(delay_s), dead_letter_to=JOBS_CREATED, ttl_ms=delay_s * 1000
            )

    async def _declare_jobs_created(self) -> None:
        """Declare ``jobs.created`` as a priority queue, or as it is when it exists without
        priorities (created by an observatory before them: RabbitMQ cannot add the
        argument to a queue, so it says how to recreate it and carries on without)."""
        try:
            await self.declare_queue(
                JOBS_CREATED,
                dead_letter_to=JOBS_DEAD_LETTER,
                max_priority=JOBS_CREATED_MAX_PRIORITY,
            )
        except _QueueArgumentsDiffer:
            await self.declare_queue(JOBS_CREATED, dead_letter_to=JOBS_DEAD_LETTER)
            log.warning(
                "broker.priorities_off queue=%s: it was created without x-max-priority, so "
                "RabbitMQ ignores job priorities on it; to turn them on, stop the "
                "observatory, let the queue drain or move its messages, delete it "
                "(rabbitmqctl delete_queue %s) and start again",
                JOBS_CREATED,
                self._amqp_name(JOBS_CREATED),
            )

    async def declare_queue(
        self,
        name: str,
        *,
        dead_letter_to: str | None = None,
        ttl_ms: int | None = None,
        max_priority: int | None = None,
    ) -> None:
        """Declare durable queue ``name`` (idempotent when declared again alike).

        Args:
            name: the queue's name (the namespace is prefixed).
            dead_letter_to: the queue that receives its messages rejected without
                requeue, or expired; it must be declared first. ``None`` drops them.
            ttl_ms: how long a message may wait in it (``x-message-ttl``) before it is
                dead-lettered; ``None`` for no limit.
            max_priority: make it a priority queue (``x-max-priority``): messages with a
                higher ``priority`` (0 to this) are delivered first; ``None`` for FIFO.

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
        if max_priority is not None:
            arguments["x-max-priority"] = max_priority
        try:
            await topology.declare_queue(
                self._amqp_name(name), durable=True, arguments=arguments or None
            )
        except ChannelPreconditionFailed as exc:
            raise _QueueArgumentsDiffer(
                f"Cannot declare queue {name!r} with dead_letter_to={dead_letter_to!r}, "
                f"ttl_ms={ttl_ms!r}, max_priority={max_priority!r} on RabbitMQ at "
                f"{self.url}: it exists with other "
                "arguments; delete it or declare it as it is."
            ) from exc
        except FAILURES as exc:
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
        except FAILURES as exc:
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
        connection = self.require_connection(f"consume from queue {queue!r}")
        await self._inspect(queue, f"consume from queue {queue!r}")
        consumer = AmqpConsumer(self, queue, prefetch)
        try:
            try:
                await consumer.start(connection, self._amqp_name(queue))
            except FAILURES as exc:
                raise BrokerUnavailable(
                    f"Cannot consume from queue {queue!r} on RabbitMQ at {self.url}: {exc}"
                ) from exc
            yield consumer
        finally:
            await consumer.close()

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

    async def queue_counts(self, queue: str) -> tuple[int, int]:
        """``(ready, consumers)`` of ``queue`` now: one passive declare (``GET /queues``).

        Raises:
            BrokerUnavailable: ``queue`` is not declared, or RabbitMQ cannot be reached.
        """
        declared = await self._inspect(queue, f"inspect queue {queue!r}")
        return declared.message_count or 0, declared.consumer_count or 0

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
            self.require_connection("wait for")
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

    # -- what the consumers use (ConsumerHost) ---------------------------------------------

    def require_connection(self, action: str) -> AbstractRobustConnection:
        """The open connection; see :class:`~actors.broker._amqp_consumer.ConsumerHost`.

        Raises:
            BrokerUnavailable: the broker is not open; ``action`` names what failed.
        """
        if self._state is not _State.OPEN or self._connection is None:
            raise BrokerUnavailable(
                f"Cannot {action}: the RabbitMQ broker at {self.url} is not open; enter it "
                "with 'async with open_amqp_broker(...)' first."
            )
        return self._connection

    def next_delivery_tag(self) -> int:
        """A delivery tag unique across the broker, so another consumer's is never ours."""
        return next(self._tags)

    def delivery_headers(self, headers: Mapping[str, FieldValue]) -> dict[str, object]:
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

    def record_settled(self, *, acked: int = 0, rejected: int = 0) -> None:
        """Count deliveries a consumer acknowledged or rejected."""
        self._acked += acked
        self._rejected += rejected

    # -- helpers ---------------------------------------------------------------------------

    def _amqp_name(self, queue: str) -> str:
        return f"{self._namespace}{queue}"

    def _local_name(self, amqp_name: str) -> str:
        if self._namespace and amqp_name.startswith(self._namespace):
            return amqp_name[len(self._namespace) :]
        return amqp_name

    def _require(self, channel: AbstractRobustChannel | None, action: str) -> AbstractRobustChannel:
        self.require_connection(action)
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
        except FAILURES as exc:
            raise BrokerUnavailable(f"Cannot {action} on RabbitMQ at {self.url}: {exc}") from exc

    async def _inspection_channel(self, action: str) -> aiormq.abc.AbstractChannel:
        """The plain channel of passive declares, (re)opened when a 404 or a loss closed it."""
        connection = self.require_connection(action)
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
                except FAILURES as exc:
                    raise BrokerUnavailable(
                        f"Cannot {action} on RabbitMQ at {self.url}: {exc}"
                    ) from exc
            return self._inspector

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
        priority=message.priority,
        # Per-message TTL (milliseconds on the wire); 0 would mean "now or never".
        expiration=None if expiration_s is None else max(0.001, expiration_s),
    )


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
    with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True) as scope:
        try:
            await connection.close()
        except FAILURES as exc:
            log.warning("broker.close_failed url=%s error=%r", url, exc)
    if scope.cancelled_caught:
        log.warning("broker.close_timeout url=%s timeout_s=%s", url, CLOSE_TIMEOUT_S)
