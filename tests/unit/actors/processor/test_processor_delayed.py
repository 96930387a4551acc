"""Issue 18, item 1: the processor's scheduler publishes delayed jobs from the job store's
scheduled set when they are due, and a delayed job cancelled while it waits never runs.

The processor and metrics engine run on embedded adapters (in-process broker, SQLite
stores); the jobs are put in the scheduled set as the gateway does.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker import OutgoingMessage
from actors.config.settings import Settings
from actors.domain.clock import format_timestamp, utc_now
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.domain.jobs import CANCELLED, JobSpec, JobStatus
from actors.domain.scheduling import ScheduledJob
from tests.pipeline import created_message, open_pipeline

if TYPE_CHECKING:
    from pathlib import Path

    from actors.domain.jobs import JobRecord
    from actors.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.timeout(30)


def _delayed(job_id: str, due_in_s: float) -> ScheduledJob:
    """A scheduled-set entry as the gateway writes it: the job's spec and its message."""
    due = format_timestamp(datetime.now(UTC) + timedelta(seconds=due_in_s))
    plain = created_message("echo", job_id)
    envelope = json.loads(plain.body)
    envelope["payload"]["scheduledFor"] = due
    message = OutgoingMessage(body=json.dumps(envelope).encode(), message_id=plain.message_id)
    spec = JobSpec(
        id=job_id,
        type="echo",
        created_at=envelope["payload"]["createdAt"],
        correlation_id=envelope["correlationId"],
    )
    return ScheduledJob(spec=spec, scheduled_for=due, at=utc_now(), message=message)


async def _until(store: SQLiteJobStore, job_id: str, statuses: set[JobStatus]) -> JobRecord:
    with anyio.fail_after(15):
        while True:
            record = await store.get_job(job_id)
            if record is not None and record.status in statuses:
                return record
            await anyio.sleep(0.05)


async def test_a_delayed_job_runs_once_after_its_time(tmp_path: Path) -> None:
    runs: Counter[str] = Counter()
    started: dict[str, str] = {}

    async def echo(job: JobContext) -> object:
        runs[job.id] += 1
        started[job.id] = utc_now()
        return {}

    handlers = HandlerRegistry()
    handlers.register("echo", echo)
    job_id = str(uuid.uuid4())
    async with open_pipeline(tmp_path, Settings(), handlers) as pipeline:
        delayed = _delayed(job_id, 1.5)
        await pipeline.jobs.schedule_jobs([delayed])
        waiting = await pipeline.jobs.get_job(job_id)

        done = await _until(pipeline.jobs, job_id, {JobStatus.COMPLETED})

    assert waiting is not None
    assert (waiting.status, waiting.scheduled_for) == (JobStatus.PENDING, delayed.scheduled_for)
    assert runs == {job_id: 1}
    assert started[job_id] >= delayed.scheduled_for
    assert done.scheduled_for == delayed.scheduled_for
    assert pipeline.processor.scheduler.published == 1


async def test_a_delayed_job_cancelled_while_it_waits_never_runs(tmp_path: Path) -> None:
    runs: Counter[str] = Counter()

    async def echo(job: JobContext) -> object:
        runs[job.id] += 1
        return {}

    handlers = HandlerRegistry()
    handlers.register("echo", echo)
    job_id = str(uuid.uuid4())
    async with open_pipeline(tmp_path, Settings(), handlers) as pipeline:
        await pipeline.jobs.schedule_jobs([_delayed(job_id, 3600)])
        answer = await pipeline.jobs.request_cancel(job_id, requested_by="token:test")

        failed = await _until(pipeline.jobs, job_id, {JobStatus.FAILED, JobStatus.COMPLETED})

    assert answer.status is JobStatus.PENDING
    assert (failed.status, failed.error, failed.attempts) == (JobStatus.FAILED, CANCELLED, 0)
    assert runs == {}
