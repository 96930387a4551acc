"""The processor's core, as issue 13 laid it out: a job's start (VALIDATED and EXECUTING)
is one store call, its outcome another; the validator alone owns the in-flight registry;
the messages between the actors are immutable, one type per outcome."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY, JobContext
from actors.domain.jobs import JobStatus, JobTransition
from actors.pipeline.packing import pack_envelopes
from actors.processor import messages
from tests.pipeline import created_message, open_pipeline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from pathlib import Path

    from actors.broker.memory import MemoryBroker
    from actors.stores import SQLiteJobStore

pytestmark = pytest.mark.timeout(30)


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``condition`` holds: the stores work in threads, so a short bounded
    poll is the honest way to observe them."""
    with anyio.fail_after(10):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_a_job_costs_two_store_calls_its_start_and_its_outcome(tmp_path: Path) -> None:
    calls: list[list[tuple[str, JobStatus]]] = []

    async def record_calls(_broker: MemoryBroker, jobs: SQLiteJobStore) -> None:
        apply = jobs.apply_transitions

        async def counting(transitions: Sequence[JobTransition]) -> list[JobStatus]:
            calls.append([(t.job.id, t.status) for t in transitions])
            return await apply(transitions)

        jobs.apply_transitions = counting  # type: ignore[method-assign]

    settings = Settings(data_dir=tmp_path, prefetch=8, shutdown_s=5.0)
    handlers = DEFAULT_REGISTRY.copy()
    async with open_pipeline(tmp_path, settings, handlers, before_start=record_calls) as p:
        job_id = str(uuid.uuid4())
        await p.broker.publish_batch(JOBS_CREATED, [created_message("echo", job_id)])

        async def finished() -> bool:
            record = await p.jobs.get_job(job_id)
            return record is not None and record.status.is_terminal

        await _until(finished)
        record = await p.jobs.get_job(job_id)

    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.COMPLETED, 1)
    assert calls == [
        [(job_id, JobStatus.VALIDATED), (job_id, JobStatus.EXECUTING)],
        [(job_id, JobStatus.COMPLETED)],
    ]


async def test_the_validator_owns_the_in_flight_registry_until_the_outcome_is_stored(
    tmp_path: Path,
) -> None:
    release = anyio.Event()
    started = anyio.Event()
    runs = 0

    async def gated(job: JobContext) -> object:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return {"ran": runs}

    settings = Settings(data_dir=tmp_path, prefetch=8, shutdown_s=5.0)
    handlers = DEFAULT_REGISTRY.copy()
    handlers.register("gated", gated)
    async with open_pipeline(tmp_path, settings, handlers) as p:
        validator = p.processor.validator
        job_id = str(uuid.uuid4())
        await p.broker.publish_batch(JOBS_CREATED, [created_message("gated", job_id)])
        with anyio.fail_after(10):
            await started.wait()
        assert validator.in_flight() == 1
        # Another delivery of the running job parks on it: not stored again, not run.
        await p.broker.publish_batch(JOBS_CREATED, [created_message("gated", job_id)])

        async def parked() -> bool:
            return len(validator._running.get(job_id, ())) == 1

        await _until(parked)
        stored = await p.jobs.get_job(job_id)
        assert stored is not None
        assert stored.attempts == 1
        release.set()

        async def settled() -> bool:
            queue = p.broker.statistics().queues[JOBS_CREATED]
            return validator.in_flight() == 0 and queue.unacked == 0

        await _until(settled)
        record = await p.jobs.get_job(job_id)

    assert runs == 1
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.COMPLETED, 1)


async def test_a_packed_message_starts_no_more_jobs_than_the_executor_runs_at_once(
    tmp_path: Path,
) -> None:
    """A message may carry many jobs (POST /jobs/batch packs up to 50): the processor
    stores EXECUTING only for jobs it runs, the others wait unstored until room frees."""
    release = anyio.Event()
    running = 0
    most = 0

    async def gated(job: JobContext) -> object:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return {}

    settings = Settings(data_dir=tmp_path, prefetch=4, shutdown_s=5.0)
    handlers = DEFAULT_REGISTRY.copy()
    handlers.register("gated", gated)
    ids = [str(uuid.uuid4()) for _ in range(10)]
    packed = pack_envelopes([created_message("gated", job_id) for job_id in ids])
    assert len(packed) == 1
    async with open_pipeline(tmp_path, settings, handlers) as p:
        await p.broker.publish_batch(JOBS_CREATED, packed)

        async def four_run() -> bool:
            return running == 4

        await _until(four_run)
        await anyio.sleep(0.2)  # room for a wrong start to show
        stored = [await p.jobs.get_job(job_id) for job_id in ids]
        assert sum(1 for record in stored if record is not None) == 4
        assert p.processor.validator.in_flight() == 4
        release.set()

        async def all_done() -> bool:
            records = [await p.jobs.get_job(job_id) for job_id in ids]
            return all(r is not None and r.status is JobStatus.COMPLETED for r in records)

        await _until(all_done)
    assert most == 4


def test_the_messages_between_the_actors_are_immutable_and_carry_no_flags() -> None:
    outcome_types = [
        messages.Finished,
        messages.RetryScheduled,
        messages.Held,
        messages.Cancelled,
        messages.AlreadyTerminal,
    ]
    for message_type in [*outcome_types, messages.AdmittedJob, messages.StartJobs]:
        params = message_type.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, message_type
        flags = [f.name for f in dataclasses.fields(message_type) if f.type in ("bool", bool)]
        assert flags in ([], ["redelivered"]), (message_type, flags)
    assert len({frozenset(f.name for f in dataclasses.fields(t)) for t in outcome_types}) == 5
