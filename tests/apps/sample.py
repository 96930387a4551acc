"""A user's app, as ``observatory up --app tests.apps.sample`` loads it.

One handler of each kind the e2e tests drive: a plain function (worker thread), a
coroutine (the loop), one raising ``NonRetryable``, two with payload schemas (inline and
from a file next to this module), one limited to 2 at once, one sleeping 1 s in a
thread, and one run in a process pool.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import anyio
import anyio.lowlevel

from observatory import HandlerRegistry, JobContext, NonRetryable, handler

TYPED_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["width"],
    "properties": {"width": {"type": "integer", "minimum": 1}},
}


@handler("sample-sync")
def add(job: JobContext) -> object:
    """A plain function: runs in a worker thread, never on the event loop."""
    a, b = job.payload.get("a", 0), job.payload.get("b", 0)
    assert isinstance(a, int)
    assert isinstance(b, int)
    on_loop_thread = threading.current_thread() is threading.main_thread()
    return {"sum": a + b, "mainThread": on_loop_thread}


@handler("sample-async")
async def shout(job: JobContext) -> object:
    """A coroutine: runs on the loop."""
    await anyio.lowlevel.checkpoint()
    return {"text": str(job.payload.get("text", "")).upper(), "attempt": job.attempt}


@handler("sample-refuse", max_attempts=3)
def refuse(job: JobContext) -> object:
    """Fails at once: no attempt after the first, whatever max_attempts says."""
    raise NonRetryable(f"Job {job.id} asks for something no retry can give.")


@handler("sample-typed", payload_schema=TYPED_SCHEMA)
async def typed(job: JobContext) -> object:
    """Its payloads must have an integer ``width`` of at least 1."""
    width = job.payload["width"]
    assert isinstance(width, int)
    return {"half": width // 2}


@handler("sample-typed-file", payload_schema="schemas/typed.json")
async def typed_file(job: JobContext) -> object:
    """The same schema, read from ``schemas/typed.json`` next to this module."""
    return dict(job.payload)


@handler("sample-pair", concurrency=2)
async def pair(job: JobContext) -> object:
    """At most 2 run at once per processor; each says when it ran (wall clock)."""
    started = time.time()
    await anyio.sleep(float(str(job.payload.get("seconds", 0.3))))
    return {"startedAt": started, "finishedAt": time.time()}


@handler("sample-block")
def block(job: JobContext) -> object:
    """Blocks its thread for 1 s (``time.sleep``): the loop must not notice."""
    time.sleep(1.0)
    return {"slept_s": 1.0}


def _digest(rounds: int) -> str:
    value = b"sample"
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return value.hex()


@handler("sample-cpu", process=True)
def cpu(job: JobContext) -> object:
    """CPU-bound: runs in a worker process (its pid differs from the processor's)."""
    rounds = job.payload.get("rounds", 1000)
    assert isinstance(rounds, int)
    return {"sha256": _digest(rounds), "pid": os.getpid()}


registry = HandlerRegistry()
"""A registry of its own, loaded with ``--app tests.apps.sample:registry``."""


@handler("sample-own", registry=registry)
async def own(job: JobContext) -> object:
    """Registered in ``registry``, not the process-wide one."""
    return {"own": True}
