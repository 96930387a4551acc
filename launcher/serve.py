"""One service per process, against real servers: ``observatory serve <service>``.

Each process is one supervisor tree: the service's HTTP face first (so ``/healthz``
answers 503 while servers are away), then a :class:`~actors.kernel.connection.Connection` per
server (connecting in the background, retrying with backoff, one log line per attempt),
then the service's actors, which wait for their servers before they start. The gateway
needs RabbitMQ and PostgreSQL (it claims every submitted job id in the job store's
ledger); MongoDB serves requeue only, which answers 503 while it is away.

=================  ==============================  ======================================
service            servers                         HTTP (default port)
=================  ==============================  ======================================
gateway            RabbitMQ, PostgreSQL (+Mongo)   API + health (3000)
processor          RabbitMQ, PostgreSQL (+Redis    health + metrics (8001)
                   with rate-limited types)
metrics-engine     RabbitMQ, Redis, MongoDB        health + metrics (8002)
read-model         PostgreSQL, Redis, MongoDB      API + health (8080)
                   (+RabbitMQ and its management
                   API for ``GET /queues``)
=================  ==============================  ======================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from actors.broker.amqp import AmqpBroker, open_amqp_broker
from actors.broker.management import RabbitMqManagement
from actors.config.urls import rabbitmq_vhost
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry
from actors.errors import ConfigError
from actors.kernel import ActorState, ChildSpec
from actors.kernel.connection import Connection, SelfReporting
from actors.kernel.service import ServiceTree
from actors.metrics_engine.service import MetricsEngineService
from actors.observability.prometheus import (
    ActorHealthCollector,
    DependencyCollector,
    create_registry,
)
from actors.processor.service import ProcessorService
from actors.stores.deferred import (
    DeferredCounters,
    DeferredDeadLetterStore,
    DeferredEventStore,
    DeferredJobStore,
)
from actors.stores.mongo import open_mongo_dead_letter_store, open_mongo_event_store
from actors.stores.postgres import open_postgres_job_store
from actors.stores.rate_buckets import DeferredRateBuckets, open_redis_rate_buckets
from actors.stores.redis import open_redis_counters
from actors.stores.workers import DeferredWorkerRegistry, open_redis_worker_registry
from quart_app._server import HttpServer
from quart_app.gateway.service import GatewayService
from quart_app.ops import create_ops_app
from quart_app.read_model.queues import (
    AmqpQueueInspector,
    ManagementQueueInspector,
    QueueInspector,
)
from quart_app.read_model.service import ReadModelService

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from prometheus_client import CollectorRegistry

    from actors.config.settings import Settings
    from actors.kernel import Supervisor

__all__ = ["SERVICES", "ServiceProcess"]

SERVICES = ("gateway", "processor", "metrics-engine", "read-model")
"""The services ``observatory serve`` runs."""

_CONNECTION_SHUTDOWN_S = 10.0

_LABELS = {
    "rabbitmq": "RabbitMQ",
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "redis-rate": "Redis (rate limits)",
    "mongo-events": "MongoDB (events)",
    "mongo-dead-letters": "MongoDB (dead letters)",
}
"""How each connection is named in the "waiting for ..." lines."""

A = TypeVar("A", bound=SelfReporting)


class ServiceProcess(ServiceTree):
    """The supervisor tree of one service, in this process, against real servers."""

    def __init__(
        self,
        service: str,
        settings: Settings,
        *,
        handlers: HandlerRegistry | None = None,
        check_types: bool = False,
    ) -> None:
        """``handlers``: what the processor runs (built-ins by default); ``check_types``:
        the gateway refuses jobs ``handlers`` cannot run (given ``--app``)."""
        if service not in SERVICES:
            raise ConfigError(f"Unknown service {service!r}; choose one of {', '.join(SERVICES)}.")
        self.name = service
        self.settings = settings
        self.handlers = handlers if handlers is not None else DEFAULT_REGISTRY.copy()
        self.handlers.default_duration_s = settings.default_job_duration_s
        self.check_types = check_types
        self.registry: CollectorRegistry = create_registry()
        self._connections: list[Connection[SelfReporting]] = []
        self._optional: set[str] = set()
        """Connections this service works without (a feature answers 503 meanwhile)."""
        self.http: HttpServer
        self.supervisor: Supervisor = self._build()
        self.registry.register(ActorHealthCollector(self.health))
        self.registry.register(DependencyCollector(self.dependencies))

    # -- servers ---------------------------------------------------------------------

    def _broker(self) -> AmqpBroker:
        settings = self.settings
        broker = open_amqp_broker(
            settings.rabbitmq_url,
            namespace=settings.queue_namespace,
            connection_name=f"{self.name}-{settings.instance_id}",
            publish_timeout_s=settings.publish_timeout_s,
        )

        async def declare(adapter: AmqpBroker) -> None:
            await adapter.declare_topology()

        self._connect("rabbitmq", lambda: broker, settings.rabbitmq_url, declare)
        return broker

    def _job_store(self) -> DeferredJobStore:
        settings = self.settings
        return DeferredJobStore(
            self._connect(
                "postgres",
                lambda: open_postgres_job_store(
                    settings.postgres_url, schema=settings.postgres_schema
                ),
                settings.postgres_url,
            )
        )

    def _counters(self) -> DeferredCounters:
        settings = self.settings
        return DeferredCounters(
            self._connect(
                "redis",
                lambda: open_redis_counters(settings.redis_url, prefix=settings.redis_prefix),
                settings.redis_url,
            )
        )

    def _workers(self) -> DeferredWorkerRegistry:
        """The worker registry in Redis: optional (without it, no beat is written and
        ``GET /workers`` answers 503; the service works on)."""
        settings = self.settings
        self._optional.add("redis-workers")
        return DeferredWorkerRegistry(
            self._connect(
                "redis-workers",
                lambda: open_redis_worker_registry(
                    settings.redis_url, prefix=settings.redis_prefix
                ),
                settings.redis_url,
            )
        )

    def _rate_buckets(self) -> DeferredRateBuckets:
        """The token buckets of the rate-limited types, in Redis (shared by every
        processor): optional, rate-limited jobs wait while Redis is away, the others run."""
        settings = self.settings
        self._optional.add("redis-rate")
        return DeferredRateBuckets(
            self._connect(
                "redis-rate",
                lambda: open_redis_rate_buckets(settings.redis_url, prefix=settings.redis_prefix),
                settings.redis_url,
            )
        )

    def _queue_inspector(self) -> QueueInspector:
        """RabbitMQ, asked only by ``GET /queues``: its management API (unless ``off``),
        else passive declares (it declares nothing). The AMQP connection is optional:
        while it is away the route answers 503 where the management API cannot answer."""
        settings = self.settings
        self._optional.add("rabbitmq")
        connection = self._connect(
            "rabbitmq",
            lambda: open_amqp_broker(
                settings.rabbitmq_url,
                namespace=settings.queue_namespace,
                connection_name=f"{self.name}-{settings.instance_id}",
            ),
            settings.rabbitmq_url,
        )
        declares = AmqpQueueInspector(connection.get)
        management_url = settings.management_url
        if management_url is None:
            return declares
        return ManagementQueueInspector(
            RabbitMqManagement(management_url, rabbitmq_vhost(settings.rabbitmq_url)),
            declares,
            namespace=settings.queue_namespace,
        )

    def _dead_letter_store(self) -> DeferredDeadLetterStore:
        settings = self.settings
        return DeferredDeadLetterStore(
            self._connect(
                "mongo-dead-letters",
                lambda: open_mongo_dead_letter_store(
                    settings.mongo_url, database=settings.mongo_database
                ),
                settings.mongo_url,
            )
        )

    def _event_stores(self) -> tuple[DeferredEventStore, DeferredDeadLetterStore]:
        settings = self.settings
        events = DeferredEventStore(
            self._connect(
                "mongo-events",
                lambda: open_mongo_event_store(
                    settings.mongo_url, database=settings.mongo_database
                ),
                settings.mongo_url,
            )
        )
        return events, self._dead_letter_store()

    def _connect(
        self,
        name: str,
        open_adapter: Callable[[], AbstractAsyncContextManager[A]],
        url: str,
        prepare: Callable[[A], Awaitable[None]] | None = None,
    ) -> Connection[A]:
        connection = Connection(
            name, open_adapter, url, prepare=prepare, label=_LABELS.get(name, name)
        )
        self._connections.append(connection)  # type: ignore[arg-type]
        return connection

    async def _wait_ready(self) -> None:
        for connection in self._required():
            await connection.wait_available()

    def _required(self) -> list[Connection[SelfReporting]]:
        return [c for c in self._connections if c.name not in self._optional]

    def _connection_children(self) -> list[ChildSpec]:
        return [ChildSpec.of(c, shutdown_s=_CONNECTION_SHUTDOWN_S) for c in self._connections]

    def _ops_http(self, port: int, *, handler_types: bool = False) -> ChildSpec:
        app = create_ops_app(
            self.name,
            self.settings.version,
            registry=self.registry,
            health=self.health,
            ready=self.ready,
            handler_types=self.handlers.types if handler_types else None,
        )
        self.http = HttpServer(app, self.settings.host, port)
        return ChildSpec.of(self.http, shutdown_s=5.0)

    # -- trees -----------------------------------------------------------------------

    def _build(self) -> Supervisor:
        settings = self.settings
        if self.name == "gateway":
            # Requeueing reads the dead letters, accepted without MongoDB. Every submitted
            # job id is claimed in PostgreSQL's ledger (and cancelling marks jobs there):
            # the gateway is ready only with PostgreSQL too.
            dead_letters = self._dead_letter_store()
            self._optional.add("mongo-dead-letters")
            broker = self._broker()
            jobs = self._job_store()
            gateway = GatewayService(
                broker,
                settings,
                dead_letters=dead_letters,
                handlers=self.handlers,
                registry=self.registry,
                wait_ready=self._wait_ready,
                extra_children=self._connection_children(),
                jobs=jobs,
                check_types=self.check_types,
            )
            self.http = gateway.http
            return gateway.supervisor
        if self.name == "processor":
            broker, jobs, workers = self._broker(), self._job_store(), self._workers()
            ops = self._ops_http(settings.processor_port, handler_types=True)
            buckets = self._rate_buckets() if self.handlers.rate_limits() else None
            processor = ProcessorService(
                broker,
                jobs,
                settings,
                handlers=self.handlers,
                wait_ready=self._wait_ready,
                extra_children=[ops, *self._connection_children()],
                registry=self.registry,
                workers=workers,
                rate_buckets=buckets,
            )
            return processor.supervisor
        if self.name == "metrics-engine":
            broker, counters = self._broker(), self._counters()
            events, dead_letters = self._event_stores()
            # The pruner's (retention): optional, counting never waits for PostgreSQL; a
            # pass while it is away is skipped.
            jobs = self._job_store()
            self._optional.add("postgres")
            workers = self._workers()
            ops = self._ops_http(settings.metrics_engine_port)
            engine = MetricsEngineService(
                broker,
                events,
                counters,
                dead_letters,
                settings,
                wait_ready=self._wait_ready,
                extra_children=[ops, *self._connection_children()],
                registry=self.registry,
                jobs=jobs,
                prune_lock=jobs.prune_lock,
                workers=workers,
            )
            return engine.supervisor
        jobs, counters = self._job_store(), self._counters()
        events, dead_letters = self._event_stores()
        workers = self._workers()
        queues = self._queue_inspector()
        read_model = ReadModelService(
            jobs,
            events,
            dead_letters,
            counters,
            settings,
            handlers=self.handlers,
            registry=self.registry,
            extra_children=self._connection_children(),
            workers=workers,
            queues=queues,
        )
        self.http = read_model.http
        return read_model.supervisor

    # -- lifecycle -------------------------------------------------------------------

    def dependencies(self) -> dict[str, bool]:
        """Whether each server this service needs is connected and usable, by name."""
        return {c.name: c.available() for c in self._connections}

    def ready(self) -> bool:
        """Every required server connected and usable, and every actor running."""
        return all(c.available() for c in self._required()) and all(
            entry.state is ActorState.RUNNING for entry in self.supervisor.health()[1:]
        )
