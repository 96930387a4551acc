"""What only the in-process counters do: being rebuilt from the event store at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.domain.stats import Stats
from actors.stores.memory import MemoryCounters, rebuild_counters
from actors.stores.sqlite import EVENTS_DATABASE, open_sqlite_event_store
from tests.store_events import event

if TYPE_CHECKING:
    import pathlib


def history(jobs: int) -> list[Envelope]:
    """A mixed history: every job created and validated, most finished, some failed."""
    events: list[Envelope] = []
    for n in range(jobs):
        job_id, job_type = f"job-{n:04d}", ("echo", "sleep", "fail")[n % 3]
        events += [
            event(job_id, EventType.CREATED, n, job_type=job_type),
            event(job_id, EventType.VALIDATED, n + 0.1, job_type=job_type),
            event(job_id, EventType.EXECUTED, n + 0.2, job_type=job_type),
        ]
        if n % 7:
            terminal = EventType.FAILED if job_type == "fail" else EventType.COMPLETED
            events.append(event(job_id, terminal, n + 0.3, job_type=job_type))
    return events


async def test_rebuilt_counters_equal_the_counters_before_a_restart(
    tmp_path: pathlib.Path,
) -> None:
    events = history(700)
    live = MemoryCounters()
    async with open_sqlite_event_store(tmp_path / EVENTS_DATABASE) as store:
        # Delivered at least once: half of the events arrive twice.
        for start in range(0, len(events), 100):
            batch = events[start : start + 100]
            await store.append(batch + batch[::2])
            await live.apply(batch + batch[::2])
        before = await live.snapshot()

    async with open_sqlite_event_store(tmp_path / EVENTS_DATABASE) as reopened:
        rebuilt = await rebuild_counters(reopened)
        after = await rebuilt.snapshot()

    assert after == before
    assert before.total_jobs == 700
    assert await rebuilt.apply(events) == 0, "every replayed event id is known again"


async def test_rebuild_replaces_what_the_counters_held(tmp_path: pathlib.Path) -> None:
    counters = MemoryCounters()
    await counters.apply([event("stale", EventType.VALIDATED, 99)])
    async with open_sqlite_event_store(tmp_path / EVENTS_DATABASE) as store:
        await store.append([event("job-1", EventType.CREATED, 1)])

        await counters.rebuild(store)

    assert await counters.snapshot() == Stats(
        last_event_time=event("x", EventType.CREATED, 1).occurred_at
    )


async def test_rebuild_from_an_empty_event_store_gives_zero_counters(
    tmp_path: pathlib.Path,
) -> None:
    async with open_sqlite_event_store(tmp_path / EVENTS_DATABASE) as store:
        counters = await rebuild_counters(store)

    assert await counters.snapshot() == Stats()


async def test_counters_that_remember_no_ids_count_what_they_are_given_and_stay_small() -> None:
    from actors.domain.events import Envelope, EventType

    def event(job_id: str, kind: EventType) -> Envelope:
        return Envelope(
            event_type=kind,
            event_id=lifecycle_event_id(job_id, kind),
            occurred_at="2026-01-01T00:00:00.000000Z",
            producer=Producer("processor", "p-1", "0"),
            correlation_id="c",
            idempotency_key=job_id,
            payload={"id": job_id, "type": "echo"},
        )

    counters = MemoryCounters(remember_ids=False)
    batch = [
        event(f"job-{i}", k)
        for i in range(1000)
        for k in (EventType.VALIDATED, EventType.COMPLETED)
    ]
    assert await counters.apply(batch) == 2000
    stats = await counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs) == (1000, 1000)
    assert counters.counted_ids() == frozenset()  # nothing kept per event
    # Its caller is the one leaving out what was counted before (the embedded
    # observatory counts only what its event store newly stored).
    assert await counters.apply(batch[:2]) == 2
