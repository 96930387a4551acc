"""The in-process broker: RabbitMQ-like queues in one process, spilled to disk at a clean stop.

Semantics follow RabbitMQ's as far as the observatory relies on them:

* a queue is declared before use, optionally with a dead-letter queue (the DLX of
  RabbitMQ, reduced to a direct route);
* messages are delivered FIFO; each to exactly one of the competing consumers;
* a consumer never holds more unsettled deliveries than its prefetch window;
* ``reject(requeue=True)`` and a consumer that closes with unsettled deliveries put them
  back at the *front* of the queue, flagged ``redelivered``;
* ``reject(requeue=False)`` routes to the dead-letter queue with an ``x-death`` header,
  or drops the message when the queue has none;
* ``publish_delayed`` holds messages until they are due, then appends them to the queue
  with the ``x-death`` entry (reason ``expired``) RabbitMQ's retry queues give them;
* settling a delivery tag that is not outstanding is an error, like RabbitMQ's
  ``PRECONDITION_FAILED - unknown delivery tag`` channel error.

Durability: with a ``state_path``, entering the broker loads the messages spilled by the
previous run, and leaving it spills every message still held (delayed ones with the
wait they had left), so a clean stop of the
embedded observatory loses nothing. A crash loses what was in memory, as it would with
transient RabbitMQ queues.
"""

from __future__ import annotations

import copy
import itertools
import logging
import sqlite3
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from actors.broker._delayed import DelayedMessages
from actors.broker._protocols import Delivery
from actors.broker._spill import Message as _Message, load_spilled as _load_spilled, spill as _spill
from actors.broker._unsettled import take_unsettled
from actors.broker.names import (
    JOBS_COMPLETED,
    JOBS_CREATED,
    JOBS_CREATED_MAX_PRIORITY,
    JOBS_DEAD_LETTER,
    retry_bucket,
    retry_queue,
)
from actors.errors import BrokerUnavailable
from actors.kernel.priority_fifo import PriorityFifo

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

    from actors.broker._protocols import OutgoingMessage

__all__ = [
    "BrokerStatistics",
    "MemoryBroker",
    "MemoryConsumer",
    "QueueStatistics",
    "open_memory_broker",
]

log = logging.getLogger(__name__)

_SPILL_TIMEOUT_S = 30.0
"""Bound of the shielded disk write at exit; the worker thread finishes it regardless."""


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """Counters of one queue, for debugging and metrics."""

    name: str
    dead_letter_to: str | None
    """Queue that receives its rejected messages, if any."""
    ready: int
    """Messages waiting to be delivered (what :meth:`MemoryBroker.queue_depth` answers)."""
    unacked: int
    """Messages delivered to a consumer and not settled yet."""
    consumers: int
    """Open consumers."""
    published: int
    """Messages published to it since the broker started."""
    acked: int
    """Deliveries acknowledged."""
    rejected: int
    """Deliveries rejected, requeued or not."""
    dead_lettered: int
    """Messages that arrived here by dead-lettering from another queue."""
    delayed: int = 0
    """Messages published to it with a delay that are not due yet."""


@dataclass(frozen=True, slots=True)
class BrokerStatistics:
    """A frozen record of every queue's counters."""

    queues: Mapping[str, QueueStatistics]

    @property
    def published(self) -> int:
        """Messages published to any queue."""
        return sum(queue.published for queue in self.queues.values())

    @property
    def acked(self) -> int:
        """Deliveries acknowledged on any queue."""
        return sum(queue.acked for queue in self.queues.values())

    @property
    def rejected(self) -> int:
        """Deliveries rejected on any queue."""
        return sum(queue.rejected for queue in self.queues.values())


def _ready(max_priority: int | None) -> PriorityFifo[_Message]:
    """A queue's ready messages: by priority on a priority queue, else arrival order."""
    return PriorityFifo(_message_priority, max_priority)


def _message_priority(message: _Message) -> int | None:
    return message.priority


@dataclass(slots=True, eq=False)
class _Queue:
    name: str
    dead_letter_to: str | None
    ready: PriorityFifo[_Message] = field(default_factory=lambda: _ready(None))
    consumers: set[MemoryConsumer] = field(default_factory=set)
    published: int = 0
    acked: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    delayed: DelayedMessages[_Message] = field(default_factory=DelayedMessages)
    _changed: anyio.Event | None = None

    def promote_due(self) -> None:
        """Append the delayed messages that are due now, waking the consumers."""
        if not self.delayed:
            return
        due = self.delayed.pop_due(anyio.current_time())
        if due:
            self.ready.extend(due)
            self.notify()

    def wait_s(self) -> float:
        """How long a consumer waits for a change before re-checking: until the next due."""
        next_due = self.delayed.next_due()
        return float("inf") if next_due is None else max(0.0, next_due - anyio.current_time())

    def changed(self) -> anyio.Event:
        """An event set at the next change a waiting consumer may care about."""
        # Created lazily: anyio.Event() needs a running event loop, the broker does not.
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def notify(self) -> None:
        """Wake every consumer waiting on this queue; they re-check their condition."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def requeue_front(self, messages: Iterable[_Message]) -> None:
        """Put ``messages`` (in delivery order) back at the head, flagged redelivered."""
        batch = list(messages)
        for message in batch:
            message.redelivered = True
        self.ready.extendleft(reversed(batch))
        if batch:
            self.notify()


class MemoryConsumer:
    """A subscription to one queue of a :class:`MemoryBroker`; see :class:`Consumer`.

    Created by :meth:`MemoryBroker.open_consumer`, which closes it.
    """

    def __init__(self, broker: MemoryBroker, queue: _Queue, prefetch: int) -> None:
        self._broker = broker
        self._queue = queue
        self._prefetch = prefetch
        # Delivery tag -> message; insertion order is delivery order.
        self._unsettled: dict[int, _Message] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<MemoryConsumer queue={self._queue.name!r} {state} prefetch={self._prefetch} "
            f"unsettled={len(self._unsettled)}>"
        )

    @property
    def queue(self) -> str:
        """Name of the queue it consumes."""
        return self._queue.name

    @property
    def prefetch(self) -> int:
        """Most unsettled deliveries it holds at once."""
        return self._prefetch

    @property
    def unsettled(self) -> int:
        """Deliveries it holds that are neither acked nor rejected."""
        return len(self._unsettled)

    async def receive_batch(self, max_messages: int) -> list[Delivery]:
        """Wait for a ready message and prefetch room, then take up to ``max_messages``.

        Args:
            max_messages: the most deliveries to return; at least 1.

        Returns:
            Between 1 and ``min(max_messages, room in the prefetch window)`` deliveries,
            in queue order.

        Raises:
            ValueError: ``max_messages`` is below 1.
            BrokerUnavailable: the consumer or the broker is closed.

        Cancellation:
            Safe: a cancelled call takes nothing from the queue.
        """
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, not {max_messages}.")
        await anyio.lowlevel.checkpoint_if_cancelled()
        while True:
            self._check_open("receive from")
            self._queue.promote_due()
            room = self._prefetch - len(self._unsettled)
            if room > 0 and self._queue.ready:
                deliveries = self._take(min(max_messages, room, len(self._queue.ready)))
                # Not cancellable, so the deliveries taken above always reach the caller.
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return deliveries
            # Woken by a publish, a requeue, a settlement or a close, or when the next
            # delayed message is due; then re-check.
            with anyio.move_on_after(self._queue.wait_s()):
                await self._queue.changed().wait()

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge ``deliveries``; they leave the broker for good.

        Raises:
            BrokerUnavailable: a delivery tag is not outstanding on this consumer (already
                settled, or delivered by another consumer); nothing was settled then.
        """
        await anyio.lowlevel.checkpoint()
        settled = self._settle(deliveries, "ack")
        self._queue.acked += len(settled)
        if settled:
            self._queue.notify()

    async def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        """Give ``deliveries`` back: to the front of the queue, or to its dead-letter queue.

        Args:
            deliveries: deliveries of this consumer, not settled yet.
            requeue: ``True`` to deliver them again (flagged ``redelivered``); ``False``
                to dead-letter them with an ``x-death`` header (dropped when the queue has
                no dead-letter queue).

        Raises:
            BrokerUnavailable: a delivery tag is not outstanding on this consumer; nothing
                was settled then.
        """
        await anyio.lowlevel.checkpoint()
        settled = self._settle(deliveries, "reject")
        if not settled:
            return
        self._queue.rejected += len(settled)
        if requeue:
            self._queue.requeue_front(settled)
        else:
            self._broker._dead_letter(self._queue, settled)
        self._queue.notify()

    def _take(self, count: int) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for _ in range(count):
            message = self._queue.ready.popleft()
            tag = self._broker._next_delivery_tag()
            self._unsettled[tag] = message
            deliveries.append(
                Delivery(
                    body=message.body,
                    delivery_tag=tag,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    redelivered=message.redelivered,
                    # A deep copy: x-death entries are dicts the consumer may mutate.
                    headers=copy.deepcopy(message.headers),
                    queue=self._queue.name,
                )
            )
        return deliveries

    def _settle(self, deliveries: Sequence[Delivery], verb: str) -> list[_Message]:
        """Remove ``deliveries`` from the unsettled set, all or none; in delivery order."""
        self._check_open(verb)
        return take_unsettled(self._unsettled, deliveries, verb=verb, queue=self._queue.name)

    def _check_open(self, verb: str) -> None:
        if self._closed:
            raise BrokerUnavailable(
                f"Cannot {verb} this consumer of queue {self._queue.name!r}: it is closed; "
                "open a new one with open_consumer()."
            )
        self._broker._check_open(f"{verb} queue {self._queue.name!r}")

    def _close(self) -> None:
        """Return unsettled deliveries to the front of the queue, in delivery order."""
        if self._closed:
            return
        self._closed = True
        self._queue.consumers.discard(self)
        unsettled = list(self._unsettled.values())
        self._unsettled.clear()
        if not self._broker.closed:
            self._queue.requeue_front(unsettled)
        # Wake a receive_batch of this consumer running in another task, so it fails.
        self._queue.notify()


class MemoryBroker(anyio.AsyncContextManagerMixin):
    """An in-process :class:`~actors.broker.Broker` with RabbitMQ-like semantics.

    Usable as is, or entered as an async context manager (see :func:`open_memory_broker`)
    to persist messages across runs when ``state_path`` is set.

    Resource handling:
        Entering loads (and removes from ``state_path``) the messages the last run
        spilled. Leaving closes the broker and writes every message still held to
        ``state_path``: first the unsettled deliveries of consumers still open (flagged
        redelivered), then the ready ones, each queue in order. The write runs in a
        worker thread and completes even when the exiting task is cancelled.

    Args:
        state_path: SQLite file the messages are spilled to at exit and loaded from at
            entry; ``None`` keeps everything in memory only.
    """

    def __init__(self, state_path: pathlib.Path | None = None) -> None:
        self._state_path = state_path
        self._queues: dict[str, _Queue] = {}
        self._tags = itertools.count(1)
        self._closed = False

    def __repr__(self) -> str:
        ready = sum(len(queue.ready) for queue in self._queues.values())
        unacked = sum(
            consumer.unsettled for queue in self._queues.values() for consumer in queue.consumers
        )
        state = "closed" if self._closed else "open"
        return f"<MemoryBroker {state} queues={len(self._queues)} ready={ready} unacked={unacked}>"

    @property
    def closed(self) -> bool:
        """Whether the broker was closed (left as a context manager)."""
        return self._closed

    @property
    def state_path(self) -> pathlib.Path | None:
        """Where messages are spilled at exit, if anywhere."""
        return self._state_path

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[MemoryBroker]:
        self._check_open("enter")
        if self._state_path is not None:
            await self._load()
        try:
            yield self
        finally:
            await self._close_and_spill()

    async def declare_topology(self) -> None:
        """Declare the observatory's queues (idempotent).

        ``jobs.created`` and ``jobs.completed`` dead-letter into ``jobs.dead-letter``.
        """
        await self.declare_queue(JOBS_DEAD_LETTER)
        await self.declare_queue(
            JOBS_CREATED, dead_letter_to=JOBS_DEAD_LETTER, max_priority=JOBS_CREATED_MAX_PRIORITY
        )
        await self.declare_queue(JOBS_COMPLETED, dead_letter_to=JOBS_DEAD_LETTER)

    async def declare_queue(
        self, name: str, *, dead_letter_to: str | None = None, max_priority: int | None = None
    ) -> None:
        """Declare queue ``name`` (idempotent when declared again with the same arguments).

        Args:
            name: the queue's name.
            dead_letter_to: the queue that receives messages rejected without requeue;
                it must be declared first. ``None`` drops them.
            max_priority: make it a priority queue, as RabbitMQ's ``x-max-priority``:
                higher ``priority`` (0 to this) first, arrival order within one.

        Raises:
            BrokerUnavailable: the queue exists with another dead-letter queue (as
                RabbitMQ refuses with ``PRECONDITION_FAILED``), or ``dead_letter_to`` is
                not declared, or the broker is closed.
        """
        await anyio.lowlevel.checkpoint()
        self._declare(name, dead_letter_to, max_priority)

    async def publish_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Append ``messages`` to ``queue`` in order and wake its waiting consumers.

        Raises:
            BrokerUnavailable: ``queue`` was not declared, or the broker is closed;
                nothing was published then.
        """
        await anyio.lowlevel.checkpoint()
        target = self._get_queue(queue, "publish to")
        target.ready.extend(
            _Message(
                body=message.body,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                headers=dict(message.headers),
                priority=message.priority,
            )
            for message in messages
        )
        target.published += len(messages)
        if messages:
            target.notify()

    async def publish_delayed(
        self, queue: str, messages: Sequence[OutgoingMessage], *, delay_s: float
    ) -> None:
        """Hold ``messages`` for ``delay_s`` (capped as on RabbitMQ), then append them to ``queue``.

        Any declared queue takes delayed messages here (on RabbitMQ only ``jobs.created``).
        When due, each carries an ``x-death`` entry (reason ``expired``) naming the retry
        queue RabbitMQ would have parked it in.

        Raises:
            ValueError: ``delay_s`` is negative.
            BrokerUnavailable: ``queue`` was not declared, or the broker is closed;
                nothing was published then.
        """
        if delay_s < 0:
            raise ValueError(f"delay_s must not be negative, not {delay_s}.")
        await anyio.lowlevel.checkpoint()
        target = self._get_queue(queue, "publish to")
        bucket = retry_bucket(delay_s)
        due = anyio.current_time() + min(float(delay_s), float(bucket))
        for message in messages:
            target.delayed.push(
                due,
                _Message(
                    body=message.body,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    headers=_with_death(message.headers, retry_queue(bucket), "expired"),
                    priority=message.priority,
                ),
            )
        target.published += len(messages)
        if messages:
            # A waiting consumer re-computes how long to sleep.
            target.notify()

    @asynccontextmanager
    async def open_consumer(self, queue: str, *, prefetch: int) -> AsyncIterator[MemoryConsumer]:
        """Subscribe to ``queue`` with a prefetch window of ``prefetch`` deliveries.

        Resource handling:
            Leaving the context, normally or by an exception or cancellation, puts every
            unsettled delivery back at the front of the queue, flagged redelivered, in
            the order it was delivered.

        Raises:
            ValueError: ``prefetch`` is below 1.
            BrokerUnavailable: ``queue`` was not declared, or the broker is closed.
        """
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}.")
        await anyio.lowlevel.checkpoint()
        target = self._get_queue(queue, "consume from")
        consumer = MemoryConsumer(self, target, prefetch)
        target.consumers.add(consumer)
        try:
            yield consumer
        finally:
            consumer._close()

    async def queue_depth(self, queue: str) -> int:
        """How many messages are ready in ``queue`` (not counting unsettled deliveries).

        Raises:
            BrokerUnavailable: ``queue`` was not declared, or the broker is closed.
        """
        await anyio.lowlevel.checkpoint()
        target = self._get_queue(queue, "measure")
        target.promote_due()
        return len(target.ready)

    def is_available(self) -> bool:
        """Whether the broker can be used: true until it is closed."""
        return not self._closed

    def statistics(self) -> BrokerStatistics:
        """A frozen record of every queue's counters."""
        return BrokerStatistics(
            queues=MappingProxyType(
                {
                    queue.name: QueueStatistics(
                        name=queue.name,
                        dead_letter_to=queue.dead_letter_to,
                        ready=len(queue.ready),
                        unacked=sum(consumer.unsettled for consumer in queue.consumers),
                        consumers=len(queue.consumers),
                        published=queue.published,
                        acked=queue.acked,
                        rejected=queue.rejected,
                        dead_lettered=queue.dead_lettered,
                        delayed=len(queue.delayed),
                    )
                    for queue in self._queues.values()
                }
            )
        )

    # -- internals shared with MemoryConsumer -------------------------------------------

    def _next_delivery_tag(self) -> int:
        # Unique across the broker, so a tag of another consumer is never mistaken for ours.
        return next(self._tags)

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise BrokerUnavailable(
                f"Cannot {action}: the in-process broker is closed; open a new MemoryBroker."
            )

    def _get_queue(self, name: str, action: str) -> _Queue:
        self._check_open(f"{action} queue {name!r}")
        try:
            return self._queues[name]
        except KeyError:
            raise BrokerUnavailable(
                f"Cannot {action} queue {name!r}: it is not declared; call "
                "declare_topology() (or declare_queue()) first."
            ) from None

    def _declare(
        self, name: str, dead_letter_to: str | None, max_priority: int | None = None
    ) -> _Queue:
        self._check_open(f"declare queue {name!r}")
        existing = self._queues.get(name)
        if existing is not None:
            if (existing.dead_letter_to, existing.ready.max_priority) != (
                dead_letter_to,
                max_priority,
            ):
                raise BrokerUnavailable(
                    f"Cannot declare queue {name!r} with dead_letter_to={dead_letter_to!r}, "
                    f"max_priority={max_priority!r}: it exists with "
                    f"dead_letter_to={existing.dead_letter_to!r}, "
                    f"max_priority={existing.ready.max_priority!r}."
                )
            return existing
        if dead_letter_to is not None and dead_letter_to not in self._queues:
            raise BrokerUnavailable(
                f"Cannot declare queue {name!r} dead-lettering into {dead_letter_to!r}: "
                f"declare {dead_letter_to!r} first."
            )
        queue = _Queue(name=name, dead_letter_to=dead_letter_to, ready=_ready(max_priority))
        self._queues[name] = queue
        return queue

    def _dead_letter(self, source: _Queue, messages: Sequence[_Message]) -> None:
        if source.dead_letter_to is None:
            log.warning(
                "broker.dropped queue=%s messages=%d reason=rejected-without-dlq",
                source.name,
                len(messages),
            )
            return
        target = self._queues[source.dead_letter_to]
        for message in messages:
            target.ready.append(
                _Message(
                    body=message.body,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    headers=_with_death(message.headers, source.name, "rejected"),
                    priority=message.priority,
                )
            )
        target.dead_lettered += len(messages)
        target.notify()

    # -- durability ----------------------------------------------------------------------

    async def _load(self) -> None:
        assert self._state_path is not None
        path = self._state_path
        try:
            queues, messages, delayed = await anyio.to_thread.run_sync(_load_spilled, path)
        except (OSError, sqlite3.Error) as exc:
            raise BrokerUnavailable(
                f"Cannot load the in-process broker's messages from {str(path)!r}: {exc}"
            ) from exc
        for name, dead_letter_to, max_priority in queues:
            self._declare(name, dead_letter_to, max_priority)
        for queue_name, message in messages:
            queue = self._queues.get(queue_name) or self._declare(queue_name, None)
            queue.ready.append(message)
        now = anyio.current_time()
        for queue_name, wait_s, message in delayed:
            queue = self._queues.get(queue_name) or self._declare(queue_name, None)
            queue.delayed.push(now + wait_s, message)
        if messages or delayed:
            log.info(
                "broker.loaded messages=%d delayed=%d path=%s", len(messages), len(delayed), path
            )

    async def _close_and_spill(self) -> None:
        # Snapshot and close without awaiting, so nothing can change in between.
        queues: list[tuple[str, str | None, int | None]] = []
        messages: list[tuple[str, _Message]] = []
        delayed: list[tuple[str, float, _Message]] = []
        now = anyio.current_time()
        for queue in self._queues.values():
            delayed.extend((queue.name, wait_s, m) for wait_s, m in queue.delayed.drain(now))
            queues.append((queue.name, queue.dead_letter_to, queue.ready.max_priority))
            unsettled: list[tuple[int, _Message]] = []
            for consumer in queue.consumers:
                # The broker takes them over; the consumer's later close finds none.
                unsettled.extend(consumer._unsettled.items())
                consumer._unsettled.clear()
            for _, message in sorted(unsettled, key=lambda item: item[0]):
                message.redelivered = True
                messages.append((queue.name, message))
            messages.extend((queue.name, message) for message in queue.ready)
            queue.ready.clear()
        self._closed = True
        for queue in self._queues.values():
            queue.notify()
        if self._state_path is None:
            if messages or delayed:
                log.warning(
                    "broker.discarded messages=%d reason=no-state-path",
                    len(messages) + len(delayed),
                )
            return
        path = self._state_path
        # A bounded shield: the spill must happen even when the exit is a cancellation,
        # and to_thread.run_sync finishes its (local, short) write in any case.
        with anyio.move_on_after(_SPILL_TIMEOUT_S, shield=True):
            try:
                await anyio.to_thread.run_sync(_spill, path, queues, messages, delayed)
            except (OSError, sqlite3.Error) as exc:
                raise BrokerUnavailable(
                    f"Cannot spill {len(messages)} in-process broker messages to "
                    f"{str(path)!r}; they are lost: {exc}"
                ) from exc
        log.info("broker.spilled messages=%d delayed=%d path=%s", len(messages), len(delayed), path)


def open_memory_broker(state_path: pathlib.Path | None = None) -> MemoryBroker:
    """Return a :class:`MemoryBroker` to enter with ``async with``.

    Example::

        async with open_memory_broker(data_dir / "broker.sqlite3") as broker:
            await broker.declare_topology()
            ...

    Args:
        state_path: SQLite file to load messages from at entry and spill them to at exit;
            ``None`` keeps them in memory only.
    """
    return MemoryBroker(state_path)


def _with_death(headers: Mapping[str, object], queue: str, reason: str) -> dict[str, object]:
    """Copy ``headers`` with an ``x-death`` entry for ``queue`` counted up, as RabbitMQ does."""
    result = dict(headers)
    deaths: list[dict[str, object]] = []
    previous = result.get("x-death")
    if isinstance(previous, list):
        deaths = [dict(entry) for entry in previous if isinstance(entry, dict)]
    for index, entry in enumerate(deaths):
        if entry.get("queue") == queue and entry.get("reason") == reason:
            count = entry.get("count")
            entry["count"] = (count if isinstance(count, int) else 0) + 1
            # RabbitMQ keeps the most recent death first.
            deaths.insert(0, deaths.pop(index))
            break
    else:
        deaths.insert(0, {"queue": queue, "reason": reason, "count": 1})
    result["x-death"] = deaths
    return result
