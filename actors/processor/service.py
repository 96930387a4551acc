"""The processor's supervisor tree: ingress → validator → executor → persister → publisher.

* **ingress** takes batches of ``jobs.created`` deliveries (prefetch = batch size);
* **validator** checks every envelope against the contracts; an invalid one goes to the
  dead letters (never retried, never lost); valid jobs are persisted ``VALIDATED`` in one
  round trip;
* **executor** persists ``EXECUTING`` for the jobs it starts (one round trip), publishes
  their ``job.created`` / ``job.validated`` / ``job.executed`` events, and runs each
  handler under its timeout;
* **persister** writes the terminal states of what finished (one round trip per batch);
* **publisher** publishes the ``job.completed`` / ``job.failed`` events with confirms and
  only then acknowledges the deliveries.

A job already in a terminal state (a redelivery, or a resubmitted id) is never run
again: its stored terminal event is re-emitted with its deterministic id (so a lost
publish heals, and the metrics engine counts it once) and the delivery is acknowledged.

Retries (:mod:`actors.domain.attempts`): a failed attempt that is not the job's last is stored as
a *retry* (back to ``PENDING``, the error in the job's history, ``nextAttemptAt``), told
as a ``job.executed`` event with ``willRetry``, and the job's ``job.created`` envelope is
published again with ``attempt`` + 1 and the backoff as delay, all before the delivery is
acknowledged. The stores ignore transitions of an attempt that already failed and never
validate or start a job whose cancel was requested; such a *held* delivery is resolved
here: a cancelled job ends ``FAILED`` (error ``cancelled``, one ``job.failed``), a stale
delivery is acknowledged without running (after re-publishing the retry, should a crash
have lost it).

The tree is ``one_for_all``: a crash anywhere restarts the pipeline and the consumer, so
the broker redelivers whatever was not acknowledged.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.domain.attempts import resolve_max_attempts
from actors.domain.clock import format_timestamp, utc_now
from actors.domain.events import (
    Envelope,
    EventType,
    envelopes_to_message,
)
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry, JobContext
from actors.domain.jobs import CANCELLED, JobRecord, JobSpec, JobStatus, JobTransition
from actors.errors import JobFailed
from actors.kernel import Actor, ChildSpec, Strategy, Supervisor
from actors.kernel.service import ServiceTree
from actors.observability.logs import bind
from actors.observability.prometheus import BoundedLabel, ProcessorMetrics, create_registry
from actors.pipeline.admission import Admitted, admit, dead_letter_request
from actors.pipeline.ingress import BrokerIngress, IngressBatch
from actors.pipeline.outage import retry_while_unavailable
from actors.pipeline.publisher import Publisher, PublishRequest
from actors.pipeline.sampler import QueueDepthSampler
from actors.pipeline.settlement import Settlement
from actors.processor.messages import (
    AdmittedJob,
    JobFinished,
    LifecycleEmitter,
    StartJobs,
    job_document,
    next_attempt_message,
    seconds_since,
    seconds_until,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskGroup, TaskStatus
    from prometheus_client import CollectorRegistry

    from actors.broker import Broker
    from actors.config.settings import Settings
    from actors.stores import JobStore

__all__ = ["ProcessorService"]

log = logging.getLogger(__name__)

SERVICE = "processor"
_ACCEPTED = frozenset({EventType.CREATED})


class Validator(Actor[IngressBatch]):
    """Checks envelopes, dead-letters the invalid, persists VALIDATED for the valid."""

    def __init__(
        self,
        store: JobStore,
        executor: Actor[StartJobs],
        publisher: Publisher,
        settings: Settings,
        metrics: ProcessorMetrics,
    ) -> None:
        super().__init__("validator", mailbox_size=4, max_batch=4)
        self._metrics = metrics
        self._store = store
        self._executor = executor
        self._publisher = publisher
        self._settings = settings
        self.dead_lettered = 0

    async def handle_batch(self, messages: list[IngressBatch]) -> None:
        admitted: list[AdmittedJob] = []
        for batch in messages:
            for delivery in batch.deliveries:
                results = admit(delivery, _ACCEPTED)
                settlement = Settlement(batch.consumer, delivery, parts=len(results))
                for result in results:
                    if isinstance(result, Admitted):
                        job = self._admitted(result.envelope, settlement)
                        job.redelivered = delivery.redelivered
                        admitted.append(job)
                        continue
                    self.dead_lettered += 1
                    self._metrics.validation_failed.inc()
                    log.warning(
                        "message.dead_lettered queue=%s message_id=%s reason=%s",
                        delivery.queue,
                        delivery.message_id,
                        result.reason,
                    )
                    await self._publisher.send(
                        dead_letter_request(
                            delivery,
                            result,
                            service=SERVICE,
                            version=self._settings.version,
                            settlement=settlement,
                        )
                    )
        if not admitted:
            return
        at = utc_now()
        validated = [
            JobTransition(job.spec, JobStatus.VALIDATED, at, attempt=job.attempt)
            for job in admitted
        ]
        statuses = await retry_while_unavailable(
            lambda: self._store.apply_transitions(validated), what="job store (validated)"
        )
        for job, status in zip(admitted, statuses, strict=True):
            job.status = status
        await self._executor.send(StartJobs(admitted))

    @staticmethod
    def _admitted(envelope: Envelope, settlement: Settlement) -> AdmittedJob:
        payload = envelope.payload
        job_payload = payload.get("payload") or {}
        metadata = payload.get("metadata") or {}
        attempt = payload.get("attempt", 1)
        assert isinstance(job_payload, dict)
        assert isinstance(metadata, dict)
        spec = JobSpec(
            id=envelope.job_id,
            type=envelope.job_type,
            created_at=str(payload["createdAt"]),
            correlation_id=envelope.correlation_id,
            payload=job_payload,
            metadata=metadata,
        )
        return AdmittedJob(
            spec=spec,
            created=envelope,
            settlement=settlement,
            attempt=attempt if isinstance(attempt, int) and attempt > 0 else 1,
        )


class Executor(Actor[StartJobs]):
    """Persists EXECUTING, publishes the start events, runs handlers under their timeout."""

    def __init__(
        self,
        store: JobStore,
        persister: Actor[JobFinished],
        publisher: Publisher,
        registry: HandlerRegistry,
        settings: Settings,
        emitter: LifecycleEmitter,
        in_flight: dict[str, AdmittedJob],
        metrics: ProcessorMetrics,
    ) -> None:
        super().__init__("executor", mailbox_size=4, max_batch=4)
        self._metrics = metrics
        self._store = store
        self._persister = persister
        self._publisher = publisher
        self._registry = registry
        self._settings = settings
        self._emitter = emitter
        # Jobs started here whose terminal state is not stored yet, shared with the
        # persister, which removes each right after storing it: a duplicate delivery in
        # that window is parked on the running job instead of being run again.
        self._running = in_flight
        self._limiter = anyio.CapacityLimiter(max(1, settings.prefetch))
        self._tg: TaskGroup | None = None

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
                self._running.clear()

    def in_flight(self) -> int:
        """Jobs started here whose terminal state is not stored yet."""
        return len(self._running)

    async def handle_batch(self, messages: list[StartJobs]) -> None:
        assert self._tg is not None
        to_start: list[AdmittedJob] = []
        for message in messages:
            for job in message.jobs:
                if job.status.is_terminal:
                    await self._persister.send(
                        JobFinished(job, job.status, utc_now(), already_terminal=True)
                    )
                elif job.status is JobStatus.PENDING:
                    # Not validated: a cancel was requested, or this attempt already failed.
                    await self._persister.send(JobFinished(job, job.status, utc_now(), held=True))
                elif (running := self._running.get(job.spec.id)) is not None:
                    running.duplicates.append(job)
                else:
                    self._running[job.spec.id] = job
                    to_start.append(job)
        if not to_start:
            return
        at = utc_now()
        executing = [
            JobTransition(job.spec, JobStatus.EXECUTING, at, attempt=job.attempt)
            for job in to_start
        ]
        statuses = await retry_while_unavailable(
            lambda: self._store.apply_transitions(executing), what="job store (executing)"
        )
        events: list[Envelope] = []
        for job, status in zip(to_start, statuses, strict=True):
            job.status = status
            if status.is_terminal:
                # Another processor finished it meanwhile.
                del self._running[job.spec.id]
                await self._persister.send(JobFinished(job, status, at, already_terminal=True))
                continue
            if status is not JobStatus.EXECUTING:
                # Not started: a cancel was requested, or this attempt already failed.
                del self._running[job.spec.id]
                await self._persister.send(JobFinished(job, status, at, held=True))
                continue
            if job.attempt == 1:
                # Once per job; a retry's delivery carries the same job.created.
                events.append(job.created)
                events.append(
                    self._emitter.event(
                        job,
                        EventType.VALIDATED,
                        at,
                        job_document(job.spec, JobStatus.VALIDATED, at),
                    )
                )
            events.append(
                self._emitter.event(
                    job,
                    EventType.EXECUTED,
                    at,
                    job_document(job.spec, JobStatus.EXECUTING, at, attempt=job.attempt),
                )
            )
            self._tg.start_soon(self._run_job, job)
        if events:
            await self._publisher.send(
                PublishRequest(JOBS_COMPLETED, [envelopes_to_message(events)])
            )

    async def _run_job(self, job: AdmittedJob) -> None:
        spec = job.spec
        with bind(correlation_id=spec.correlation_id, job_id=spec.id):
            registered = self._registry.get(spec.type)
            timeout_s = registered.timeout_s or self._settings.job_timeout_s
            job.max_attempts = resolve_max_attempts(
                spec.metadata, registered.max_attempts, self._settings.max_attempts
            )
            context = JobContext(
                spec.id, spec.type, spec.payload, spec.metadata, job.attempt, job.max_attempts
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
                        result = await registered.run(context)
                    json.dumps(result)
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
            if error is None:
                log.info("job.completed type=%s duration_s=%.4f", spec.type, duration_s)
                await self._persister.send(
                    JobFinished(job, JobStatus.COMPLETED, utc_now(), result, None)
                )
                return
            now = datetime.now(UTC)
            if job.attempt < job.max_attempts:
                delay_s = self._settings.backoff.delay_s(job.attempt)
                log.info(
                    "job.retrying type=%s attempt=%d max_attempts=%d duration_s=%.4f "
                    "retry_in_s=%.3f error=%s",
                    spec.type,
                    job.attempt,
                    job.max_attempts,
                    duration_s,
                    delay_s,
                    error,
                )
                finished = JobFinished(
                    job,
                    JobStatus.PENDING,
                    format_timestamp(now),
                    error=error,
                    retry_at=format_timestamp(now + timedelta(seconds=delay_s)),
                    retry_delay_s=delay_s,
                )
            else:
                log.info(
                    "job.failed type=%s attempt=%d max_attempts=%d duration_s=%.4f error=%s",
                    spec.type,
                    job.attempt,
                    job.max_attempts,
                    duration_s,
                    error,
                )
                finished = JobFinished(job, JobStatus.FAILED, format_timestamp(now), error=error)
            await self._persister.send(finished)


class Persister(Actor[JobFinished]):
    """Writes terminal states in batches and hands their events to the publisher."""

    def __init__(
        self,
        store: JobStore,
        publisher: Publisher,
        emitter: LifecycleEmitter,
        in_flight: dict[str, AdmittedJob],
        metrics: ProcessorMetrics,
        *,
        batch: int,
        retry_backoff_s: float = 1.0,
    ) -> None:
        super().__init__("persister", mailbox_size=max(1, batch), max_batch=max(1, batch))
        self._recheck_delay_s = retry_backoff_s
        """How long an unexplained held delivery waits before it is looked at again."""
        self._in_flight = in_flight
        self._metrics = metrics
        self._store = store
        self._publisher = publisher
        self._emitter = emitter
        self.completed = 0
        self.failed = 0
        self.retried = 0

    async def handle_batch(self, messages: list[JobFinished]) -> None:
        retries: list[PublishRequest] = []
        events: list[Envelope] = []
        settlements: list[Settlement] = []
        finished = [m for m in messages if not (m.already_terminal or m.held)]
        found_terminal = [m for m in messages if m.already_terminal]
        for message in messages:
            if message.held:
                resolved = await self._resolve_held(message, retries, events, settlements)
                if resolved is not None:
                    if resolved.already_terminal:
                        found_terminal.append(resolved)
                    else:
                        finished.append(resolved)
        terminal = [m.transition() for m in finished]
        statuses = await retry_while_unavailable(
            lambda: self._store.apply_transitions(terminal), what="job store (terminal)"
        )
        # No await between storing and this: from here on a duplicate delivery finds the
        # job terminal (or waiting for its retry) in the store instead of parking on it.
        for message in finished:
            self._in_flight.pop(message.job.spec.id, None)
        for message, status in zip(finished, statuses, strict=True):
            job_type = self._metrics.job_type(message.job.spec.type)
            if message.retry_at is not None and status is JobStatus.PENDING:
                # Stored as a retry (or found stored so by an earlier try of this batch).
                self.retried += 1
                self._metrics.retried.labels(job_type).inc()
                events.append(self._emitter.attempt_failed(message))
                retries.append(
                    PublishRequest(
                        JOBS_CREATED,
                        [next_attempt_message(message.job, message.job.attempt + 1)],
                        delay_s=message.retry_delay_s,
                    )
                )
            elif status == message.status and status.is_terminal:
                self._metrics.processed.labels(job_type).inc()
                if status is JobStatus.COMPLETED:
                    self.completed += 1
                    self._metrics.completed.labels(job_type).inc()
                else:
                    self.failed += 1
                    self._metrics.failed.labels(job_type).inc()
                self._metrics.end_to_end_seconds.labels(job_type).observe(
                    seconds_since(message.job.created.occurred_at)
                )
                if message.cancelled:
                    # A job cancelled before its first attempt was never announced: its
                    # submission and validation (same ids as ever, so stored and counted
                    # once) keep the timeline whole and totalJobs >= failedJobs.
                    events.append(message.job.created)
                    events.append(
                        self._emitter.event(
                            message.job,
                            EventType.VALIDATED,
                            message.at,
                            job_document(message.job.spec, JobStatus.VALIDATED, message.at),
                        )
                    )
                record = JobRecord(
                    spec=message.job.spec,
                    status=status,
                    updated_at=message.at,
                    attempts=message.attempts or message.job.attempt,
                    finished_at=message.at,
                    result=message.result,
                    error=message.error,
                )
                events.append(self._emitter.terminal(message.job, record))
            else:
                events.append(message.job.created)
                events.extend(await self._stored_lifecycle(message.job))
            settlements.append(message.job.settlement)
            for duplicate in message.job.duplicates:
                events.append(duplicate.created)
                settlements.append(duplicate.settlement)
        for message in found_terminal:
            self._metrics.redeliveries.inc()
            log.info(
                "job.already_terminal job_id=%s status=%s", message.job.spec.id, message.status
            )
            # The submission itself is a fact for the audit trail. The job's whole stored
            # lifecycle is emitted again, each event with its own id (stored and counted
            # once): a processor that died after storing the outcome but before
            # publishing its events has them published now.
            events.append(message.job.created)
            events.extend(await self._stored_lifecycle(message.job))
            settlements.append(message.job.settlement)
            for duplicate in message.job.duplicates:
                events.append(duplicate.created)
                settlements.append(duplicate.settlement)
        # The retries go first: the events' request settles the deliveries, and the
        # publisher acknowledges nothing before every earlier request is confirmed.
        for request in retries:
            await self._publisher.send(request)
        message_list = [envelopes_to_message(events)] if events else []
        await self._publisher.send(PublishRequest(JOBS_COMPLETED, message_list, settlements))

    async def _resolve_held(
        self,
        held: JobFinished,
        retries: list[PublishRequest],
        events: list[Envelope],
        settlements: list[Settlement],
    ) -> JobFinished | None:
        """Decide what a delivery the store refused to validate or start comes to.

        Returns:
            The outcome to store (a cancel) or to report (found terminal); ``None`` when
            the delivery is only to be settled (its pieces were added to ``settlements``,
            its submission to ``events``).
        """
        job = held.job
        record = await retry_while_unavailable(
            lambda: self._store.get_job(job.spec.id), what="job store (read)"
        )
        if record is not None and record.status.is_terminal:
            return dataclasses.replace(
                held, status=record.status, held=False, already_terminal=True
            )
        if record is not None and record.cancel_requested_at is not None:
            log.info("job.cancelled job_id=%s attempts=%d", job.spec.id, record.attempts)
            return JobFinished(
                job,
                JobStatus.FAILED,
                utc_now(),
                error=CANCELLED,
                cancelled=True,
                attempts=record.attempts,
                failed_attempts=record.failed_attempts,
            )
        self._metrics.redeliveries.inc()
        if record is not None and job.attempt <= record.failed_attempts:
            log.info(
                "job.stale_attempt job_id=%s attempt=%d failed_attempts=%d redelivered=%s",
                job.spec.id,
                job.attempt,
                record.failed_attempts,
                job.redelivered,
            )
            if (
                job.redelivered
                and job.attempt == record.failed_attempts
                and record.status is JobStatus.PENDING
                and record.next_attempt_at is not None
            ):
                # The crash that redelivered this may have lost the retry's publish:
                # publish it again for what is left of its wait (a duplicate is harmless).
                retries.append(
                    PublishRequest(
                        JOBS_CREATED,
                        [next_attempt_message(job, job.attempt + 1)],
                        delay_s=seconds_until(record.next_attempt_at),
                    )
                )
        else:
            # Not explained by the stored job (it should not happen): look again later
            # rather than drop it.
            log.warning(
                "job.held_unexplained job_id=%s attempt=%d status=%s",
                job.spec.id,
                job.attempt,
                None if record is None else record.status,
            )
            retries.append(
                PublishRequest(
                    JOBS_CREATED,
                    [next_attempt_message(job, job.attempt)],
                    delay_s=self._recheck_delay_s,
                )
            )
        # A resubmission is a fact for the audit trail (a retry's delivery carries the
        # original job.created, stored once).
        events.append(job.created)
        events.extend(duplicate.created for duplicate in job.duplicates)
        settlements.append(job.settlement)
        settlements.extend(duplicate.settlement for duplicate in job.duplicates)
        return None

    async def _stored_lifecycle(self, job: AdmittedJob) -> list[Envelope]:
        record = await retry_while_unavailable(
            lambda: self._store.get_job(job.spec.id), what="job store (read)"
        )
        if record is None or not record.status.is_terminal:
            return []
        return self._emitter.replay(job, record)


class ProcessorService(ServiceTree):
    """The processor's tree; run it as a child of a root supervisor or on its own."""

    def __init__(
        self,
        broker: Broker,
        store: JobStore,
        settings: Settings,
        *,
        handlers: HandlerRegistry = DEFAULT_REGISTRY,
        queue: str = JOBS_CREATED,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
        extra_children: Sequence[ChildSpec] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        emitter = LifecycleEmitter(settings)
        in_flight: dict[str, AdmittedJob] = {}
        self.metrics = ProcessorMetrics(
            registry if registry is not None else create_registry(),
            BoundedLabel(handlers.types(), max_values=settings.max_job_type_labels),
            lambda: len(in_flight),
        )
        self.publisher = Publisher(
            broker, mailbox_size=max(16, settings.prefetch), wait_ready=wait_ready
        )
        self.persister = Persister(
            store,
            self.publisher,
            emitter,
            in_flight,
            self.metrics,
            batch=settings.prefetch,
            retry_backoff_s=settings.retry_backoff_s,
        )
        self.executor = Executor(
            store,
            self.persister,
            self.publisher,
            handlers,
            settings,
            emitter,
            in_flight,
            self.metrics,
        )
        self.validator = Validator(store, self.executor, self.publisher, settings, self.metrics)
        self.queue_depth = QueueDepthSampler(
            broker, [queue], self.metrics.registry, wait_ready=wait_ready
        )
        self.ingress = BrokerIngress(
            broker, queue, self.validator, prefetch=settings.prefetch, wait_ready=wait_ready
        )
        shutdown_s = settings.shutdown_s
        self.supervisor = Supervisor(
            SERVICE,
            [
                *extra_children,
                ChildSpec.of(self.publisher, shutdown_s=shutdown_s),
                ChildSpec.of(self.persister, shutdown_s=shutdown_s),
                ChildSpec.of(self.executor, shutdown_s=shutdown_s),
                ChildSpec.of(self.validator, shutdown_s=shutdown_s),
                ChildSpec.of(self.ingress, shutdown_s=shutdown_s),
                ChildSpec.of(self.queue_depth, shutdown_s=2.0),
            ],
            strategy=Strategy.ONE_FOR_ALL,
            intensity=5,
            period_s=30.0,
            backoff_max_s=5.0,
        )
        self.name = SERVICE
