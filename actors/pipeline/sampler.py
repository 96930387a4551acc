"""Sampling broker queue depths into a gauge (``broker_queue_depth{queue}``).

A queue that keeps growing means consumers fall behind: the QueueBacklogGrowing alert
watches this gauge. Depth needs a round trip to the broker, so it is sampled every few
seconds by this small actor instead of at scrape time.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

from actors.errors import BrokerUnavailable
from actors.kernel.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

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


class QueueDepthSampler(Periodic):
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
        super().__init__(name, interval_s=interval_s, wait_ready=wait_ready)
        self._broker = broker
        self._queues = list(queues)
        self._gauge = _gauge(registry)

    def __repr__(self) -> str:
        return f"<QueueDepthSampler {self.name} queues={self._queues}>"

    async def tick(self) -> None:
        """Sample every queue; a queue the broker cannot answer for keeps its last value."""
        for queue in self._queues:
            try:
                depth = await self._broker.queue_depth(queue)
            except BrokerUnavailable as exc:
                log.debug("queue_depth.skipped queue=%s error=%s", queue, exc)
                continue
            self._gauge.labels(queue).set(depth)
