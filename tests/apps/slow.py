"""A user's app whose one handler sleeps: a job that stays in flight (``tests/e2e/test_workers.py``)."""

from __future__ import annotations

import anyio

from observatory import JobContext, handler


@handler("slow-sleep")
async def sleep(job: JobContext) -> object:
    """Sleeps ``payload.seconds`` (default 20) on the loop, then answers how long."""
    seconds = job.payload.get("seconds", 20)
    assert isinstance(seconds, int | float)
    await anyio.sleep(seconds)
    return {"slept": seconds}
