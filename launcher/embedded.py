"""The whole observatory in one process: ``observatory up``.

All four services run as children of one root supervisor, on embedded adapters: an
in-process broker (spilled to disk on a clean stop), SQLite job, event and dead-letter
stores in the data directory, and counters rebuilt from the event store at start. Data
survives a restart.

Start order is metrics engine, processor, gateway, read model; a graceful stop runs in
reverse: the read model and the gateway stop taking requests, the processor drains what
it holds, the metrics engine stores what it holds, and the broker spills the rest.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from actors.broker.memory import open_memory_broker
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry
from actors.kernel import ActorHealth, ChildSpec, Supervisor
from actors.metrics_engine.service import MetricsEngineService
from actors.observability.prometheus import ActorHealthCollector, create_registry
from actors.processor.service import ProcessorService
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from actors.stores.workers import MemoryWorkerRegistry
from launcher.demo import DemoJobIds, DemoLoad
from quart_app.gateway.proxy import ProxyConfig
from quart_app.gateway.service import GatewayService
from quart_app.read_model.queues import MemoryQueueInspector
from quart_app.read_model.service import ReadModelService

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from actors.config.settings import Settings

__all__ = ["EmbeddedObservatory", "ObservatoryUrls"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ObservatoryUrls:
    """Where a running observatory answers."""

    gateway: str
    read_model: str


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class EmbeddedObservatory:
    """Every service in this process, under one root supervisor."""

    def __init__(
        self,
        settings: Settings,
        *,
        handlers: HandlerRegistry | None = None,
        demo_rate_per_s: float = 0.0,
    ) -> None:
        self.settings = settings
        self.demo_rate_per_s = demo_rate_per_s
        self.demo_ids = DemoJobIds()
        """The ids of the demo's recent jobs (for :class:`~launcher.demo.QuietDemoJobs`)."""
        self.handlers = handlers if handlers is not None else DEFAULT_REGISTRY.copy()
        self.handlers.default_duration_s = settings.default_job_duration_s
        self.name = "observatory"
        self._root: Supervisor | None = None
        self._stop_requested = False

    async def run(
        self, *, task_status: TaskStatus[ObservatoryUrls] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the embedded stores, run every service, close everything on the way out.

        Resource handling: stores and the broker are opened here and closed (the broker
        spilling what it still holds) when the tree has stopped, even on cancellation.
        """
        settings = self.settings
        data_dir = settings.data_dir
        await anyio.Path(data_dir).mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            broker = await stack.enter_async_context(
                open_memory_broker(data_dir / "broker.sqlite3")
            )
            jobs = await stack.enter_async_context(open_sqlite_job_store(data_dir / "jobs.sqlite3"))
            events = await stack.enter_async_context(
                open_sqlite_event_store(data_dir / "events.sqlite3")
            )
            dead_letters = await stack.enter_async_context(
                open_sqlite_dead_letter_store(data_dir / "dead-letters.sqlite3")
            )
            await broker.declare_topology()
            # Rebuilt from the trail at every start, and fed only what the trail newly
            # stored: no id of any counted event needs to be remembered in memory.
            counters = MemoryCounters(remember_ids=False)
            await counters.rebuild(events)
            registry = create_registry()
            workers = MemoryWorkerRegistry()  # one process: the heartbeats stay in memory
            metrics_engine = MetricsEngineService(
                broker,
                events,
                counters,
                dead_letters,
                settings,
                registry=registry,
                jobs=jobs,  # the pruner (retention) runs here, with an in-process lock
                workers=workers,
            )
            processor = ProcessorService(
                broker, jobs, settings, handlers=self.handlers, registry=registry, workers=workers
            )
            gateway = GatewayService(
                broker,
                settings,
                handlers=self.handlers,
                registry=registry,
                dead_letters=dead_letters,
                jobs=jobs,
                # Same process, same handlers: refuse at once what the processor cannot run.
                check_types=True,
                proxy=ProxyConfig.from_env(
                    settings, read_model_url=lambda: _url(settings.host, read_model.http.port)
                ),
            )
            read_model = ReadModelService(
                jobs,
                events,
                dead_letters,
                counters,
                settings,
                handlers=self.handlers,
                registry=registry,
                evaluate_alerts_from=self.health,
                workers=workers,
                queues=MemoryQueueInspector(broker),
                gateway_url=lambda: (
                    settings.with_changes(gateway_port=gateway.http.port).gateway_url
                ),
            )
            children = [
                ChildSpec.of(metrics_engine, shutdown_s=settings.shutdown_s + 5),
                # Its running handlers' grace comes before its drain.
                ChildSpec.of(
                    processor, shutdown_s=settings.shutdown_grace_s + settings.shutdown_s + 5
                ),
                ChildSpec.of(gateway, shutdown_s=settings.shutdown_s + 5),
                ChildSpec.of(read_model, shutdown_s=settings.shutdown_s + 5),
            ]
            if self.demo_rate_per_s > 0:
                submitters = [t for t, role in settings.api_tokens.items() if role == "submitter"]
                demo = DemoLoad(
                    lambda: _url(settings.host, gateway.http.port),
                    rate_per_s=self.demo_rate_per_s,
                    token=submitters[0] if submitters else None,
                    ids=self.demo_ids,
                )
                children.append(ChildSpec.of(demo, shutdown_s=5.0))
            root = self._root = Supervisor(
                self.name,
                children,
                intensity=3,
                period_s=60.0,
            )
            registry.register(ActorHealthCollector(root.health))

            async def started() -> None:
                task_status.started(
                    ObservatoryUrls(
                        gateway=_url(settings.host, gateway.http.port),
                        read_model=_url(settings.host, read_model.http.port),
                    )
                )

            async with anyio.create_task_group() as tg:
                await tg.start(root.run)
                if self._stop_requested:
                    root.request_stop()
                await started()
            log.info("observatory.stopped")

    def request_stop(self) -> None:
        """Stop gracefully (reverse start order, each service draining)."""
        self._stop_requested = True
        if self._root is not None:
            self._root.request_stop()

    def health(self) -> list[ActorHealth]:
        """Health entries of every service."""
        return [] if self._root is None else self._root.health()
