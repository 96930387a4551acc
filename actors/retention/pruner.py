"""The pruner: an actor that runs a retention pass every ``prune_interval_s``.

It lives in the metrics engine's tree (the service that already writes the event store
and the dead-letter store; see docs/architecture.md section 5, "Retention"). One pass at
a time across every process: each pass runs under a lock that is only *tried*, never
waited on (a pruner that finds it held skips its turn):

* real infrastructure: a PostgreSQL session advisory lock per schema
  (:meth:`actors.stores.PostgresJobStore.prune_lock`), released when its connection ends,
  so a crashed pruner never keeps it;
* embedded: an in-process lock (:class:`InProcessPruneLock`); there is one process.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.kernel.periodic import Periodic
from actors.retention._pass import PrunedStore, cutoff_before, prune_once

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from contextlib import AbstractAsyncContextManager
    from datetime import timedelta

    from prometheus_client import Counter

    from actors.retention._pass import PruneReport
    from actors.stores import DeadLetterStore, EventStore, JobStore

__all__ = ["InProcessPruneLock", "Pruner"]

log = logging.getLogger(__name__)


class InProcessPruneLock:
    """The pruner lock of one process (embedded mode): tried, never waited on."""

    def __init__(self) -> None:
        # A flag, not an anyio.Lock: trying it from the task that holds it must answer
        # "held", and the check and set run with no await in between (one event loop).
        self._held = False

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yield ``True`` holding the lock, ``False`` when another pass holds it."""
        await anyio.lowlevel.checkpoint()
        if self._held:
            yield False
            return
        self._held = True
        try:
            yield True
        finally:
            self._held = False


class Pruner(Periodic):
    """Runs :func:`~actors.retention.prune_once` every ``interval_s`` under ``lock``.

    A pass deletes what is older than ``retain`` at its start, batch by batch; the rows
    it deletes are counted in ``pruned_rows`` (label ``store``). A store away skips the
    pass (logged); the next one takes up the rest.
    """

    def __init__(
        self,
        jobs: JobStore,
        events: EventStore,
        dead_letters: DeadLetterStore,
        *,
        retain: timedelta,
        interval_s: float,
        lock: Callable[[], AbstractAsyncContextManager[bool]],
        pruned_rows: Counter,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__("pruner", interval_s=interval_s, wait_ready=wait_ready)
        self._jobs = jobs
        self._events = events
        self._dead_letters = dead_letters
        self._retain = retain
        self._lock = lock
        self._pruned_rows = pruned_rows
        self.passes = 0
        """Passes run to the end (skipped ones not counted)."""
        self.last_report: PruneReport | None = None

    async def tick(self) -> None:
        async with self._lock() as taken:
            if not taken:
                log.info("prune.skipped reason=another_pruner_holds_the_lock")
                return
            counted = dict.fromkeys(PrunedStore, 0)

            def count(report: PruneReport) -> None:
                # Counted batch by batch, so a pass cut short still shows what it did.
                for store, rows in report.rows.items():
                    if rows > counted[store]:
                        self._pruned_rows.labels(store.value).inc(rows - counted[store])
                        counted[store] = rows

            report = await prune_once(
                self._jobs,
                self._events,
                self._dead_letters,
                cutoff=cutoff_before(self._retain),
                on_batch=count,
            )
            count(report)
        self.passes += 1
        self.last_report = report
        if any(report.rows.values()):
            log.info(
                "prune.done cutoff=%s jobs=%d events=%d dead_letters=%d",
                report.cutoff,
                report.rows[PrunedStore.JOBS],
                report.rows[PrunedStore.EVENTS],
                report.rows[PrunedStore.DEAD_LETTERS],
            )
