"""The heartbeat: every few seconds a service process says who it is and what it does.

Each processor and metrics engine runs one :class:`Heartbeat` in its tree. Every
``interval_s`` (``Settings.heartbeat_s``, 5 s) it writes one *beat* to the worker
registry (:mod:`actors.stores.workers`), which the read model lists as ``GET /workers``::

    {"id": "processor-host-4242", "service": "processor", "host": "host", "pid": 4242,
     "version": "1.4.0", "startedAt": "...", "intervalS": 5.0, "state": "running",
     "handlerTypes": ["email", ...], "inFlight": [{"jobId": "...", "type": "email"}],
     "inFlightCount": 1, "done": 120, "failed": 3,
     "actors": [{"path": "processor/executor", "state": "running", "restarts": 0}, ...]}

Everything after ``state`` comes from the service's ``describe`` callable, called at
beat time only: nothing is added to the work of a job. On a graceful stop a last beat
says ``"state": "stopped"``; a process that dies says nothing, and the read model calls
it gone once three intervals pass without a beat.

The heartbeat never stops its service: a registry away skips the beat (one WARNING when
it goes, one INFO when it is back), and any other error is logged and the next beat tries
again, because in a ``one_for_all`` tree a crash here would restart the whole pipeline.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from actors.domain.clock import utc_now
from actors.errors import StoreUnavailable
from actors.kernel.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus
    from prometheus_client import Counter

    from actors.kernel import ActorHealth
    from actors.stores.workers import WorkerRegistry

__all__ = [
    "MAX_IN_FLIGHT_LISTED",
    "Heartbeat",
    "WorkerIdentity",
    "actors_json",
    "counter_total",
    "in_flight_json",
]

log = logging.getLogger(__name__)

MAX_IN_FLIGHT_LISTED = 500
"""Most in-flight jobs one beat lists (``inFlightCount`` always has them all)."""
_LAST_BEAT_S = 2.0
"""How long the ``stopped`` beat of a graceful stop may take."""


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Who a worker is: fixed for the life of its process."""

    service: str
    """``processor`` or ``metrics-engine``."""
    instance_id: str
    """Unique per process (``Settings.instance_id``: host and pid)."""
    version: str
    """The running version."""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=utc_now)
    """When the process started its service (RFC 3339)."""

    @property
    def worker_id(self) -> str:
        """The worker's id in the registry: ``<service>-<instance id>``."""
        return f"{self.service}-{self.instance_id}"


def in_flight_json(jobs: list[tuple[str, str]]) -> dict[str, object]:
    """``inFlight`` (at most :data:`MAX_IN_FLIGHT_LISTED`) and ``inFlightCount`` of a beat."""
    return {
        "inFlight": [
            {"jobId": job_id, "type": job_type} for job_id, job_type in jobs[:MAX_IN_FLIGHT_LISTED]
        ],
        "inFlightCount": len(jobs),
    }


def actors_json(health: list[ActorHealth]) -> list[dict[str, object]]:
    """The ``actors`` of a beat: each actor's path, state, restarts and last error."""
    return [
        {
            "path": entry.path,
            "state": entry.state.name.lower(),
            "restarts": entry.restarts,
            "lastError": entry.last_error,
        }
        for entry in health
    ]


def counter_total(counter: Counter) -> int:
    """A Prometheus counter's value summed over its labels (for ``done`` and ``failed``)."""
    return int(
        sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total"))
    )


class Heartbeat(Periodic):
    """Writes this process's beat to the worker registry every ``interval_s``."""

    def __init__(
        self,
        registry: WorkerRegistry,
        identity: WorkerIdentity,
        describe: Callable[[], dict[str, object]],
        *,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__("heartbeat", interval_s=interval_s)
        self._registry = registry
        self._identity = identity
        self._describe = describe
        self._interval_s = interval_s
        self._clock = clock
        self._lost = False
        self.beats = 0
        """Beats written so far."""

    def __repr__(self) -> str:
        return (
            f"<Heartbeat {self._identity.worker_id} every {self._interval_s}s beats={self.beats}>"
        )

    def beat(self, state: str = "running") -> dict[str, object]:
        """The beat this process would write now."""
        identity = self._identity
        return {
            "id": identity.worker_id,
            "service": identity.service,
            "host": identity.host,
            "pid": identity.pid,
            "version": identity.version,
            "startedAt": identity.started_at,
            "intervalS": self._interval_s,
            "state": state,
            **self._describe(),
        }

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Beat until stopped; a graceful stop ends with a ``stopped`` beat."""
        await super().run(task_status=task_status)
        # Reached on a graceful stop only (a cancel does not return here).
        with anyio.move_on_after(_LAST_BEAT_S, shield=True):
            await self._write("stopped")

    async def tick(self) -> None:
        """Write one beat."""
        await self._write("running")

    async def _write(self, state: str) -> None:
        try:
            await self._registry.beat(
                self._identity.worker_id, self.beat(state), seen_at=self._clock()
            )
        except StoreUnavailable as exc:
            if not self._lost:
                log.warning("heartbeat.skipped worker=%s error=%s", self._identity.worker_id, exc)
            self._lost = True
            return
        except Exception:
            # A bug here must not restart the pipeline this beat describes.
            log.exception("heartbeat.failed worker=%s", self._identity.worker_id)
            return
        if self._lost:
            log.info("heartbeat.resumed worker=%s", self._identity.worker_id)
        self._lost = False
        self.beats += 1
