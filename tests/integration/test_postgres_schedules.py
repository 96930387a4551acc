"""Issue 18: two schedulers' passes at once on one PostgreSQL schema, each with a job
store (a pool) of its own: every due occurrence is handed to exactly one of them
(``FOR UPDATE SKIP LOCKED`` with the next-run update in the same transaction)."""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from actors.domain.clock import format_timestamp
from actors.domain.schedules import apply_changes
from actors.stores.postgres import open_postgres_job_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from actors.stores import PostgresJobStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULES = 40
PASSES = 30


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[list[PostgresJobStore]]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        async with AsyncExitStack() as stack:
            yield [
                await stack.enter_async_context(
                    open_postgres_job_store(postgres_url, schema=schema, max_size=4)
                )
                for _ in range(2)
            ]
    finally:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


async def test_two_schedulers_at_once_hand_out_each_occurrence_once(
    stores: list[PostgresJobStore],
) -> None:
    for n in range(SCHEDULES):
        await stores[0].add_schedule(
            apply_changes(
                {"name": f"s{n}", "interval": "1s", "job": {"type": "echo"}, "catchUp": "all"},
                current=None,
                schedule_id=f"s{n:02d}",
                now=T0,
            )
        )
    handed: Counter[tuple[str, str]] = Counter()
    by_store: Counter[int] = Counter()

    async def passes(index: int) -> None:
        for step in range(1, PASSES + 1):
            # Both go by the same clock, a second per pass: each pass finds one new
            # occurrence of every schedule, unless the other pass took it.
            now = T0 + timedelta(seconds=step, milliseconds=500)
            for firing in await stores[index].fire_due_schedules(now, limit=25, grace_s=60):
                for occurrence in firing.occurrences:
                    handed[(firing.schedule.id, occurrence)] += 1
                    by_store[index] += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(passes, 0)
        tg.start_soon(passes, 1)

    expected = {
        (f"s{n:02d}", format_timestamp(T0 + timedelta(seconds=s)))
        for n in range(SCHEDULES)
        for s in range(1, PASSES + 1)
    }
    assert [key for key, count in handed.items() if count > 1] == []
    assert set(handed) == expected
    assert sum(by_store.values()) == SCHEDULES * PASSES
    stored = await stores[1].list_schedules(limit=SCHEDULES)
    assert {s.fires for s in stored} == {PASSES}
    assert {s.next_run_at for s in stored} == {format_timestamp(T0 + timedelta(seconds=PASSES + 1))}
