"""Messages waiting out a delay before they become ready: the in-process retry queues.

RabbitMQ delays a retry by parking the message in a queue with a TTL that dead-letters
it back into ``jobs.created`` (:mod:`actors.broker.names`). The in-process broker keeps
such messages in a :class:`DelayedMessages` heap per target queue instead, and moves
those that are due to the queue's end whenever a consumer or a depth probe looks at it,
so no timer task is needed: a waiting consumer sleeps at most until the next one is due.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

__all__ = ["DelayedMessages"]

T = TypeVar("T")


class DelayedMessages(Generic[T]):
    """A heap of messages by due time (seconds on the event loop's clock), FIFO among equals."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, message: T) -> None:
        """Hold ``message`` until ``due``."""
        heapq.heappush(self._heap, (due, next(self._seq), message))

    def pop_due(self, now: float) -> list[T]:
        """Remove and return the messages due at ``now``, in due order."""
        due: list[T] = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def next_due(self) -> float | None:
        """When the next message is due, or ``None`` when none waits."""
        return self._heap[0][0] if self._heap else None

    def drain(self, now: float) -> list[tuple[float, T]]:
        """Remove every message; return each with its remaining wait (0 if due), in due order."""
        items = sorted(self._heap)
        self._heap.clear()
        return [(max(0.0, due - now), message) for due, _, message in items]
