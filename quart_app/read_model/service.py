"""The read model's tree: its HTTP face over the stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.kernel import ActorHealth, ActorState, ChildSpec, Supervisor
from actors.kernel.service import ServiceTree
from actors.observability.prometheus import ActorHealthCollector, create_registry
from actors.stores.workers import MemoryWorkerRegistry
from quart_app._server import HttpServer
from quart_app.read_model.alert_rules import AlertEvaluator
from quart_app.read_model.alerts import AlertBook
from quart_app.read_model.app import ReadModelDeps, create_read_model_app
from quart_app.read_model.live import LiveFeed
from quart_app.read_model.waiting import JobWaiters

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from prometheus_client import CollectorRegistry

    from actors.config.settings import Settings
    from actors.domain.handlers import HandlerRegistry
    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore
    from actors.stores.workers import WorkerRegistry
    from quart_app.read_model.queues import QueueInspector

__all__ = ["ReadModelService"]

SERVICE = "read-model"


class ReadModelService(ServiceTree):
    """The read model's tree; ``http.port`` is the bound port once started."""

    def __init__(
        self,
        jobs: JobStore,
        events: EventStore,
        dead_letters: DeadLetterStore,
        counters: Counters,
        settings: Settings,
        *,
        handlers: HandlerRegistry,
        registry: CollectorRegistry | None = None,
        extra_children: Sequence[ChildSpec] = (),
        evaluate_alerts_from: Callable[[], list[ActorHealth]] | None = None,
        gateway_url: Callable[[], str] | None = None,
        workers: WorkerRegistry | None = None,
        queues: QueueInspector | None = None,
    ) -> None:
        """``workers``: the registry the heartbeats write (``GET /workers``); an empty one
        of its own without it. ``queues``: what ``GET /queues`` asks (503 without)."""
        self.name = SERVICE
        self._host = settings.host
        self.alerts = AlertBook()
        """Alerts posted by Alertmanager (and, later, evaluated here)."""
        self.registry = registry if registry is not None else create_registry()
        workers = workers if workers is not None else MemoryWorkerRegistry()
        self.feed = LiveFeed(
            jobs=jobs,
            events=events,
            dead_letters=dead_letters,
            counters=counters,
            alerts=self.alerts,
            interval_s=settings.live_interval_s,
            max_clients=settings.max_stream_clients,
            workers=workers,
            workers_keep_s=settings.workers_keep_s,
            queues=queues,
        )
        self.waiters = JobWaiters(events)
        """The one watcher behind every ``GET /jobs/{id}?wait=``."""
        app = create_read_model_app(
            settings,
            ReadModelDeps(
                jobs=jobs,
                events=events,
                dead_letters=dead_letters,
                counters=counters,
                registry=self.registry,
                health=self.health,
                ready=self.ready,
                job_types=handlers.types,
                handlers=handlers,
                alerts=self.alerts,
                feed=self.feed,
                waiters=self.waiters,
                gateway_url=gateway_url or (lambda: settings.gateway_url),
                workers=workers,
                queues=queues,
            ),
        )
        self.http = HttpServer(app, settings.host, settings.read_model_port)
        # Without Prometheus (observatory up) the read model evaluates the rules itself.
        self.evaluator = (
            None
            if evaluate_alerts_from is None
            else AlertEvaluator(
                self.alerts,
                counters,
                dead_letters,
                evaluate_alerts_from,
                runbooks_url=lambda: f"{self.url}/runbooks",
            )
        )
        """The read model's own alert rules (``evaluate_alerts_from`` given), else ``None``."""
        evaluator = [] if self.evaluator is None else [ChildSpec.of(self.evaluator, shutdown_s=2.0)]
        self.supervisor = Supervisor(
            SERVICE,
            # The feed after the HTTP face: stopped first, it ends every open stream, so
            # the server's graceful stop does not wait on clients that never leave.
            [
                *extra_children,
                ChildSpec.of(self.http, shutdown_s=settings.shutdown_s),
                ChildSpec.of(self.feed, shutdown_s=2.0),
                ChildSpec.of(self.waiters, shutdown_s=2.0),
                *evaluator,
            ],
            intensity=10,
            period_s=30.0,
        )
        if registry is None:
            # A registry of its own (a process per service): export its actors' health.
            self.registry.register(ActorHealthCollector(self.health))

    @property
    def url(self) -> str:
        """Where this read model answers (its bound port once started)."""
        host = self._host if self._host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.http.port}"

    def ready(self) -> bool:
        """Whether the read model serves requests."""
        return all(entry.state is ActorState.RUNNING for entry in self.supervisor.health()[1:])
