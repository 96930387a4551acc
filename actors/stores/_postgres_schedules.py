"""The PostgreSQL job store's schedules: migration 9 and the calls on them.

One row per schedule: its document (:meth:`~actors.domain.schedules.Schedule.to_json`)
and, beside it, the columns the scheduler's query needs.

**One firing per occurrence, whatever the number of gateways.** A scheduler pass is one
transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` takes the due schedules no other pass
holds, their firings are planned (:func:`~actors.domain.schedules.plan_firing`) and their
next runs written, then it commits. A pass running at the same time skips the rows this
one locked; one starting after the commit finds their next runs in the future (under
READ COMMITTED a row's lock is taken on its newest version, whose ``next_run_at`` is
checked again). No leader to elect, no lease to renew: the row locks are the lease, and
a pass whose gateway dies mid-way is rolled back with its connection.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp
from actors.domain.schedules import Firing, Schedule, plan_firing
from actors.stores._postgres_connection import PostgresCalls

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from typing import TypeVar

    from actors.stores._postgres_connection import Connection, Progress

    _T = TypeVar("_T")

__all__ = ["SCHEDULES_MIGRATION_SQL", "PostgresSchedules"]

SCHEDULES_MIGRATION_SQL = """
CREATE TABLE schedules (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    enabled boolean NOT NULL,
    next_run_at text COLLATE "C",
    document text NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled;
CREATE INDEX schedules_by_name ON schedules (name, id);
"""
"""Migration 9: recurring schedules."""

_INSERT = """
INSERT INTO schedules (id, name, enabled, next_run_at, document) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING
"""
_UPDATE = """
UPDATE schedules SET name = $2, enabled = $3, next_run_at = $4, document = $5 WHERE id = $1
"""
_UPDATE_MANY = """
UPDATE schedules AS s SET next_run_at = u.next_run_at, document = u.document
FROM unnest($1::text[], $2::text[], $3::text[]) AS u (id, next_run_at, document)
WHERE s.id = u.id
"""
_TAKE_DUE = """
SELECT document FROM schedules
WHERE enabled AND next_run_at <= $1
ORDER BY next_run_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


def _arguments(schedule: Schedule) -> tuple[object, ...]:
    return (
        schedule.id,
        schedule.name,
        schedule.enabled,
        schedule.next_run_at,
        json.dumps(schedule.to_json(), separators=(",", ":")),
    )


def _schedule(value: object) -> Schedule:
    assert isinstance(value, str)
    return Schedule.from_json(json.loads(value))


class PostgresSchedules(PostgresCalls):
    """The :class:`~actors.stores.ScheduleStore` half of
    :class:`~actors.stores.PostgresJobStore` (errors as its other calls raise them)."""

    async def add_schedule(self, schedule: Schedule) -> None:
        """Keep a new schedule; see :class:`~actors.stores.ScheduleStore`.

        Raises:
            ValueError: a schedule with its id exists.
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """

        async def add(conn: Connection, progress: Progress) -> str:
            progress.wrote = True
            return await conn.execute(_INSERT, *_arguments(schedule))

        status = await self._call("add a schedule", add)
        if status.endswith(" 0"):
            raise ValueError(f"Schedule {schedule.id!r} exists already.")

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule, or ``None``.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        rows = await self._call(
            "read a schedule",
            lambda conn, _: conn.fetch("SELECT document FROM schedules WHERE id = $1", schedule_id),
        )
        return _schedule(rows[0][0]) if rows else None

    async def list_schedules(self, *, limit: int) -> list[Schedule]:
        """Up to ``limit`` schedules by name, then id.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        rows = await self._call(
            "list schedules",
            lambda conn, _: conn.fetch(
                "SELECT document FROM schedules ORDER BY name, id LIMIT $1", limit
            ),
        )
        return [_schedule(row[0]) for row in rows]

    async def change_schedule(
        self, schedule_id: str, change: Callable[[Schedule], Schedule]
    ) -> Schedule | None:
        """Replace the schedule with ``change(schedule)``, its row locked meanwhile.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """

        async def apply(conn: Connection, progress: Progress) -> Schedule | None:
            async with conn.transaction():
                rows = await conn.fetch(
                    "SELECT document FROM schedules WHERE id = $1 FOR UPDATE", schedule_id
                )
                if not rows:
                    return None
                changed = change(_schedule(rows[0][0]))
                progress.wrote = True
                await conn.execute(_UPDATE, *_arguments(changed))
                return changed

        return await self._call("change a schedule", apply)

    async def remove_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule; whether it existed.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """

        async def remove(conn: Connection, progress: Progress) -> str:
            progress.wrote = True
            return await conn.execute("DELETE FROM schedules WHERE id = $1", schedule_id)

        return not (await self._call("remove a schedule", remove)).endswith(" 0")

    async def fire_due_schedules(
        self, now: datetime, *, limit: int, grace_s: float
    ) -> list[Firing]:
        """Take the due schedules no other pass holds and store their firings, in one
        transaction; see the module.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed; nothing was taken.
        """

        async def fire(conn: Connection, progress: Progress) -> list[Firing]:
            # Not retried once sent: a commit whose answer was lost may have taken them.
            progress.wrote = True
            async with conn.transaction():
                rows = await conn.fetch(_TAKE_DUE, format_timestamp(now), limit)
                firings = [plan_firing(_schedule(row[0]), now, grace_s=grace_s) for row in rows]
                if firings:
                    updated = [_arguments(f.schedule) for f in firings]
                    await conn.execute(
                        _UPDATE_MANY,
                        [str(u[0]) for u in updated],
                        [u[3] for u in updated],
                        [u[4] for u in updated],
                    )
                return firings

        return await self._call("fire due schedules", fire)
