"""``GET /queues``: every queue of the topology, with its depth, consumers and rates.

The one read-model route that asks the broker rather than a store: queue depths live
nowhere else. It asks cheaply and only when called:

===========================  ==========================================================
broker                       what is known
===========================  ==========================================================
embedded (``MemoryBroker``)  ready, unacked, consumers, and messages published and
                             delivered so far: publish and deliver rates per second
RabbitMQ                     one passive declare per queue (``jobs.created``,
                             ``jobs.completed``, ``jobs.dead-letter``, each
                             ``jobs.retry.*``): ready and consumers; unacked and the
                             publish and deliver rates are unknown (null), the depth's
                             change per second is given instead
===========================  ==========================================================

Rates compare a sample with the previous one this read model took (at least
:data:`MIN_RATE_WINDOW_S` apart), so the first call answers null rates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio.lowlevel
from quart import Response, jsonify

from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
from quart_app._common import json_error
from quart_app.openapi import error_response, json_response, operation

if TYPE_CHECKING:
    from collections.abc import Callable

    from quart import Quart

    from actors.broker.amqp import AmqpBroker
    from actors.broker.memory import MemoryBroker

__all__ = [
    "MIN_RATE_WINDOW_S",
    "QUEUES_SCHEMA",
    "AmqpQueueInspector",
    "MemoryQueueInspector",
    "QueueInspector",
    "QueueSample",
    "RateTracker",
    "install_queues_route",
]

MIN_RATE_WINDOW_S = 0.5
"""Samples closer than this to the previous one reuse its rates (no division by ~0)."""

TOPOLOGY_QUEUES = (*ALL_QUEUES, *(retry_queue(delay) for delay in RETRY_DELAYS_S))
"""Every queue RabbitMQ holds for the observatory (``AmqpBroker.declare_topology``)."""


@dataclass(frozen=True, slots=True)
class QueueSample:
    """What the broker says of one queue now."""

    name: str
    ready: int
    """Messages waiting for a consumer."""
    consumers: int
    unacked: int | None = None
    """Delivered and not settled yet; ``None`` where the broker does not say."""
    published: int | None = None
    """Messages published to it so far (for the publish rate); ``None``: unknown."""
    delivered: int | None = None
    """Messages delivered from it so far (for the deliver rate); ``None``: unknown."""
    delayed: int | None = None
    """Embedded only: retries waiting out their delay inside this queue."""


class QueueInspector(Protocol):
    """Samples every queue of the topology."""

    async def sample(self) -> list[QueueSample]:
        """One sample per queue.

        Raises:
            BrokerUnavailable: the broker cannot be asked now.
        """
        ...


class MemoryQueueInspector:
    """The embedded broker's queues, from its own counters (no I/O)."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    async def sample(self) -> list[QueueSample]:
        """Every queue the embedded broker holds."""
        await anyio.lowlevel.checkpoint()
        return [
            QueueSample(
                name=q.name,
                ready=q.ready,
                consumers=q.consumers,
                unacked=q.unacked,
                published=q.published,
                delivered=q.acked + q.rejected + q.unacked,
                delayed=q.delayed,
            )
            for q in sorted(self._broker.statistics().queues.values(), key=lambda q: q.name)
        ]


class AmqpQueueInspector:
    """RabbitMQ's topology queues, one passive declare each (ready and consumers)."""

    def __init__(self, broker: Callable[[], AmqpBroker]) -> None:
        """``broker``: the connected broker (raises ``DependencyUnavailable`` while not)."""
        self._broker = broker

    async def sample(self) -> list[QueueSample]:
        """Every topology queue, in the order of :data:`TOPOLOGY_QUEUES`."""
        broker = self._broker()
        samples = []
        for name in TOPOLOGY_QUEUES:
            ready, consumers = await broker.queue_counts(name)
            samples.append(QueueSample(name=name, ready=ready, consumers=consumers))
        return samples


def _rate(now: int | None, before: int | None, seconds: float) -> float | None:
    if now is None or before is None:
        return None
    return round(max(0, now - before) / seconds, 3)


class RateTracker:
    """Turns successive samples into per-second rates (one tracker per read model)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._previous: tuple[float, dict[str, QueueSample]] | None = None
        self._rates: dict[str, dict[str, float | None]] = {}

    def to_json(self, samples: list[QueueSample]) -> list[dict[str, object]]:
        """The body of ``GET /queues`` for ``samples`` taken now."""
        now = self._clock()
        if self._previous is not None and now - self._previous[0] >= MIN_RATE_WINDOW_S:
            then, before = self._previous
            seconds = now - then
            self._rates = {}
            for sample in samples:
                old = before.get(sample.name)
                if old is None:
                    continue
                self._rates[sample.name] = {
                    "publishPerS": _rate(sample.published, old.published, seconds),
                    "deliverPerS": _rate(sample.delivered, old.delivered, seconds),
                    "depthChangePerS": round((sample.ready - old.ready) / seconds, 3),
                }
            self._previous = (now, {s.name: s for s in samples})
        elif self._previous is None:
            self._previous = (now, {s.name: s for s in samples})
        unknown: dict[str, float | None] = {
            "publishPerS": None,
            "deliverPerS": None,
            "depthChangePerS": None,
        }
        return [
            {
                "name": s.name,
                "depth": s.ready + (s.unacked or 0),
                "ready": s.ready,
                "unacked": s.unacked,
                "delayed": s.delayed,
                "consumers": s.consumers,
                **self._rates.get(s.name, unknown),
            }
            for s in samples
        ]


_NULLABLE_RATE: dict[str, object] = {"type": ["number", "null"], "minimum": 0}
QUEUES_SCHEMA: dict[str, object] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": [
            "name",
            "depth",
            "ready",
            "unacked",
            "delayed",
            "consumers",
            "publishPerS",
            "deliverPerS",
            "depthChangePerS",
        ],
        "properties": {
            "name": {"type": "string"},
            "depth": {
                "description": "Messages in the queue: ready plus unacked (where known).",
                "type": "integer",
                "minimum": 0,
            },
            "ready": {"type": "integer", "minimum": 0},
            "unacked": {
                "description": "Delivered, not settled; null where the broker does not say.",
                "type": ["integer", "null"],
                "minimum": 0,
            },
            "delayed": {
                "description": "Embedded broker only: retries waiting out their delay here.",
                "type": ["integer", "null"],
                "minimum": 0,
            },
            "consumers": {"type": "integer", "minimum": 0},
            "publishPerS": _NULLABLE_RATE,
            "deliverPerS": _NULLABLE_RATE,
            "depthChangePerS": {
                "description": "How fast `ready` grew (positive) or drained (negative) since "
                "the previous call.",
                "type": ["number", "null"],
            },
        },
    },
}
"""The body of ``GET /queues``."""


def install_queues_route(
    app: Quart, inspector: QueueInspector | None, *, tracker: RateTracker | None = None
) -> None:
    """Add ``GET /queues`` to the read model ``app``; without ``inspector`` it answers 503."""
    rates = tracker if tracker is not None else RateTracker()

    @app.get("/queues")
    @operation(
        "queues",
        summary="Every queue of the topology: depth, ready, unacked, consumers and rates.",
        description=(
            "One entry per queue, retry and dead-letter queues included. The embedded broker "
            "answers everything; RabbitMQ (a passive declare per queue) answers ready and "
            "consumers, the rest being null. Rates are per second since the previous call "
            "(null on the first). 503 while the broker cannot be asked."
        ),
        tags=["read"],
        responses={
            200: json_response("The queues.", QUEUES_SCHEMA),
            503: error_response("The broker cannot be asked now."),
        },
    )
    async def queues() -> Response | tuple[Response, int]:
        if inspector is None:
            return json_error(503, "This read model has no broker to ask about queues.")
        return jsonify(rates.to_json(await inspector.sample()))
