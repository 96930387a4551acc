"""The processor's supervisor tree: ingress → validator → executor → persister → publisher.

* **ingress** takes batches of ``jobs.created`` deliveries (prefetch = batch size);
* **validator** checks every envelope against the contracts (an invalid one goes to the
  dead letters: never retried, never lost), writes ``VALIDATED`` and ``EXECUTING`` for
  the batch's new jobs in one store call, publishes their start events and sends them to
  the executor; it owns the in-flight registry (:mod:`~actors.processor.validator`);
* **executor** runs each handler under its timeout, on the loop, in a worker thread or in
  a process (:mod:`~actors.processor.executor`); a job whose type has no handler fails
  with ``no handler for type 'X'`` unless ``Settings.simulate_unknown_types``, and a
  payload breaking its type's schema fails, both without retries;
  jobs of a type with a ``rate_limit`` first pass its rate gate
  (:mod:`~actors.processor.throttle`), waiting unstarted for their tokens;
* **cancel-watcher** looks every 0.3 s for cancel requests of the jobs the executor runs
  and has their handlers cancelled (:mod:`~actors.processor.cancel_watcher`);
* **delay-scheduler** publishes delayed jobs (``runAt``, ``delaySeconds``) from the job store's
  scheduled set once they are due, every 0.2 s (:mod:`~actors.processor.scheduler`);
* **persister** stores what each attempt came to, one store call per batch, and tells
  the validator those jobs are no longer in flight (:mod:`~actors.processor.persister`);
* **publisher** publishes the events with confirms and only then acknowledges the
  deliveries.

A job already in a terminal state (a redelivery, or a resubmitted id) is never run
again: its stored lifecycle is re-emitted with its deterministic ids (so a lost publish
heals, and the metrics engine counts it once) and the delivery is acknowledged.

Retries (:mod:`actors.domain.attempts`): a failed attempt that is not the job's last is
stored as a *retry* (back to ``PENDING``, the error in the job's history,
``nextAttemptAt``), told as a ``job.executed`` event with ``willRetry``, and the job's
``job.created`` envelope is published again with ``attempt`` + 1 and the backoff as
delay, all before the delivery is acknowledged. The stores ignore transitions of an
attempt that already failed and never validate or start a job whose cancel was
requested; the validator resolves such a *held* delivery: a cancelled job ends
``FAILED`` (error ``cancelled``, one ``job.failed``), a stale delivery is acknowledged
without running (after re-publishing the retry, should a crash have lost it).

Graceful stop: ``ingress`` stops taking deliveries first (those not handed on go back to
the queue when the consumer closes); running handlers get ``Settings.shutdown_grace_s``
to finish and are recorded as usual; the executor then interrupts the rest (one
``job.interrupted`` line each): back to ``PENDING`` with the attempt given back, a
``job.executed`` event with ``interrupted: true``, the delivery returned to the queue.
Only then does ``ingress`` close its consumer, and the other actors stop in turn, each
within ``Settings.shutdown_s``.

The messages between the actors are in :mod:`~actors.processor.messages`, one type per
outcome. The tree is ``one_for_all``: a crash anywhere restarts the pipeline and the
consumer, so the broker redelivers whatever was not acknowledged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.broker.names import JOBS_CREATED
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry
from actors.domain.rate_limits import MemoryRateBuckets
from actors.kernel import ChildSpec, Strategy, Supervisor
from actors.kernel.service import ServiceTree
from actors.observability.prometheus import BoundedLabel, ProcessorMetrics, create_registry
from actors.pipeline.heartbeat import (
    Heartbeat,
    WorkerIdentity,
    actors_json,
    counter_total,
    in_flight_json,
)
from actors.pipeline.ingress import BrokerIngress
from actors.pipeline.publisher import Publisher
from actors.pipeline.sampler import QueueDepthSampler
from actors.processor.cancel_watcher import CancelWatcher
from actors.processor.emitter import SERVICE, LifecycleEmitter
from actors.processor.executor import Executor
from actors.processor.persister import Persister
from actors.processor.scheduler import Scheduler
from actors.processor.validator import Validator

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from prometheus_client import CollectorRegistry

    from actors.broker import Broker
    from actors.config.settings import Settings
    from actors.domain.rate_limits import RateBuckets
    from actors.stores import JobStore
    from actors.stores.workers import WorkerRegistry

__all__ = ["ProcessorService"]


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
        workers: WorkerRegistry | None = None,
        rate_buckets: RateBuckets | None = None,
    ) -> None:
        """``workers``: where the ``heartbeat`` child writes this process's beat (no
        heartbeat without one); ``rate_buckets``: the token buckets of the types with a
        ``rate_limit`` (default: in this process's memory; serve mode shares Redis's)."""
        emitter = LifecycleEmitter(settings)
        self.metrics = ProcessorMetrics(
            registry if registry is not None else create_registry(),
            BoundedLabel(handlers.types(), max_values=settings.max_job_type_labels),
            lambda: self.validator.in_flight(),
        )
        self.metrics.serve_types(handlers.types())
        self.handlers = handlers
        """The handlers this processor runs (its ``/healthz`` lists their types)."""
        self.publisher = Publisher(
            broker, mailbox_size=max(16, settings.prefetch), wait_ready=wait_ready
        )
        self.persister = Persister(
            store, self.publisher, emitter, self.metrics, batch=settings.prefetch
        )
        self.executor = Executor(self.persister, handlers, settings, self.metrics)
        self.cancel_watcher = CancelWatcher(store, self.executor, wait_ready=wait_ready)
        self.scheduler = Scheduler(
            store,
            self.publisher,
            queue,
            wait_ready=wait_ready,
            waiting=self.metrics.scheduled_waiting,
        )
        self.validator = Validator(
            store,
            self.executor,
            self.publisher,
            settings,
            emitter,
            self.metrics,
            buckets=MemoryRateBuckets() if rate_buckets is None else rate_buckets,
            rates=handlers.rate_limits(),
        )
        self.persister.report_to(self.validator)
        self.queue_depth = QueueDepthSampler(
            broker, [queue], self.metrics.registry, wait_ready=wait_ready
        )
        self.ingress = BrokerIngress(
            broker, queue, self.validator, prefetch=settings.prefetch, wait_ready=wait_ready
        )
        shutdown_s = settings.shutdown_s

        def stop_ingress() -> None:
            # Stop taking deliveries, and start the running handlers' grace: ingress
            # returns once what it handed on is settled, interrupted jobs included.
            self.ingress.request_stop()
            self.executor.interrupt_after(settings.shutdown_grace_s)
            self.validator.give_back_held()

        self.supervisor = Supervisor(
            SERVICE,
            [
                *extra_children,
                ChildSpec.of(self.publisher, shutdown_s=shutdown_s),
                ChildSpec.of(self.persister, shutdown_s=shutdown_s),
                ChildSpec.of(self.executor, shutdown_s=shutdown_s),
                ChildSpec.of(self.cancel_watcher, shutdown_s=2.0),
                ChildSpec.of(self.scheduler, shutdown_s=2.0),
                ChildSpec.of(self.validator, shutdown_s=shutdown_s),
                ChildSpec(
                    self.ingress.name,
                    self.ingress.run,
                    shutdown_s=settings.shutdown_grace_s + shutdown_s,
                    stop=stop_ingress,
                    health=self.ingress.health,
                ),
                ChildSpec.of(self.queue_depth, shutdown_s=2.0),
                *self._heartbeat(workers, settings),
            ],
            strategy=Strategy.ONE_FOR_ALL,
            intensity=5,
            period_s=30.0,
            backoff_max_s=5.0,
        )
        self.name = SERVICE

    def _heartbeat(self, workers: WorkerRegistry | None, settings: Settings) -> list[ChildSpec]:
        """The ``heartbeat`` child (last: it stops first, saying ``stopped``), if any."""
        if workers is None:
            return []
        self.heartbeat = Heartbeat(
            workers,
            WorkerIdentity(SERVICE, settings.instance_id, settings.version),
            self.describe,
            interval_s=settings.heartbeat_s,
        )
        return [ChildSpec.of(self.heartbeat, shutdown_s=3.0)]

    def describe(self) -> dict[str, object]:
        """What this processor's heartbeat says besides who it is (taken at beat time)."""
        return {
            "handlerTypes": self.handlers.types(),
            **in_flight_json(self.validator.in_flight_jobs()),
            "done": counter_total(self.metrics.completed),
            "failed": counter_total(self.metrics.failed),
            "actors": actors_json(self.supervisor.health()),
        }
