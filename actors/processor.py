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

The tree is ``one_for_all``: a crash anywhere restarts the pipeline and the consumer, so
the broker redelivers whatever was not acknowledged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.clock import parse_timestamp, utc_now
from actors.errors import JobFailed
from actors.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.handlers import DEFAULT_REGISTRY, HandlerRegistry, JobContext
from actors.ingress import BrokerIngress, IngressBatch
from actors.intake import Admitted, admit, dead_letter_request, encode_envelopes
from actors.jobs import JobRecord, JobSpec, JobStatus, JobTransition
from actors.kernel import Actor, ChildSpec, Strategy, Supervisor
from actors.metrics import BoundedLabel, ProcessorMetrics, create_registry
from actors.observability import bind
from actors.publisher import Publisher, PublishRequest
from actors.retry import retry_while_unavailable
from actors.sampler import QueueDepthSampler
from actors.service import ServiceTree
from actors.settlement import Settlement

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskGroup, TaskStatus
    from prometheus_client import CollectorRegistry

    from actors.broker import Broker
    from actors.settings import Settings
    from actors.stores import JobStore

__all__ = ["ProcessorService"]

log = logging.getLogger(__name__)

SERVICE = "processor"
_ACCEPTED = frozenset({EventType.CREATED})


@dataclass(slots=True, eq=False)
class AdmittedJob:
    """A valid job taken off the broker, and the delivery piece it settles."""

    spec: JobSpec
    created: Envelope
    settlement: Settlement
    attempt: int = 1
    status: JobStatus = JobStatus.PENDING
    """Stored status after the last transition the pipeline applied."""
    duplicates: list[AdmittedJob] = field(default_factory=list)
    """Deliveries of the same job that arrived while it ran; settled with it."""


@dataclass(frozen=True, slots=True)
class StartJobs:
    """Validator → executor: jobs persisted VALIDATED (or found terminal)."""

    jobs: list[AdmittedJob]


@dataclass(frozen=True, slots=True)
class JobFinished:
    """Executor → persister: a handler's outcome (or a job found already terminal)."""

    job: AdmittedJob
    status: JobStatus
    at: str
    result: object = None
    error: str | None = None
    already_terminal: bool = False


def _seconds_since(timestamp: str) -> float:
    """Seconds from ``timestamp`` (RFC 3339) to now; 0 for a time in the future."""
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def _job_document(spec: JobSpec, status: JobStatus, at: str, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": spec.id,
        "type": spec.type,
        "status": status.value,
        "createdAt": spec.created_at,
        "updatedAt": at,
        "payload": dict(spec.payload),
        "metadata": dict(spec.metadata),
    }
    doc.update(extra)
    return doc


class _Emitter:
    """Builds this processor's lifecycle envelopes."""

    def __init__(self, settings: Settings) -> None:
        self.producer = Producer(SERVICE, f"{SERVICE}-{settings.instance_id}", settings.version)

    def event(
        self,
        job: AdmittedJob,
        event_type: EventType,
        at: str,
        payload: dict[str, object],
    ) -> Envelope:
        event_id = lifecycle_event_id(job.spec.id, event_type, job.attempt)
        return Envelope(
            event_type=event_type,
            event_id=event_id,
            occurred_at=at,
            producer=self.producer,
            correlation_id=job.spec.correlation_id,
            idempotency_key=f"{job.spec.id}:{event_type.value}",
            payload=payload,
        )

    def terminal(self, job: AdmittedJob, record: JobRecord) -> Envelope:
        """The terminal event of ``record`` (same id however often it is emitted)."""
        at = record.finished_at or record.updated_at
        event_type = EventType.for_status(record.status)
        payload = _job_document(
            record.spec,
            record.status,
            at,
            attempts=record.attempts,
            result=record.result,
            error=record.error,
        )
        return self.event(job, event_type, at, payload)


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
                        admitted.append(self._admitted(result.envelope, settlement))
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
        validated = [JobTransition(job.spec, JobStatus.VALIDATED, at) for job in admitted]
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
        emitter: _Emitter,
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
                elif (running := self._running.get(job.spec.id)) is not None:
                    running.duplicates.append(job)
                else:
                    self._running[job.spec.id] = job
                    to_start.append(job)
        if not to_start:
            return
        at = utc_now()
        executing = [JobTransition(job.spec, JobStatus.EXECUTING, at) for job in to_start]
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
            events.append(job.created)
            events.append(
                self._emitter.event(
                    job,
                    EventType.VALIDATED,
                    at,
                    _job_document(job.spec, JobStatus.VALIDATED, at),
                )
            )
            events.append(
                self._emitter.event(
                    job,
                    EventType.EXECUTED,
                    at,
                    _job_document(job.spec, JobStatus.EXECUTING, at, attempt=job.attempt),
                )
            )
            self._tg.start_soon(self._run_job, job)
        if events:
            await self._publisher.send(PublishRequest(JOBS_COMPLETED, [encode_envelopes(events)]))

    async def _run_job(self, job: AdmittedJob) -> None:
        spec = job.spec
        with bind(correlation_id=spec.correlation_id, job_id=spec.id):
            registered = self._registry.get(spec.type)
            timeout_s = registered.timeout_s or self._settings.job_timeout_s
            context = JobContext(spec.id, spec.type, spec.payload, spec.metadata, job.attempt)
            started = anyio.current_time()
            result: object = None
            error: str | None = None
            job_type = self._metrics.job_type(spec.type)
            async with self._limiter:
                self._metrics.queue_wait_seconds.labels(job_type).observe(
                    _seconds_since(job.created.occurred_at)
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
            status = JobStatus.FAILED if error is not None else JobStatus.COMPLETED
            if error is None:
                log.info("job.completed type=%s duration_s=%.4f", spec.type, duration_s)
            else:
                result = None
                log.info(
                    "job.failed type=%s duration_s=%.4f error=%s", spec.type, duration_s, error
                )
            await self._persister.send(JobFinished(job, status, utc_now(), result, error))


class Persister(Actor[JobFinished]):
    """Writes terminal states in batches and hands their events to the publisher."""

    def __init__(
        self,
        store: JobStore,
        publisher: Publisher,
        emitter: _Emitter,
        in_flight: dict[str, AdmittedJob],
        metrics: ProcessorMetrics,
        *,
        batch: int,
    ) -> None:
        super().__init__("persister", mailbox_size=max(1, batch), max_batch=max(1, batch))
        self._in_flight = in_flight
        self._metrics = metrics
        self._store = store
        self._publisher = publisher
        self._emitter = emitter
        self.completed = 0
        self.failed = 0

    async def handle_batch(self, messages: list[JobFinished]) -> None:
        finished = [m for m in messages if not m.already_terminal]
        terminal = [
            JobTransition(m.job.spec, m.status, m.at, result=m.result, error=m.error)
            for m in finished
        ]
        statuses = await retry_while_unavailable(
            lambda: self._store.apply_transitions(terminal), what="job store (terminal)"
        )
        # No await between storing and this: from here on a duplicate delivery finds the
        # job terminal in the store instead of parking on it.
        for message in finished:
            self._in_flight.pop(message.job.spec.id, None)
        events: list[Envelope] = []
        settlements: list[Settlement] = []
        for message, status in zip(finished, statuses, strict=True):
            if status == message.status:
                job_type = self._metrics.job_type(message.job.spec.type)
                self._metrics.processed.labels(job_type).inc()
                if status is JobStatus.COMPLETED:
                    self.completed += 1
                    self._metrics.completed.labels(job_type).inc()
                else:
                    self.failed += 1
                    self._metrics.failed.labels(job_type).inc()
                self._metrics.end_to_end_seconds.labels(job_type).observe(
                    _seconds_since(message.job.created.occurred_at)
                )
                record = JobRecord(
                    spec=message.job.spec,
                    status=status,
                    updated_at=message.at,
                    attempts=message.job.attempt,
                    finished_at=message.at,
                    result=message.result,
                    error=message.error,
                )
                events.append(self._emitter.terminal(message.job, record))
            else:
                events.extend(await self._stored_terminal(message.job))
            settlements.append(message.job.settlement)
            for duplicate in message.job.duplicates:
                events.append(duplicate.created)
                settlements.append(duplicate.settlement)
        for message in messages:
            if message.already_terminal:
                self._metrics.redeliveries.inc()
                log.info(
                    "job.already_terminal job_id=%s status=%s", message.job.spec.id, message.status
                )
                # The submission itself is a fact for the audit trail; the job's stored
                # terminal event is re-emitted with its own id, so it is counted once.
                events.append(message.job.created)
                events.extend(await self._stored_terminal(message.job))
                settlements.append(message.job.settlement)
                for duplicate in message.job.duplicates:
                    events.append(duplicate.created)
                    settlements.append(duplicate.settlement)
        message_list = [encode_envelopes(events)] if events else []
        await self._publisher.send(PublishRequest(JOBS_COMPLETED, message_list, settlements))

    async def _stored_terminal(self, job: AdmittedJob) -> list[Envelope]:
        record = await retry_while_unavailable(
            lambda: self._store.get_job(job.spec.id), what="job store (read)"
        )
        if record is None or not record.status.is_terminal:
            return []
        return [self._emitter.terminal(job, record)]


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
        emitter = _Emitter(settings)
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
            store, self.publisher, emitter, in_flight, self.metrics, batch=settings.prefetch
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
