"""Rounds in the counters contract (every ``counters`` adapter: memory, Redis): a retried
job is one job with its latest outcome (:mod:`actors.domain.stats`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp
from actors.domain.events import (
    Envelope,
    EventType,
    Producer,
    lifecycle_event_id,
    retry_requested_event_id,
)
from actors.domain.stats import TypeStats
from actors.stores.memory import MemoryCounters

if TYPE_CHECKING:
    from actors.stores import Counters, EventStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def event(job_id: str, event_type: EventType, at_s: float, *, round_: int = 1) -> Envelope:
    payload: dict[str, object] = {"id": job_id, "type": "fail"}
    if round_ > 1:
        payload["round"] = round_
    if event_type is EventType.CREATED and round_ > 1:
        event_id = retry_requested_event_id(job_id, round_)
        payload["retry"] = {"round": round_}
    else:
        event_id = lifecycle_event_id(job_id, event_type, round_=round_)
    return Envelope(
        event_type=event_type,
        event_id=event_id,
        occurred_at=ts(at_s),
        producer=_PRODUCER,
        correlation_id=f"corr-{job_id}",
        idempotency_key=job_id,
        payload=payload,
    )


def _round(job_id: str, round_: int, outcome: EventType, at_s: float) -> list[Envelope]:
    return [
        event(job_id, EventType.CREATED, at_s, round_=round_),
        event(job_id, EventType.VALIDATED, at_s + 1, round_=round_),
        event(job_id, EventType.EXECUTED, at_s + 2, round_=round_),
        event(job_id, outcome, at_s + 3, round_=round_),
    ]


async def test_a_retried_job_counts_once_with_its_latest_outcome(counters: Counters) -> None:
    await counters.apply(_round("job-1", 1, EventType.FAILED, 0))
    failed = await counters.snapshot()
    retry = _round("job-1", 2, EventType.COMPLETED, 10)

    new_round = await counters.apply(retry[:3])  # retry request, validated, executed
    running = await counters.snapshot()
    await counters.apply(retry[3:])
    completed = await counters.snapshot()

    assert (failed.total_jobs, failed.completed_jobs, failed.failed_jobs) == (1, 0, 1)
    assert new_round == 1, "the retry request counts; a later round's validated does not"
    assert (running.total_jobs, running.failed_jobs, running.in_flight) == (1, 0, 1)
    assert (completed.total_jobs, completed.completed_jobs, completed.failed_jobs) == (1, 1, 0)
    assert completed.by_type == {"fail": TypeStats(total=1, completed=1, failed=0)}


async def test_a_round_failing_again_and_redelivered_events_count_nothing_twice(
    counters: Counters,
) -> None:
    rounds = [
        *_round("job-1", 1, EventType.FAILED, 0),
        *_round("job-1", 2, EventType.FAILED, 10),
        *_round("job-1", 3, EventType.COMPLETED, 20),
        *_round("job-2", 1, EventType.FAILED, 30),
    ]
    await counters.apply(rounds)
    await counters.apply(rounds)  # every event again, in another batch

    stats = await counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (2, 1, 1)
    assert stats.last_event_time == ts(33)


async def test_a_job_created_that_is_no_retry_request_counts_nothing(counters: Counters) -> None:
    # A client's own "round" field on a resubmission is not a retry request: its event id
    # is not the round's deterministic one.
    forged = Envelope(
        event_type=EventType.CREATED,
        event_id="0b6f5c56-41a4-4d8b-9bd2-0d1c7e6b4a10",
        occurred_at=ts(5),
        producer=_PRODUCER,
        correlation_id="corr-job-1",
        idempotency_key="job-1",
        payload={"id": "job-1", "type": "fail", "round": 2},
    )
    await counters.apply([*_round("job-1", 1, EventType.FAILED, 0), forged])

    stats = await counters.snapshot()
    assert (stats.total_jobs, stats.failed_jobs) == (1, 1)


async def test_counters_rebuilt_from_the_trail_count_rounds_the_same(
    event_store: EventStore,
) -> None:
    trail = [
        *_round("job-1", 1, EventType.FAILED, 0),
        *_round("job-1", 2, EventType.COMPLETED, 10),
        *_round("job-2", 1, EventType.FAILED, 20),
    ]
    await event_store.append(trail)
    live = MemoryCounters()
    await live.apply(trail)

    rebuilt = MemoryCounters()
    await rebuilt.rebuild(event_store)

    assert await rebuilt.snapshot() == await live.snapshot()
    assert (await rebuilt.snapshot()).to_json()["failedJobs"] == 1
