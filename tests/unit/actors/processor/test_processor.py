"""The processor and metrics engine on embedded adapters, fed raw broker messages."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.events import EventType, lifecycle_event_id
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry, JobContext
from actors.domain.jobs import JobStatus, JobTransition
from tests.pipeline import Pipeline, created_envelope, open_pipeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path


pytestmark = pytest.mark.timeout(30)


def _envelope(
    job_id: str | None = None, job_type: str = "echo", **overrides: object
) -> dict[str, object]:
    """A job.created envelope (payload ``{"n": 1}``) with ``overrides`` of its fields."""
    return {**created_envelope(job_type, job_id, payload={"n": 1}), **overrides}


def _message(body: bytes | dict[str, object] | list[object]) -> OutgoingMessage:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return OutgoingMessage(body=raw, message_id=str(uuid.uuid4()))


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = Settings(data_dir=tmp_path, prefetch=32, shutdown_s=5.0, retry_backoff_s=0.01)
    handlers: HandlerRegistry = DEFAULT_REGISTRY.copy()
    handlers.default_duration_s = 0.0

    async def crash(job: JobContext) -> object:
        raise RuntimeError("boom")

    handlers.register("crash", crash)
    async with open_pipeline(tmp_path, settings, handlers) as pipeline:
        yield pipeline


async def _wait_for(condition: object, *, timeout_s: float = 10.0) -> None:
    """Wait until an async predicate over the stores holds.

    The stores work in worker threads, so there is no in-process event to wait on; a
    short bounded poll is the honest way to observe them.
    """
    assert callable(condition)
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_invalid_messages_end_in_the_dead_letters_with_their_errors(
    pipeline: Pipeline,
) -> None:
    good = _envelope()
    poison = [
        _message(b"\xff\xfe not json"),
        _message(b'{"truncated": '),
        _message(_envelope(eventType="job.completed")),
        _message({k: v for k, v in _envelope().items() if k not in ("eventId", "producer")}),
        _message(_envelope(payload={"id": "not-a-uuid", "type": "echo"})),
        _message([]),
    ]
    await pipeline.broker.publish_batch(JOBS_CREATED, [*poison, _message(good)])

    async def all_archived() -> bool:
        return await pipeline.dead_letters.count() == len(poison)

    await _wait_for(all_archived)
    records = {r.message_id: r for r in await pipeline.dead_letters.recent(limit=50)}
    by_id = {m.message_id: records[m.message_id] for m in poison}

    not_utf8 = by_id[poison[0].message_id]
    assert not_utf8.body == b"\xff\xfe not json"
    assert not_utf8.errors[0].message.startswith("Body is not valid UTF-8")
    assert by_id[poison[1].message_id].errors[0].message.startswith("Body is not valid JSON")
    wrong_type = by_id[poison[2].message_id]
    assert [(e.path, e.message) for e in wrong_type.errors] == [
        ("/eventType", "Event type 'job.completed' is not accepted here; expected job.created.")
    ]
    missing = by_id[poison[3].message_id]
    assert sorted(e.path for e in missing.errors) == ["/eventId", "/producer"]
    bad_payload = by_id[poison[4].message_id]
    assert {e.path for e in bad_payload.errors} == {
        "/payload/id",
        "/payload/status",
        "/payload/createdAt",
    }
    assert by_id[poison[5].message_id].reason == "The message carries no envelope."
    assert all(r.queue == JOBS_CREATED and r.service == "processor" for r in records.values())

    # The good job next to them was not disturbed.
    async def good_done() -> bool:
        record = await pipeline.jobs.get_job(str(good["payload"]["id"]))  # type: ignore[index]
        return record is not None and record.status is JobStatus.COMPLETED

    await _wait_for(good_done)
    assert await pipeline.broker.queue_depth(JOBS_CREATED) == 0


async def test_a_job_runs_once_and_its_lifecycle_is_stored_and_counted(pipeline: Pipeline) -> None:
    ok, failing, crashing = _envelope(), _envelope(job_type="fail"), _envelope(job_type="crash")
    await pipeline.broker.publish_batch(
        JOBS_CREATED, [_message(ok), _message(failing), _message(crashing)]
    )

    async def counted() -> bool:
        stats = await pipeline.counters.snapshot()
        return stats.completed_jobs + stats.failed_jobs == 3

    await _wait_for(counted)
    stats = await pipeline.counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (3, 1, 2)
    job_id = str(ok["payload"]["id"])  # type: ignore[index]
    timeline = await pipeline.events.events_for_job(job_id)
    assert [e.event_type for e in timeline] == [
        EventType.CREATED,
        EventType.VALIDATED,
        EventType.EXECUTED,
        EventType.COMPLETED,
    ]
    assert timeline[-1].event_id == lifecycle_event_id(job_id, EventType.COMPLETED)
    assert timeline[-1].payload["result"] == {"n": 1}
    crashed = await pipeline.jobs.get_job(str(crashing["payload"]["id"]))  # type: ignore[index]
    assert crashed is not None
    assert crashed.status is JobStatus.FAILED
    assert crashed.error == "RuntimeError: boom"


async def test_a_redelivered_or_resubmitted_job_is_never_run_or_counted_twice(
    pipeline: Pipeline,
) -> None:
    job = _envelope(job_type="counted")
    runs: list[str] = []

    async def count_runs(context: JobContext) -> object:
        runs.append(context.id)
        return {"runs": len(runs)}

    pipeline.processor.executor._registry.register("counted", count_runs)
    await pipeline.broker.publish_batch(JOBS_CREATED, [_message(job)])
    job_id = str(job["payload"]["id"])  # type: ignore[index]

    async def completed_and_counted() -> bool:
        return (await pipeline.counters.snapshot()).completed_jobs == 1

    await _wait_for(completed_and_counted)
    # The same job again: a resubmission (new event id) and a duplicate delivery.
    await pipeline.broker.publish_batch(
        JOBS_CREATED,
        [_message(_envelope(job_id=job_id, job_type="counted")), _message(job)],
    )

    async def drained() -> bool:
        depth = await pipeline.broker.queue_depth(JOBS_CREATED)
        completed_depth = await pipeline.broker.queue_depth(JOBS_COMPLETED)
        stats = pipeline.broker.statistics()
        return depth == 0 and completed_depth == 0 and stats.queues[JOBS_CREATED].unacked == 0

    await _wait_for(drained)
    await _wait_for(lambda: _settled(pipeline))
    assert runs == [job_id]
    stats = await pipeline.counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs) == (1, 1)


async def _settled(pipeline: Pipeline) -> bool:
    stats = pipeline.broker.statistics()
    return all(q.unacked == 0 and q.ready == 0 for q in stats.queues.values())


async def test_a_handler_running_past_its_timeout_fails_the_job(pipeline: Pipeline) -> None:
    async def stuck(context: JobContext) -> object:
        await anyio.sleep_forever()
        return None

    pipeline.processor.executor._registry.register("stuck", stuck, timeout_s=0.05)
    job = _envelope(job_type="stuck")
    await pipeline.broker.publish_batch(JOBS_CREATED, [_message(job)])
    job_id = str(job["payload"]["id"])  # type: ignore[index]

    async def failed() -> bool:
        record = await pipeline.jobs.get_job(job_id)
        return record is not None and record.status is JobStatus.FAILED

    await _wait_for(failed)
    record = await pipeline.jobs.get_job(job_id)
    assert record is not None
    assert record.error == f"Job {job_id} of type 'stuck' timed out after 0.05 s."


async def test_duplicates_arriving_while_a_job_runs_or_finishes_never_run_it_again(
    pipeline: Pipeline,
) -> None:
    runs: list[str] = []

    async def slow(context: JobContext) -> object:
        runs.append(context.id)
        await anyio.sleep(0.05)
        return None

    pipeline.processor.executor._registry.register("slow", slow)
    # Widen the window between the handler's end and its terminal state being stored,
    # where a duplicate could otherwise slip through and run the job again.
    store_transitions = pipeline.jobs.apply_transitions

    async def slow_terminal_writes(transitions: Sequence[JobTransition]) -> list[JobStatus]:
        if any(t.status.is_terminal for t in transitions):
            await anyio.sleep(0.1)
        return await store_transitions(transitions)

    pipeline.jobs.apply_transitions = slow_terminal_writes  # type: ignore[method-assign]
    job = _envelope(job_type="slow")
    job_id = str(job["payload"]["id"])  # type: ignore[index]
    for _ in range(20):
        await pipeline.broker.publish_batch(
            JOBS_CREATED, [_message(_envelope(job_id=job_id, job_type="slow"))]
        )
        await anyio.sleep(0.01)  # spread the copies over the job's run and its storing
    await _wait_for(lambda: _settled(pipeline))
    assert runs == [job_id]
    stats = await pipeline.counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs) == (1, 1)
    created = [
        e for e in await pipeline.events.events_for_job(job_id) if e.event_type is EventType.CREATED
    ]
    assert len(created) == 20


async def test_the_seed_metrics_and_golden_signals_count_what_happened(pipeline: Pipeline) -> None:
    jobs = [_envelope(), _envelope(), _envelope(job_type="fail")]
    await pipeline.broker.publish_batch(
        JOBS_CREATED, [*(_message(job) for job in jobs), _message(b"not json")]
    )

    async def counted() -> bool:
        return (await pipeline.counters.snapshot()).failed_jobs == 1 and (
            await pipeline.dead_letters.count()
        ) == 1

    await _wait_for(counted)
    await _wait_for(lambda: _settled(pipeline))
    sample = pipeline.registry.get_sample_value
    assert sample("processor_jobs_processed_total", {"type": "echo"}) == 2
    assert sample("processor_jobs_completed_total", {"type": "echo"}) == 2
    assert sample("processor_jobs_failed_total", {"type": "fail"}) == 1
    assert sample("processor_jobs_validation_failed_total") == 1
    assert sample("processor_job_processing_seconds_count", {"type": "echo"}) == 2
    assert sample("processor_job_queue_wait_seconds_count", {"type": "fail"}) == 1
    assert sample("processor_job_end_to_end_seconds_count", {"type": "echo"}) == 2
    assert sample("processor_jobs_retried_total", {"type": "fail"}) == 2
    assert sample("processor_job_processing_seconds_count", {"type": "fail"}) == 3
    assert sample("processor_jobs_in_flight") == 0
    # 4 lifecycle events per echo job; the fail job's 3 attempts add a start and, for the
    # 2 retried ones, a failure (job.executed with willRetry) each: 8.
    assert sample("metrics_engine_events_stored_total") == 16
    assert sample("metrics_engine_dead_letters_archived_total") == 1

    # The same jobs again: nothing is run or stored twice; the redeliveries are counted.
    await pipeline.broker.publish_batch(JOBS_CREATED, [_message(job) for job in jobs])
    await _wait_for(lambda: _redelivered(pipeline, 3))
    await _wait_for(lambda: _settled(pipeline))
    assert sample("processor_jobs_processed_total", {"type": "echo"}) == 2
    # Each redelivered job's whole lifecycle is emitted again (in case the first
    # emission was lost) and every event of it is recognised as stored: 16 duplicates.
    assert sample("metrics_engine_events_duplicates_skipped_total") == 16
    assert sample("metrics_engine_events_stored_total") == 16


async def _redelivered(pipeline: Pipeline, count: int) -> bool:
    return pipeline.registry.get_sample_value("processor_jobs_redelivered_total") == count


async def test_a_redelivery_after_the_events_were_lost_restores_the_whole_lifecycle(
    pipeline: Pipeline,
) -> None:
    """A processor died after storing the outcome but before publishing its events."""
    from actors.domain.events import attempt_failed_event_id
    from actors.domain.jobs import JobSpec, JobTransition

    envelope = _envelope(job_type="echo")
    job = envelope["payload"]
    assert isinstance(job, dict)
    job_id = str(job["id"])
    spec = JobSpec(
        id=job_id,
        type="echo",
        created_at=str(job["createdAt"]),
        correlation_id=str(envelope["correlationId"]),
        payload={"n": 1},
    )
    at = utc_now()
    # Two attempts: the first failed and was retried, the second completed; then the crash.
    await pipeline.jobs.apply_transitions(
        [
            JobTransition(spec, JobStatus.VALIDATED, at),
            JobTransition(spec, JobStatus.EXECUTING, at, attempt=1),
        ]
    )
    await pipeline.jobs.apply_transitions(
        [
            JobTransition(
                spec, JobStatus.PENDING, at, attempt=1, error="first try failed", retry_at=at
            )
        ]
    )
    await pipeline.jobs.apply_transitions(
        [
            JobTransition(spec, JobStatus.VALIDATED, at, attempt=2),
            JobTransition(spec, JobStatus.EXECUTING, at, attempt=2),
            JobTransition(spec, JobStatus.COMPLETED, at, attempt=2, result={"n": 1}),
        ]
    )
    stored = await pipeline.jobs.get_job(job_id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (JobStatus.COMPLETED, 2)
    assert await pipeline.events.events_for_job(job_id) == []
    # The broker redelivers the job's message (the ack was never sent).
    await pipeline.broker.publish_batch(JOBS_CREATED, [_message(envelope)])

    async def counted() -> bool:
        return (await pipeline.counters.snapshot()).completed_jobs == 1

    await _wait_for(counted)
    timeline = await pipeline.events.events_for_job(job_id)
    assert {(e.event_type, e.event_id) for e in timeline} == {
        (EventType.CREATED, envelope["eventId"]),
        (EventType.VALIDATED, lifecycle_event_id(job_id, EventType.VALIDATED)),
        (EventType.EXECUTED, lifecycle_event_id(job_id, EventType.EXECUTED, 1)),
        (EventType.EXECUTED, attempt_failed_event_id(job_id, 1)),
        (EventType.EXECUTED, lifecycle_event_id(job_id, EventType.EXECUTED, 2)),
        (EventType.COMPLETED, lifecycle_event_id(job_id, EventType.COMPLETED)),
    }
    stats = await pipeline.counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (1, 1, 0)
    # Not run again: the stored outcome stands.
    final = await pipeline.jobs.get_job(job_id)
    assert final is not None
    assert (final.status, final.attempts) == (JobStatus.COMPLETED, 2)


async def test_counters_that_remember_no_ids_still_count_a_replayed_job_once(
    tmp_path: Path,
) -> None:
    """The embedded observatory's counters: fed only what the event store newly stored."""
    settings = Settings(data_dir=tmp_path, prefetch=32, shutdown_s=5.0)
    handlers = DEFAULT_REGISTRY.copy()
    handlers.default_duration_s = 0.0
    async with open_pipeline(tmp_path, settings, handlers, remember_ids=False) as pipeline:
        assert pipeline.metrics_engine.persister._count_only_new
        job = _envelope()
        await pipeline.broker.publish_batch(JOBS_CREATED, [_message(job)])

        async def completed() -> bool:
            return (await pipeline.counters.snapshot()).completed_jobs == 1

        await _wait_for(completed)
        # Redelivered and resubmitted: the whole lifecycle is emitted again.
        job_id = str(job["payload"]["id"])  # type: ignore[index]
        await pipeline.broker.publish_batch(
            JOBS_CREATED, [_message(job), _message(_envelope(job_id=job_id))]
        )
        await _wait_for(lambda: _redelivered(pipeline, 2))
        await _wait_for(lambda: _settled(pipeline))
        stats = await pipeline.counters.snapshot()
        assert (stats.total_jobs, stats.completed_jobs) == (1, 1)
        assert pipeline.counters.counted_ids() == frozenset()
