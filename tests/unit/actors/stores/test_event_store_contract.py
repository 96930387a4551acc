"""The event store contract: every adapter (``open_event_store`` params) must pass all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp
from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.stores import AppendResult

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import EventStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")


def ts(seconds: float) -> str:
    """A fixed-width timestamp ``seconds`` after a fixed epoch."""
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def event(
    job_id: str,
    event_type: EventType,
    at_s: float,
    *,
    job_type: str = "echo",
    attempt: int = 1,
) -> Envelope:
    return Envelope(
        event_type=event_type,
        event_id=lifecycle_event_id(job_id, event_type, attempt),
        occurred_at=ts(at_s),
        producer=_PRODUCER,
        correlation_id=f"corr-{job_id}",
        idempotency_key=job_id,
        payload={"id": job_id, "type": job_type, "payload": {"n": [1, "é"]}},
    )


def kinds(events: list[Envelope]) -> list[tuple[str, EventType]]:
    return [(envelope.job_id, envelope.event_type) for envelope in events]


async def test_append_stores_new_events_and_skips_known_ones(event_store: EventStore) -> None:
    created = event("job-1", EventType.CREATED, 1)
    validated = event("job-1", EventType.VALIDATED, 2)
    executed = event("job-1", EventType.EXECUTED, 3)

    first = await event_store.append([created, validated])
    second = await event_store.append([validated, executed, created])

    assert first == AppendResult(stored=2, duplicates=0)
    assert second == AppendResult(stored=1, duplicates=2)
    assert await event_store.events_for_job("job-1") == [created, validated, executed]


async def test_append_counts_repeats_inside_one_batch_as_duplicates(
    event_store: EventStore,
) -> None:
    created = event("job-1", EventType.CREATED, 1)
    validated = event("job-1", EventType.VALIDATED, 2)

    result = await event_store.append([created, validated, created, created])

    assert result == AppendResult(stored=2, duplicates=2)
    replayed = [envelope async for envelope in event_store.iter_events(frozenset(EventType))]
    assert replayed == [created, validated]


async def test_append_of_nothing_stores_nothing(event_store: EventStore) -> None:
    assert await event_store.append([]) == AppendResult(stored=0, duplicates=0)


async def test_timeline_orders_by_time_then_lifecycle(event_store: EventStore) -> None:
    # Appended out of order; the last three share one timestamp (a fast job).
    await event_store.append(
        [
            event("job-1", EventType.COMPLETED, 5),
            event("job-1", EventType.EXECUTED, 5),
            event("other", EventType.CREATED, 2),
            event("job-1", EventType.VALIDATED, 5),
            event("job-1", EventType.CREATED, 1),
        ]
    )

    timeline = await event_store.events_for_job("job-1")

    assert [envelope.event_type for envelope in timeline] == [
        EventType.CREATED,
        EventType.VALIDATED,
        EventType.EXECUTED,
        EventType.COMPLETED,
    ]


async def test_timeline_keeps_every_attempt_in_time_order(event_store: EventStore) -> None:
    await event_store.append(
        [
            event("job-1", EventType.EXECUTED, 4, attempt=2),
            event("job-1", EventType.EXECUTED, 3, attempt=1),
            event("job-1", EventType.FAILED, 6),
        ]
    )

    timeline = await event_store.events_for_job("job-1")

    assert [envelope.occurred_at for envelope in timeline] == [ts(3), ts(4), ts(6)]


async def test_events_of_an_unknown_job_are_empty(event_store: EventStore) -> None:
    assert await event_store.events_for_job("missing") == []


async def test_recent_events_are_newest_first(event_store: EventStore) -> None:
    await event_store.append(
        [
            event("job-1", EventType.CREATED, 1),
            event("job-2", EventType.CREATED, 3),
            event("job-1", EventType.VALIDATED, 2),
            event("job-2", EventType.VALIDATED, 4),
        ]
    )

    recent = await event_store.recent_events(limit=3)

    assert kinds(recent) == [
        ("job-2", EventType.VALIDATED),
        ("job-2", EventType.CREATED),
        ("job-1", EventType.VALIDATED),
    ]


async def test_recent_events_with_equal_times_are_newest_arrival_first(
    event_store: EventStore,
) -> None:
    await event_store.append([event("job-1", EventType.CREATED, 1)])
    await event_store.append([event("job-2", EventType.CREATED, 1)])

    recent = await event_store.recent_events(limit=10)

    assert kinds(recent) == [("job-2", EventType.CREATED), ("job-1", EventType.CREATED)]


async def test_recent_events_filter_by_job(event_store: EventStore) -> None:
    await event_store.append(
        [
            event("job-1", EventType.CREATED, 1),
            event("job-2", EventType.CREATED, 2),
            event("job-1", EventType.VALIDATED, 3),
        ]
    )

    recent = await event_store.recent_events(limit=10, job_id="job-1")

    assert kinds(recent) == [("job-1", EventType.VALIDATED), ("job-1", EventType.CREATED)]
    assert await event_store.recent_events(limit=10, job_id="missing") == []


async def test_iter_events_yields_the_chosen_types_oldest_first(event_store: EventStore) -> None:
    await event_store.append(
        [
            event("job-1", EventType.CREATED, 1),
            event("job-1", EventType.VALIDATED, 2),
            event("job-1", EventType.COMPLETED, 3),
            event("job-2", EventType.VALIDATED, 4),
            event("job-2", EventType.FAILED, 5),
        ]
    )

    chosen = [
        envelope
        async for envelope in event_store.iter_events(
            frozenset({EventType.VALIDATED, EventType.FAILED})
        )
    ]
    nothing = [envelope async for envelope in event_store.iter_events(frozenset())]

    assert kinds(chosen) == [
        ("job-1", EventType.VALIDATED),
        ("job-2", EventType.VALIDATED),
        ("job-2", EventType.FAILED),
    ]
    assert nothing == []


async def test_iter_events_reads_past_any_page_size(event_store: EventStore) -> None:
    events = [event(f"job-{n:04d}", EventType.VALIDATED, n) for n in range(1234)]
    await event_store.append(events)

    replayed = [envelope async for envelope in event_store.iter_events(frozenset(EventType))]

    assert replayed == events


async def test_events_survive_closing_and_reopening_the_store(
    open_event_store: Callable[[], AbstractAsyncContextManager[EventStore]],
) -> None:
    created = event("job-1", EventType.CREATED, 1)
    async with open_event_store() as store:
        await store.append([created])

    async with open_event_store() as reopened:
        again = await reopened.append([created])
        timeline = await reopened.events_for_job("job-1")

    assert again == AppendResult(stored=0, duplicates=1)
    assert timeline == [created]
