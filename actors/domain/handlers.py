"""Job handlers: what a job of each type does, registered by type with ``@handler``.

A handler is an async function that takes a :class:`JobContext` and returns a JSON
value (stored as the job's result) or raises (the job fails with that error)::

    @handler("resize")
    async def resize(job: JobContext) -> object:
        return {"width": job.payload["width"] // 2}

Built-in types for demos: ``echo``, ``sleep``, ``fail``, ``compute``. A type with no
handler runs the registry's default handler, which completes after a short simulated
duration so that arbitrary types (as old clients send) still flow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import anyio

from actors.domain.attempts import MAX_ATTEMPTS_LIMIT
from actors.errors import ConfigError, JobFailed

__all__ = [
    "DEFAULT_REGISTRY",
    "HandlerRegistry",
    "JobContext",
    "JobHandler",
    "RegisteredHandler",
    "handler",
]

MAX_SLEEP_S = 300.0
"""Longest ``sleep`` job accepted (a longer one fails rather than hogging a slot)."""
MAX_COMPUTE_ROUNDS = 5_000_000
"""Most hashing rounds a ``compute`` job may ask for."""


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler sees of the job it runs."""

    id: str
    type: str
    payload: Mapping[str, object]
    metadata: Mapping[str, object] = field(default_factory=dict)
    attempt: int = 1
    """1 for the first attempt, 2 for the first retry, and so on."""
    max_attempts: int = 1
    """How many attempts the job gets (see :mod:`actors.domain.attempts`)."""
    round: int = 1
    """1 for the job's first run; each retry of the ``FAILED`` job (``POST
    /jobs/{id}/retry``) runs it again as the next round, from attempt 1."""


JobHandler = Callable[[JobContext], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RegisteredHandler:
    """A handler with its per-type settings."""

    job_type: str
    run: JobHandler
    timeout_s: float | None = None
    """Overrides the processor's default job timeout for this type."""
    max_attempts: int | None = None
    """Overrides the processor's default number of attempts for this type."""


class HandlerRegistry:
    """Handlers by job type, with a fallback for unknown types."""

    def __init__(self, *, default_duration_s: float = 0.0) -> None:
        self._handlers: dict[str, RegisteredHandler] = {}
        self.default_duration_s = default_duration_s
        """Simulated duration of a job whose type has no handler."""

    def register(
        self,
        job_type: str,
        run: JobHandler,
        *,
        timeout_s: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        """Register ``run`` for ``job_type``.

        Args:
            job_type: the type's name.
            run: the handler.
            timeout_s: how long one attempt may run; ``None``: the processor's default.
            max_attempts: how many attempts a job of this type gets, from 1 to
                :data:`~actors.domain.attempts.MAX_ATTEMPTS_LIMIT`; ``None``: the processor's
                default. A job's ``metadata.maxAttempts`` overrides it.

        Raises:
            ConfigError: a handler is already registered for ``job_type``, or
                ``max_attempts`` is out of range.
        """
        if job_type in self._handlers:
            raise ConfigError(f"A handler for job type {job_type!r} is already registered.")
        if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise ConfigError(
                f"max_attempts of job type {job_type!r} must be from 1 to "
                f"{MAX_ATTEMPTS_LIMIT}, not {max_attempts}."
            )
        self._handlers[job_type] = RegisteredHandler(job_type, run, timeout_s, max_attempts)

    def get(self, job_type: str) -> RegisteredHandler:
        """The handler for ``job_type``, or the default handler."""
        found = self._handlers.get(job_type)
        if found is not None:
            return found
        return RegisteredHandler(job_type, self._run_default)

    def types(self) -> list[str]:
        """Registered job types, sorted."""
        return sorted(self._handlers)

    def copy(self) -> HandlerRegistry:
        """An independent registry with the same handlers (for tests and embedding)."""
        clone = HandlerRegistry(default_duration_s=self.default_duration_s)
        clone._handlers = dict(self._handlers)
        return clone

    async def _run_default(self, job: JobContext) -> object:
        if self.default_duration_s > 0:
            await anyio.sleep(self.default_duration_s)
        return {"handled": "default", "type": job.type}


DEFAULT_REGISTRY = HandlerRegistry(default_duration_s=0.05)
"""The process-wide registry the built-in types are registered in."""


def handler(
    job_type: str,
    *,
    registry: HandlerRegistry = DEFAULT_REGISTRY,
    timeout_s: float | None = None,
    max_attempts: int | None = None,
) -> Callable[[JobHandler], JobHandler]:
    """Decorator registering an async function as the handler of ``job_type``.

    ``timeout_s`` and ``max_attempts`` are as in :meth:`HandlerRegistry.register`.
    """

    def register(run: JobHandler) -> JobHandler:
        registry.register(job_type, run, timeout_s=timeout_s, max_attempts=max_attempts)
        return run

    return register


def _number(payload: Mapping[str, object], key: str, default: float, maximum: float) -> float:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JobFailed(f"payload.{key} must be a number, got {json.dumps(value)[:40]}.")
    if not 0 <= value <= maximum:
        raise JobFailed(f"payload.{key} must be between 0 and {maximum:g}, got {value:g}.")
    return float(value)


@handler("echo")
async def echo(job: JobContext) -> object:
    """Return the payload unchanged."""
    return dict(job.payload)


@handler("sleep")
async def sleep(job: JobContext) -> object:
    """Sleep ``payload.seconds`` (default 1, at most 300) and report it."""
    seconds = _number(job.payload, "seconds", 1.0, MAX_SLEEP_S)
    await anyio.sleep(seconds)
    return {"slept_s": seconds}


@handler("fail")
async def fail(job: JobContext) -> object:
    """Fail, with ``payload.message`` as the error when given; always, unless
    ``payload.succeedFromRound`` (an integer) says from which round on it completes
    instead (to show a retried job completing)."""
    succeed_from = job.payload.get("succeedFromRound")
    if isinstance(succeed_from, int) and not isinstance(succeed_from, bool):
        if job.round >= succeed_from:
            return {"round": job.round, "attempt": job.attempt}
    message = job.payload.get("message", "This job always fails (type 'fail').")
    raise JobFailed(str(message))


def _hash_rounds(seed: bytes, rounds: int) -> str:
    digest = seed
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


@handler("compute")
async def compute(job: JobContext) -> object:
    """Hash ``payload.rounds`` times (default 10,000) in a worker thread; return the digest."""
    rounds = int(_number(job.payload, "rounds", 10_000, MAX_COMPUTE_ROUNDS))
    seed = json.dumps(job.payload.get("seed", job.id)).encode()
    digest = await anyio.to_thread.run_sync(_hash_rounds, seed, rounds)
    return {"rounds": rounds, "sha256": digest}
