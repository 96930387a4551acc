"""The in-memory job store's schedules: a dict, changed without awaiting halfway."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.clock import format_timestamp
from actors.domain.schedules import Firing, Schedule, plan_firing

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

__all__ = ["MemorySchedules"]


class MemorySchedules:
    """The :class:`~actors.stores.ScheduleStore` half of
    :class:`~actors.stores.MemoryJobStore`: one process, so every call is atomic."""

    def __init__(self) -> None:
        self._schedules: dict[str, Schedule] = {}

    async def add_schedule(self, schedule: Schedule) -> None:
        """Keep a new schedule; see :class:`~actors.stores.ScheduleStore`."""
        await anyio.lowlevel.checkpoint()
        if schedule.id in self._schedules:
            raise ValueError(f"Schedule {schedule.id!r} exists already.")
        self._schedules[schedule.id] = schedule

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule, or ``None``."""
        await anyio.lowlevel.checkpoint()
        return self._schedules.get(schedule_id)

    async def list_schedules(self, *, limit: int) -> list[Schedule]:
        """Up to ``limit`` schedules by name, then id."""
        await anyio.lowlevel.checkpoint()
        ordered = sorted(self._schedules.values(), key=lambda s: (s.name, s.id))
        return ordered[:limit]

    async def change_schedule(
        self, schedule_id: str, change: Callable[[Schedule], Schedule]
    ) -> Schedule | None:
        """Replace the schedule with ``change(schedule)``; ``None`` when it does not exist."""
        await anyio.lowlevel.checkpoint()
        current = self._schedules.get(schedule_id)
        if current is None:
            return None
        self._schedules[schedule_id] = changed = change(current)
        return changed

    async def remove_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule; whether it existed."""
        await anyio.lowlevel.checkpoint()
        return self._schedules.pop(schedule_id, None) is not None

    async def fire_due_schedules(
        self, now: datetime, *, limit: int, grace_s: float
    ) -> list[Firing]:
        """Plan and store the firings of the due schedules; see
        :class:`~actors.stores.ScheduleStore`."""
        await anyio.lowlevel.checkpoint()
        stamp = format_timestamp(now)
        due = sorted(
            (
                s
                for s in self._schedules.values()
                if s.enabled and s.next_run_at is not None and s.next_run_at <= stamp
            ),
            key=lambda s: (s.next_run_at or "", s.id),
        )[:limit]
        firings = [plan_firing(schedule, now, grace_s=grace_s) for schedule in due]
        for firing in firings:
            self._schedules[firing.schedule.id] = firing.schedule
        return firings
