"""Recurring schedules in the job store contract (every ``open_job_store`` adapter:
memory, SQLite, PostgreSQL): add, read, list, change, remove, kept across a reopen, and
the scheduler's pass (``fire_due_schedules``) that moves next runs past now."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.schedules import CatchUp, Schedule, apply_changes

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def schedule(
    schedule_id: str, *, name: str = "s", interval: str = "10s", catch_up: str = "one"
) -> Schedule:
    return apply_changes(
        {
            "name": name,
            "interval": interval,
            "job": {"type": "echo", "payload": {"n": 1}, "metadata": {"team": "a"}},
            "catchUp": catch_up,
        },
        current=None,
        schedule_id=schedule_id,
        now=_EPOCH,
    )


async def test_a_schedule_is_kept_as_added_and_across_a_reopen(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> None:
    added = schedule("a")
    async with open_job_store() as store:
        await store.add_schedule(added)
        with pytest.raises(ValueError, match=r"^Schedule 'a' exists already\.$"):
            await store.add_schedule(added)
    async with open_job_store() as store:
        assert await store.get_schedule("a") == added
        assert await store.get_schedule("missing") is None


async def test_schedules_are_listed_by_name_then_id_up_to_the_limit(job_store: JobStore) -> None:
    for schedule_id, name in [("3", "beta"), ("2", "alpha"), ("1", "beta")]:
        await job_store.add_schedule(schedule(schedule_id, name=name))

    listed = await job_store.list_schedules(limit=10)
    first_two = await job_store.list_schedules(limit=2)

    assert [(s.name, s.id) for s in listed] == [("alpha", "2"), ("beta", "1"), ("beta", "3")]
    assert [s.id for s in first_two] == ["2", "1"]


async def test_a_change_replaces_the_schedule_and_a_removal_deletes_it(job_store: JobStore) -> None:
    await job_store.add_schedule(schedule("a"))

    paused = await job_store.change_schedule("a", lambda s: replace(s, enabled=False))
    missing = await job_store.change_schedule("b", lambda s: replace(s, enabled=False))

    assert paused is not None
    assert (await job_store.get_schedule("a")) == paused
    assert paused.enabled is False
    assert missing is None
    assert await job_store.remove_schedule("a") is True
    assert await job_store.remove_schedule("a") is False
    assert await job_store.get_schedule("a") is None


async def test_a_pass_takes_only_due_enabled_schedules_and_moves_their_next_run(
    job_store: JobStore,
) -> None:
    await job_store.add_schedule(schedule("due"))  # every 10 s from 0: next run at 10 s
    await job_store.add_schedule(schedule("later", interval="1m"))
    await job_store.add_schedule(replace(schedule("paused"), enabled=False))

    firings = await job_store.fire_due_schedules(at(10.5), limit=10, grace_s=60)
    again = await job_store.fire_due_schedules(at(10.6), limit=10, grace_s=60)
    stored = await job_store.get_schedule("due")

    assert [(f.schedule.id, f.occurrences, f.missed) for f in firings] == [
        ("due", (format_timestamp(at(10)),), 0)
    ]
    assert again == []
    assert stored is not None
    assert stored.next_run_at == format_timestamp(at(20))
    assert (stored.fires, stored.misses, stored.last_run_at) == (1, 0, format_timestamp(at(10)))


async def test_a_pass_after_downtime_follows_catch_up_and_counts_the_misses(
    job_store: JobStore,
) -> None:
    for policy in CatchUp:
        await job_store.add_schedule(schedule(policy.value, catch_up=policy.value))

    # Down from 0 to 100.5 s: occurrences at 10, 20, ..., 100 came due.
    firings = {
        f.schedule.id: f for f in await job_store.fire_due_schedules(at(100.5), limit=10, grace_s=5)
    }

    assert {k: (len(f.occurrences), f.missed) for k, f in firings.items()} == {
        "none": (1, 9),
        "one": (1, 9),
        "all": (10, 0),
    }
    assert firings["all"].occurrences[0] == format_timestamp(at(10))
    stored = await job_store.get_schedule("none")
    assert stored is not None
    assert (stored.misses, stored.next_run_at) == (9, format_timestamp(at(110)))


async def test_a_pass_takes_at_most_limit_schedules_oldest_next_run_first(
    job_store: JobStore,
) -> None:
    await job_store.add_schedule(schedule("slow", interval="20s"))
    await job_store.add_schedule(schedule("fast", interval="10s"))

    first = await job_store.fire_due_schedules(at(30), limit=1, grace_s=60)
    second = await job_store.fire_due_schedules(at(30), limit=1, grace_s=60)

    assert [f.schedule.id for f in first] == ["fast"]
    assert [f.schedule.id for f in second] == ["slow"]
    assert re.fullmatch(r"\d{4}-.*Z", second[0].occurrences[0])
