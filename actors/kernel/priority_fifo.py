"""A FIFO by priority: the highest priority first, arrival order within one.

What a RabbitMQ priority queue does, as a data structure: the memory broker's ready
messages (a queue declared with ``max_priority``) and the processor's jobs waiting for
room both use it. A priority above the maximum counts as the maximum, ``None`` (or below
0) as 0; without a maximum it is one plain FIFO whatever the items say.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["PriorityFifo"]

T = TypeVar("T")


class PriorityFifo(Generic[T]):
    """Items by priority, then arrival (the subset of ``deque`` its users need)."""

    __slots__ = ("_levels", "_max_priority", "_priority_of", "_size")

    def __init__(
        self, priority_of: Callable[[T], int | None], max_priority: int | None = None
    ) -> None:
        """``priority_of`` reads an item's priority; ``max_priority`` ``None`` for one FIFO."""
        self._priority_of = priority_of
        self._max_priority = max_priority
        # Highest level first: iteration and popleft go down the levels.
        self._levels: list[deque[T]] = [deque() for _ in range((max_priority or 0) + 1)]
        self._size = 0

    @property
    def max_priority(self) -> int | None:
        """The highest priority (levels 0 to it); ``None`` for a plain FIFO."""
        return self._max_priority

    def _level(self, item: T) -> deque[T]:
        if self._max_priority is None:
            return self._levels[0]
        priority = min(max(self._priority_of(item) or 0, 0), self._max_priority)
        return self._levels[self._max_priority - priority]

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __iter__(self) -> Iterator[T]:
        """The items in the order :meth:`popleft` takes them."""
        for level in self._levels:
            yield from level

    def append(self, item: T) -> None:
        """Queue ``item`` behind the others of its priority."""
        self._level(item).append(item)
        self._size += 1

    def extend(self, items: Iterable[T]) -> None:
        """Queue ``items`` in order, each behind the others of its priority."""
        for item in items:
            self.append(item)

    def extendleft(self, items: Iterable[T]) -> None:
        """Put each of ``items`` at the head of its priority (like ``deque.extendleft``:
        the last one given ends up first; pass them reversed to keep their order)."""
        for item in items:
            self._level(item).appendleft(item)
            self._size += 1

    def popleft(self) -> T:
        """Take the next item (the oldest of the highest priority).

        Raises:
            IndexError: there is none.
        """
        for level in self._levels:
            if level:
                self._size -= 1
                return level.popleft()
        raise IndexError("pop from an empty queue")

    def clear(self) -> None:
        """Drop every item."""
        for level in self._levels:
            level.clear()
        self._size = 0
