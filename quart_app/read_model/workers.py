"""``GET /workers``: every processor and metrics engine seen lately, alive or gone.

The read model reads the worker registry (:mod:`actors.stores.workers`), where each
process's heartbeat (:mod:`actors.pipeline.heartbeat`) writes its latest beat. A worker
is ``alive`` while its last beat is younger than three of its intervals, ``stopped``
once it said so on a graceful stop, and ``gone`` otherwise (killed, or cut off);
gone and stopped workers stay listed for ``Settings.workers_keep_s`` (an hour), with
when they were last seen. A gone processor's ``inFlight`` are the jobs it held at its
last beat: the broker gives them to another processor (or to this one after its
restart), which runs them again.
"""

from __future__ import annotations

import time
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge
from quart import Response, jsonify

from actors.domain.clock import format_timestamp
from quart_app.openapi import error_response, json_response, operation

if TYPE_CHECKING:
    from collections.abc import Callable

    from quart import Quart

    from actors.stores.workers import WorkerRegistry, WorkerSighting

__all__ = [
    "GONE_AFTER_BEATS",
    "WORKERS_SCHEMA",
    "install_workers_route",
    "worker_status",
    "workers_json",
]

GONE_AFTER_BEATS = 3
"""A worker whose last beat is older than this many of its intervals is gone."""

_ACTOR: dict[str, object] = {
    "type": "object",
    "required": ["path", "state", "restarts"],
    "properties": {
        "path": {"type": "string"},
        "state": {"type": "string"},
        "restarts": {"type": "integer", "minimum": 0},
        "lastError": {"type": ["string", "null"]},
    },
}
WORKERS_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["alive", "gone", "workers"],
    "properties": {
        "alive": {"type": "integer", "minimum": 0, "description": "Workers alive now."},
        "gone": {
            "type": "integer",
            "minimum": 0,
            "description": "Workers gone or stopped, still listed.",
        },
        "workers": {
            "description": "Alive workers first, then the others, most recently seen first.",
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "service",
                    "status",
                    "lastSeenAt",
                    "secondsSinceSeen",
                    "host",
                    "pid",
                    "version",
                    "startedAt",
                    "intervalS",
                    "handlerTypes",
                    "inFlight",
                    "inFlightCount",
                    "done",
                    "failed",
                    "actors",
                ],
                "properties": {
                    "id": {"type": "string"},
                    "service": {"type": "string", "enum": ["processor", "metrics-engine"]},
                    "status": {
                        "description": "`alive`: a beat within 3 intervals; `stopped`: said "
                        "so on a graceful stop; `gone`: no beat for 3 intervals.",
                        "type": "string",
                        "enum": ["alive", "stopped", "gone"],
                    },
                    "lastSeenAt": {"type": "string", "format": "date-time"},
                    "secondsSinceSeen": {"type": "number", "minimum": 0},
                    "host": {"type": "string"},
                    "pid": {"type": "integer"},
                    "version": {"type": "string"},
                    "startedAt": {"type": "string", "format": "date-time"},
                    "intervalS": {"type": "number", "exclusiveMinimum": 0},
                    "handlerTypes": {"type": "array", "items": {"type": "string"}},
                    "inFlight": {
                        "description": "Jobs started and not finished (at most 500); for a "
                        "gone worker, the jobs it held at its last beat.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["jobId", "type"],
                            "properties": {
                                "jobId": {"type": "string"},
                                "type": {"type": "string"},
                            },
                        },
                    },
                    "inFlightCount": {"type": "integer", "minimum": 0},
                    "done": {
                        "description": "Processor: jobs completed; metrics engine: events "
                        "stored (since the process started).",
                        "type": "integer",
                        "minimum": 0,
                    },
                    "failed": {
                        "description": "Processor: jobs failed; metrics engine: envelopes "
                        "dead-lettered (since the process started).",
                        "type": "integer",
                        "minimum": 0,
                    },
                    "actors": {"type": "array", "items": _ACTOR},
                },
            },
        },
    },
}
"""The body of ``GET /workers``."""


_GAUGES: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def _alive_gauge(registry: CollectorRegistry) -> Gauge:
    """``observatory_workers_alive{service}``, once per registry."""
    gauge = _GAUGES.get(registry)
    if gauge is None:
        gauge = _GAUGES[registry] = Gauge(
            "observatory_workers_alive",
            "Workers (processors and metrics engines) alive at the last GET /workers, by service.",
            ["service"],
            registry=registry,
        )
    return gauge


def worker_status(sighting: WorkerSighting, now: float) -> str:
    """``alive``, ``stopped`` or ``gone``: see the module docstring."""
    if sighting.beat.get("state") == "stopped":
        return "stopped"
    interval = sighting.beat.get("intervalS")
    interval_s = float(interval) if isinstance(interval, int | float) and interval > 0 else 5.0
    return "alive" if now - sighting.seen_at <= GONE_AFTER_BEATS * interval_s else "gone"


def workers_json(sightings: list[WorkerSighting], now: float) -> dict[str, object]:
    """The body of ``GET /workers`` for ``sightings`` at Unix time ``now``."""
    listed: list[dict[str, object]] = [
        {
            "id": sighting.worker_id,
            "service": sighting.beat.get("service"),
            "status": worker_status(sighting, now),
            "lastSeenAt": format_timestamp(datetime.fromtimestamp(sighting.seen_at, UTC)),
            "secondsSinceSeen": round(max(0.0, now - sighting.seen_at), 3),
            **{k: v for k, v in sighting.beat.items() if k not in ("id", "service", "state")},
        }
        for sighting in sightings
    ]
    listed.sort(key=lambda w: (w["status"] != "alive", w["secondsSinceSeen"], w["id"]))
    alive = sum(1 for w in listed if w["status"] == "alive")
    return {"alive": alive, "gone": len(listed) - alive, "workers": listed}


def install_workers_route(
    app: Quart,
    workers: WorkerRegistry,
    *,
    keep_s: float,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Add ``GET /workers`` to the read model ``app``, reading ``workers``.

    Args:
        app: the read model's app.
        workers: the worker registry the heartbeats write.
        keep_s: how long a gone worker stays listed.
        registry: where the ``observatory_workers_alive`` gauge goes (updated per request).
        clock: Unix time (tests pass their own).
    """
    gauge = _alive_gauge(registry) if registry is not None else None

    @app.get("/workers")
    @operation(
        "workers",
        summary="Processors and metrics engines: alive, and recently gone with when.",
        description=(
            "Every worker whose heartbeat was seen within the last hour: who it is (host, "
            "pid, version, start), what it serves and runs now (handler types, in-flight "
            "jobs), what it did (done, failed) and its actors' health. A worker without a "
            "beat for three of its intervals is `gone`; its `inFlight` are the jobs it held, "
            "which the broker redelivers. 503 while the registry's store is away."
        ),
        tags=["read"],
        responses={
            200: json_response("The workers.", WORKERS_SCHEMA),
            503: error_response("The worker registry's store is away."),
        },
    )
    async def list_workers() -> Response:
        now = clock()
        body = workers_json(await workers.sightings(since=now - keep_s), now)
        if gauge is not None:
            listed = body["workers"]
            assert isinstance(listed, list)
            for service in ("processor", "metrics-engine"):
                gauge.labels(service).set(
                    sum(1 for w in listed if w["service"] == service and w["status"] == "alive")
                )
        return jsonify(body)
