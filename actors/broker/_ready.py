"""A memory queue's ready messages: in arrival order, or by priority as RabbitMQ does.

A queue declared with ``max_priority`` delivers its highest-priority message first, and
within one priority in arrival order (a requeued delivery goes back to the head of its
own priority); a message's priority above the maximum counts as the maximum, none as 0,
as on a RabbitMQ priority queue. Any other queue is one FIFO whatever the messages say.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from actors.broker._spill import Message

__all__ = ["ReadyMessages"]


class ReadyMessages:
    """The ready messages of one queue (the subset of ``deque`` the memory broker uses)."""

    __slots__ = ("_levels", "_max_priority", "_size")

    def __init__(self, max_priority: int | None = None) -> None:
        self._max_priority = max_priority
        # Highest level first: iteration and popleft go down the levels.
        self._levels: list[deque[Message]] = [deque() for _ in range((max_priority or 0) + 1)]
        self._size = 0

    @property
    def max_priority(self) -> int | None:
        """The queue's ``x-max-priority``; ``None`` for a plain FIFO queue."""
        return self._max_priority

    def _level(self, message: Message) -> deque[Message]:
        if self._max_priority is None:
            return self._levels[0]
        priority = min(max(message.priority or 0, 0), self._max_priority)
        return self._levels[self._max_priority - priority]

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __iter__(self) -> Iterator[Message]:
        """The messages in delivery order."""
        for level in self._levels:
            yield from level

    def append(self, message: Message) -> None:
        """Queue ``message`` behind the others of its priority."""
        self._level(message).append(message)
        self._size += 1

    def extend(self, messages: Iterable[Message]) -> None:
        """Queue ``messages`` in order, each behind the others of its priority."""
        for message in messages:
            self.append(message)

    def extendleft(self, messages: Iterable[Message]) -> None:
        """Put each of ``messages`` at the head of its priority (like ``deque.extendleft``:
        the last one given ends up first; pass them reversed to keep their order)."""
        for message in messages:
            self._level(message).appendleft(message)
            self._size += 1

    def popleft(self) -> Message:
        """Take the next message to deliver.

        Raises:
            IndexError: there is none.
        """
        for level in self._levels:
            if level:
                self._size -= 1
                return level.popleft()
        raise IndexError("pop from an empty queue")

    def clear(self) -> None:
        """Drop every message."""
        for level in self._levels:
            level.clear()
        self._size = 0
