"""The SQLite job store's schedules: migration 9 and the calls on them.

One row per schedule: its document (:meth:`~actors.domain.schedules.Schedule.to_json`)
and, beside it, the columns the scheduler's query needs. Each call is one transaction
(``BEGIN IMMEDIATE``: one writer at a time across processes), so a scheduler pass reads
the due schedules and moves their next runs in one go.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp
from actors.domain.schedules import Firing, Schedule, plan_firing
from actors.stores._sqlite_database import dumps, text

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = ["SCHEDULES_MIGRATION", "SQLiteSchedules"]

SCHEDULES_MIGRATION = (
    """CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        next_run_at TEXT,
        document TEXT NOT NULL
    )""",
    "CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1",
    "CREATE INDEX schedules_by_name ON schedules (name, id)",
)
"""Migration 9: recurring schedules."""

_UPSERT = """
INSERT INTO schedules (id, name, enabled, next_run_at, document) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name, enabled = excluded.enabled,
    next_run_at = excluded.next_run_at, document = excluded.document
"""


def _row(schedule: Schedule) -> tuple[object, ...]:
    return (
        schedule.id,
        schedule.name,
        1 if schedule.enabled else 0,
        schedule.next_run_at,
        dumps(schedule.to_json()),
    )


def _schedule(value: object) -> Schedule:
    return Schedule.from_json(json.loads(text(value)))


class SQLiteSchedules:
    """The :class:`~actors.stores.ScheduleStore` half of
    :class:`~actors.stores.SQLiteJobStore`."""

    _db: SQLiteDatabase

    async def add_schedule(self, schedule: Schedule) -> None:
        """Keep a new schedule; see :class:`~actors.stores.ScheduleStore`.

        Raises:
            ValueError: a schedule with its id exists.
            StoreUnavailable: the file cannot be written.
        """
        with self._db.failures("add a schedule"):
            async with self._db.transaction():
                found = await self._db.fetchall(
                    "SELECT 1 FROM schedules WHERE id = ?", (schedule.id,)
                )
                if found:
                    raise ValueError(f"Schedule {schedule.id!r} exists already.")
                await self._db.execute(_UPSERT, _row(schedule))

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule, or ``None``.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures("read a schedule"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    "SELECT document FROM schedules WHERE id = ?", (schedule_id,)
                )
        return _schedule(rows[0][0]) if rows else None

    async def list_schedules(self, *, limit: int) -> list[Schedule]:
        """Up to ``limit`` schedules by name, then id.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures("list schedules"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    "SELECT document FROM schedules ORDER BY name, id LIMIT ?", (limit,)
                )
        return [_schedule(row[0]) for row in rows]

    async def change_schedule(
        self, schedule_id: str, change: Callable[[Schedule], Schedule]
    ) -> Schedule | None:
        """Replace the schedule with ``change(schedule)`` in one transaction.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was changed.
        """
        with self._db.failures("change a schedule"):
            async with self._db.transaction():
                rows = await self._db.fetchall(
                    "SELECT document FROM schedules WHERE id = ?", (schedule_id,)
                )
                if not rows:
                    return None
                changed = change(_schedule(rows[0][0]))
                await self._db.execute(_UPSERT, _row(changed))
        return changed

    async def remove_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule; whether it existed.

        Raises:
            StoreUnavailable: the file cannot be written.
        """
        with self._db.failures("remove a schedule"):
            async with self._db.transaction():
                removed = await self._db.execute(
                    "DELETE FROM schedules WHERE id = ?", (schedule_id,)
                )
        return removed > 0

    async def fire_due_schedules(
        self, now: datetime, *, limit: int, grace_s: float
    ) -> list[Firing]:
        """Plan and store the firings of the due schedules in one write transaction; see
        :class:`~actors.stores.ScheduleStore`.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was taken.
        """
        with self._db.failures("fire due schedules"):
            async with self._db.transaction():
                rows = await self._db.fetchall(
                    "SELECT document FROM schedules WHERE enabled = 1 AND next_run_at <= ? "
                    "ORDER BY next_run_at, id LIMIT ?",
                    (format_timestamp(now), limit),
                )
                firings = [plan_firing(_schedule(row[0]), now, grace_s=grace_s) for row in rows]
                if firings:
                    await self._db.executemany(_UPSERT, [_row(f.schedule) for f in firings])
        return firings
