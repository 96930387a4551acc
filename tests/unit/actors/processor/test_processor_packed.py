"""Packed messages: several ``job.created`` envelopes in one message, as ``POST /jobs/batch``
publishes them (:mod:`actors.pipeline.packing`). The message is settled as a whole only
when every envelope of it is done: stored and published, dead-lettered, or parked and
released; a redelivery after a crash runs none of its finished jobs again."""

from __future__ import annotations

import collections
import json
import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker import OutgoingMessage
from actors.broker.memory import open_memory_broker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry, JobContext
from actors.domain.jobs import JobStatus
from actors.metrics_engine.service import MetricsEngineService
from actors.observability.prometheus import create_registry
from actors.pipeline.packing import pack_envelopes
from actors.processor.service import ProcessorService
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from tests.pipeline import Pipeline, open_pipeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from actors.broker.memory import MemoryBroker

pytestmark = pytest.mark.timeout(30)


def _created(job_id: str, job_type: str, **payload: object) -> OutgoingMessage:
    event_id = str(uuid.uuid4())
    document = {
        "contractVersion": "1.0.0",
        "eventType": "job.created",
        "eventId": event_id,
        "occurredAt": utc_now(),
        "producer": {"service": "test", "instanceId": "test-1", "version": "0.0.0"},
        "correlationId": str(uuid.uuid4()),
        "idempotencyKey": job_id,
        "payload": {
            "id": job_id,
            "type": job_type,
            "status": "PENDING",
            "createdAt": utc_now(),
            "payload": {},
            **payload,
        },
    }
    return OutgoingMessage(body=json.dumps(document).encode(), message_id=event_id)


def _packed(*messages: OutgoingMessage) -> OutgoingMessage:
    [message] = pack_envelopes(messages)
    assert json.loads(message.body)[0]["payload"]["id"]  # one message, a JSON array
    return message


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``condition`` holds: the stores work in threads, so a short bounded
    poll is the honest way to observe them."""
    with anyio.fail_after(10):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


class Gate:
    """Handlers for the tests: ``count`` returns at once, ``gated`` waits for ``open``;
    both count their runs per job id."""

    def __init__(self) -> None:
        self.runs: collections.Counter[str] = collections.Counter()
        self.open = anyio.Event()
        self.entered: set[str] = set()

    def registry(self) -> HandlerRegistry:
        handlers = DEFAULT_REGISTRY.copy()

        async def count(job: JobContext) -> object:
            self.runs[job.id] += 1
            return {"ran": self.runs[job.id]}

        async def gated(job: JobContext) -> object:
            self.runs[job.id] += 1
            self.entered.add(job.id)
            await self.open.wait()
            return {"ran": self.runs[job.id]}

        handlers.register("count", count)
        handlers.register("gated", gated)
        return handlers


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def pipeline(tmp_path: Path, gate: Gate) -> AsyncIterator[Pipeline]:
    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0)
    async with open_pipeline(tmp_path, settings, gate.registry()) as pipeline:
        yield pipeline


def _unacked(broker: MemoryBroker) -> int:
    return broker.statistics().queues[JOBS_CREATED].unacked


async def _status(pipeline: Pipeline, job_id: str) -> JobStatus | None:
    record = await pipeline.jobs.get_job(job_id)
    return None if record is None else record.status


async def test_a_packed_message_is_acked_only_once_every_job_of_it_is_stored_and_published(
    pipeline: Pipeline, gate: Gate
) -> None:
    fast = [str(uuid.uuid4()) for _ in range(3)]
    slow = str(uuid.uuid4())
    message = _packed(*(_created(j, "count") for j in fast), _created(slow, "gated"))
    await pipeline.broker.publish_batch(JOBS_CREATED, [message])

    async def fast_ones_counted() -> bool:
        return (await pipeline.counters.snapshot()).completed_jobs == len(fast)

    await _until(fast_ones_counted)
    # Three of its four jobs are stored and their events published: not acked yet.
    assert [await _status(pipeline, j) for j in fast] == [JobStatus.COMPLETED] * 3
    assert await _status(pipeline, slow) is JobStatus.EXECUTING
    assert _unacked(pipeline.broker) == 1
    gate.open.set()

    async def settled() -> bool:
        return (
            _unacked(pipeline.broker) == 0
            and await pipeline.broker.queue_depth(JOBS_CREATED) == 0
            and (await pipeline.counters.snapshot()).completed_jobs == 4
        )

    await _until(settled)
    assert await _status(pipeline, slow) is JobStatus.COMPLETED
    assert gate.runs == dict.fromkeys([*fast, slow], 1)


async def test_one_bad_envelope_of_a_packed_message_is_dead_lettered_while_the_others_run(
    pipeline: Pipeline, gate: Gate
) -> None:
    good = [str(uuid.uuid4()) for _ in range(2)]
    bad = _created("not-a-uuid", "count")
    message = _packed(_created(good[0], "count"), bad, _created(good[1], "count"))
    await pipeline.broker.publish_batch(JOBS_CREATED, [message])

    async def done() -> bool:
        return (
            await pipeline.dead_letters.count() == 1
            and (await pipeline.counters.snapshot()).completed_jobs == 2
            and _unacked(pipeline.broker) == 0
        )

    await _until(done)
    [record] = await pipeline.dead_letters.recent(limit=5)
    # The record keeps the one bad envelope, not the whole message.
    assert json.loads(record.body) == json.loads(bad.body)
    assert (record.queue, record.message_id) == (JOBS_CREATED, message.message_id)
    assert "/payload/id" in {e.path for e in record.errors}
    assert [await _status(pipeline, j) for j in good] == [JobStatus.COMPLETED] * 2
    assert gate.runs == dict.fromkeys(good, 1)
    assert await pipeline.broker.queue_depth(JOBS_CREATED) == 0


async def test_a_piece_parked_on_the_in_flight_registry_holds_its_message_until_released(
    pipeline: Pipeline, gate: Gate
) -> None:
    running = str(uuid.uuid4())
    await pipeline.broker.publish_batch(JOBS_CREATED, [_created(running, "gated")])

    async def entered() -> bool:
        return running in gate.entered

    await _until(entered)
    other = str(uuid.uuid4())
    # A second delivery of the running job, packed with a new job.
    await pipeline.broker.publish_batch(
        JOBS_CREATED, [_packed(_created(running, "gated"), _created(other, "count"))]
    )
    validator = pipeline.processor.validator

    async def parked_and_other_done() -> bool:
        return (
            len(validator._running.get(running, ())) == 1
            and await _status(pipeline, other) is JobStatus.COMPLETED
        )

    await _until(parked_and_other_done)
    assert _unacked(pipeline.broker) == 2  # the running job's message, and the packed one
    gate.open.set()

    async def settled() -> bool:
        return _unacked(pipeline.broker) == 0 and validator.in_flight() == 0

    await _until(settled)
    assert await _status(pipeline, running) is JobStatus.COMPLETED
    assert gate.runs == {running: 1, other: 1}
    stats = await pipeline.counters.snapshot()
    assert (stats.total_jobs, stats.completed_jobs) == (2, 2)


async def test_a_packed_message_redelivered_after_a_crash_runs_none_of_its_finished_jobs_again(
    tmp_path: Path, gate: Gate
) -> None:
    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0)
    handlers = gate.registry()
    finished = [str(uuid.uuid4()) for _ in range(3)]
    unfinished = str(uuid.uuid4())
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(open_memory_broker(None))
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "jobs.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "ev.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "dl.sqlite3")
        )
        await broker.declare_topology()
        counters = MemoryCounters()
        engine = MetricsEngineService(
            broker, events, counters, dead, settings, registry=create_registry()
        )

        def processor() -> ProcessorService:
            return ProcessorService(
                broker, jobs, settings, handlers=handlers, registry=create_registry()
            )

        async def status(job_id: str) -> JobStatus | None:
            record = await jobs.get_job(job_id)
            return None if record is None else record.status

        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            first = processor()
            async with anyio.create_task_group() as crashing:
                await crashing.start(first.run)
                await broker.publish_batch(
                    JOBS_CREATED,
                    [
                        _packed(
                            *(_created(j, "count") for j in finished),
                            _created(unfinished, "gated"),
                        )
                    ],
                )

                async def mid_message() -> bool:
                    return (
                        unfinished in gate.entered
                        and [await status(j) for j in finished] == [JobStatus.COMPLETED] * 3
                    )

                await _until(mid_message)
                assert _unacked(broker) == 1
                # The crash: the processor is gone at once, nothing settled on the way out.
                crashing.cancel_scope.cancel()
            gate.open.set()
            second = processor()
            await tg.start(second.run)

            async def all_done() -> bool:
                stats = await counters.snapshot()
                return (
                    stats.completed_jobs == 4
                    and _unacked(broker) == 0
                    and await broker.queue_depth(JOBS_CREATED) == 0
                )

            await _until(all_done)
            stats = await counters.snapshot()
            second.request_stop()
            engine.request_stop()

    # The finished jobs ran once; the one cut off ran again (at-least-once execution);
    # every job is counted once.
    assert {j: gate.runs[j] for j in finished} == dict.fromkeys(finished, 1)
    assert gate.runs[unfinished] == 2
    assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs) == (4, 4, 0)


async def test_jobs_waiting_for_room_start_when_the_jobs_ahead_of_them_were_refused(
    pipeline: Pipeline, gate: Gate
) -> None:
    """A redelivered pack of finished jobs fills the start window (16 here) with jobs the
    store refuses: they take no room, so the new jobs behind them start at once rather
    than wait for a release that never comes (seen after a RabbitMQ restart)."""
    finished = [str(uuid.uuid4()) for _ in range(40)]
    await pipeline.broker.publish_batch(
        JOBS_CREATED, [_packed(*(_created(j, "count") for j in finished))]
    )

    async def first_done() -> bool:
        return (await pipeline.counters.snapshot()).completed_jobs == len(finished) and (
            _unacked(pipeline.broker) == 0
        )

    await _until(first_done)
    new = [str(uuid.uuid4()) for _ in range(3)]
    # The same pack again (as the broker redelivers it), with three new jobs behind it.
    await pipeline.broker.publish_batch(
        JOBS_CREATED,
        [_packed(*(_created(j, "count") for j in [*finished, *new]))],
    )

    async def all_done() -> bool:
        return (
            (await pipeline.counters.snapshot()).completed_jobs == len(finished) + len(new)
            and _unacked(pipeline.broker) == 0
            and await pipeline.broker.queue_depth(JOBS_CREATED) == 0
        )

    await _until(all_done)
    assert [await _status(pipeline, j) for j in new] == [JobStatus.COMPLETED] * 3
    assert gate.runs == dict.fromkeys([*finished, *new], 1)
    assert len(pipeline.processor.validator._waiting) == 0


async def test_issue_18_of_the_jobs_waiting_for_room_the_higher_priority_starts_first(
    pipeline: Pipeline, gate: Gate
) -> None:
    """The start window (16 here) is full: a priority-9 job that arrives after 20 waiting
    priority-1 jobs starts before them once room is made (arrival order within one)."""
    blockers = [str(uuid.uuid4()) for _ in range(16)]
    await pipeline.broker.publish_batch(
        JOBS_CREATED, [_packed(*(_created(j, "gated") for j in blockers))]
    )

    async def full() -> bool:
        return gate.entered == set(blockers)

    await _until(full)
    low = [str(uuid.uuid4()) for _ in range(20)]
    await pipeline.broker.publish_batch(
        JOBS_CREATED, [_packed(*(_created(j, "count", priority=1) for j in low))]
    )
    validator = pipeline.processor.validator

    async def low_waiting() -> bool:
        return len(validator._waiting) == len(low)

    await _until(low_waiting)
    urgent = str(uuid.uuid4())
    await pipeline.broker.publish_batch(JOBS_CREATED, [_created(urgent, "count", priority=9)])

    async def urgent_waiting() -> bool:
        return len(validator._waiting) == len(low) + 1

    await _until(urgent_waiting)
    gate.open.set()

    async def all_done() -> bool:
        return (await pipeline.counters.snapshot()).completed_jobs == 37

    await _until(all_done)
    order = [job_id for job_id in gate.runs if job_id not in blockers]
    assert order == [urgent, *low]
