"""The metrics engine's tree: it counts what happened and keeps the audit trail.

Two pipelines under one ``one_for_all`` supervisor:

* ``jobs.completed``: **ingress** → **aggregator** (validates every envelope; invalid
  ones go to the dead letters) → **persister** (appends the batch to the event store and
  counts it, both idempotent by ``eventId``, then acknowledges);
* ``jobs.dead-letter``: **dead-letter-ingress** → **archivist** (keeps each dead letter
  in the dead-letter store; a raw message rejected by a consumer is wrapped in a record
  that says so).

**publisher** carries the dead letters the aggregator finds.

What each event does to the counters is one rule, :func:`~actors.domain.stats.counter_move`
(the module docstring of :mod:`actors.domain.stats` spells it out): ``job.validated`` of
round 1 counts a job, ``job.completed`` / ``job.failed`` count each round's outcome, and
the retry request that starts a new round of a ``FAILED`` job (``POST /jobs/{id}/retry``)
counts ``failedJobs`` down by one, so a retried job is always one job with its latest
outcome and ``/stats`` equals what the job store holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from actors.broker.names import JOBS_COMPLETED, JOBS_DEAD_LETTER
from actors.domain.clock import utc_now
from actors.domain.dead_letters import DeadLetter, dead_letter_id
from actors.domain.events import Envelope, EventType
from actors.errors import CountersLost, InvalidMessage, ValidationIssue
from actors.kernel import Actor, ChildSpec, Strategy, Supervisor
from actors.kernel.periodic import Periodic
from actors.kernel.service import ServiceTree
from actors.observability import tracing
from actors.observability.logs import bind
from actors.observability.prometheus import MetricsEngineMetrics, create_registry
from actors.pipeline.admission import admit_batch
from actors.pipeline.heartbeat import (
    Heartbeat,
    WorkerIdentity,
    actors_json,
    counter_total,
    in_flight_json,
)
from actors.pipeline.ingress import BrokerIngress, IngressBatch
from actors.pipeline.outage import retry_while_unavailable
from actors.pipeline.publisher import Publisher
from actors.pipeline.sampler import QueueDepthSampler
from actors.pipeline.settlement import Settlement, settle
from actors.retention import InProcessPruneLock, Pruner
from actors.stores.memory import MemoryCounters
from contracts import SchemaName, get_contracts, parse_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from prometheus_client import CollectorRegistry

    from actors.broker import Broker, Delivery
    from actors.config.settings import Settings
    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore
    from actors.stores.workers import WorkerRegistry

__all__ = ["MetricsEngineService"]

log = logging.getLogger(__name__)

SERVICE = "metrics-engine"
_ACCEPTED = frozenset(EventType)
_TERMINAL = frozenset({EventType.COMPLETED, EventType.FAILED})

PERSIST_MAX_MESSAGES = 8
"""The most aggregator batches one persister flush takes (each holds the valid events of
up to four ingress batches). A flush is one event-store append (one insert) and one
counters apply (one Redis round trip) for all of their events; it runs as soon as the
persister is free and takes whatever its mailbox holds then (no timer: under load the
batches grow by themselves while the previous flush is in flight)."""


@dataclass(frozen=True, slots=True)
class StoreEvents:
    """Aggregator → persister: valid envelopes and the delivery pieces they settle."""

    envelopes: list[Envelope]
    settlements: list[Settlement]


class Aggregator(Actor[IngressBatch]):
    """Validates lifecycle envelopes; dead-letters what breaks the contract."""

    def __init__(
        self,
        persister: Actor[StoreEvents],
        publisher: Publisher,
        settings: Settings,
        metrics: MetricsEngineMetrics,
    ) -> None:
        super().__init__("aggregator", mailbox_size=4, max_batch=4)
        self._metrics = metrics
        self._persister = persister
        self._publisher = publisher
        self._settings = settings

    async def handle_batch(self, messages: list[IngressBatch]) -> None:
        envelopes: list[Envelope] = []
        settlements: list[Settlement] = []
        for batch in messages:
            for valid in await admit_batch(
                batch,
                _ACCEPTED,
                publisher=self._publisher,
                service=SERVICE,
                version=self._settings.version,
                rejected=self._metrics.validation_failed,
            ):
                envelopes.append(valid.envelope)
                settlements.append(valid.settlement)
        if settlements:
            await self._persister.send(StoreEvents(envelopes, settlements))


class EventPersister(Actor[StoreEvents]):
    """Appends events to the audit trail and counts them, then acknowledges."""

    def __init__(
        self,
        events: EventStore,
        counters: Counters,
        metrics: MetricsEngineMetrics,
        *,
        count_only_new: bool = False,
    ) -> None:
        super().__init__(
            "persister", mailbox_size=PERSIST_MAX_MESSAGES, max_batch=PERSIST_MAX_MESSAGES
        )
        self._events = events
        self._counters = counters
        self._count_only_new = count_only_new
        """Count only what the event store newly stored (counters that are rebuilt from
        the store at start and keep no ids of their own)."""
        self._metrics = metrics
        self.stored = 0
        self.duplicates = 0

    async def handle_batch(self, messages: list[StoreEvents]) -> None:
        envelopes = [e for m in messages for e in m.envelopes]
        if envelopes:
            with tracing.batch_span(
                "metrics.write",
                [_metadata(e) for e in envelopes] if tracing.enabled() else (),
                attributes={"events": len(envelopes)},
            ):
                await self._write(envelopes)
        await settle(s for m in messages for s in m.settlements)

    async def _write(self, envelopes: list[Envelope]) -> None:
        """Append ``envelopes`` to the audit trail and count them."""
        with tracing.child_span("store.write", {"store.operation": "events"}):
            result = await retry_while_unavailable(
                lambda: self._events.append(envelopes), what="event store"
            )
        counted = envelopes
        if self._count_only_new and result.new_ids is not None:
            counted = [e for e in envelopes if e.event_id in result.new_ids]
        with tracing.child_span("counters.apply", {"events": len(counted)}):
            await retry_while_unavailable(lambda: self._count(counted), what="counters")
        self.stored += result.stored
        self.duplicates += result.duplicates
        self._metrics.events_stored.inc(result.stored)
        self._metrics.duplicates_skipped.inc(result.duplicates)
        if result.duplicates:
            log.info("events.duplicates_skipped count=%d", result.duplicates)
        for envelope in envelopes:
            if envelope.event_type in _TERMINAL:
                # One line per job here, so a correlation id greps through all services.
                with bind(correlation_id=envelope.correlation_id, job_id=envelope.job_id):
                    log.info(
                        "job.recorded type=%s event=%s",
                        envelope.job_type,
                        envelope.event_type.value,
                    )

    async def _count(self, envelopes: list[Envelope]) -> int:
        """Count the batch; counters that were lost are rebuilt from the trail first."""
        try:
            return await self._counters.apply(envelopes)
        except CountersLost as exc:
            log.warning("counters.lost error=%s", exc)
            # The batch is in the event store already: the replay counts it, and the
            # apply below then finds every one of its events counted.
            await self._counters.rebuild(self._events)
            return await self._counters.apply(envelopes)


class CountersKeeper(Periodic):
    """Rebuilds lost counters even while no event comes in (so /stats is whole again)."""

    def __init__(
        self,
        counters: Counters,
        events: EventStore,
        *,
        interval_s: float = 5.0,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__("counters-keeper", interval_s=interval_s, wait_ready=wait_ready)
        self._counters = counters
        self._events = events

    async def tick(self) -> None:
        if await self._counters.lost():
            log.warning("counters.lost detected_by=keeper")
            await self._counters.rebuild(self._events)


class Archivist(Actor[IngressBatch]):
    """Keeps every dead letter in the dead-letter store, then acknowledges it."""

    def __init__(
        self, store: DeadLetterStore, settings: Settings, metrics: MetricsEngineMetrics
    ) -> None:
        super().__init__("archivist", mailbox_size=4, max_batch=4)
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self.archived = 0

    async def handle_batch(self, messages: list[IngressBatch]) -> None:
        records = [self._record(d) for m in messages for d in m.deliveries]
        result = await retry_while_unavailable(
            lambda: self._store.add(records), what="dead-letter store"
        )
        self.archived += result.stored
        self._metrics.dead_letters.inc(result.stored)
        for message in messages:
            await message.consumer.ack(message.deliveries)

    def _record(self, delivery: Delivery) -> DeadLetter:
        try:
            document = parse_json(delivery.body)
            get_contracts().validate(SchemaName.DEAD_LETTER, document)
        except InvalidMessage as exc:
            # Not one of our records: a message a consumer rejected, routed here by the
            # broker's dead-letter exchange. Keep it whole and say where it came from.
            return self._wrap_rejected(delivery, exc)
        assert isinstance(document, dict)
        return DeadLetter.from_json(document)

    def _wrap_rejected(self, delivery: Delivery, exc: InvalidMessage) -> DeadLetter:
        source = JOBS_DEAD_LETTER
        deaths = delivery.headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            source = str(deaths[0].get("queue", source))
        issue = ValidationIssue("", "Rejected by a consumer and routed by the broker's DLX.")
        return DeadLetter(
            dead_letter_id=dead_letter_id(source, delivery.message_id, delivery.body),
            queue=source,
            reason=f"Rejected by a consumer of {source!r}; not a dead-letter record ({exc}).",
            errors=[issue, *exc.issues],
            body=delivery.body,
            occurred_at=utc_now(),
            service=SERVICE,
            version=self._settings.version,
            message_id=delivery.message_id,
            correlation_id=delivery.correlation_id,
        )


class MetricsEngineService(ServiceTree):
    """The metrics engine's tree."""

    def __init__(
        self,
        broker: Broker,
        events: EventStore,
        counters: Counters,
        dead_letters: DeadLetterStore,
        settings: Settings,
        *,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
        extra_children: Sequence[ChildSpec] = (),
        registry: CollectorRegistry | None = None,
        jobs: JobStore | None = None,
        prune_lock: Callable[[], AbstractAsyncContextManager[bool]] | None = None,
        workers: WorkerRegistry | None = None,
    ) -> None:
        """Build the tree; with ``jobs`` it runs the ``pruner`` too (retention).

        Args:
            jobs: The job store, for the pruner (terminal jobs older than
                ``settings.retain_days`` go, with their events and old dead letters).
                ``None``: no pruner in this tree.
            prune_lock: Opens the lock that keeps pruners from running at once (the
                PostgreSQL advisory lock for real infrastructure); ``None``: an
                in-process lock (one process, embedded).
            workers: Where the ``heartbeat`` child writes this process's beat (no
                heartbeat without one).
        """
        self.name = SERVICE
        self.metrics = MetricsEngineMetrics(registry if registry is not None else create_registry())
        self.publisher = Publisher(broker, mailbox_size=64, wait_ready=wait_ready)
        # Counters that remember no ids are fed only what the trail newly stored.
        count_only_new = isinstance(counters, MemoryCounters) and not counters.remember_ids
        self.persister = EventPersister(
            events, counters, self.metrics, count_only_new=count_only_new
        )
        self.aggregator = Aggregator(self.persister, self.publisher, settings, self.metrics)
        self.ingress = BrokerIngress(
            broker,
            JOBS_COMPLETED,
            self.aggregator,
            prefetch=settings.prefetch,
            wait_ready=wait_ready,
        )
        self.archivist = Archivist(dead_letters, settings, self.metrics)
        self.dead_letter_ingress = BrokerIngress(
            broker,
            JOBS_DEAD_LETTER,
            self.archivist,
            prefetch=min(64, settings.prefetch),
            name="dead-letter-ingress",
            wait_ready=wait_ready,
        )
        self.keeper = CountersKeeper(counters, events, wait_ready=wait_ready)
        self.queue_depth = QueueDepthSampler(
            broker,
            [JOBS_COMPLETED, JOBS_DEAD_LETTER],
            self.metrics.registry,
            wait_ready=wait_ready,
        )
        self.pruner = (
            None
            if jobs is None
            else Pruner(
                jobs,
                events,
                dead_letters,
                retain=timedelta(days=settings.retain_days),
                interval_s=settings.prune_interval_s,
                lock=prune_lock if prune_lock is not None else InProcessPruneLock().hold,
                pruned_rows=self.metrics.pruned_rows,
                wait_ready=wait_ready,
            )
        )
        pruner = [] if self.pruner is None else [ChildSpec.of(self.pruner, shutdown_s=2.0)]
        shutdown_s = settings.shutdown_s
        self.supervisor = Supervisor(
            SERVICE,
            [
                *extra_children,
                ChildSpec.of(self.archivist, shutdown_s=shutdown_s),
                ChildSpec.of(self.publisher, shutdown_s=shutdown_s),
                ChildSpec.of(self.persister, shutdown_s=shutdown_s),
                ChildSpec.of(self.aggregator, shutdown_s=shutdown_s),
                ChildSpec.of(self.ingress, shutdown_s=shutdown_s),
                ChildSpec.of(self.dead_letter_ingress, shutdown_s=shutdown_s),
                ChildSpec.of(self.queue_depth, shutdown_s=2.0),
                ChildSpec.of(self.keeper, shutdown_s=2.0),
                *pruner,
                *self._heartbeat(workers, settings),
            ],
            strategy=Strategy.ONE_FOR_ALL,
            intensity=5,
            period_s=30.0,
        )

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
        """What this engine's heartbeat says besides who it is: ``done`` counts the events
        stored, ``failed`` the envelopes dead-lettered (taken at beat time)."""
        return {
            "handlerTypes": [],
            **in_flight_json([]),
            "done": counter_total(self.metrics.events_stored),
            "failed": counter_total(self.metrics.validation_failed),
            "actors": actors_json(self.supervisor.health()),
        }


def _metadata(envelope: Envelope) -> Mapping[str, object]:
    """The metadata of the job an event is about (where its ``traceparent`` is)."""
    metadata = envelope.payload.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}
