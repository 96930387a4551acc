"""Issue 16, item 4: a graceful stop while a long job runs, then a restart.

The processor runs on embedded adapters (in-process broker, SQLite stores) next to a
metrics engine that stores the timeline; it is stopped with a short grace while one
handler outlasts it and another finishes within it, then a new processor (as after a
restart) runs the job again.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.memory import open_memory_broker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.events import EventType
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.domain.jobs import JobStatus
from actors.domain.stats import counter_move
from actors.metrics_engine.service import MetricsEngineService
from actors.observability.prometheus import create_registry
from actors.processor.service import ProcessorService
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from contracts import SchemaName, get_contracts
from tests.pipeline import created_message

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from actors.broker.memory import MemoryBroker
    from actors.domain.events import Envelope
    from actors.domain.jobs import JobRecord
    from actors.stores.sqlite import SQLiteEventStore, SQLiteJobStore

pytestmark = pytest.mark.timeout(60)

GRACE_S = 0.5


class Handlers:
    """``long`` sleeps until cancelled (until ``quick`` is set); ``short`` takes 0.2 s."""

    def __init__(self) -> None:
        self.quick = False
        self.started: dict[str, anyio.Event] = {}
        self.cancelled: set[str] = set()
        self.registry = HandlerRegistry()
        self.registry.register("long", self._long, timeout_s=60.0)
        self.registry.register("long-once", self._long, timeout_s=60.0, max_attempts=1)
        self.registry.register("short", self._short)
        self.registry.register("long-single", self._long, timeout_s=60.0, concurrency=1)

    def started_event(self, job_id: str) -> anyio.Event:
        return self.started.setdefault(job_id, anyio.Event())

    async def _long(self, job: JobContext) -> object:
        self.started_event(job.id).set()
        if self.quick:
            return {"attempt": job.attempt}
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            self.cancelled.add(job.id)
            raise
        return {"slept": 60}

    async def _short(self, job: JobContext) -> object:
        self.started_event(job.id).set()
        await anyio.sleep(0.2)
        return {"short": True}


class World:
    """Broker, stores and metrics engine that outlive the processors run on them."""

    def __init__(
        self,
        broker: MemoryBroker,
        jobs: SQLiteJobStore,
        events: SQLiteEventStore,
        settings: Settings,
    ) -> None:
        self.broker, self.jobs, self.events, self.settings = broker, jobs, events, settings

    @asynccontextmanager
    async def processor(self, handlers: HandlerRegistry) -> AsyncIterator[ProcessorService]:
        """Run a processor for the block; leaving it asks for a graceful stop and waits."""
        processor = ProcessorService(
            self.broker, self.jobs, self.settings, handlers=handlers, registry=create_registry()
        )
        async with anyio.create_task_group() as tg:
            await tg.start(processor.run)
            yield processor
            processor.request_stop()


@asynccontextmanager
async def open_world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, shutdown_grace_s=GRACE_S)
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(open_memory_broker(None))
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "jobs.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "ev.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "dl.sqlite3")
        )
        await broker.declare_topology()
        engine = MetricsEngineService(
            broker, events, MemoryCounters(), dead, settings, registry=create_registry()
        )
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            yield World(broker, jobs, events, settings)
            engine.request_stop()


async def _wait_for(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0) -> None:
    """Wait until an async predicate over the stores holds (they work in worker threads:
    a short bounded poll)."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _terminal_event(world: World, job_id: str) -> list[Envelope]:
    """The job's timeline, once its terminal event is stored."""
    found: list[list[Envelope]] = []

    async def ended() -> bool:
        events = await world.events.events_for_job(job_id)
        if events and events[-1].event_type in (EventType.COMPLETED, EventType.FAILED):
            found.append(events)
            return True
        return False

    await _wait_for(ended)
    return found[0]


async def _record(world: World, job_id: str) -> JobRecord:
    record = await world.jobs.get_job(job_id)
    assert record is not None
    return record


def _messages(caplog: pytest.LogCaptureFixture, prefix: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(prefix)]


async def test_issue_16_a_stop_interrupts_what_outlasts_the_grace_and_the_restart_runs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    handlers = Handlers()
    long_id, short_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with open_world(tmp_path) as world:
        async with world.processor(handlers.registry):
            await world.broker.publish_batch(
                JOBS_CREATED, [created_message("long", long_id), created_message("short", short_id)]
            )
            with anyio.fail_after(10):
                await handlers.started_event(long_id).wait()
                await handlers.started_event(short_id).wait()
        # The processor has stopped: the short job finished within the grace, the long
        # one was interrupted, given back and returned to the queue.
        assert handlers.cancelled == {long_id}
        assert (await _record(world, short_id)).status is JobStatus.COMPLETED
        stopped = await _record(world, long_id)
        assert (stopped.status, stopped.attempts, stopped.errors) == (JobStatus.PENDING, 0, ())
        assert await world.broker.queue_depth(JOBS_CREATED) == 1
        interrupted = _messages(caplog, "job.interrupted")
        assert len(interrupted) == 1
        assert "type=long attempt=1" in interrupted[0].getMessage()
        assert not _messages(caplog, "actor.killed")
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

        handlers.quick = True
        async with world.processor(handlers.registry):
            timeline = await _terminal_event(world, long_id)
        record = await _record(world, long_id)

    assert (record.status, record.attempts, record.errors) == (JobStatus.COMPLETED, 1, ())
    executed = [e.payload for e in timeline if e.event_type is EventType.EXECUTED]
    assert [(p["attempt"], p.get("interrupted")) for p in executed] == [(1, None), (1, True)]
    assert max(int(str(p["attempt"])) for p in executed) == record.attempts
    completed = timeline[-1]
    assert completed.event_type is EventType.COMPLETED
    assert completed.payload["attempts"] == record.attempts == 1
    # The interruption is a fact of the timeline, valid, and moves no counter.
    gave_back = next(e for e in timeline if e.payload.get("interrupted") is True)
    assert gave_back.payload["status"] == "PENDING"
    assert get_contracts().issues(SchemaName.JOB, gave_back.payload) == []
    assert counter_move(gave_back.event_type, gave_back.event_id, gave_back.payload) is None


async def test_issue_16_an_interrupted_last_attempt_does_not_count_against_max_attempts(
    tmp_path: Path,
) -> None:
    handlers = Handlers()
    job_id = str(uuid.uuid4())
    async with open_world(tmp_path) as world:
        async with world.processor(handlers.registry):
            await world.broker.publish_batch(JOBS_CREATED, [created_message("long-once", job_id)])
            with anyio.fail_after(10):
                await handlers.started_event(job_id).wait()
        assert (await _record(world, job_id)).status is JobStatus.PENDING

        handlers.quick = True
        async with world.processor(handlers.registry):
            timeline = await _terminal_event(world, job_id)
        record = await _record(world, job_id)

    assert (record.status, record.attempts) == (JobStatus.COMPLETED, 1)
    assert timeline[-1].payload["attempts"] == 1


async def test_issue_16_a_stop_with_nothing_running_does_not_wait_for_the_grace(
    tmp_path: Path,
) -> None:
    handlers = Handlers()
    job_id = str(uuid.uuid4())
    async with open_world(tmp_path) as world:
        world.settings = world.settings.with_changes(shutdown_grace_s=3600.0)
        with anyio.fail_after(20):  # far below the grace
            async with world.processor(handlers.registry):
                await world.broker.publish_batch(JOBS_CREATED, [created_message("short", job_id)])
                await _terminal_event(world, job_id)
        assert (await _record(world, job_id)).status is JobStatus.COMPLETED


async def test_issue_16_a_job_still_waiting_for_its_type_is_interrupted_without_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    handlers = Handlers()
    first, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    async with open_world(tmp_path) as world:
        async with world.processor(handlers.registry):
            await world.broker.publish_batch(
                JOBS_CREATED,
                [created_message("long-single", first), created_message("long-single", waiting)],
            )
            with anyio.fail_after(10):
                await handlers.started_event(first).wait()

            async def both_executing() -> bool:
                records = [await world.jobs.get_job(i) for i in (first, waiting)]
                return all(r is not None and r.status is JobStatus.EXECUTING for r in records)

            await _wait_for(both_executing)  # stored EXECUTING, one waiting for the other
        assert not handlers.started_event(waiting).is_set()
        for job_id in (first, waiting):
            record = await _record(world, job_id)
            assert (record.status, record.attempts) == (JobStatus.PENDING, 0)
        lines = [r.getMessage() for r in _messages(caplog, "job.interrupted")]
        assert len(lines) == 2
        assert sum(1 for line in lines if "ran_s=0.000 " in line) == 1
        assert await world.broker.queue_depth(JOBS_CREATED) == 2

        handlers.quick = True
        async with world.processor(handlers.registry):
            for job_id in (first, waiting):
                timeline = await _terminal_event(world, job_id)
                assert timeline[-1].payload["attempts"] == 1
