"""A user's app for the graceful-stop test (issue 16): ``stop-sleep`` sleeps
``payload.seconds``, unless the processor runs with ``STOP_TEST_QUICK=1`` (the restart),
when it returns at once."""

from __future__ import annotations

import os

import anyio

from observatory import JobContext, handler


@handler("stop-sleep", timeout_s=120.0)
async def sleep_then_answer(job: JobContext) -> object:
    """Sleep ``payload.seconds`` (none when ``STOP_TEST_QUICK`` is set): cancellable."""
    seconds = job.payload.get("seconds", 0)
    assert isinstance(seconds, int | float)
    if os.environ.get("STOP_TEST_QUICK") != "1":
        await anyio.sleep(float(seconds))
    return {"attempt": job.attempt, "seconds": seconds}
