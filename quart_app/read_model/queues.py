"""``GET /queues``: every queue of the topology, with its depth, consumers and rates.

The one read-model route that asks the broker rather than a store: queue depths live
nowhere else. It asks cheaply and only when called, and each entry says whom it asked
(``source``):

==============  =======================================  ================================
``source``      asked                                    what is known
==============  =======================================  ================================
``embedded``    the embedded ``MemoryBroker``'s own      ready, unacked, consumers, and
                counters (no I/O)                        messages published and delivered
                                                         so far: publish and deliver
                                                         rates per second
``management``  RabbitMQ's management API, one           ready, unacked, consumers, and
                ``GET /api/queues/{vhost}`` (as of its   RabbitMQ's own publish and
                last statistics, 5 s apart by default)   deliver rates
``amqp``        RabbitMQ by one passive declare per      ready and consumers; unacked and
                queue: where the management API is off,  the publish and deliver rates
                does not answer (within                  are unknown (null), the depth's
                :data:`MANAGEMENT_TIMEOUT_S`), or has    change per second is given
                no figures yet for a queue declared      instead
                since its last statistics
==============  =======================================  ================================

The topology's queues on RabbitMQ are ``jobs.created``, ``jobs.completed``,
``jobs.dead-letter`` and each ``jobs.retry.*`` (:data:`TOPOLOGY_QUEUES`). When the
management API stops answering, the read model says so once in its log and asks it again
every :data:`MANAGEMENT_RETRY_S` meanwhile (passive declares in between), and says so once
again when it answers.

Rates the read model computes (embedded; the depth's change everywhere) compare a sample
with the previous one this read model took (at least :data:`MIN_RATE_WINDOW_S` apart),
so the first call answers null ones.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio.lowlevel
from quart import Response, jsonify

from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
from actors.errors import BrokerUnavailable
from quart_app._common import json_error
from quart_app.openapi import error_response, json_response, operation

if TYPE_CHECKING:
    from collections.abc import Callable

    from quart import Quart

    from actors.broker.amqp import AmqpBroker
    from actors.broker.management import QueueFigures, RabbitMqManagement
    from actors.broker.memory import MemoryBroker

__all__ = [
    "MANAGEMENT_RETRY_S",
    "MANAGEMENT_TIMEOUT_S",
    "MIN_RATE_WINDOW_S",
    "QUEUES_SCHEMA",
    "TOPOLOGY_QUEUES",
    "AmqpQueueInspector",
    "ManagementQueueInspector",
    "MemoryQueueInspector",
    "QueueInspector",
    "QueueSample",
    "QueueSource",
    "RateTracker",
    "install_queues_route",
]

log = logging.getLogger(__name__)

MIN_RATE_WINDOW_S = 0.5
"""Samples closer than this to the previous one reuse its rates (no division by ~0)."""

TOPOLOGY_QUEUES = (*ALL_QUEUES, *(retry_queue(delay) for delay in RETRY_DELAYS_S))
"""Every queue RabbitMQ holds for the observatory (``AmqpBroker.declare_topology``)."""

MANAGEMENT_TIMEOUT_S = 1.0
"""How long ``GET /queues`` waits for RabbitMQ's management API before it falls back to
passive declares."""

MANAGEMENT_RETRY_S = 30.0
"""While the management API does not answer, how often it is asked again (passive
declares only in between, so an absent API costs no wait on every call)."""


class QueueSource(enum.StrEnum):
    """Whom a queue's figures come from (``source`` in ``GET /queues``)."""

    EMBEDDED = "embedded"
    """The embedded broker's own counters: everything known."""
    MANAGEMENT = "management"
    """RabbitMQ's management API: everything but ``delayed``, rates RabbitMQ's own."""
    AMQP = "amqp"
    """A passive declare on RabbitMQ: ready and consumers only."""


@dataclass(frozen=True, slots=True)
class QueueSample:
    """What the broker says of one queue now."""

    name: str
    ready: int
    """Messages waiting for a consumer."""
    consumers: int
    source: QueueSource
    unacked: int | None = None
    """Delivered and not settled yet; ``None`` where the broker does not say."""
    published: int | None = None
    """Messages published to it so far (for the publish rate); ``None``: unknown."""
    delivered: int | None = None
    """Messages delivered from it so far (for the deliver rate); ``None``: unknown."""
    delayed: int | None = None
    """Embedded only: retries waiting out their delay inside this queue."""
    publish_per_s: float | None = None
    """Management API only: RabbitMQ's own publish rate (else computed from ``published``)."""
    deliver_per_s: float | None = None
    """Management API only: RabbitMQ's own deliver rate (else computed from ``delivered``)."""


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
                source=QueueSource.EMBEDDED,
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
        return [await self.sample_queue(name) for name in TOPOLOGY_QUEUES]

    async def sample_queue(self, name: str) -> QueueSample:
        """One topology queue (``name`` without the namespace).

        Raises:
            BrokerUnavailable: RabbitMQ is not connected, or ``name`` is not declared.
        """
        ready, consumers = await self._broker().queue_counts(name)
        return QueueSample(name=name, ready=ready, consumers=consumers, source=QueueSource.AMQP)


class ManagementQueueInspector:
    """RabbitMQ's topology queues from its management API; passive declares (``fallback``)
    while it does not answer, and for a queue it has no figures for yet.

    Error handling: the management API failing (no answer within ``timeout_s``, an error
    status, a wrong body) is logged once, as ``queues.management_unavailable`` at
    WARNING, and not asked again for ``retry_s``; its return is logged once, as
    ``queues.management_available``. Only the fallback's ``BrokerUnavailable`` reaches
    the caller (``GET /queues`` answers 503).
    """

    def __init__(
        self,
        management: RabbitMqManagement,
        fallback: AmqpQueueInspector,
        *,
        namespace: str = "",
        timeout_s: float = MANAGEMENT_TIMEOUT_S,
        retry_s: float = MANAGEMENT_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``namespace``: the prefix of this observatory's queue names on RabbitMQ."""
        self._management = management
        self._fallback = fallback
        self._namespace = namespace
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._clock = clock
        self._answering: bool | None = None
        """Whether the management API answered last time it was asked; ``None``: not yet."""
        self._next_try = 0.0
        """While it does not answer: when (``clock``) to ask it again."""

    def __repr__(self) -> str:
        return (
            f"<ManagementQueueInspector {self._management.url} vhost={self._management.vhost!r} "
            f"answering={self._answering}>"
        )

    async def sample(self) -> list[QueueSample]:
        """Every topology queue, in the order of :data:`TOPOLOGY_QUEUES`.

        Raises:
            BrokerUnavailable: the fallback was needed and RabbitMQ cannot be asked.
        """
        listing = await self._listing()
        if listing is None:
            return await self._fallback.sample()
        samples = []
        for name in TOPOLOGY_QUEUES:
            figures = listing.get(f"{self._namespace}{name}")
            if figures is None or not figures.complete:
                # Declared since RabbitMQ last collected statistics (or not at all): a
                # passive declare knows (or answers that it is not declared).
                samples.append(await self._fallback.sample_queue(name))
                continue
            assert figures.ready is not None
            assert figures.consumers is not None
            samples.append(
                QueueSample(
                    name=name,
                    ready=figures.ready,
                    consumers=figures.consumers,
                    source=QueueSource.MANAGEMENT,
                    unacked=figures.unacked,
                    publish_per_s=figures.publish_per_s,
                    deliver_per_s=figures.deliver_per_s,
                )
            )
        return samples

    async def _listing(self) -> dict[str, QueueFigures] | None:
        """The management API's queues by name; ``None`` when it is not to be used now."""
        now = self._clock()
        if self._answering is False and now < self._next_try:
            return None
        try:
            with anyio.fail_after(self._timeout_s):
                figures = await self._management.queues()
        except (BrokerUnavailable, TimeoutError) as exc:
            self._next_try = now + self._retry_s
            if self._answering is not False:
                self._answering = False
                reason = (
                    f"no answer within {self._timeout_s:g} s"
                    if isinstance(exc, TimeoutError)
                    else str(exc)
                )
                log.warning(
                    "queues.management_unavailable url=%s vhost=%s error=%s: GET /queues "
                    "answers from passive declares (source=amqp: unacked and rates null) "
                    "and asks again every %g s",
                    self._management.url,
                    self._management.vhost,
                    reason,
                    self._retry_s,
                )
            return None
        if self._answering is not True:
            self._answering = True
            log.info(
                "queues.management_available url=%s vhost=%s: GET /queues answers from it "
                "(source=management)",
                self._management.url,
                self._management.vhost,
            )
        return {f.name: f for f in figures}


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
        answer: list[dict[str, object]] = []
        for s in samples:
            rates = dict(self._rates.get(s.name, unknown))
            if s.source is QueueSource.MANAGEMENT:
                # RabbitMQ's own rates: known from the first call.
                rates["publishPerS"] = s.publish_per_s
                rates["deliverPerS"] = s.deliver_per_s
            answer.append(
                {
                    "name": s.name,
                    "source": s.source.value,
                    "depth": s.ready + (s.unacked or 0),
                    "ready": s.ready,
                    "unacked": s.unacked,
                    "delayed": s.delayed,
                    "consumers": s.consumers,
                    **rates,
                }
            )
        return answer


_NULLABLE_RATE: dict[str, object] = {"type": ["number", "null"], "minimum": 0}
QUEUES_SCHEMA: dict[str, object] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": [
            "name",
            "source",
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
            "source": {
                "description": "Whom the figures come from: `embedded` (the embedded "
                "broker: everything), `management` (RabbitMQ's management API: all but "
                "`delayed`, rates RabbitMQ's own, as of its last statistics, 5 s apart by "
                "default) or `amqp` (a passive declare on RabbitMQ, where the management "
                "API is off or does not answer: `unacked` and the publish and deliver "
                "rates null).",
                "enum": [source.value for source in QueueSource],
            },
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
            "publishPerS": {
                "description": "Messages published to it a second: RabbitMQ's own rate "
                "(`management`), since the previous call (`embedded`; null on the first) "
                "or null (`amqp`).",
                **_NULLABLE_RATE,
            },
            "deliverPerS": {
                "description": "Messages delivered from it a second, as `publishPerS`.",
                **_NULLABLE_RATE,
            },
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
            "One entry per queue, retry and dead-letter queues included; `source` says "
            "whom its figures come from. The embedded broker answers everything; RabbitMQ "
            "answers from its management API (all but `delayed`, with its own rates) and, "
            "where that is off or does not answer, from a passive declare per queue "
            "(ready and consumers, unacked and the publish and deliver rates null). Rates "
            "the read model computes are per second since the previous call (null on the "
            "first). 503 while the broker cannot be asked."
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
