"""One retention pass: what goes, in which order, in batches.

Order, per batch of jobs: the jobs' events first, then the jobs. A pass stopped between
the two (a crash, a store away) leaves jobs without events, which the next pass lists
again and removes; never events whose job is gone unnoticed. Dead letters go after the
jobs, by their own time (``occurred_at``): most are not a job's (a message that broke a
contract).

The counters are not touched: ``/stats`` totals keep counting pruned jobs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.stores import DeadLetterStore, EventStore, JobStore

__all__ = ["BATCH_SIZE", "PruneReport", "PrunedStore", "cutoff_before", "prune_once"]

BATCH_SIZE = 500
"""Rows per statement: short transactions, so writers never wait long behind a pass."""


class PrunedStore(enum.Enum):
    """The stores retention deletes from (the ``store`` label of the metric)."""

    JOBS = "jobs"
    """The job store: terminal jobs finished before the cutoff."""
    EVENTS = "events"
    """The event store (the audit trail): every event of those jobs."""
    DEAD_LETTERS = "dead_letters"
    """The dead-letter store: dead letters older than the cutoff."""


@dataclass(slots=True)
class PruneReport:
    """What a pass deleted (or, in a dry run, would delete), per store."""

    cutoff: str
    """Rows older than this RFC 3339 time are (or would be) deleted."""
    dry_run: bool
    rows: dict[PrunedStore, int] = field(default_factory=lambda: dict.fromkeys(PrunedStore, 0))

    def to_json(self) -> dict[str, object]:
        """The report as a JSON object (``observatory prune --json``)."""
        return {
            "cutoff": self.cutoff,
            "dryRun": self.dry_run,
            "rows": {store.value: count for store, count in self.rows.items()},
        }


def cutoff_before(age: timedelta, *, now: datetime | None = None) -> str:
    """The RFC 3339 time ``age`` ago, as the stores write their timestamps."""
    return format_timestamp((now or datetime.now(UTC)) - age)


async def prune_once(
    jobs: JobStore,
    events: EventStore,
    dead_letters: DeadLetterStore,
    *,
    cutoff: str,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[PruneReport], None] | None = None,
) -> PruneReport:
    """Delete terminal jobs finished before ``cutoff``, their events and old dead letters.

    Loops batch by batch until nothing is left; ``on_batch`` sees the running report
    after each batch (progress of a long run). A dry run pages through the same rows
    and counts them without deleting anything.

    The caller holds the pruner lock (one pass at a time, see :mod:`actors.retention`).

    Raises:
        StoreUnavailable: a store cannot be reached; what was deleted stays deleted, and
            the next pass takes up the rest.
        ValueError: ``batch_size`` is less than 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    after: tuple[str, str] | None = None
    while True:
        page = await jobs.prunable_jobs(finished_before=cutoff, limit=batch_size, after=after)
        if not page:
            break
        job_ids = [job_id for _, job_id in page]
        if dry_run:
            report.rows[PrunedStore.EVENTS] += await events.count_events_of_jobs(job_ids)
            report.rows[PrunedStore.JOBS] += len(job_ids)
        else:
            report.rows[PrunedStore.EVENTS] += await events.remove_events_of_jobs(job_ids)
            report.rows[PrunedStore.JOBS] += await jobs.remove_jobs(job_ids, finished_before=cutoff)
        after = page[-1]
        if on_batch is not None:
            on_batch(report)
        if len(page) < batch_size:
            break
    if dry_run:
        report.rows[PrunedStore.DEAD_LETTERS] = await dead_letters.count_older(before=cutoff)
    else:
        while True:
            removed = await dead_letters.remove_older(before=cutoff, limit=batch_size)
            report.rows[PrunedStore.DEAD_LETTERS] += removed
            if removed and on_batch is not None:
                on_batch(report)
            if removed < batch_size:
                break
    return report
