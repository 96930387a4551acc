"""What :meth:`Client.workers` and :meth:`Client.queues` return: the observatory's
processes and its broker's queues, read from ``GET /workers`` and ``GET /queues``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from observatory._results import text_field

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["InFlightJob", "QueueStats", "Worker", "WorkerList", "queues_of"]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class InFlightJob:
    """A job a worker has started and not finished."""

    job_id: str
    type: str


@dataclass(frozen=True, slots=True)
class Worker:
    """One processor or metrics engine, alive or recently gone (``GET /workers``)."""

    id: str
    service: str
    """``processor`` or ``metrics-engine``."""
    status: str
    """``alive`` (a heartbeat within three intervals), ``stopped`` (said so on a graceful
    stop) or ``gone`` (no beat for three intervals: killed, or cut off)."""
    host: str
    pid: int
    version: str
    started_at: str
    last_seen_at: str
    seconds_since_seen: float
    handler_types: tuple[str, ...]
    """The job types it serves (a processor's handlers)."""
    in_flight: tuple[InFlightJob, ...]
    """Jobs started and not finished (at most 500 listed); for a gone worker, the jobs it
    held at its last beat, which the broker gives to another processor."""
    in_flight_count: int
    done: int
    """Processor: jobs completed; metrics engine: events stored (since it started)."""
    failed: int
    """Processor: jobs failed; metrics engine: envelopes dead-lettered (since it started)."""

    @property
    def is_alive(self) -> bool:
        """Whether its heartbeat is current."""
        return self.status == "alive"

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Worker:
        """Read one worker of ``GET /workers`` (fields it does not know are ignored)."""
        types = doc.get("handlerTypes")
        in_flight = doc.get("inFlight")
        seen = _float_or_none(doc.get("secondsSinceSeen"))
        return cls(
            id=str(doc.get("id", "")),
            service=str(doc.get("service", "")),
            status=str(doc.get("status", "")),
            host=str(doc.get("host", "")),
            pid=_int(doc.get("pid")),
            version=str(doc.get("version", "")),
            started_at=text_field(doc, "startedAt") or "",
            last_seen_at=text_field(doc, "lastSeenAt") or "",
            seconds_since_seen=0.0 if seen is None else seen,
            handler_types=tuple(str(t) for t in types) if isinstance(types, list) else (),
            in_flight=tuple(
                InFlightJob(str(job.get("jobId", "")), str(job.get("type", "")))
                for job in (in_flight if isinstance(in_flight, list) else [])
                if isinstance(job, dict)
            ),
            in_flight_count=_int(doc.get("inFlightCount")),
            done=_int(doc.get("done")),
            failed=_int(doc.get("failed")),
        )


@dataclass(frozen=True, slots=True)
class WorkerList:
    """Every worker seen lately: the alive ones first, then the others, most recent first."""

    alive: int
    """How many are alive."""
    gone: int
    """How many are gone or stopped (listed for an hour after their last beat)."""
    workers: tuple[Worker, ...]

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> WorkerList:
        """Read the body of ``GET /workers``."""
        workers = doc.get("workers")
        return cls(
            alive=_int(doc.get("alive")),
            gone=_int(doc.get("gone")),
            workers=tuple(
                Worker.from_json(worker)
                for worker in (workers if isinstance(workers, list) else [])
                if isinstance(worker, dict)
            ),
        )


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue of the broker's topology (``GET /queues``).

    ``None`` means the broker does not say: RabbitMQ asked by passive declares
    (``source == "amqp"``, its management API off or not answering) tells only ``ready``
    and ``consumers`` (and the depth's change); a rate the read model computes is
    ``None`` on its first call (it compares two calls).
    """

    name: str
    depth: int
    """Messages in it: ready plus unacked (where known)."""
    ready: int
    """Messages waiting for a consumer."""
    unacked: int | None
    """Delivered and not settled yet."""
    delayed: int | None
    """Embedded broker only: retries waiting out their delay in it."""
    consumers: int
    publish_per_s: float | None
    deliver_per_s: float | None
    depth_change_per_s: float | None
    """How fast ``ready`` grew (positive) or drained (negative) since the previous call."""
    source: str | None = None
    """Whom the figures come from: ``embedded``, ``management`` (RabbitMQ's management
    API) or ``amqp`` (RabbitMQ's passive declares); ``None`` from a read model too old
    to say."""

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> QueueStats:
        """Read one queue of ``GET /queues``."""
        return cls(
            name=str(doc.get("name", "")),
            depth=_int(doc.get("depth")),
            ready=_int(doc.get("ready")),
            unacked=_int_or_none(doc.get("unacked")),
            delayed=_int_or_none(doc.get("delayed")),
            consumers=_int(doc.get("consumers")),
            publish_per_s=_float_or_none(doc.get("publishPerS")),
            deliver_per_s=_float_or_none(doc.get("deliverPerS")),
            depth_change_per_s=_float_or_none(doc.get("depthChangePerS")),
            source=text_field(doc, "source"),
        )


def queues_of(document: object) -> tuple[QueueStats, ...]:
    """Read the body of ``GET /queues`` (a JSON array)."""
    if not isinstance(document, list):
        return ()
    return tuple(QueueStats.from_json(item) for item in document if isinstance(item, dict))
