"""The counters contract: every adapter (``counters`` params) follows :mod:`actors.domain.stats`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.events import EventType
from actors.domain.stats import Stats, TypeStats
from tests.store_events import event, ts

if TYPE_CHECKING:
    from actors.stores import Counters


async def test_fresh_counters_are_zero(counters: Counters) -> None:
    assert await counters.snapshot() == Stats()


async def test_validated_completed_and_failed_events_count_jobs(counters: Counters) -> None:
    new = await counters.apply(
        [
            event("job-1", EventType.CREATED, 1),
            event("job-1", EventType.VALIDATED, 2),
            event("job-1", EventType.EXECUTED, 3),
            event("job-1", EventType.COMPLETED, 4),
            event("job-2", EventType.VALIDATED, 5),
            event("job-2", EventType.FAILED, 6),
            event("job-3", EventType.VALIDATED, 7),
        ]
    )

    stats = await counters.snapshot()
    assert new == 5, "only validated, completed and failed events count"
    assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (3, 1, 1)
    assert stats.in_flight == 1
    assert stats.last_event_time == ts(7)
    assert stats.by_type == {"echo": TypeStats(total=3, completed=1, failed=1)}


async def test_created_and_executed_events_only_move_the_last_event_time(
    counters: Counters,
) -> None:
    new = await counters.apply(
        [event("job-1", EventType.CREATED, 1), event("job-1", EventType.EXECUTED, 2)]
    )

    assert new == 0
    assert await counters.snapshot() == Stats(last_event_time=ts(2))


async def test_a_redelivered_event_is_counted_once(counters: Counters) -> None:
    validated = event("job-1", EventType.VALIDATED, 1)
    completed = event("job-1", EventType.COMPLETED, 2)

    first = await counters.apply([validated, validated])
    second = await counters.apply([validated, completed])
    third = await counters.apply([completed])

    assert (first, second, third) == (1, 1, 0)
    stats = await counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs) == (1, 1)
    assert stats.by_type["echo"] == TypeStats(total=1, completed=1, failed=0)


async def test_last_event_time_never_goes_back(counters: Counters) -> None:
    await counters.apply([event("job-1", EventType.VALIDATED, 10)])
    await counters.apply([event("job-2", EventType.VALIDATED, 5)])
    await counters.apply([event("job-3", EventType.CREATED, 7)])

    stats = await counters.snapshot()
    assert stats.last_event_time == ts(10)
    assert stats.total_jobs == 2


async def test_counters_are_kept_per_job_type(counters: Counters) -> None:
    await counters.apply(
        [
            event("e1", EventType.VALIDATED, 1, job_type="echo"),
            event("e1", EventType.COMPLETED, 2, job_type="echo"),
            event("s1", EventType.VALIDATED, 3, job_type="sleep"),
            event("s2", EventType.VALIDATED, 4, job_type="sleep"),
            event("s2", EventType.FAILED, 5, job_type="sleep"),
        ]
    )

    stats = await counters.snapshot()
    assert stats.by_type == {
        "echo": TypeStats(total=1, completed=1, failed=0),
        "sleep": TypeStats(total=2, completed=0, failed=1),
    }
    assert stats.to_json()["byType"] == {
        "echo": {"total": 1, "completed": 1, "failed": 0},
        "sleep": {"total": 2, "completed": 0, "failed": 1},
    }


async def test_a_snapshot_does_not_change_with_later_events(counters: Counters) -> None:
    await counters.apply([event("job-1", EventType.VALIDATED, 1)])
    before = await counters.snapshot()

    await counters.apply([event("job-2", EventType.VALIDATED, 2)])

    assert before.total_jobs == 1
    assert before.by_type["echo"].total == 1
    assert (await counters.snapshot()).total_jobs == 2
