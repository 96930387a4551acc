"""Prometheus metrics: one registry per service process, names kept from the old system.

Metric names are part of the contract (dashboards and alert rules query them); they are
all defined here. Job-type labels go through :class:`BoundedLabel`, so a client sending
random types cannot blow up the number of series.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from prometheus_client.core import Metric

    from actors.kernel import ActorHealth

__all__ = [
    "OTHER_LABEL",
    "ActorHealthCollector",
    "BoundedLabel",
    "GatewayMetrics",
    "create_registry",
]

OTHER_LABEL = "other"
"""Label value every job type past the bound is folded into."""


def create_registry() -> CollectorRegistry:
    """A fresh registry for one service process (never the global default)."""
    return CollectorRegistry(auto_describe=True)


class BoundedLabel:
    """Admits known values plus the first ``max_values`` others; the rest become ``other``."""

    def __init__(self, known: Iterable[str] = (), *, max_values: int = 50) -> None:
        self._known = set(known)
        self._seen: set[str] = set()
        self._max_values = max_values
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._known or value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._max_values:
                self._seen.add(value)
                return value
        return OTHER_LABEL


class GatewayMetrics:
    """The gateway's series (names from the system we replace)."""

    def __init__(self, registry: CollectorRegistry, job_type: BoundedLabel) -> None:
        self.job_type = job_type
        self.submitted = Counter(
            "gateway_jobs_submitted",
            "Jobs submitted to POST /jobs, valid or not, by job type.",
            ["type"],
            registry=registry,
        )
        self.accepted = Counter(
            "gateway_jobs_accepted",
            "Jobs accepted (published and confirmed by the broker).",
            registry=registry,
        )
        self.rejected = Counter(
            "gateway_jobs_rejected",
            "Submissions refused, by HTTP status.",
            ["status"],
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "gateway_publish_seconds",
            "Time from validation to the broker's confirm.",
            registry=registry,
        )


class ActorHealthCollector(Collector):
    """Exports every actor's mailbox depth and restart count at scrape time."""

    def __init__(self, health: Callable[[], list[ActorHealth]]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "actor_mailbox_depth", "Messages waiting in an actor's mailbox.", labels=["actor"]
        )
        restarts = GaugeMetricFamily(
            "actor_restarts", "Restarts of an actor since the service started.", labels=["actor"]
        )
        for entry in self._health():
            if entry.mailbox_depth is not None:
                depth.add_metric([entry.path], entry.mailbox_depth)
            restarts.add_metric([entry.path], entry.restarts)
        yield depth
        yield restarts
