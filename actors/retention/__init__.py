"""Retention: terminal jobs, their events and dead letters are deleted once old enough.

``prune_once`` is one pass (batches of :data:`BATCH_SIZE` rows until nothing is left);
:class:`Pruner` runs it in the background under a lock; ``observatory prune`` runs it on
demand. Nothing here touches the counters: ``/stats`` totals keep counting pruned jobs,
while the lists (``/jobs/recent``, ``/events``, ``/dead-letters``) no longer show them.
"""

from __future__ import annotations

from actors.retention._pass import BATCH_SIZE, PrunedStore, PruneReport, cutoff_before, prune_once
from actors.retention.duration import parse_duration
from actors.retention.pruner import InProcessPruneLock, Pruner

__all__ = [
    "BATCH_SIZE",
    "InProcessPruneLock",
    "PruneReport",
    "PrunedStore",
    "Pruner",
    "cutoff_before",
    "parse_duration",
    "prune_once",
]
