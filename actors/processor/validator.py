"""The validator: takes jobs in, records their start, and hands them to the executor.

For each batch of deliveries it checks every envelope against the contracts (an invalid
one goes to the dead letters, never retried, never lost), then writes ``VALIDATED`` and
``EXECUTING`` for every new job in **one** store call, publishes the start events
(``job.created``, ``job.validated``, ``job.executed``) and sends the started jobs to the
executor.

Jobs of a type with a ``rate_limit`` pass the rate gate first
(:mod:`~actors.processor.throttle`): those its bucket has no token for yet wait, held here
or deferred through the broker, before their start is recorded.

It is the only owner of the *in-flight registry*: the jobs started here whose outcome
is not stored yet. Another delivery of such a job (the same id again) parks on it, and
is settled when the persister reports the outcome stored (:class:`Released`); after
that, a delivery finds the stored state instead. So a job is never run twice at once
in one processor, and no state is shared between actors.

A job the store refuses to start is resolved here: one already finished has its stored
lifecycle emitted again (ids unchanged, so counted once); one whose cancel was requested
ends ``FAILED`` (error ``cancelled``); a stale delivery of an attempt that already
failed is acknowledged without running (after re-publishing the retry, should a crash
have lost it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from actors.broker.names import JOBS_COMPLETED
from actors.domain.clock import utc_now
from actors.domain.events import EventType, envelopes_to_message
from actors.domain.jobs import MAX_PRIORITY, CancelRequest, JobStatus, JobTransition
from actors.kernel import Actor
from actors.kernel.priority_fifo import PriorityFifo
from actors.observability import tracing
from actors.observability.logs import bind
from actors.pipeline.admission import admit_batch
from actors.pipeline.ingress import IngressBatch
from actors.pipeline.outage import retry_while_unavailable
from actors.pipeline.publisher import PublishRequest
from actors.processor.emitter import SERVICE, job_document, round_field, seconds_until
from actors.processor.messages import (
    AdmittedJob,
    AlreadyTerminal,
    Cancelled,
    Held,
    RateTick,
    Released,
    StartJobs,
)
from actors.processor.recording import Outbox, Recorder
from actors.processor.throttle import RateGate

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anyio.abc import TaskGroup, TaskStatus

    from actors.config.settings import Settings
    from actors.domain.events import Envelope
    from actors.domain.rate_limits import RateBuckets
    from actors.observability.prometheus import ProcessorMetrics
    from actors.pipeline.publisher import Publisher
    from actors.processor.emitter import LifecycleEmitter
    from actors.stores import JobStore

__all__ = ["Validator"]

log = logging.getLogger(__name__)

_ACCEPTED = frozenset({EventType.CREATED})


class Validator(Actor[IngressBatch | Released | RateTick]):
    """Checks envelopes, records the start of valid jobs, owns the in-flight registry."""

    def __init__(
        self,
        store: JobStore,
        executor: Actor[StartJobs],
        publisher: Publisher,
        settings: Settings,
        emitter: LifecycleEmitter,
        metrics: ProcessorMetrics,
        *,
        buckets: RateBuckets | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        """``buckets`` and ``rates`` (starts per second by type): the rate gate's; no
        gate without both."""
        super().__init__("validator", mailbox_size=4, max_batch=4)
        self._metrics = metrics
        self._store = store
        self._executor = executor
        self._publisher = publisher
        self._settings = settings
        self._emitter = emitter
        self._recorder = Recorder(store, emitter, metrics)
        self._recheck_delay_s = settings.retry_backoff_s
        """How long an unexplained held delivery waits before it is looked at again."""
        self._running: dict[str, list[AdmittedJob]] = {}
        """The in-flight registry: job id → other deliveries of it parked meanwhile."""
        self._types: dict[str, str] = {}
        """The type of each job in the registry (for :meth:`in_flight_jobs`)."""
        self._capacity = settings.prefetch
        """Jobs the executor runs at once: no more are started (stored EXECUTING)."""
        self._waiting: PriorityFifo[AdmittedJob] = PriorityFifo(_job_priority, MAX_PRIORITY)
        """Admitted jobs beyond the capacity, by priority then arrival, neither stored nor
        settled:
        a message may carry many jobs (``POST /jobs/batch`` packs them), so the broker's
        prefetch, which counts messages, does not bound the jobs here. They start as
        running jobs are released; a restart drops them and the broker redelivers."""
        self._gate = (
            RateGate(buckets, rates, metrics, hold_max=settings.prefetch // 4)
            if buckets is not None and rates
            else None
        )
        self._stopping = False
        """A graceful stop began: held rate-limited jobs go back to the queue."""
        self._tg: TaskGroup | None = None
        self._tick_scope: anyio.CancelScope | None = None
        self._tick_due = 0.0

    def in_flight(self) -> int:
        """Jobs started here whose outcome is not stored yet."""
        return len(self._running)

    def in_flight_jobs(self) -> list[tuple[str, str]]:
        """A snapshot of the in-flight registry: ``(job id, type)`` of each job, for the
        heartbeat (a copy taken when asked, so the registry's own work costs nothing more
        than keeping the type)."""
        return list(self._types.items())

    def rate_limited(self) -> int:
        """Jobs held here waiting on their type's rate limit."""
        return 0 if self._gate is None else self._gate.held()

    def give_back_held(self) -> None:
        """A graceful stop began: give the held rate-limited jobs back to the queue now
        (at the next batch, which this asks for) rather than wait for their tokens."""
        self._stopping = True
        if self._gate is not None and self._gate.held():
            self._wake_after(0.0)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run like any actor, with a task group for the rate gate's wake-ups."""
        self._stopping = False
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await super().run(task_status=task_status)
            finally:
                self._tg = None
                self._tick_scope = None
                tg.cancel_scope.cancel()

    def _wake_after(self, delay_s: float) -> None:
        """Have a :class:`RateTick` sent here in ``delay_s`` (unless one is due sooner)."""
        if self._tg is None:
            return
        due = anyio.current_time() + delay_s
        if self._tick_scope is not None:
            if self._tick_due <= due:
                return
            self._tick_scope.cancel()
        scope = self._tick_scope = anyio.CancelScope()
        self._tick_due = due
        self._tg.start_soon(self._tick, scope, delay_s)

    async def _tick(self, scope: anyio.CancelScope, delay_s: float) -> None:
        with scope:
            await anyio.sleep(delay_s)
            if self._tick_scope is scope:
                self._tick_scope = None
            try:
                await self.send(RateTick())
            except anyio.ClosedResourceError:
                pass  # stopping: the held jobs were given back, or go back unacknowledged

    async def on_close(self) -> None:
        # A restarted pipeline starts afresh: what ran is redelivered by the broker.
        self._running.clear()
        self._types.clear()
        self._waiting.clear()
        if self._gate is not None:
            self._gate.clear()

    async def handle_batch(self, messages: list[IngressBatch | Released | RateTick]) -> None:
        outbox = Outbox()
        admitted: list[AdmittedJob] = []
        for message in messages:
            if isinstance(message, Released):
                admitted.extend(self._release(message, outbox))
            elif isinstance(message, IngressBatch):
                admitted.extend(await self._admit(message))
        if self._gate is not None:
            if self._stopping:
                admitted = self._gate.give_back(admitted, outbox)
            else:
                admitted, wake_s = await self._gate.admit(admitted, outbox)
                if wake_s is not None:
                    self._wake_after(wake_s)
        # Behind the jobs already waiting for room: higher priorities first, arrival
        # order within one. Only as many are taken as there is room for (and the
        # deliveries of jobs in flight here, which park on them).
        self._waiting.extend(admitted)
        while self._waiting and len(self._running) < self._capacity:
            to_start: list[AdmittedJob] = []
            parked: dict[str, list[AdmittedJob]] = {}
            while self._waiting and len(self._running) + len(to_start) < self._capacity:
                job = self._waiting.popleft()
                job_id = job.spec.id
                if job_id in self._running:
                    self._running[job_id].append(job)
                elif job_id in parked:
                    parked[job_id].append(job)
                else:
                    parked[job_id] = []
                    to_start.append(job)
            if not to_start:
                break
            # Jobs the store refuses (a redelivery of finished jobs, say) take no room:
            # the loop fills it again, for no Released may ever come to wake them.
            await self._start(to_start, parked, outbox)
        await outbox.flush(self._publisher)

    def _release(self, message: Released, outbox: Outbox) -> list[AdmittedJob]:
        """Settle the deliveries parked on jobs whose outcome is now stored.

        Returns:
            The parked deliveries of a later round (a retry asked for as soon as the job
            was stored FAILED, before it left the registry): they are started like any
            new delivery, the store deciding (they are never settled unrun).
        """
        later_rounds: list[AdmittedJob] = []
        for job_id in message.job_ids:
            self._types.pop(job_id, None)
            for duplicate in self._running.pop(job_id, ()):
                if duplicate.round > 1:
                    later_rounds.append(duplicate)
                else:
                    outbox.settle(duplicate, submission=True)
        return later_rounds

    async def _admit(self, batch: IngressBatch) -> list[AdmittedJob]:
        """The valid jobs of ``batch``; the invalid envelopes go to the dead letters."""
        admitted = await admit_batch(
            batch,
            _ACCEPTED,
            publisher=self._publisher,
            service=SERVICE,
            version=self._settings.version,
            rejected=self._metrics.validation_failed,
        )
        traced = tracing.enabled()
        return [
            AdmittedJob.from_envelope(
                valid.envelope,
                valid.settlement,
                redelivered=valid.delivery.redelivered,
                previous_attempt=_previous_attempt(valid.delivery.headers) if traced else None,
            )
            for valid in admitted
        ]

    async def _start(
        self, jobs: list[AdmittedJob], parked: dict[str, list[AdmittedJob]], outbox: Outbox
    ) -> None:
        """Write VALIDATED and EXECUTING for ``jobs`` in one call; start what the store let
        (in a ``job.intake`` span linked to every job's trace, with tracing on)."""
        with tracing.batch_span(
            "job.intake",
            [job.spec.metadata for job in jobs] if tracing.enabled() else (),
            attributes={"jobs": len(jobs)},
        ):
            await self._start_traced(jobs, parked, outbox)

    async def _start_traced(
        self, jobs: list[AdmittedJob], parked: dict[str, list[AdmittedJob]], outbox: Outbox
    ) -> None:
        at = utc_now()
        transitions: list[JobTransition] = []
        for job in jobs:
            transitions.append(
                JobTransition(
                    job.spec, JobStatus.VALIDATED, at, attempt=job.attempt, round=job.round
                )
            )
            transitions.append(
                JobTransition(
                    job.spec, JobStatus.EXECUTING, at, attempt=job.attempt, round=job.round
                )
            )
        with tracing.child_span("store.write", {"store.operation": "start"}):
            statuses = await retry_while_unavailable(
                lambda: self._store.apply_transitions(transitions), what="job store (start)"
            )
        started: list[AdmittedJob] = []
        events: list[Envelope] = []
        refused: list[AlreadyTerminal | Held] = []
        for index, job in enumerate(jobs):
            # The EXECUTING transition's outcome decides: the store refuses VALIDATED and
            # EXECUTING alike (terminal, cancel requested, attempt already failed).
            status = statuses[2 * index + 1]
            if status is JobStatus.EXECUTING:
                self._running[job.spec.id] = parked[job.spec.id]
                self._types[job.spec.id] = job.spec.type
                started.append(job)
                events.extend(self._start_events(job, at))
                continue
            # Not started: each delivery of the job in this batch is resolved on its own.
            for delivery in (job, *parked[job.spec.id]):
                if status.is_terminal:
                    refused.append(AlreadyTerminal(delivery, status))
                else:
                    refused.append(Held(delivery))
        if events:
            # Published before the jobs run, so a job's start precedes its end on the queue.
            await self._publisher.send(
                PublishRequest(JOBS_COMPLETED, [envelopes_to_message(events)])
            )
        if started:
            await self._executor.send(StartJobs(tuple(started)))
        if refused:
            await self._resolve(refused, outbox)

    def _start_events(self, job: AdmittedJob, at: str) -> list[Envelope]:
        events: list[Envelope] = []
        if job.attempt == 1:
            # Once per round; a retry's delivery carries the same job.created (in a later
            # round: the retry request that started it).
            events.append(job.created)
            events.append(
                self._emitter.event(
                    job,
                    EventType.VALIDATED,
                    at,
                    job_document(job.spec, JobStatus.VALIDATED, at, **round_field(job.round)),
                )
            )
        events.append(
            self._emitter.event(
                job,
                EventType.EXECUTED,
                at,
                job_document(
                    job.spec,
                    JobStatus.EXECUTING,
                    at,
                    attempt=job.attempt,
                    **round_field(job.round),
                ),
            )
        )
        return events

    async def _resolve(self, refused: list[AlreadyTerminal | Held], outbox: Outbox) -> None:
        """Decide what each job the store refused to start comes to, and record it."""
        cancels: list[Cancelled] = []
        for found in refused:
            if isinstance(found, Held):
                resolved = await self._resolve_held(found, outbox)
                if resolved is None:
                    continue
                if isinstance(resolved, Cancelled):
                    cancels.append(resolved)
                    continue
                found = resolved
            self._metrics.redeliveries.inc()
            with _bound(found.job):
                log.info("job.already_terminal status=%s", found.status)
            await self._recorder.replay(found.job, outbox)
        if not cancels:
            return
        statuses = await retry_while_unavailable(
            lambda: self._store.apply_transitions([cancel.transition() for cancel in cancels]),
            what="job store (cancel)",
        )
        for cancel, status in zip(cancels, statuses, strict=True):
            await self._recorder.stored(cancel, status, outbox)

    async def _resolve_held(self, held: Held, outbox: Outbox) -> AlreadyTerminal | Cancelled | None:
        """What a held delivery comes to, from the stored job.

        Returns:
            The job found terminal, or its cancel to store; ``None`` when the delivery is
            only to be settled (done here, in ``outbox``).
        """
        job = held.job
        record = await retry_while_unavailable(
            lambda: self._store.get_job(job.spec.id), what="job store (read)"
        )
        if record is not None and record.status.is_terminal:
            return AlreadyTerminal(job, record.status)
        if record is not None and job.round != record.round:
            # A delivery of another round than the stored one: an earlier round's (the
            # job was retried since), or a retry of a job that is not FAILED.
            with _bound(job):
                log.info(
                    "job.stale_round round=%d stored_round=%d status=%s",
                    job.round,
                    record.round,
                    record.status,
                )
            self._metrics.redeliveries.inc()
            outbox.settle(job, submission=job.round < record.round)
            return None
        if record is not None and record.cancel_requested_at is not None:
            with _bound(job):
                log.info("job.cancelled attempts=%d", record.attempts)
            return Cancelled(
                job,
                utc_now(),
                attempts=record.attempts,
                failed_attempts=record.failed_attempts,
                request=CancelRequest(
                    job.spec.id,
                    record.cancel_requested_at,
                    record.cancel_requested_by or "unknown",
                ),
            )
        self._metrics.redeliveries.inc()
        if record is not None and job.attempt <= record.failed_attempts:
            with _bound(job):
                log.info(
                    "job.stale_attempt attempt=%d failed_attempts=%d redelivered=%s",
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
                outbox.retry(job, job.attempt + 1, seconds_until(record.next_attempt_at))
        else:
            # Not explained by the stored job (it should not happen): look again later
            # rather than drop it.
            with _bound(job):
                log.warning(
                    "job.held_unexplained attempt=%d status=%s",
                    job.attempt,
                    None if record is None else record.status,
                )
            outbox.retry(job, job.attempt, self._recheck_delay_s)
        # A resubmission is a fact for the audit trail (a retry's delivery carries the
        # original job.created, stored once).
        outbox.settle(job, submission=True)
        return None


def _bound(job: AdmittedJob) -> bind:
    """The job's ids bound for a log line about it (``jobId``, ``correlationId``): the
    validator works on batches, so no job's ids are in force while it does."""
    return bind(correlation_id=job.spec.correlation_id, job_id=job.spec.id)


def _job_priority(job: AdmittedJob) -> int:
    return job.spec.priority


def _previous_attempt(headers: Mapping[str, object]) -> str | None:
    """The failed attempt's ``traceparent`` a retry's delivery carries, if any."""
    value = headers.get(tracing.PREVIOUS_ATTEMPT_HEADER)
    return value if isinstance(value, str) else None
