"""The gateway's tree: the HTTP face and the publisher it feeds.

``one_for_one``: a publisher that crashes (the broker went away) is restarted with
backoff while the HTTP face keeps answering — 503 on ``POST /jobs`` and ``/healthz`` —
until the publisher is back. The ``ledger`` claims every submitted job id (and
``Idempotency-Key``) in the job store (:mod:`quart_app.gateway.submissions`), so
accepting jobs needs the job store as it needs the broker; ``DELETE /jobs/{id}`` cancels
waiting jobs (:mod:`quart_app.gateway.cancel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.clock import wall_clock
from actors.domain.events import Producer
from actors.kernel import ActorState, ChildSpec, Supervisor
from actors.kernel.service import ServiceTree
from actors.observability.prometheus import (
    ActorHealthCollector,
    BoundedLabel,
    GatewayMetrics,
    create_registry,
)
from actors.pipeline.ledger import Ledger, StoreProbe
from actors.pipeline.publisher import Publisher
from actors.stores.memory import MemoryJobStore
from quart_app._server import HttpServer
from quart_app.gateway.app import GatewayDeps, create_gateway_app
from quart_app.gateway.scheduler import Scheduler, Submitter
from quart_app.gateway.submissions import Desk

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from prometheus_client import CollectorRegistry

    from actors.broker import Broker
    from actors.config.settings import Settings
    from actors.domain.clock import Clock
    from actors.domain.handlers import HandlerRegistry
    from actors.stores import DeadLetterStore, JobStore
    from quart_app.gateway.proxy import ProxyConfig

__all__ = ["GatewayService"]

SERVICE = "gateway"


class GatewayService(ServiceTree):
    """The gateway's tree; ``http.port`` is the bound port once started."""

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        *,
        handlers: HandlerRegistry,
        registry: CollectorRegistry | None = None,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
        extra_children: Sequence[ChildSpec] = (),
        dead_letters: DeadLetterStore | None = None,
        jobs: JobStore | None = None,
        check_types: bool = False,
        proxy: ProxyConfig | None = None,
        scheduler_interval_s: float = 0.5,
        clock: Clock = wall_clock,
    ) -> None:
        """``check_types``: refuse jobs ``handlers`` cannot run (an unknown type, a payload
        off its type's schema) with 400; set it only when ``handlers`` are the processors'.
        ``scheduler_interval_s`` and ``clock``: how often the ``scheduler`` looks for due
        schedules, and the time it and ``Idempotency-Key`` claims go by (tests pass their
        own)."""
        self.name = SERVICE
        self._broker = broker
        self.registry = registry if registry is not None else create_registry()
        # Clients wait on each publish, so a failed one is answered 503 at once, not retried.
        self.publisher = Publisher(
            broker, mailbox_size=1024, max_batch=512, retry=False, wait_ready=wait_ready
        )
        # The ledger of submissions and idempotency keys lives in the job store, so every
        # gateway answers alike; a gateway given none (tests) keeps it in memory.
        self._ledger_store = jobs if jobs is not None else MemoryJobStore()
        self.ledger = Ledger(self._ledger_store)
        # Confirms are not waited on: written by an actor of their own, they never hold up
        # the next round of claims.
        self.confirmer = Ledger(self._ledger_store, name="confirmer")
        self.store_probe = StoreProbe(self._ledger_store)
        metrics = GatewayMetrics(self.registry, BoundedLabel(handlers.types(), max_values=50))
        # Recurring schedules live in the job store too; the scheduler submits their jobs
        # on the routes' path (ledger claim, publish, confirm).
        self.submitter = Submitter(
            Desk(self.ledger, timeout_s=settings.publish_timeout_s, confirmer=self.confirmer),
            self.publisher,
            Producer(SERVICE, f"{SERVICE}-{settings.instance_id}", settings.version),
            ready=self.ready,
            timeout_s=settings.publish_timeout_s,
            metrics=metrics,
        )
        self.scheduler = Scheduler(
            self._ledger_store,
            self.submitter,
            metrics,
            interval_s=scheduler_interval_s,
            clock=clock,
            wait_ready=wait_ready,
        )
        app = create_gateway_app(
            settings,
            GatewayDeps(
                publisher=self.publisher,
                ledger=self.ledger,
                confirmer=self.confirmer,
                metrics=metrics,
                registry=self.registry,
                health=self.health,
                ready=self.ready,
                dead_letters=dead_letters,
                jobs=jobs,
                handlers=handlers if check_types else None,
                proxy=proxy,
                schedules=self._ledger_store,
                submitter=self.submitter,
                clock=clock,
            ),
        )
        self.http = HttpServer(app, settings.host, settings.gateway_port)
        self.supervisor = Supervisor(
            SERVICE,
            # The HTTP face first, so /healthz answers (503) while the publisher waits for
            # the broker; it is stopped last, and answers 503 once the publisher is gone.
            [
                *extra_children,
                # Before the HTTP face, so it stops after the last request was answered.
                ChildSpec.of(self.confirmer, shutdown_s=settings.shutdown_s),
                ChildSpec.of(self.ledger, shutdown_s=settings.shutdown_s),
                ChildSpec.of(self.store_probe, shutdown_s=settings.shutdown_s),
                ChildSpec.of(self.http, shutdown_s=settings.shutdown_s),
                ChildSpec.of(self.publisher, shutdown_s=settings.shutdown_s),
                # Last: it fires only once the publisher runs, and stops first.
                ChildSpec.of(self.scheduler, shutdown_s=settings.shutdown_s),
            ],
            intensity=10,
            period_s=30.0,
        )
        if registry is None:
            # A registry of its own (a process per service): export its actors' health.
            self.registry.register(ActorHealthCollector(self.health))

    def ready(self) -> bool:
        """Whether jobs can be accepted: the publisher and the ledger run, the broker and
        the job store are reachable."""
        return (
            self.publisher.statistics().state is ActorState.RUNNING
            and self.ledger.statistics().state is ActorState.RUNNING
            and self._broker.is_available()
            and self._ledger_store.is_available()
        )
