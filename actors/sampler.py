"""Sampling broker queue depths into a gauge (``broker_queue_depth{queue}``).

A queue that keeps growing means consumers fall behind: the QueueBacklogGrowing alert
watches this gauge. Depth needs a round trip to the broker, so it is sampled every few
seconds by this small actor instead of at scrape time.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

import anyio
from prometheus_client import CollectorRegistry, Gauge

from actors.errors import BrokerUnavailable
from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskStatus

    from actors.broker import Broker

__all__ = ["QueueDepthSampler"]

log = logging.getLogger(__name__)

_GAUGES: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def _gauge(registry: CollectorRegistry) -> Gauge:
    gauge = _GAUGES.get(registry)
    if gauge is None:
        gauge = _GAUGES[registry] = Gauge(
            "broker_queue_depth",
            "Messages ready in a broker queue (sampled every few seconds).",
            ["queue"],
            registry=registry,
        )
    return gauge


class QueueDepthSampler:
    """Samples the depth of ``queues`` every ``interval_s`` until stopped."""

    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        registry: CollectorRegistry,
        *,
        interval_s: float = 5.0,
        name: str = "queue-depth",
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._broker = broker
        self._queues = list(queues)
        self._gauge = _gauge(registry)
        self._interval_s = interval_s
        self._wait_ready = wait_ready
        self._stop = anyio.Event()
        self._state = ActorState.STOPPED

    def __repr__(self) -> str:
        return f"<QueueDepthSampler {self.name} queues={self._queues}>"

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Sample until asked to stop; a broker outage skips samples, it never crashes."""
        self._stop = anyio.Event()
        self._state = ActorState.RUNNING
        task_status.started()
        try:
            if self._wait_ready is not None:
                await self._wait_ready()
            while not self._stop.is_set():
                for queue in self._queues:
                    try:
                        depth = await self._broker.queue_depth(queue)
                    except BrokerUnavailable as exc:
                        log.debug("queue_depth.skipped queue=%s error=%s", queue, exc)
                        continue
                    self._gauge.labels(queue).set(depth)
                with anyio.move_on_after(self._interval_s):
                    await self._stop.wait()
        finally:
            self._state = ActorState.STOPPED

    def request_stop(self) -> None:
        """Stop sampling."""
        self._stop.set()

    def health(self) -> list[ActorHealth]:
        """One entry for the sampler."""
        return [ActorHealth(path=self.name, state=self._state, restarts=0)]
