"""Job handlers: what a job of each type does, registered by type with ``@handler``.

A handler takes a :class:`JobContext` and returns a JSON value (stored as the job's
result) or raises (the attempt fails with that error; :class:`~actors.errors.NonRetryable`
fails the job at once)::

    @handler("resize", timeout_s=10, max_attempts=5, payload_schema="schemas/resize.json")
    def resize(job: JobContext) -> object:        # a plain def: runs in a worker thread
        return {"width": job.payload["width"] // 2}

    @handler("fetch", concurrency=4, rate_limit="300/m")
    async def fetch(job: JobContext) -> object:   # async def: runs on the event loop
        ...

How each kind runs (:meth:`RegisteredHandler.invoke`):

===================  ==========================================================
declared as          runs
===================  ==========================================================
``async def``        on the processor's event loop; cancelled at its next await
``def``              in a worker thread, at most ``Settings.threads`` at once per
                     processor; on timeout or cancel the thread is abandoned (its
                     result is discarded; Python cannot stop a thread)
``def`` with         in a process pool (``anyio.to_process``): for CPU-bound work;
``process=True``     the function and its result must pickle; on timeout or cancel
                     the worker process is killed
===================  ==========================================================

Built-in types for demos and the gate: ``echo``, ``sleep``, ``fail``, ``compute``,
``gate``. A type with no handler fails with ``no handler for type 'X'`` unless the
processor simulates unknown types (``--demo``, ``--simulate-unknown-types``): then the
registry's default handler completes it after a short simulated duration.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import anyio
import anyio.to_process
import anyio.to_thread

from actors.domain.attempts import MAX_ATTEMPTS_LIMIT
from actors.domain.rate_limits import parse_rate_limit
from actors.errors import ConfigError, JobFailed
from contracts import PayloadSchema

if TYPE_CHECKING:
    from contracts.errors import ValidationIssue

__all__ = [
    "DEFAULT_REGISTRY",
    "HandlerMode",
    "HandlerRegistry",
    "JobContext",
    "JobHandler",
    "RegisteredHandler",
    "handler",
    "no_handler_error",
]

MAX_SLEEP_S = 300.0
"""Longest ``sleep`` job accepted (a longer one fails rather than hogging a slot)."""
MAX_COMPUTE_ROUNDS = 5_000_000
"""Most hashing rounds a ``compute`` job may ask for."""


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler sees of the job it runs (it pickles, for ``process=True``)."""

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
"""An async handler."""
AnyHandler = Callable[[JobContext], object]
"""A handler of any kind: ``async def`` or plain ``def``."""
F = TypeVar("F", bound=AnyHandler)


class HandlerMode(enum.Enum):
    """Where a handler runs."""

    LOOP = "async"
    """An ``async def``: on the event loop."""
    THREAD = "thread"
    """A plain ``def``: in a worker thread."""
    PROCESS = "process"
    """A plain ``def`` declared with ``process=True``: in a worker process."""


def no_handler_error(job_type: str) -> str:
    """The error of a job whose type no loaded handler serves."""
    return f"no handler for type {job_type!r}"


@dataclass(frozen=True, slots=True)
class RegisteredHandler:
    """A handler with its per-type options (``None``: the processor's setting)."""

    job_type: str
    run: AnyHandler
    timeout_s: float | None = None
    """Overrides the processor's default job timeout for this type."""
    max_attempts: int | None = None
    """Overrides the processor's default number of attempts for this type."""
    retry_backoff_s: float | None = None
    """Overrides the wait after a first failed attempt (then x factor, as configured)."""
    concurrency: int | None = None
    """At most this many jobs of this type run at once in one processor."""
    rate_limit: float | None = None
    """At most this many jobs of this type start per second, across every processor
    (:mod:`actors.domain.rate_limits`)."""
    payload_schema: PayloadSchema | None = None
    """The schema every payload of this type must match."""
    mode: HandlerMode = HandlerMode.LOOP

    def payload_issues(self, payload: object) -> list[ValidationIssue]:
        """How ``payload`` breaks this type's schema (paths under ``/payload``)."""
        return [] if self.payload_schema is None else self.payload_schema.issues(payload)

    async def invoke(self, job: JobContext, *, threads: anyio.CapacityLimiter) -> object:
        """Run the handler once for ``job``, where its mode says.

        Args:
            job: the job.
            threads: the processor's bound on worker threads (plain ``def`` handlers).

        Cancellation: an async handler is cancelled at its next await; a thread is
        abandoned (it runs on, its result discarded, its ``threads`` token released); a
        worker process is killed.
        """
        if self.mode is HandlerMode.PROCESS:
            return await anyio.to_process.run_sync(self.run, job, cancellable=True)
        if self.mode is HandlerMode.THREAD:
            return await anyio.to_thread.run_sync(
                self.run, job, limiter=threads, abandon_on_cancel=True
            )
        return await cast("JobHandler", self.run)(job)


def _mode(job_type: str, run: AnyHandler, *, process: bool) -> HandlerMode:
    is_async = inspect.iscoroutinefunction(run)
    if process and is_async:
        raise ConfigError(
            f"The handler of job type {job_type!r} is an async function: process=True is for "
            "plain functions (CPU-bound work); drop process=True or make it a plain def."
        )
    if process:
        return HandlerMode.PROCESS
    return HandlerMode.LOOP if is_async else HandlerMode.THREAD


def _schema(
    job_type: str, run: AnyHandler, schema: Mapping[str, object] | str | Path | None
) -> PayloadSchema | None:
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        return PayloadSchema(schema, source=f"of job type {job_type!r}")
    path = Path(schema)
    if not path.is_absolute():
        # Relative to the module declaring the handler, so it ships inside the package.
        try:
            module_file = inspect.getfile(run)
        except TypeError:
            raise ConfigError(
                f"The payload schema {str(schema)!r} of job type {job_type!r} is a relative "
                "path, but the handler has no source file to resolve it from; give an "
                "absolute path or the schema itself."
            ) from None
        path = Path(module_file).resolve().parent / path
    return PayloadSchema.from_file(path)


def _check_positive(job_type: str, name: str, value: float | None, *, whole: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or (whole and not isinstance(value, int)) or not value > 0:
        kind = "a whole number of at least 1" if whole else "a number greater than 0"
        raise ConfigError(f"{name} of job type {job_type!r} must be {kind}, not {value!r}.")


class HandlerRegistry:
    """Handlers by job type, with a simulated default for unknown types (when allowed)."""

    def __init__(self, *, default_duration_s: float = 0.0) -> None:
        self._handlers: dict[str, RegisteredHandler] = {}
        self.default_duration_s = default_duration_s
        """Simulated duration of a job whose type has no handler (when simulated)."""

    def register(
        self,
        job_type: str,
        run: AnyHandler,
        *,
        timeout_s: float | None = None,
        max_attempts: int | None = None,
        retry_backoff_s: float | None = None,
        concurrency: int | None = None,
        rate_limit: float | str | None = None,
        payload_schema: Mapping[str, object] | str | Path | None = None,
        process: bool = False,
    ) -> RegisteredHandler:
        """Register ``run`` for ``job_type``.

        Args:
            job_type: the type's name.
            run: the handler, an ``async def`` or a plain ``def``.
            timeout_s: how long one attempt may run; ``None``: the processor's default.
            max_attempts: how many attempts a job of this type gets, from 1 to
                :data:`~actors.domain.attempts.MAX_ATTEMPTS_LIMIT`; ``None``: the processor's
                default. A job's ``metadata.maxAttempts`` overrides it.
            retry_backoff_s: the wait after a first failed attempt; ``None``: the
                processor's.
            concurrency: at most this many jobs of the type run at once per processor.
            rate_limit: at most this many jobs of the type start per second across every
                processor: a number, or ``"N/s"``, ``"N/m"``, ``"N/h"``
                (:func:`~actors.domain.rate_limits.parse_rate_limit`).
            payload_schema: a JSON Schema (a dict) or the path of a ``.json`` file
                holding one, relative to the module declaring ``run``.
            process: run a plain ``def`` in a process pool instead of a thread.

        Returns:
            The registration.

        Raises:
            ConfigError: a different handler is already registered for ``job_type``, an
                option is out of range, or the schema cannot be loaded.
        """
        existing = self._handlers.get(job_type)
        if existing is not None and existing.run is not run:
            raise ConfigError(f"A handler for job type {job_type!r} is already registered.")
        if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise ConfigError(
                f"max_attempts of job type {job_type!r} must be from 1 to "
                f"{MAX_ATTEMPTS_LIMIT}, not {max_attempts}."
            )
        _check_positive(job_type, "timeout_s", timeout_s)
        _check_positive(job_type, "concurrency", concurrency, whole=True)
        if retry_backoff_s is not None and (
            isinstance(retry_backoff_s, bool) or not retry_backoff_s >= 0
        ):
            raise ConfigError(
                f"retry_backoff_s of job type {job_type!r} must be 0 or more, not "
                f"{retry_backoff_s!r}."
            )
        registered = RegisteredHandler(
            job_type,
            run,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            retry_backoff_s=retry_backoff_s,
            concurrency=concurrency,
            rate_limit=parse_rate_limit(job_type, rate_limit),
            payload_schema=_schema(job_type, run, payload_schema),
            mode=_mode(job_type, run, process=process),
        )
        self._handlers[job_type] = registered
        return registered

    def include(self, other: HandlerRegistry) -> None:
        """Add every handler of ``other`` (a user's own registry) to this one.

        Raises:
            ConfigError: a type of ``other`` already has a different handler here.
        """
        for job_type, registered in other._handlers.items():
            existing = self._handlers.get(job_type)
            if existing is not None and existing.run is not registered.run:
                raise ConfigError(f"A handler for job type {job_type!r} is already registered.")
            self._handlers[job_type] = registered

    def find(self, job_type: str) -> RegisteredHandler | None:
        """The handler registered for ``job_type``, if any."""
        return self._handlers.get(job_type)

    def get(self, job_type: str) -> RegisteredHandler:
        """The handler for ``job_type``, or the simulated default handler."""
        found = self._handlers.get(job_type)
        if found is not None:
            return found
        return RegisteredHandler(job_type, self._run_default)

    def rate_limits(self) -> dict[str, float]:
        """The starts per second allowed, by type, of the types with a ``rate_limit``."""
        return {
            job_type: registered.rate_limit
            for job_type, registered in self._handlers.items()
            if registered.rate_limit is not None
        }

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

    def __repr__(self) -> str:
        return f"<HandlerRegistry types={self.types()}>"


DEFAULT_REGISTRY = HandlerRegistry(default_duration_s=0.05)
"""The process-wide registry ``@handler`` registers in unless given another."""


def handler(
    job_type: str,
    *,
    registry: HandlerRegistry | None = None,
    timeout_s: float | None = None,
    max_attempts: int | None = None,
    retry_backoff_s: float | None = None,
    concurrency: int | None = None,
    rate_limit: float | str | None = None,
    payload_schema: Mapping[str, object] | str | Path | None = None,
    process: bool = False,
) -> Callable[[F], F]:
    """Decorator registering a function as the handler of ``job_type``.

    The function is returned unchanged. Options are as in :meth:`HandlerRegistry.register`;
    ``registry``: where to register (default: the process-wide :data:`DEFAULT_REGISTRY`).

    Raises:
        ConfigError: as :meth:`HandlerRegistry.register` (at import of the module).
    """
    target = DEFAULT_REGISTRY if registry is None else registry

    def register(run: F) -> F:
        target.register(
            job_type,
            run,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            retry_backoff_s=retry_backoff_s,
            concurrency=concurrency,
            rate_limit=rate_limit,
            payload_schema=payload_schema,
            process=process,
        )
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


@handler("gate")
async def gate(job: JobContext) -> object:
    """Return the payload unchanged: the jobs ``observatory gate`` submits and counts."""
    return dict(job.payload)


@handler("compute")
async def compute(job: JobContext) -> object:
    """Hash ``payload.rounds`` times (default 10,000) in a worker thread; return the digest."""
    rounds = int(_number(job.payload, "rounds", 10_000, MAX_COMPUTE_ROUNDS))
    seed = json.dumps(job.payload.get("seed", job.id)).encode()
    digest = await anyio.to_thread.run_sync(_hash_rounds, seed, rounds)
    return {"rounds": rounds, "sha256": digest}
