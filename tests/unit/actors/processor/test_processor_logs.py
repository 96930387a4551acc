"""Issue 16 (item 5): in the processor's log lines a job's id appears once per line, in
JSON (``--log-format json``) as on a terminal.

The processor and the metrics engine run on embedded adapters (in-process broker,
SQLite stores); jobs go through the paths that log about a job outside its run: a
running job cancelled, a queued job cancelled, a finished job delivered again, a
delivery of an attempt that already failed, a retry.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.errors import JobFailed
from tests.log_lines import capture_records, formatted, named_more_than_once
from tests.pipeline import (
    crashed_after_a_failed_attempt,
    created_envelope,
    envelope_job_id,
    envelope_message,
    open_pipeline,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from actors.broker.memory import MemoryBroker
    from actors.stores.sqlite import SQLiteJobStore
    from tests.pipeline import Pipeline

pytestmark = pytest.mark.timeout(30)


class Handlers:
    """``echo``; ``hang``, which runs until cancelled; ``flaky``, which fails attempt 1."""

    def __init__(self) -> None:
        self.started: dict[str, anyio.Event] = {}
        self.registry = HandlerRegistry()
        self.registry.register("echo", self._echo)
        self.registry.register("hang", self._hang, timeout_s=60.0)
        self.registry.register("flaky", self._flaky)

    def started_event(self, job_id: str) -> anyio.Event:
        return self.started.setdefault(job_id, anyio.Event())

    async def _echo(self, job: JobContext) -> object:
        return dict(job.payload)

    async def _hang(self, job: JobContext) -> object:
        self.started_event(job.id).set()
        await anyio.sleep(60)
        return None

    async def _flaky(self, job: JobContext) -> object:
        if job.attempt < 2:
            raise JobFailed(f"attempt {job.attempt} failed")
        return {"attempt": job.attempt}


async def _wait_for(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0) -> None:
    """Wait until an async predicate over the stores holds (they work in worker threads:
    a short bounded poll)."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _ended(pipe: Pipeline, job_id: str) -> None:
    async def terminal() -> bool:
        record = await pipe.jobs.get_job(job_id)
        return record is not None and record.status.is_terminal

    await _wait_for(terminal)


def _lines_of(records: list[logging.LogRecord], event: str) -> list[logging.LogRecord]:
    return [record for record in records if record.getMessage().split(" ", 1)[0] == event]


async def test_issue_16_a_job_id_appears_once_per_line_in_json_and_console_logs(
    tmp_path: Path,
) -> None:
    handlers = Handlers()
    queued = created_envelope("echo")
    stale = created_envelope("flaky")
    done, running, retried = (
        created_envelope("echo"),
        created_envelope("hang"),
        created_envelope("flaky"),
    )

    async def before_start(broker: MemoryBroker, jobs: SQLiteJobStore) -> None:
        await crashed_after_a_failed_attempt(broker, jobs, stale)
        # A job cancelled before a processor takes it.
        await broker.publish_batch(JOBS_CREATED, [envelope_message(queued)])
        await jobs.request_cancel(envelope_job_id(queued), requested_by="address:test")

    settings = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, retry_backoff_s=0.02)
    with capture_records() as records:
        async with open_pipeline(
            tmp_path, settings, handlers.registry, before_start=before_start
        ) as pipe:
            await _ended(pipe, envelope_job_id(queued))
            await _ended(pipe, envelope_job_id(stale))
            # A finished job delivered again.
            await pipe.broker.publish_batch(JOBS_CREATED, [envelope_message(done)])
            await _ended(pipe, envelope_job_id(done))
            await pipe.broker.publish_batch(JOBS_CREATED, [envelope_message(done)])
            # A running job cancelled; a job that fails once and is retried.
            await pipe.broker.publish_batch(
                JOBS_CREATED, [envelope_message(running), envelope_message(retried)]
            )
            with anyio.fail_after(10):
                await handlers.started_event(envelope_job_id(running)).wait()
            await pipe.jobs.request_cancel(envelope_job_id(running), requested_by="address:test")
            await _ended(pipe, envelope_job_id(running))
            await _ended(pipe, envelope_job_id(retried))

            async def replayed() -> bool:
                return bool(_lines_of(records, "job.already_terminal"))

            await _wait_for(replayed)

    ids = [envelope_job_id(job) for job in (queued, stale, done, running, retried)]
    assert named_more_than_once(records, ids) == []
    # The lines about a job outside its run name it, once, as jobId.
    for event, job in [
        ("job.cancelled", queued),
        ("job.stale_attempt", stale),
        ("job.already_terminal", done),
        ("job.cancelling", running),
        ("job.retrying", retried),
    ]:
        [record] = _lines_of(records, event)
        as_json, console = formatted(record)
        job_id = envelope_job_id(job)
        assert json.loads(as_json)["jobId"] == job_id, as_json
        assert job_id not in json.loads(as_json)["message"], as_json
        assert console.count(f"jobId={job_id}") == 1, console
    # Every line that names one of the jobs names it once.
    naming = [line for r in records for line in formatted(r) if any(i in line for i in ids)]
    assert len(naming) > 20
    assert all(sum(line.count(i) for i in ids) == 1 for line in naming), naming
