"""Issue 18, item 4 in the processor: ``rate_limit`` starts a type at its rate, embedded.

The processor runs on the embedded adapters (in-process broker, SQLite stores, the
in-memory token buckets), fed raw ``job.created`` messages. The tests are about elapsed
time, so they measure it, but assert only bounds that follow from the rate (a slow
machine makes the jobs later, never earlier).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from actors.config.settings import Settings
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.domain.jobs import JobStatus
from actors.domain.rate_limits import MemoryRateBuckets
from actors.errors import StoreUnavailable
from tests.pipeline import open_pipeline
from tests.unit.actors.processor.test_processor_handlers import _ended, _pipeline, _submit

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from actors.domain.rate_limits import Grant, TokenRequest

pytestmark = pytest.mark.timeout(60)

_RATE = 20.0


async def _until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (a bounded poll: the validator's state has no event
    to wait on)."""
    with anyio.fail_after(10):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)


def _handlers(starts: dict[str, list[float]]) -> HandlerRegistry:
    handlers = HandlerRegistry()

    async def limited(job: JobContext) -> object:
        starts["limited"].append(time.monotonic())
        return None

    async def free(job: JobContext) -> object:
        starts["free"].append(time.monotonic())
        return None

    handlers.register("limited", limited, rate_limit=f"{_RATE * 60:g}/m")
    handlers.register("free", free)
    return handlers


async def test_a_rate_limited_type_starts_at_its_rate_while_another_runs_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors.processor.throttle")
    starts: dict[str, list[float]] = {"limited": [], "free": []}
    # prefetch 16: at most 4 jobs held, the rest deferred through the delayed queue.
    async with _pipeline(tmp_path, _handlers(starts)) as pipe:
        submitted = time.monotonic()
        limited = await _submit(pipe, "limited", count=60)
        free = await _submit(pipe, "free", count=100)
        records = await _ended(pipe, limited + free, timeout_s=30)
        sample = pipe.registry.get_sample_value
        gate = pipe.processor.validator
        held_at_end = gate.rate_limited()
        gauge = sample("processor_rate_limited_jobs", {"type": "limited"})
        waited_s = sample("processor_job_queue_wait_seconds_sum", {"type": "limited"})
        free_waited_s = sample("processor_job_queue_wait_seconds_sum", {"type": "free"})

    assert {r.status for r in records} == {JobStatus.COMPLETED}
    assert {r.attempts for r in records} == {1}  # waiting is not an attempt
    assert (len(starts["limited"]), len(starts["free"])) == (60, 100)
    # The token bucket's bound: the k-th start (from 0) comes no sooner than
    # (k - capacity + 1) / rate after the first, the capacity being one second's worth.
    limited_starts = sorted(starts["limited"])
    first = limited_starts[0]
    for k, at in enumerate(limited_starts):
        assert at - first >= (k - _RATE + 1) / _RATE - 0.01, k
    assert limited_starts[-1] - submitted >= (60 - _RATE) / _RATE - 0.01
    # The other type did not wait for the limited one: all done before it was half done.
    assert max(starts["free"]) < limited_starts[40]
    # The wait shows as queue wait; nothing is held once everything ran.
    assert waited_s is not None
    assert free_waited_s is not None
    assert waited_s >= sum((k - _RATE + 1) / _RATE for k in range(60) if k >= _RATE) - 0.5
    assert (held_at_end, gauge) == (0, 0)
    # Beyond what is held, jobs were deferred through the broker (not held unacknowledged).
    assert any(r.message.startswith("rate.deferred type=limited") for r in caplog.records)


async def test_a_graceful_stop_gives_held_jobs_back_to_the_queue(tmp_path: Path) -> None:
    starts: dict[str, list[float]] = {"limited": [], "free": []}
    async with _pipeline(tmp_path, _handlers(starts), shutdown_grace_s=0.1) as pipe:
        await _submit(pipe, "limited", count=30)
        await _until(lambda: pipe.processor.validator.rate_limited() > 0)
        held = pipe.processor.validator.rate_limited()
        pipe.processor.request_stop()
        # Given back at once: the held jobs do not wait for their tokens.
        await _until(lambda: pipe.broker.statistics().queues["jobs.created"].unacked == 0)
        queue = pipe.broker.statistics().queues["jobs.created"]
    assert held == 4  # a quarter of the prefetch (16)
    assert len(starts["limited"]) < 30
    # Every job not started is back in the queue or waiting out its deferral.
    assert queue.ready + queue.delayed == 30 - len(starts["limited"])


class _AwayAtFirst:
    """Rate buckets whose server is away for the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self._buckets = MemoryRateBuckets()

    async def take(self, requests: Sequence[TokenRequest]) -> list[Grant]:
        self.calls += 1
        if self.calls <= self.failures:
            await anyio.lowlevel.checkpoint()
            raise StoreUnavailable("The Redis rate buckets at redis://x could not take tokens.")
        return await self._buckets.take(requests)


async def test_while_the_buckets_are_away_limited_jobs_wait_and_the_others_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors.processor.throttle")
    starts: dict[str, list[float]] = {"limited": [], "free": []}
    buckets = _AwayAtFirst(failures=2)
    chosen = Settings(data_dir=tmp_path, prefetch=16, shutdown_s=5.0, retry_backoff_s=0.02)
    async with open_pipeline(tmp_path, chosen, _handlers(starts), rate_buckets=buckets) as pipe:
        limited = await _submit(pipe, "limited", count=3)
        free = await _submit(pipe, "free", count=10)
        records = await _ended(pipe, limited + free, timeout_s=30)

    assert {r.status for r in records} == {JobStatus.COMPLETED}
    assert {r.attempts for r in records} == {1}
    assert buckets.calls > buckets.failures
    # Logged once when they went away and once when they came back, not per batch.
    messages = [r.message for r in caplog.records]
    assert sum(m.startswith("rate.buckets_unavailable") for m in messages) == 1
    assert sum(m.startswith("rate.buckets_available") for m in messages) == 1
    assert max(starts["free"]) < min(starts["limited"])
