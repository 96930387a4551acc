"""The executor: runs each started job's handler under its timeout.

It touches no store and holds no job state: it runs what the validator started, each
job in a task of its own task group, and reports every attempt's outcome to the
persister, :class:`~actors.processor.messages.Finished` or
:class:`~actors.processor.messages.RetryScheduled`. Its mailbox never waits on anything
but task creation, so whoever sends to it is never held up for long.

Cancel: each handler runs in a cancel scope of its own; :meth:`Executor.cancel` (called
by the cancel watcher, :mod:`actors.processor.cancel_watcher`) cancels it. An async
handler is cancelled at its next ``await``; a sync handler, run in a worker thread with
``abandon_on_cancel=True``, cannot be interrupted: the thread is abandoned (it runs on to
its end in the background, its thread-limiter slot already given back, so for a while
more threads may run than the limit) and its result is discarded. Either way the job
ends ``FAILED`` with error ``cancelled`` at once. A handler that returned before the
cancel reached it completes: the cancel came too late.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from actors.domain.attempts import resolve_max_attempts
from actors.domain.clock import format_timestamp, utc_now
from actors.domain.handlers import JobContext
from actors.domain.jobs import CANCELLED, JobStatus
from actors.errors import JobFailed
from actors.kernel import Actor
from actors.observability.logs import bind
from actors.processor.emitter import seconds_since
from actors.processor.messages import Finished, Outcome, RetryScheduled, StartJobs

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from anyio.abc import TaskGroup, TaskStatus

    from actors.config.settings import Settings
    from actors.domain.handlers import HandlerRegistry
    from actors.domain.jobs import CancelRequest
    from actors.observability.prometheus import ProcessorMetrics
    from actors.processor.messages import AdmittedJob

__all__ = ["Executor"]

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    """Raised in place of a result by a handler cancelled through :meth:`Executor.cancel`."""


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
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        """The cancel scope of each running handler, by job id."""
        self._cancels: dict[str, CancelRequest] = {}
        """The running jobs cancelled, with their request."""

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
        log.info("job.cancelling job_id=%s requested_by=%s", request.job_id, request.requested_by)
        return True

    async def _cancellable(self, job_id: str, handler: Awaitable[object]) -> object:
        """Await ``handler`` in the job's own cancel scope (a stop of the whole executor
        is not caught here).

        Raises:
            _Cancelled: :meth:`cancel` was called for the job meanwhile.
        """
        result: object = None
        with anyio.CancelScope() as scope:
            self._scopes[job_id] = scope
            try:
                result = await handler
            finally:
                del self._scopes[job_id]
        if job_id in self._cancels:
            raise _Cancelled  # even when it returned: cancelled, its result is discarded
        return result

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run like any actor, inside a task group that owns the running jobs.

        Cancellation: on a graceful stop the queued jobs are started and the running
        ones finish; when the supervisor cancels after ``shutdown_s`` they are cancelled
        unacknowledged, so the broker redelivers them.
        """
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await super().run(task_status=task_status)
            finally:
                self._tg = None

    async def handle_batch(self, messages: list[StartJobs]) -> None:
        assert self._tg is not None
        for message in messages:
            for job in message.jobs:
                self._tg.start_soon(self._run_job, job)

    async def _run_job(self, job: AdmittedJob) -> None:
        spec = job.spec
        with bind(correlation_id=spec.correlation_id, job_id=spec.id):
            registered = self._registry.get(spec.type)
            timeout_s = registered.timeout_s or self._settings.job_timeout_s
            max_attempts = resolve_max_attempts(
                spec.metadata, registered.max_attempts, self._settings.max_attempts
            )
            context = JobContext(
                spec.id, spec.type, spec.payload, spec.metadata, job.attempt, max_attempts
            )
            started = anyio.current_time()
            result: object = None
            error: str | None = None
            job_type = self._metrics.job_type(spec.type)
            async with self._limiter:
                if job.attempt == 1:
                    # A retry's wait is its backoff, not the queue's.
                    self._metrics.queue_wait_seconds.labels(job_type).observe(
                        seconds_since(job.created.occurred_at)
                    )
                try:
                    with anyio.fail_after(timeout_s):
                        result = await self._cancellable(spec.id, registered.run(context))
                    json.dumps(result)
                except _Cancelled:
                    pass
                except TimeoutError:
                    error = f"Job {spec.id} of type {spec.type!r} timed out after {timeout_s:g} s."
                except JobFailed as exc:
                    error = str(exc)
                except (TypeError, ValueError) as exc:
                    error = f"The handler returned a result that is not JSON: {exc}."
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
            duration_s = anyio.current_time() - started
            self._metrics.processing_seconds.labels(job_type).observe(duration_s)
            cancel = self._cancels.pop(spec.id, None)
            outcome = (
                self._outcome(job, max_attempts, duration_s, result, error)
                if cancel is None
                else Finished(job, JobStatus.FAILED, utc_now(), error=CANCELLED, cancel=cancel)
            )
            await self._persister.send(outcome)

    def _outcome(
        self,
        job: AdmittedJob,
        max_attempts: int,
        duration_s: float,
        result: object,
        error: str | None,
    ) -> Outcome:
        """What the attempt came to: finished (completed or out of attempts) or a retry."""
        spec = job.spec
        if error is None:
            log.info("job.completed type=%s duration_s=%.4f", spec.type, duration_s)
            return Finished(job, JobStatus.COMPLETED, utc_now(), result=result)
        now = datetime.now(UTC)
        if job.attempt < max_attempts:
            delay_s = self._settings.backoff.delay_s(job.attempt)
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
            )
        log.info(
            "job.failed type=%s attempt=%d max_attempts=%d duration_s=%.4f error=%s",
            spec.type,
            job.attempt,
            max_attempts,
            duration_s,
            error,
        )
        return Finished(job, JobStatus.FAILED, format_timestamp(now), error=error)
