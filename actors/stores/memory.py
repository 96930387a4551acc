"""In-process counters, rebuilt from the event store when the embedded observatory starts."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.events import EventType
from actors.domain.stats import COUNTED_EVENT_TYPES, Stats

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.events import Envelope
    from actors.stores._protocols import EventStore

__all__ = ["MemoryCounters", "rebuild_counters"]

_REPLAY_BATCH_SIZE = 500
"""Events applied per step while rebuilding."""


class MemoryCounters:
    """A :class:`~actors.stores.Counters` kept in memory, following :mod:`actors.domain.stats`.

    Every event moves ``lastEventTime``; events of :data:`COUNTED_EVENT_TYPES` are
    counted once per ``eventId`` (the ids counted are remembered for the process's life,
    one per job for each counted type). Nothing survives a restart: :meth:`rebuild`
    replays the event store, which holds every event exactly once.
    """

    def __init__(self, *, remember_ids: bool = True) -> None:
        self._stats = Stats()
        self._counted_ids: set[str] = set()
        self.remember_ids = remember_ids
        """``False``: every event applied is counted, the caller having left out those
        counted before (the embedded observatory counts what its event store newly
        stored), so memory does not grow with every job ever run."""

    def __repr__(self) -> str:
        stats = self._stats
        return (
            f"<MemoryCounters total={stats.total_jobs} completed={stats.completed_jobs} "
            f"failed={stats.failed_jobs} last_event_time={stats.last_event_time!r}>"
        )

    def is_available(self) -> bool:
        """Always: the counters live in this process."""
        return True

    async def apply(self, events: Sequence[Envelope]) -> int:
        """Count ``events``; an ``eventId`` already counted is skipped.

        Returns:
            How many events changed a counter (new events of a counted type). Events of
            other types only move ``lastEventTime`` and are not included.
        """
        await anyio.lowlevel.checkpoint()
        return self._apply(events)

    async def snapshot(self) -> Stats:
        """A copy of the counters now; later events do not change it."""
        await anyio.lowlevel.checkpoint()
        return copy.deepcopy(self._stats)

    def counted_ids(self) -> frozenset[str]:
        """The ids of the events counted so far (what a copy elsewhere must remember)."""
        return frozenset(self._counted_ids)

    async def lost(self) -> bool:
        """Never: they live and die with this process."""
        await anyio.lowlevel.checkpoint()
        return False

    async def rebuild(self, events: EventStore) -> None:
        """Replace the counters with the result of replaying every event in ``events``.

        Call it at start, before live events are applied: events applied while it runs
        are discarded with the old state.

        Raises:
            StoreUnavailable: the event store cannot be read; the counters are unchanged.
        """
        rebuilt = MemoryCounters(remember_ids=self.remember_ids)
        batch: list[Envelope] = []
        async for event in events.iter_events(frozenset(EventType)):
            batch.append(event)
            if len(batch) >= _REPLAY_BATCH_SIZE:
                rebuilt._apply(batch)
                batch.clear()
        rebuilt._apply(batch)
        self._stats, self._counted_ids = rebuilt._stats, rebuilt._counted_ids

    def _apply(self, events: Sequence[Envelope]) -> int:
        new = 0
        for event in events:
            if event.event_type in COUNTED_EVENT_TYPES:
                if self.remember_ids:
                    if event.event_id in self._counted_ids:
                        continue
                    self._counted_ids.add(event.event_id)
                new += 1
            self._stats.count(event.event_type, event.job_type, event.occurred_at)
        return new


async def rebuild_counters(events: EventStore) -> MemoryCounters:
    """Return new :class:`MemoryCounters` holding every event of ``events`` counted.

    Raises:
        StoreUnavailable: the event store cannot be read.
    """
    counters = MemoryCounters()
    await counters.rebuild(events)
    return counters
