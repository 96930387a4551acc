"""Per-job-type Prometheus series, each looked up once per type, not once per job.

``metric.labels(value)`` validates its arguments, takes a lock and hashes a tuple on
every call: a few microseconds that a job paid five times. :class:`LabelChildren` keeps
the child of each label it has been asked for; the labels are job types already bounded
by :class:`~actors.observability.prometheus.BoundedLabel`, so the cache is bounded too. A
child appears in ``/metrics`` only once it is first used, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from prometheus_client.metrics import MetricWrapperBase

__all__ = ["LabelChildren"]

M = TypeVar("M", bound="MetricWrapperBase")


class LabelChildren(Generic[M]):
    """The children of one metric labelled by job type only, made on first use."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._children: dict[str, M] = {}

    def __call__(self, label: str) -> M:
        """The child for ``label`` (a bounded job-type label)."""
        child = self._children.get(label)
        if child is None:
            child = self._children[label] = self._metric.labels(label)
        return child
