"""The executor: runs each started job's handler under its timeout.

It touches no store and holds no job state: it runs what the validator started, each
job in a task of its own task group, and reports every attempt's outcome to the
persister, :class:`~actors.processor.messages.Finished` or
:class:`~actors.processor.messages.RetryScheduled`. Its mailbox never waits on anything
but task creation, so whoever sends to it is never held up for long.

Where a handler runs (the loop, a worker thread bounded by ``Settings.threads``, a worker
process) is :meth:`~actors.domain.handlers.RegisteredHandler.invoke`'s business; a type's
``concurrency`` is a limiter here. Three failures are never retried: a type no handler
serves (``no handler for type 'X'``, unless ``Settings.simulate_unknown_types``), a
payload off its type's schema, and :class:`~actors.errors.NonRetryable`.

Cancel: each handler runs in a cancel scope of its own; :meth:`Executor.cancel` (called
by the cancel watcher, :mod:`actors.processor.cancel_watcher`) cancels it. An async
handler is cancelled at its next ``await``; a sync handler, run in a worker thread with
``abandon_on_cancel=True``, cannot be interrupted: the thread is abandoned (it runs on to
its end in the background, its thread-limiter slot already given back, so for a while
more threads may run than the limit) and its result is discarded. Either way the job
ends ``FAILED`` with error ``cancelled`` at once. A handler that returned before the
cancel reached it completes: the cancel came too late.

Graceful stop: once the processor stops taking deliveries it calls
:meth:`Executor.interrupt_after` with ``Settings.shutdown_grace_s``. Handlers that end
within the grace are recorded as usual. When the grace is over, every job still here
(running, or waiting for a limiter, or started later by the validator) is *interrupted*:
its handler is cancelled as above, one ``job.interrupted`` line is logged, and an
:class:`~actors.processor.messages.Interrupted` outcome goes to the persister, which
gives the attempt back (the job is ``PENDING`` again, the attempt not counted) and
returns the delivery to the queue.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from actors.domain.attempts import resolve_max_attempts
from actors.domain.clock import format_timestamp, utc_now
from actors.domain.handlers import JobContext, no_handler_error
from actors.domain.jobs import CANCELLED, JobStatus
from actors.errors import JobFailed, NonRetryable
from actors.kernel import Actor
from actors.observability import tracing
from actors.observability.logs import ACTOR, SERVICE, bind
from actors.processor.emitter import seconds_since
from actors.processor.messages import Finished, Interrupted, Outcome, RetryScheduled, StartJobs
from actors.processor.series import LabelChildren
from contracts import dump_json

if TYPE_CHECKING:
    from collections.abc import Container, Mapping

    from anyio.abc import TaskGroup, TaskStatus

    from actors.config.settings import Settings
    from actors.domain.handlers import HandlerRegistry, RegisteredHandler
    from actors.domain.jobs import CancelRequest
    from actors.errors import ValidationIssue
    from actors.observability.prometheus import ProcessorMetrics
    from actors.processor.messages import AdmittedJob

__all__ = ["Attempt", "Executor", "payload_error"]

log = logging.getLogger(__name__)


_JOB_TASK_NAME = "processor/executor job"
"""The name of every job's task (what a debugger or an asyncio task dump shows)."""


class _Cancelled(Exception):
    """Raised in place of a result by a handler cancelled through :meth:`Executor.cancel`."""


def payload_error(job_type: str, issues: list[ValidationIssue]) -> str:
    """The error of a job whose payload breaks its type's schema: every path, in order."""
    listed = "; ".join(f"{issue.path}: {issue.message}" for issue in issues)
    return f"The payload does not match the payload schema of type {job_type!r}: {listed}"


class Attempt:
    """One run of a handler: its result, or its error and whether a retry may help."""

    __slots__ = ("error", "non_retryable", "result", "retryable")

    def __init__(self) -> None:
        self.result: object = None
        self.error: str | None = None
        self.retryable = True
        self.non_retryable = False
        """The handler raised :class:`~actors.errors.NonRetryable` (counted apart)."""

    def fail(self, error: str, *, retryable: bool) -> None:
        """Record that the attempt failed with ``error``."""
        self.error = error
        self.retryable = retryable

    async def run(
        self,
        registered: RegisteredHandler,
        context: JobContext,
        settings: Settings,
        threads: anyio.CapacityLimiter,
        scopes: dict[str, anyio.CancelScope] | None = None,
        cancels: Container[str] = (),
    ) -> None:
        """Run the handler under its timeout; every error becomes the attempt's error.

        One cancel scope carries both the timeout (its deadline) and the executor's cancel
        of this job: it is registered in ``scopes`` under the job id while the handler
        runs, and a job whose id is in ``cancels`` afterwards was cancelled (even when its
        handler returned: its result is discarded). A cancel scope per concern cost a
        task lookup each, per job.

        Cancellation: propagates (the handler is cancelled, its thread abandoned or its
        process killed; see :meth:`RegisteredHandler.invoke`).

        Raises:
            _Cancelled: the job's id is in ``cancels`` (it was cancelled meanwhile).
        """
        timeout_s = registered.timeout_s or settings.job_timeout_s
        job_id = context.id
        result: object = None
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + timeout_s) as scope:
                if scopes is not None:
                    scopes[job_id] = scope
                try:
                    result = await registered.invoke(context, threads=threads)
                finally:
                    if scopes is not None:
                        del scopes[job_id]
            if job_id in cancels:
                raise _Cancelled
            if scope.cancelled_caught:
                # Nothing but its deadline cancels this scope once the cancels are ruled out.
                raise TimeoutError
            dump_json(result)  # raises TypeError for what JSON cannot carry
        except _Cancelled:
            raise
        except TimeoutError:
            self.fail(
                f"Job {context.id} of type {context.type!r} timed out after {timeout_s:g} s.",
                retryable=True,
            )
        except NonRetryable as exc:
            self.non_retryable = True
            self.fail(f"NonRetryable: {exc}", retryable=False)
        except JobFailed as exc:
            self.fail(str(exc), retryable=True)
        except (TypeError, ValueError) as exc:
            self.fail(f"The handler returned a result that is not JSON: {exc}.", retryable=True)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}", retryable=True)
        else:
            self.result = result


class _Borrowing:
    """Holds a token of ``limiter`` (none: no bound) for ``borrower`` in an ``async with``.

    A free token is taken at once, without the checkpoints of
    :meth:`anyio.CapacityLimiter.acquire_on_behalf_of`; that waiting path is kept for a
    full limiter and for a job whose ``scope`` is cancelled already (it raises there, so
    an interrupted job never starts its handler).
    """

    __slots__ = ("_borrower", "_limiter", "_scope")

    def __init__(
        self, limiter: anyio.CapacityLimiter | None, borrower: object, scope: anyio.CancelScope
    ) -> None:
        self._limiter = limiter
        self._borrower = borrower
        self._scope = scope

    async def __aenter__(self) -> None:
        limiter = self._limiter
        if limiter is None:
            return
        if not self._scope.cancel_called:
            try:
                limiter.acquire_on_behalf_of_nowait(self._borrower)
            except anyio.WouldBlock:
                pass
            else:
                return
        await limiter.acquire_on_behalf_of(self._borrower)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._limiter is not None:
            self._limiter.release_on_behalf_of(self._borrower)


class Executor(Actor[StartJobs]):
    """Runs handlers, each job in its own task, and reports their outcomes."""

    def __init__(
        self,
        persister: Actor[Outcome],
        registry: HandlerRegistry,
        settings: Settings,
        metrics: ProcessorMetrics,
    ) -> None:
        super().__init__("executor", mailbox_size=4, max_batch=4)
        self._metrics = metrics
        self._persister = persister
        self._registry = registry
        self._settings = settings
        self._limiter = anyio.CapacityLimiter(max(1, settings.prefetch))
        self._threads = anyio.CapacityLimiter(max(1, settings.threads))
        """Worker threads of plain-``def`` handlers, shared by every type."""
        self._type_limiters: dict[str, anyio.CapacityLimiter] = {}
        """Per-type bounds (``@handler(..., concurrency=N)``), made on first use."""
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        """The cancel scope of each running handler, by job id."""
        self._cancels: dict[str, CancelRequest] = {}
        """The running jobs cancelled, with their request."""
        self._runs: set[anyio.CancelScope] = set()
        """The scope of each job here (waiting for a limiter or running): a graceful stop
        past its grace cancels them."""
        self._interrupting = False
        """The grace of a graceful stop is over: every job here is interrupted."""
        self._grace_scope: anyio.CancelScope | None = None
        self._log_fields: tuple[str, str] = ("-", "-")
        """The service and actor path this executor runs under (its grace timer is
        started from the stopping supervisor's context)."""
        self._queue_wait = LabelChildren(metrics.queue_wait_seconds)
        self._queue_wait_by_priority = LabelChildren(metrics.queue_wait_by_priority_seconds)
        self._processing = LabelChildren(metrics.processing_seconds)
        self._non_retryable = LabelChildren(metrics.non_retryable)

    def running(self) -> list[str]:
        """The ids of the jobs whose handler runs here."""
        return list(self._scopes)

    def cancel(self, request: CancelRequest) -> bool:
        """Cancel the handler of job ``request.job_id``: the job ends ``FAILED`` (cancelled).

        Returns:
            Whether its handler runs here and was not cancelled before.
        """
        scope = self._scopes.get(request.job_id)
        if scope is None or request.job_id in self._cancels:
            return False
        self._cancels[request.job_id] = request
        scope.cancel()
        with bind(job_id=request.job_id):
            log.info("job.cancelling requested_by=%s", request.requested_by)
        return True

    def interrupt_after(self, grace_s: float) -> None:
        """Start the grace of a graceful stop: the jobs still here after ``grace_s``
        seconds are interrupted (their handlers cancelled, their attempts given back).

        Called when the processor stops taking deliveries; does nothing when the executor
        is not running or a grace has started already. The grace ends early, without
        interrupting anything, when the executor stops first (nothing was left to wait for).
        """
        if self._tg is None or self._grace_scope is not None:
            return
        self._grace_scope = anyio.CancelScope()
        self._tg.start_soon(self._interrupt_when_grace_ends, self._grace_scope, grace_s)

    async def _interrupt_when_grace_ends(self, scope: anyio.CancelScope, grace_s: float) -> None:
        service, actor = self._log_fields
        with scope, bind(service=service, actor=actor):
            await anyio.sleep(grace_s)
            self._interrupting = True
            log.info("executor.grace_over grace_s=%g interrupting=%d", grace_s, len(self._runs))
            for run in self._runs:
                run.cancel()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run like any actor, inside a task group that owns the running jobs.

        Cancellation: on a graceful stop the queued jobs are started and the running
        ones finish, within the grace :meth:`interrupt_after` started; past it they are
        interrupted (given back and requeued). Should the supervisor still cancel the
        executor after its ``shutdown_s``, its jobs are cancelled unacknowledged, so the
        broker redelivers them.
        """
        self._interrupting = False
        self._log_fields = (SERVICE.get(), ACTOR.get())
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await super().run(task_status=task_status)
            finally:
                self._tg = None
                if self._grace_scope is not None:
                    # Stopped with nothing left to run: the grace has nothing to end.
                    self._grace_scope.cancel()
                    self._grace_scope = None

    async def handle_batch(self, messages: list[StartJobs]) -> None:
        assert self._tg is not None
        start_soon = self._tg.start_soon
        for message in messages:
            for job in message.jobs:
                # Named once for all: anyio otherwise builds each task's name from the
                # function's module and qualified name, a cost per job.
                start_soon(self._run_job, job, name=_JOB_TASK_NAME)

    async def _run_job(self, job: AdmittedJob) -> None:
        """Run one attempt of ``job`` (in its ``job.run {type}`` span, a child of the
        job's submission, with tracing on) and report its outcome to the persister."""
        spec = job.spec
        if not tracing.enabled():
            await self._run_attempt(job)
            return
        with tracing.job_span(
            f"job.run {spec.type}",
            spec.metadata,
            attributes={
                "job.id": spec.id,
                "job.type": spec.type,
                "job.attempt": job.attempt,
                "job.round": job.round,
            },
            previous=job.previous_attempt,
        ):
            await self._run_attempt(job)

    async def _run_attempt(self, job: AdmittedJob) -> None:
        spec = job.spec
        with bind(correlation_id=spec.correlation_id, job_id=spec.id):
            registered = self._registry.find(spec.type)
            if registered is None and self._settings.simulate_unknown_types:
                registered = self._registry.get(spec.type)
            max_attempts = resolve_max_attempts(
                spec.metadata,
                None if registered is None else registered.max_attempts,
                self._settings.max_attempts,
            )
            started = time.perf_counter()
            job_type = self._metrics.job_type(spec.type)
            attempt = Attempt()
            if registered is None:
                attempt.fail(no_handler_error(spec.type), retryable=False)
            elif issues := registered.payload_issues(spec.payload):
                attempt.fail(payload_error(spec.type, issues), retryable=False)
            else:
                context = JobContext(
                    spec.id,
                    spec.type,
                    spec.payload,
                    spec.metadata,
                    job.attempt,
                    max_attempts,
                    round=job.round,
                )
                handler_started: float | None = None
                with anyio.CancelScope() as run_scope:
                    self._runs.add(run_scope)
                    if self._interrupting:
                        run_scope.cancel()  # started after the grace: never runs
                    type_limiter = self._type_limiter(registered)
                    try:
                        # The type's bound first: a job waiting for its type holds no
                        # slot that a job of another type could use. The attempt is the
                        # borrower (a limiter's own borrower, the task, costs a task
                        # lookup per acquire and per release).
                        async with (
                            _Borrowing(type_limiter, attempt, run_scope),
                            _Borrowing(self._limiter, attempt, run_scope),
                        ):
                            if job.attempt == 1:
                                # A retry's wait is its backoff, not the queue's.
                                waited_s = seconds_since(job.created.occurred_at)
                                self._queue_wait(job_type).observe(waited_s)
                                self._queue_wait_by_priority(str(spec.priority)).observe(waited_s)
                            started = handler_started = time.perf_counter()
                            try:
                                await attempt.run(
                                    registered,
                                    context,
                                    self._settings,
                                    self._threads,
                                    self._scopes,
                                    self._cancels,
                                )
                            except _Cancelled:
                                pass  # the outcome is the cancel's, below
                    finally:
                        self._runs.discard(run_scope)
                if run_scope.cancelled_caught and spec.id not in self._cancels:
                    await self._persister.send(self._interrupted(job, handler_started))
                    return
            if attempt.non_retryable:
                self._non_retryable(job_type).inc()
            duration_s = time.perf_counter() - started
            self._processing(job_type).observe(duration_s, self._exemplar(spec.metadata))
            cancel = self._cancels.pop(spec.id, None)
            outcome = (
                self._outcome(job, registered, max_attempts, duration_s, attempt)
                if cancel is None
                else Finished(job, JobStatus.FAILED, utc_now(), error=CANCELLED, cancel=cancel)
            )
            await self._persister.send(outcome)

    @staticmethod
    def _exemplar(metadata: Mapping[str, object]) -> dict[str, str] | None:
        """The job's trace as an exemplar of its latency (with tracing on): Prometheus
        keeps it beside the histogram, and Grafana links the point to the trace."""
        if not tracing.enabled():
            return None
        trace_id = tracing.trace_id_of(metadata)
        return None if trace_id is None else {"trace_id": trace_id}

    def _interrupted(self, job: AdmittedJob, started: float | None) -> Interrupted:
        """The outcome of an attempt a graceful stop interrupted (its handler started at
        ``started``, or never), logged once."""
        ran_s = 0.0 if started is None else time.perf_counter() - started
        log.info(
            "job.interrupted type=%s attempt=%d ran_s=%.3f grace_s=%g: stopping; "
            "back to the queue, the attempt not counted",
            job.spec.type,
            job.attempt,
            ran_s,
            self._settings.shutdown_grace_s,
        )
        return Interrupted(job, utc_now(), ran_s)

    def _type_limiter(self, registered: RegisteredHandler) -> anyio.CapacityLimiter | None:
        """The bound on jobs of this type running at once, if the type sets one."""
        if registered.concurrency is None:
            return None
        limiter = self._type_limiters.get(registered.job_type)
        if limiter is None:
            limiter = self._type_limiters[registered.job_type] = anyio.CapacityLimiter(
                registered.concurrency
            )
        return limiter

    def _outcome(
        self,
        job: AdmittedJob,
        registered: RegisteredHandler | None,
        max_attempts: int,
        duration_s: float,
        attempt: Attempt,
    ) -> Outcome:
        """What the attempt came to: finished (completed, out of attempts or not
        retryable) or a retry."""
        spec = job.spec
        error = attempt.error
        if error is None:
            # DEBUG: a line per job costs more than a short job; the persister logs one
            # INFO line per batch of outcomes (failures and retries keep theirs).
            log.debug("job.completed type=%s duration_s=%.4f", spec.type, duration_s)
            return Finished(job, JobStatus.COMPLETED, utc_now(), result=attempt.result)
        tracing.record_failure(error)
        now = datetime.now(UTC)
        if attempt.retryable and job.attempt < max_attempts:
            backoff = self._settings.backoff
            if registered is not None and registered.retry_backoff_s is not None:
                backoff = dataclasses.replace(backoff, base_s=registered.retry_backoff_s)
            delay_s = backoff.delay_s(job.attempt)
            log.info(
                "job.retrying type=%s attempt=%d max_attempts=%d duration_s=%.4f "
                "retry_in_s=%.3f error=%s",
                spec.type,
                job.attempt,
                max_attempts,
                duration_s,
                delay_s,
                error,
            )
            return RetryScheduled(
                job,
                format_timestamp(now),
                error,
                retry_at=format_timestamp(now + timedelta(seconds=delay_s)),
                delay_s=delay_s,
                max_attempts=max_attempts,
                traceparent=tracing.current_traceparent() if tracing.enabled() else None,
            )
        log.info(
            "job.failed type=%s attempt=%d max_attempts=%d retryable=%s duration_s=%.4f error=%s",
            spec.type,
            job.attempt,
            max_attempts,
            attempt.retryable,
            duration_s,
            error,
        )
        return Finished(job, JobStatus.FAILED, format_timestamp(now), error=error)
