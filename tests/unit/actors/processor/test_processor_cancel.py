"""Issue 14: cancel a running job, and a job still queued, through the processor.

The processor and metrics engine run on embedded adapters (in-process broker, SQLite
stores), fed raw ``job.created`` messages; the cancel is asked of the job store, as the
gateway does, and the processor's cancel watcher finds it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.events import EventType
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.domain.jobs import CANCELLED, JobStatus
from contracts import SchemaName, get_contracts
from tests.pipeline import created_message, open_pipeline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from actors.broker.memory import MemoryBroker
    from actors.domain.jobs import JobRecord
    from actors.stores.sqlite import SQLiteJobStore
    from tests.pipeline import Pipeline

pytestmark = pytest.mark.timeout(30)


class Handlers:
    """A ``hang`` handler that tells when it started and whether it was cancelled."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.started: dict[str, anyio.Event] = {}
        self.cancelled: set[str] = set()
        self.registry = HandlerRegistry()
        self.registry.register("hang", self._hang, timeout_s=60.0)
        self.registry.register("echo", self._echo)
        self.registry.register("stubborn", self._stubborn, timeout_s=60.0)
        self.release = anyio.Event()

    def started_event(self, job_id: str) -> anyio.Event:
        return self.started.setdefault(job_id, anyio.Event())

    async def _hang(self, job: JobContext) -> object:
        self.runs[job.id] += 1
        self.started_event(job.id).set()
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            self.cancelled.add(job.id)
            raise
        return {"slept": 60}

    async def _stubborn(self, job: JobContext) -> object:
        """Cannot be interrupted (as a sync handler's thread): returns once released."""
        self.runs[job.id] += 1
        self.started_event(job.id).set()
        with anyio.CancelScope(shield=True):
            await self.release.wait()
        return {"late": True}

    async def _echo(self, job: JobContext) -> object:
        self.runs[job.id] += 1
        return dict(job.payload)


async def _wait_for(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0) -> None:
    """Wait until an async predicate over the stores holds (they work in worker threads:
    a short bounded poll)."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _ended(pipe: Pipeline, job_id: str) -> JobRecord:
    found: list[JobRecord] = []

    async def terminal() -> bool:
        record = await pipe.jobs.get_job(job_id)
        if record is not None and record.status.is_terminal:
            found.append(record)
            return True
        return False

    await _wait_for(terminal)
    return found[0]


async def _counted(pipe: Pipeline, *, total: int, failed: int) -> bool:
    stats = await pipe.counters.snapshot()
    return (stats.total_jobs, stats.failed_jobs) == (total, failed)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0)


async def test_a_running_job_is_cancelled_in_its_handler_and_ends_failed_cancelled(
    tmp_path: Path,
) -> None:
    handlers = Handlers()
    job_id = str(uuid.uuid4())
    async with open_pipeline(tmp_path, _settings(tmp_path), handlers.registry) as pipe:
        await pipe.broker.publish_batch(JOBS_CREATED, [created_message("hang", job_id)])
        with anyio.fail_after(10):
            await handlers.started_event(job_id).wait()

        answer = await pipe.jobs.request_cancel(job_id, requested_by="token:0123456789abcdef")
        asked = anyio.current_time()
        record = await _ended(pipe, job_id)
        took_s = anyio.current_time() - asked
        await _wait_for(lambda: _counted(pipe, total=1, failed=1))

        assert answer.status is JobStatus.EXECUTING
        assert answer.request is not None
        assert handlers.cancelled == {job_id}  # cancelled at its await, not left running
        assert took_s < 3.0  # the watcher looks every 0.3 s
        assert (record.status, record.error, record.attempts, record.errors) == (
            JobStatus.FAILED,
            CANCELLED,
            1,
            (),
        )
        assert record.cancel_requested_by == "token:0123456789abcdef"
        events = await pipe.events.events_for_job(job_id)
        assert [event.event_type for event in events] == [
            EventType.CREATED,
            EventType.VALIDATED,
            EventType.EXECUTED,
            EventType.FAILED,
        ]
        failed = events[-1].payload
        assert (failed["error"], failed["reason"]) == (CANCELLED, CANCELLED)
        assert failed["cancelRequestedAt"] == answer.request.requested_at
        assert failed["cancelRequestedBy"] == "token:0123456789abcdef"
        assert get_contracts().issues(SchemaName.JOB, failed) == []
        assert pipe.processor.cancel_watcher.cancelled == 1
        assert pipe.processor.executor.running() == []
        sample = pipe.registry.get_sample_value
        assert sample("processor_jobs_failed_total", {"type": "hang"}) == 1
        assert sample("processor_jobs_completed_total", {"type": "hang"}) is None


async def test_a_job_cancelled_while_queued_is_never_run(tmp_path: Path) -> None:
    handlers = Handlers()
    job_id = str(uuid.uuid4())
    asked: list[str] = []

    async def queued_and_cancelled(broker: MemoryBroker, jobs: SQLiteJobStore) -> None:
        # Accepted by a gateway, not yet taken by a processor: not in the job store.
        await broker.publish_batch(JOBS_CREATED, [created_message("echo", job_id)])
        answer = await jobs.request_cancel(job_id, requested_by="address:10.1.2.3")
        assert (answer.status, answer.request is not None) == (None, True)
        assert answer.request is not None
        asked.append(answer.request.requested_at)

    async with open_pipeline(
        tmp_path, _settings(tmp_path), handlers.registry, before_start=queued_and_cancelled
    ) as pipe:
        record = await _ended(pipe, job_id)
        await _wait_for(lambda: _counted(pipe, total=1, failed=1))

        assert handlers.runs[job_id] == 0
        assert (record.status, record.error, record.attempts) == (JobStatus.FAILED, CANCELLED, 0)
        assert (record.cancel_requested_at, record.cancel_requested_by) == (
            asked[0],
            "address:10.1.2.3",
        )
        events = await pipe.events.events_for_job(job_id)
        assert [event.event_type for event in events] == [
            EventType.CREATED,
            EventType.VALIDATED,
            EventType.FAILED,
        ]
        assert events[-1].payload["reason"] == CANCELLED
        assert events[-1].payload["cancelRequestedBy"] == "address:10.1.2.3"
        stats = await pipe.counters.snapshot()
        assert (stats.total_jobs, stats.completed_jobs, stats.in_flight) == (1, 0, 0)


async def test_other_running_jobs_are_left_alone(tmp_path: Path) -> None:
    handlers = Handlers()
    cancelled_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with open_pipeline(tmp_path, _settings(tmp_path), handlers.registry) as pipe:
        await pipe.broker.publish_batch(
            JOBS_CREATED, [created_message("hang", cancelled_id), created_message("hang", other_id)]
        )
        with anyio.fail_after(10):
            await handlers.started_event(cancelled_id).wait()
            await handlers.started_event(other_id).wait()

        await pipe.jobs.request_cancel(cancelled_id, requested_by="t")
        await _ended(pipe, cancelled_id)

        assert pipe.processor.executor.running() == [other_id]
        other = await pipe.jobs.get_job(other_id)
        assert other is not None
        assert other.status is JobStatus.EXECUTING
        assert handlers.cancelled == {cancelled_id}


async def test_a_handler_that_cannot_be_interrupted_has_its_result_discarded(
    tmp_path: Path,
) -> None:
    handlers = Handlers()
    job_id = str(uuid.uuid4())
    async with open_pipeline(tmp_path, _settings(tmp_path), handlers.registry) as pipe:
        await pipe.broker.publish_batch(JOBS_CREATED, [created_message("stubborn", job_id)])
        with anyio.fail_after(10):
            await handlers.started_event(job_id).wait()
        await pipe.jobs.request_cancel(job_id, requested_by="t")

        async def cancelled() -> bool:
            await anyio.lowlevel.checkpoint()
            return pipe.processor.cancel_watcher.cancelled == 1

        await _wait_for(cancelled)
        handlers.release.set()  # it returns a result after the cancel reached it
        record = await _ended(pipe, job_id)

        assert (record.status, record.error, record.result) == (JobStatus.FAILED, CANCELLED, None)
        assert handlers.runs[job_id] == 1
