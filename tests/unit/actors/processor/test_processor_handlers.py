"""Issue 14 in the processor: unknown types, NonRetryable, payload schemas, sync handlers
in bounded threads, per-type concurrency, backoff and timeout, process handlers.

The processor and metrics engine run on embedded adapters (in-process broker, SQLite
stores), fed raw ``job.created`` messages.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.domain.jobs import JobStatus
from actors.errors import NonRetryable
from tests.pipeline import Pipeline, created_message, open_pipeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from actors.broker import OutgoingMessage
    from actors.domain.jobs import JobRecord

pytestmark = pytest.mark.timeout(30)


def _message(
    job_type: str, payload: dict[str, object] | None = None
) -> tuple[str, OutgoingMessage]:
    job_id = str(uuid.uuid4())
    return job_id, created_message(job_type, job_id, payload=payload, message_id=job_id)


@asynccontextmanager
async def _pipeline(
    tmp_path: Path, handlers: HandlerRegistry, **settings: object
) -> AsyncIterator[Pipeline]:
    chosen = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, retry_backoff_s=0.02)
    async with open_pipeline(tmp_path, chosen.with_changes(**settings), handlers) as pipe:
        yield pipe


async def _submit(
    pipe: Pipeline, job_type: str, payload: dict[str, object] | None = None, *, count: int = 1
) -> list[str]:
    made = [_message(job_type, payload) for _ in range(count)]
    await pipe.broker.publish_batch(JOBS_CREATED, [message for _, message in made])
    return [job_id for job_id, _ in made]


async def _ended(pipe: Pipeline, job_ids: list[str], *, timeout_s: float = 10.0) -> list[JobRecord]:
    """Wait until every job is terminal and its delivery settled (a bounded poll: the
    stores work in threads, there is no in-process event to wait on)."""
    with anyio.fail_after(timeout_s):
        while True:
            records = [await pipe.jobs.get_job(job_id) for job_id in job_ids]
            queues = pipe.broker.statistics().queues.values()
            settled = all(q.unacked == 0 and q.ready == 0 and q.delayed == 0 for q in queues)
            if settled and all(r is not None and r.status.is_terminal for r in records):
                return [r for r in records if r is not None]
            await anyio.sleep(0.01)


async def test_an_unknown_type_fails_at_once_unless_simulated(tmp_path: Path) -> None:
    async with _pipeline(tmp_path / "strict", HandlerRegistry()) as pipe:
        [record] = await _ended(pipe, await _submit(pipe, "nope"))
    assert (record.status, record.attempts, record.error) == (
        JobStatus.FAILED,
        1,
        "no handler for type 'nope'",
    )

    simulated = tmp_path / "simulated"
    async with _pipeline(simulated, HandlerRegistry(), simulate_unknown_types=True) as pipe:
        [record] = await _ended(pipe, await _submit(pipe, "nope"))
    assert (record.status, record.result) == (
        JobStatus.COMPLETED,
        {"handled": "default", "type": "nope"},
    )


async def test_non_retryable_fails_after_one_attempt_and_is_counted(tmp_path: Path) -> None:
    runs: list[int] = []
    handlers = HandlerRegistry()

    def refuse(job: JobContext) -> object:
        runs.append(job.attempt)
        raise NonRetryable("the input is not an image")

    handlers.register("refuse", refuse, max_attempts=5)
    async with _pipeline(tmp_path, handlers) as pipe:
        [record] = await _ended(pipe, await _submit(pipe, "refuse"))
        sample = pipe.registry.get_sample_value

        assert (record.status, record.attempts, record.error) == (
            JobStatus.FAILED,
            1,
            "NonRetryable: the input is not an image",
        )
        assert runs == [1]
        assert sample("processor_jobs_non_retryable_total", {"type": "refuse"}) == 1
        assert sample("processor_jobs_retried_total", {"type": "refuse"}) is None
        assert sample("processor_handler_types", {"type": "refuse"}) == 1


async def test_a_payload_off_its_schema_fails_without_running_or_retrying(tmp_path: Path) -> None:
    runs: list[str] = []
    handlers = HandlerRegistry()
    schema = {"type": "object", "properties": {"width": {"type": "integer"}}}

    async def typed(job: JobContext) -> object:
        runs.append(job.id)
        return {"ok": True}

    handlers.register("typed", typed, payload_schema=schema)
    async with _pipeline(tmp_path, handlers) as pipe:
        [bad] = await _ended(pipe, await _submit(pipe, "typed", {"width": "wide"}))
        [good] = await _ended(pipe, await _submit(pipe, "typed", {"width": 3}))

    assert (bad.status, bad.attempts) == (JobStatus.FAILED, 1)
    assert bad.error == (
        "The payload does not match the payload schema of type 'typed': "
        '/payload/width: "wide" is not of type "integer"'
    )
    assert good.status is JobStatus.COMPLETED
    assert runs == [good.id]


async def test_sync_handlers_run_in_threads_at_most_threads_at_once(tmp_path: Path) -> None:
    lock = threading.Lock()
    active, peak, names = [0], [0], set[str]()

    def block(job: JobContext) -> object:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            names.add(threading.current_thread().name)
        time.sleep(0.05)  # long enough for the others to pile up
        with lock:
            active[0] -= 1
        return None

    handlers = HandlerRegistry()
    handlers.register("block", block)
    async with _pipeline(tmp_path, handlers, threads=3) as pipe:
        records = await _ended(pipe, await _submit(pipe, "block", count=9))

    assert {r.status for r in records} == {JobStatus.COMPLETED}
    assert peak[0] == 3
    assert threading.main_thread().name not in names


async def test_concurrency_holds_a_type_to_n_running_at_once(tmp_path: Path) -> None:
    active, peak = [0], [0]

    async def pair(job: JobContext) -> object:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await anyio.sleep(0.02)
        active[0] -= 1
        return None

    handlers = HandlerRegistry()
    handlers.register("pair", pair, concurrency=2)
    async with _pipeline(tmp_path, handlers) as pipe:
        records = await _ended(pipe, await _submit(pipe, "pair", count=8))

    assert {r.status for r in records} == {JobStatus.COMPLETED}
    assert peak[0] == 2


async def test_a_types_backoff_and_timeout_override_the_settings(tmp_path: Path) -> None:
    release = threading.Event()

    def flaky(job: JobContext) -> object:
        if job.attempt < 3:
            raise RuntimeError(f"attempt {job.attempt}")
        return {"attempt": job.attempt}

    def stuck(job: JobContext) -> object:
        release.wait(10)
        return None

    handlers = HandlerRegistry()
    # The settings' backoff (20 s, then 30 s) would outlast the test's wait.
    handlers.register("flaky", flaky, retry_backoff_s=0.01)
    handlers.register("stuck", stuck, timeout_s=0.05, max_attempts=1)
    try:
        async with _pipeline(tmp_path, handlers, retry_backoff_s=20.0) as pipe:
            [done] = await _ended(pipe, await _submit(pipe, "flaky"))
            [timed_out] = await _ended(pipe, await _submit(pipe, "stuck"))
    finally:
        release.set()

    assert (done.status, done.attempts, done.result) == (JobStatus.COMPLETED, 3, {"attempt": 3})
    assert (timed_out.status, timed_out.error) == (
        JobStatus.FAILED,
        f"Job {timed_out.id} of type 'stuck' timed out after 0.05 s.",
    )


def _pid(job: JobContext) -> object:
    return {"pid": os.getpid()}


async def test_a_process_handler_runs_in_another_process(tmp_path: Path) -> None:
    handlers = HandlerRegistry()
    handlers.register("cpu", _pid, process=True)
    async with _pipeline(tmp_path, handlers) as pipe:
        [record] = await _ended(pipe, await _submit(pipe, "cpu"), timeout_s=20.0)

    assert record.status is JobStatus.COMPLETED, record.error
    assert isinstance(record.result, dict)
    assert record.result["pid"] != os.getpid()
