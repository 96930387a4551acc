"""Prometheus metrics: one registry per service process, names kept from the old system.

Metric names are part of the contract (dashboards and alert rules query them); they are
all defined here. Job-type labels go through :class:`BoundedLabel`, so a client sending
random types cannot blow up the number of series.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.kernel import ActorState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from prometheus_client.core import Metric

    from actors.kernel import ActorHealth

__all__ = [
    "LATENCY_BUCKETS_S",
    "OTHER_LABEL",
    "ActorHealthCollector",
    "BoundedLabel",
    "DependencyCollector",
    "GatewayMetrics",
    "HttpMetrics",
    "MetricsEngineMetrics",
    "ProcessorMetrics",
    "create_registry",
]

LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
"""Histogram buckets for job and request durations: a millisecond to five minutes."""

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
        self.schedule_fires = Counter(
            "gateway_schedule_fires",
            "Jobs submitted by recurring schedules, by trigger (schedule: an occurrence "
            "came due; manual: run now). A second fire of one occurrence is not counted.",
            ["trigger"],
            registry=registry,
        )
        self.schedule_misses = Counter(
            "gateway_schedule_misses",
            "Occurrences of recurring schedules skipped after downtime (their catchUp).",
            registry=registry,
        )


class ProcessorMetrics:
    """The processor's series: the old system's names, plus golden signals per job type."""

    def __init__(
        self,
        registry: CollectorRegistry,
        job_type: BoundedLabel,
        in_flight: Callable[[], int],
    ) -> None:
        self.registry = registry
        self.job_type = job_type
        self.processed = Counter(
            "processor_jobs_processed",
            "Jobs that reached a terminal state here, by job type.",
            ["type"],
            registry=registry,
        )
        self.completed = Counter(
            "processor_jobs_completed", "Jobs completed, by job type.", ["type"], registry=registry
        )
        self.failed = Counter(
            "processor_jobs_failed", "Jobs failed, by job type.", ["type"], registry=registry
        )
        self.retried = Counter(
            "processor_jobs_retried",
            "Failed attempts scheduled for another attempt (the job is not failed yet), "
            "by job type.",
            ["type"],
            registry=registry,
        )
        self.validation_failed = Counter(
            "processor_jobs_validation_failed",
            "Messages on jobs.created that broke a contract (each dead-lettered).",
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "processor_job_processing_seconds",
            "Time a job's handler ran, by job type.",
            ["type"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.queue_wait_seconds = Histogram(
            "processor_job_queue_wait_seconds",
            "Time from submission (createdAt) to the handler's start, by job type.",
            ["type"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.queue_wait_by_priority_seconds = Histogram(
            "processor_job_queue_wait_by_priority_seconds",
            "Time from submission (createdAt) to the handler's start, by job priority "
            "(0 to 9; the higher start first when jobs wait).",
            ["priority"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "processor_job_end_to_end_seconds",
            "Time from submission (createdAt) to the stored terminal state, by job type.",
            ["type"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.redeliveries = Counter(
            "processor_jobs_redelivered",
            "Deliveries of a job already terminal (a redelivery or a resubmitted id).",
            registry=registry,
        )
        self.in_flight = Gauge(
            "processor_jobs_in_flight",
            "Jobs started here whose terminal state is not stored yet.",
            registry=registry,
        )
        self.in_flight.set_function(in_flight)
        self.non_retryable = Counter(
            "processor_jobs_non_retryable",
            "Jobs failed at once, without further attempts, because their handler raised "
            "NonRetryable, by job type.",
            ["type"],
            registry=registry,
        )
        self.rate_limited = Gauge(
            "processor_rate_limited_jobs",
            "Jobs held here waiting on their type's rate_limit (not started yet), by job type.",
            ["type"],
            registry=registry,
        )
        self.scheduled_waiting = Gauge(
            "processor_scheduled_jobs_waiting",
            "Delayed jobs waiting in the job store for their time (runAt / delaySeconds), "
            "as this processor's scheduler last counted them (every few seconds; every "
            "processor reports the same shared set).",
            registry=registry,
        )
        self.handler_types = Gauge(
            "processor_handler_types",
            "The job types this processor has a handler for (1 per served type).",
            ["type"],
            registry=registry,
        )

    def serve_types(self, types: Iterable[str]) -> None:
        """Publish the handler types this processor serves (``processor_handler_types``)."""
        for job_type in types:
            self.handler_types.labels(job_type).set(1)


class MetricsEngineMetrics:
    """The metrics engine's series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events_stored = Counter(
            "metrics_engine_events_stored",
            "Lifecycle events appended to the audit trail.",
            registry=registry,
        )
        self.duplicates_skipped = Counter(
            "metrics_engine_events_duplicates_skipped",
            "Events already in the audit trail (redeliveries), skipped.",
            registry=registry,
        )
        self.dead_letters = Counter(
            "metrics_engine_dead_letters_archived",
            "Dead letters kept in the dead-letter store.",
            registry=registry,
        )
        self.validation_failed = Counter(
            "metrics_engine_events_validation_failed",
            "Envelopes on jobs.completed that broke a contract (each dead-lettered).",
            registry=registry,
        )
        self.pruned_rows = Counter(
            "metrics_engine_pruned_rows",
            "Rows deleted by retention (actors.retention), per store: jobs, events, dead_letters.",
            ["store"],
            registry=registry,
        )


_HTTP_HISTOGRAMS: weakref.WeakKeyDictionary[CollectorRegistry, Histogram] = (
    weakref.WeakKeyDictionary()
)


class HttpMetrics:
    """Request durations of an HTTP face, per route, method and status.

    Several faces may share a registry (``observatory up``): they share one histogram,
    told apart by its ``service`` label.
    """

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        histogram = _HTTP_HISTOGRAMS.get(registry)
        if histogram is None:
            histogram = _HTTP_HISTOGRAMS[registry] = Histogram(
                "http_request_duration_seconds",
                "HTTP request duration, by service, route (the pattern, never the raw path), "
                "method and status.",
                ["service", "route", "method", "status"],
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            )
        self.request_seconds = histogram
        self.service = service

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one request."""
        self.request_seconds.labels(self.service, route, method, str(status)).observe(seconds)


class ActorHealthCollector(Collector):
    """Exports every actor's mailbox depth, restarts and health at scrape time."""

    def __init__(self, health: Callable[[], list[ActorHealth]]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "actor_mailbox_depth", "Messages waiting in an actor's mailbox.", labels=["actor"]
        )
        restarts = CounterMetricFamily(
            "actor_restarts", "Restarts of an actor since the service started.", labels=["actor"]
        )
        running = GaugeMetricFamily(
            "actor_up",
            "1 when the actor runs; 0 while it starts, restarts, waits for a server or failed.",
            labels=["actor"],
        )
        for entry in self._health():
            if entry.mailbox_depth is not None:
                depth.add_metric([entry.path], entry.mailbox_depth)
            restarts.add_metric([entry.path], entry.restarts)
            running.add_metric([entry.path], 1 if entry.state is ActorState.RUNNING else 0)
        yield depth
        yield restarts
        yield running


class DependencyCollector(Collector):
    """Exports whether each server a service needs is reachable (``dependency_up``)."""

    def __init__(self, available: Callable[[], dict[str, bool]]) -> None:
        self._available = available

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "dependency_up",
            "1 when the server is connected and usable, else 0.",
            labels=["dependency"],
        )
        for name, available in sorted(self._available().items()):
            up.add_metric([name], 1 if available else 0)
        yield up
